// io: safetensors round trips, its byte layout, corrupted files, atomic writes, checkpoints.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>
#include <nlohmann/json.hpp>

#include "test_util.hpp"

using namespace nabla;
using nabla_test::TempDir;
using doctest::Contains;
namespace fs = std::filesystem;

namespace {


io::TensorFile decode(const std::string& bytes) {
  return io::decode_safetensors(std::as_bytes(std::span(bytes.data(), bytes.size())), "t.safetensors");
}

/// A file with the given JSON header and data bytes.
std::string file_with(const std::string& header, std::size_t data_bytes) {
  std::string out(8, '\0');
  const std::uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + std::string(data_bytes, '\x01');
}

}  // namespace

TEST_CASE("safetensors: tensors of every dtype and the metadata round-trip") {
  TempDir d;
  Generator gen(1);
  std::map<std::string, Tensor> t{{"a", randn({3, 4}, f32, gen)},
                                  {"b", randn({5}, f64, gen)},
                                  {"c", arange(0, 6, 1, i64).reshape({2, 3})},
                                  {"s", scalar(2.5, f64)},
                                  {"e", zeros({0, 3})}};
  io::save_safetensors(d / "x.safetensors", t, {{"epoch", "3"}});
  io::TensorFile back = io::load_safetensors(d / "x.safetensors");
  CHECK(back.metadata.at("epoch") == "3");
  REQUIRE(back.tensors.size() == t.size());
  for (const auto& [name, v] : t) {
    CHECK(back.tensors.at(name).shape() == v.shape());
    CHECK(back.tensors.at(name).dtype() == v.dtype());
    CHECK(back.tensors.at(name).to_vector() == v.to_vector());
  }
}

TEST_CASE("safetensors: the byte layout follows the specification") {
  // 8-byte little-endian header length N, N bytes of JSON (padded with spaces to a multiple of 8),
  // then the data, little-endian, each tensor at its data_offsets relative to the end of the header.
  const std::string bytes = io::encode_safetensors(
      {{"w", tensor({1.0, -2.0}, {1, 2}, f32)}, {"b", tensor({0.5}, {1}, f64)}}, {{"format", "pt"}});
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  CHECK(n % 8 == 0);
  CHECK(bytes.size() == 8 + n + 8 + 8);
  const std::string header = bytes.substr(8, n);
  CHECK(header.find_last_not_of(' ') + 1 ==
        std::string(R"({"__metadata__":{"format":"pt"},"b":{"data_offsets":[0,8],"dtype":"F64","shape":[1]},"w":{"data_offsets":[8,16],"dtype":"F32","shape":[1,2]}})").size());
  auto j = nlohmann::json::parse(header);
  CHECK(j["w"]["dtype"] == "F32");
  CHECK(j["w"]["shape"] == nlohmann::json::array({1, 2}));
  CHECK(j["w"]["data_offsets"] == nlohmann::json::array({8, 16}));
  CHECK(j["b"]["data_offsets"] == nlohmann::json::array({0, 8}));
  CHECK(j["__metadata__"]["format"] == "pt");
  // 0.5 as an IEEE double, little-endian: 00 00 00 00 00 00 e0 3f; then 1.0f and −2.0f.
  const std::string data = bytes.substr(8 + n);
  CHECK(data == std::string("\x00\x00\x00\x00\x00\x00\xe0\x3f\x00\x00\x80\x3f\x00\x00\x00\xc0", 16));
}

TEST_CASE("safetensors: corrupted files are IoErrors naming the fault") {
  CHECK_THROWS_WITH_AS(decode("abc"), "\"t.safetensors\": 3 bytes is too short for a safetensors file (at least 8)", IoError);
  std::string big(8, '\xff');
  CHECK_THROWS_WITH_AS(decode(big), Contains("exceeds the limit"), IoError);
  std::string cut = file_with("{}", 0).substr(0, 9);
  CHECK_THROWS_WITH_AS(decode(cut), "\"t.safetensors\": header says 2 bytes of JSON, file has 1 left", IoError);
  CHECK_THROWS_WITH_AS(decode(file_with("{nope", 0)), Contains("header is not valid JSON"), IoError);
  CHECK_THROWS_WITH_AS(decode(file_with("[1]", 0)), Contains("header is not a JSON object"), IoError);
  CHECK_THROWS_WITH_AS(decode(file_with(R"({"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})", 8)),
                       Contains("\"w\" has dtype \"C64\"; nabla reads F32, F64, F16, BF16 and I64"), IoError);
  CHECK_THROWS_WITH_AS(decode(file_with(R"({"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,4]}})", 4)),
                       Contains("\"w\": BF16 [3] needs 6 bytes, its range holds 4"), IoError);
  CHECK_THROWS_WITH_AS(decode(file_with(R"({"fc1.weight":{"dtype":"F32","shape":[30,785],"data_offsets":[0,94200]}})", 12000)),
                       "\"t.safetensors\": header says bytes [0, 94200) for \"fc1.weight\", file has 12000 bytes of data", IoError);
  CHECK_THROWS_WITH_AS(decode(file_with(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)),
                       Contains("\"w\": F32 [3] needs 12 bytes, its range holds 8"), IoError);
  CHECK_THROWS_WITH_AS(decode(file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8)),
                       Contains("\"b\" overlaps the tensor before it"), IoError);
  CHECK_THROWS_WITH_AS(decode(file_with(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8)),
                       Contains("4 bytes before \"a\" belong to no tensor"), IoError);
  CHECK_THROWS_WITH_AS(decode(file_with(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8)),
                       Contains("4 bytes at the end belong to no tensor"), IoError);
  CHECK_THROWS_WITH_AS(decode(file_with(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4)),
                       Contains("\"a\": bad shape [-1]"), IoError);
  CHECK_THROWS_WITH_AS(decode(file_with(R"({"a":{"dtype":"F32","shape":[1]}})", 4)),
                       Contains("entry \"a\" needs dtype, shape and data_offsets"), IoError);
  CHECK_THROWS_WITH_AS(decode(file_with(R"({"__metadata__":{"k":1}})", 0)), Contains("metadata \"k\" is not a string"), IoError);
  CHECK_THROWS_WITH_AS(io::load_safetensors("/nonexistent/x.safetensors"), Contains("x.safetensors\": no such file"), IoError);
}

TEST_CASE("safetensors: a save killed midway leaves the previous file intact") {
  TempDir d;
  const std::string path = d / "ckpt.safetensors";
  io::save_safetensors(path, {{"w", full({4}, 1.0)}});
  // A child process writes a much larger file over it and is killed at once, mid-write or before
  // or after the rename; whatever the moment, the file at `path` is one whole file.
  for (int attempt = 0; attempt < 5; ++attempt) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      io::save_safetensors(path, {{"w", full({50'000'000}, 2.0)}});
      _exit(0);
    }
    usleep(static_cast<useconds_t>(20000 * attempt));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    io::TensorFile f = io::load_safetensors(path);
    const Tensor& w = f.tensors.at("w");
    CHECK((w.numel() == 4 || w.numel() == 50'000'000));
    CHECK(w.at({0}) == (w.numel() == 4 ? 1.0 : 2.0));
    if (w.numel() != 4) io::save_safetensors(path, {{"w", full({4}, 1.0)}});
  }
  // A failed save (the directory is gone) reports the file and changes nothing.
  CHECK_THROWS_WITH_AS(io::save_safetensors(d / "no/such/dir.safetensors", {{"w", ones({1})}}), Contains("does not exist"),
                       IoError);
}

TEST_CASE("checkpoints: model and optimizer state round-trip; a checkpoint of another model is refused") {
  TempDir d;
  Generator gen(2);
  nn::Sequential net{nn::Linear(4, 3, {}, gen), nn::Sigmoid(), nn::Linear(3, 2, {}, gen)};
  optim::SGD opt(net.parameters(), {.lr = 0.1, .momentum = 0.9});
  Tensor x = randn({5, 4}, f32, gen);
  Tensor lab = nabla_test::labels(5, 2, gen);
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    softmax_cross_entropy(net(x), lab).backward();
    opt.step();
  }
  io::save_checkpoint(d / "c.safetensors", net, &opt, {{"epoch", "3"}}, {{"note", scalar(1.0)}});

  nn::Sequential net2{nn::Linear(4, 3, {}, gen), nn::Sigmoid(), nn::Linear(3, 2, {}, gen)};
  optim::SGD opt2(net2.parameters(), {.lr = 0.1, .momentum = 0.9});
  io::TensorFile f = io::load_checkpoint(d / "c.safetensors", net2, &opt2);
  CHECK(f.metadata.at("epoch") == "3");
  CHECK(f.tensors.count("extra.note") == 1);
  CHECK(opt2.steps() == 3);
  for (std::size_t i = 0; i < net.parameters().size(); ++i) {
    CHECK(net2.parameters()[i].tensor.to_vector() == net.parameters()[i].tensor.to_vector());
  }

  nn::Sequential other{nn::Linear(4, 5, {}, gen), nn::Sigmoid(), nn::Linear(5, 2, {}, gen)};
  const auto before = other.parameters()[0].tensor.to_vector();
  CHECK_THROWS_WITH_AS(io::load_checkpoint(d / "c.safetensors", other, nullptr),
                       Contains("does not fit this model (Sequential(Linear(4, 5), Sigmoid, Linear(5, 2))): load_state: "
                                "'0.weight' is float32 [3, 4], the model has float32 [5, 4]"),
                       IoError);
  CHECK(other.parameters()[0].tensor.to_vector() == before);

  // The model fits but the optimizer does not (no momentum buffers saved): the model is put back.
  io::save_checkpoint(d / "plain.safetensors", net, nullptr);
  nn::Sequential net3{nn::Linear(4, 3, {}, gen), nn::Sigmoid(), nn::Linear(3, 2, {}, gen)};
  optim::SGD opt3(net3.parameters(), {.lr = 0.1, .momentum = 0.9});
  const auto before3 = net3.parameters()[0].tensor.to_vector();
  CHECK_THROWS_WITH_AS(io::load_checkpoint(d / "plain.safetensors", net3, &opt3), Contains("the optimizer state does not fit"),
                       IoError);
  CHECK(net3.parameters()[0].tensor.to_vector() == before3);
}

TEST_CASE("safetensors: hostile headers are refused with an IoError, never read out of bounds or overflow the stack") {
  // A shape whose element count wraps to 0 in 64 bits, with an empty data range to match.
  CHECK_THROWS_WITH_AS(
      decode(file_with(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0)),
      Contains("\"w\": shape [4294967296,4294967296] is too large"), IoError);
  // A dtype of 100,000 nested arrays: refused by depth while parsing, nothing recursive follows.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK_THROWS_WITH_AS(decode(file_with("{\"w\":{\"dtype\":" + deep + ",\"shape\":[1],\"data_offsets\":[0,4]}}", 4)),
                       Contains("header nests deeper than 16 levels"), IoError);
  // Long values are quoted by kind and size, not dumped whole into the message.
  CHECK_THROWS_WITH_AS(decode(file_with(R"({"w":{"dtype":"F32","shape":[1,2,3,4,5,6,7,8,9],"data_offsets":[0,4]}})", 4)),
                       Contains("\"w\": bad shape an array of 9"), IoError);
}

TEST_CASE("shapes: an element count past 64 bits is a ShapeError, not a wrapped number") {
  const std::int64_t big = std::int64_t(1) << 32;
  CHECK_THROWS_WITH_AS(Shape({big, big}).numel(), "shape [4294967296, 4294967296]: the number of elements does not fit in 64 bits",
                       ShapeError);
  CHECK_THROWS_AS(zeros({big, big}), ShapeError);
  CHECK_THROWS_AS(zeros({0}).reshape({big, big, 0, big}), ShapeError);
}
