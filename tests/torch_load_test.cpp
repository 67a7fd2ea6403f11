// io::load_torch (PyTorch checkpoints), Module::load_state_dict, and safetensors F16/BF16: files
// PyTorch wrote (tests/data/torch/, scripts/torch_checkpoints.py) read bit for bit; hostile pickles
// and archives refused with an IoError naming what was refused.
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using doctest::Contains;

namespace {

std::string fixture(const std::string& name) { return std::string(NABLA_TEST_DATA_DIR) + "/torch/" + name; }

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Same dtype, shape and bytes.
bool bits_equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const std::size_t n = static_cast<std::size_t>(a.numel()) * dtype_size(a.dtype());
  const auto ptr = [](const Tensor& t) -> const void* {
    switch (t.dtype()) {
      case Dtype::f32: return t.data<float>();
      case Dtype::f64: return t.data<double>();
      case Dtype::i64: return t.data<std::int64_t>();
      case Dtype::b8: return t.data<bool>();
      case Dtype::bf16: return t.data<bfloat16>();
    }
    return nullptr;
  };
  return n == 0 || std::memcmp(ptr(a), ptr(b), n) == 0;
}

void put(std::string& s, std::uint64_t v, int n) {
  for (int k = 0; k < n; ++k) s.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
}

std::string raw_deflate(const std::string& plain) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, static_cast<uLong>(plain.size())) + 16, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  z.avail_in = static_cast<uInt>(plain.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

struct Record {
  std::string name, data;
};

/// A zip archive of `records`: STORED (as torch.save writes) or DEFLATEd, with ZIP64 records or not.
std::string zip_of(const std::vector<Record>& records, bool zip64 = false, bool deflated = false) {
  std::string out, cd;
  for (const Record& r : records) {
    const std::string payload = deflated ? raw_deflate(r.data) : r.data;
    const std::uint64_t offset = out.size();
    const auto crc = crc32(0, reinterpret_cast<const Bytef*>(r.data.data()), static_cast<uInt>(r.data.size()));
    put(out, 0x04034b50, 4), put(out, 20, 2), put(out, 0, 2), put(out, deflated ? 8 : 0, 2), put(out, 0, 4);
    put(out, crc, 4), put(out, payload.size(), 4), put(out, r.data.size(), 4), put(out, r.name.size(), 2), put(out, 0, 2);
    out += r.name + payload;
    put(cd, 0x02014b50, 4), put(cd, 20, 2), put(cd, 20, 2), put(cd, 0, 2), put(cd, deflated ? 8 : 0, 2), put(cd, 0, 4);
    put(cd, crc, 4), put(cd, zip64 ? 0xffffffff : payload.size(), 4), put(cd, zip64 ? 0xffffffff : r.data.size(), 4);
    put(cd, r.name.size(), 2), put(cd, zip64 ? 28 : 0, 2), put(cd, 0, 2), put(cd, 0, 2), put(cd, 0, 2), put(cd, 0, 4);
    put(cd, zip64 ? 0xffffffff : offset, 4);
    cd += r.name;
    if (zip64) put(cd, 1, 2), put(cd, 24, 2), put(cd, r.data.size(), 8), put(cd, payload.size(), 8), put(cd, offset, 8);
  }
  const std::uint64_t cd_offset = out.size();
  out += cd;
  if (zip64) {
    const std::uint64_t end64 = out.size();
    put(out, 0x06064b50, 4), put(out, 44, 8), put(out, 45, 2), put(out, 45, 2), put(out, 0, 4), put(out, 0, 4);
    put(out, records.size(), 8), put(out, records.size(), 8), put(out, cd.size(), 8), put(out, cd_offset, 8);
    put(out, 0x07064b50, 4), put(out, 0, 4), put(out, end64, 8), put(out, 1, 4);
  }
  put(out, 0x06054b50, 4), put(out, 0, 2), put(out, 0, 2);
  put(out, zip64 ? 0xffff : records.size(), 2), put(out, zip64 ? 0xffff : records.size(), 2);
  put(out, zip64 ? 0xffffffff : cd.size(), 4), put(out, zip64 ? 0xffffffff : cd_offset, 4), put(out, 0, 2);
  return out;
}

/// Pickle opcodes, written by hand.
struct Pk {
  std::string s = "\x80\x02";
  Pk& op(std::string_view o) { return s += o, *this; }
  Pk& str(std::string_view v) {
    s += 'X';
    put(s, v.size(), 4);
    s += v;
    return *this;
  }
  Pk& num(std::int64_t v) {
    if (v >= 0 && v < 256) return s += 'K', s += static_cast<char>(v), *this;
    s += "\x8a\x08";
    put(s, static_cast<std::uint64_t>(v), 8);
    return *this;
  }
  Pk& global(std::string_view module, std::string_view name) { return op("c").op(module).op("\n").op(name).op("\n"); }
  Pk& ints(const std::vector<std::int64_t>& v) {
    op("(");
    for (std::int64_t x : v) num(x);
    return op("t");
  }
  /// _rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, sizes, strides, False, OrderedDict())
  Pk& tensor(std::int64_t numel, std::int64_t offset, const std::vector<std::int64_t>& sizes, const std::vector<std::int64_t>& strides,
             std::string_view type = "FloatStorage", std::string_view key = "0") {
    global("torch._utils", "_rebuild_tensor_v2").op("((").str("storage").global("torch", type).str(key).str("cpu").num(numel);
    op("tQ").num(offset).ints(sizes).ints(strides).op("\x89").global("collections", "OrderedDict").op(")R").op("tR");
    return *this;
  }
};

/// {"w": <what `value` pushes>} as a whole pickle.
std::string dict_of(const std::function<void(Pk&)>& value) {
  Pk p;
  p.op("}(").str("w");
  value(p);
  return p.op("u.").s;
}

std::string floats(std::int64_t n) {
  std::string s;
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = static_cast<float>(i) + 0.5f;
    s.append(reinterpret_cast<const char*>(&v), 4);
  }
  return s;
}

/// An archive of `pickle` and storage "0" of `storage` bytes, the way torch.save lays it out.
std::string archive(const std::string& pickle, const std::string& storage = floats(6), const std::string& dir = "archive") {
  return zip_of({{dir + "/data.pkl", pickle}, {dir + "/byteorder", "little"}, {dir + "/data/0", storage}, {dir + "/version", "3\n"}});
}

io::TensorFile decode(const std::string& bytes) { return io::decode_torch(std::as_bytes(std::span(bytes.data(), bytes.size())), "t.pt"); }

}  // namespace

TEST_CASE("load_torch: a model's state dict written by PyTorch loads bit for bit, and the model computes what PyTorch did") {
  const io::TensorFile expected = io::load_safetensors(fixture("expected.safetensors"));
  const io::TensorFile file = io::load_torch(fixture("state_dict.pt"));
  CHECK(file.tensors.size() == 9);
  for (const auto& [name, t] : file.tensors) {
    INFO(name);
    REQUIRE(expected.tensors.contains("state_dict." + name));
    CHECK(bits_equal(t, expected.tensors.at("state_dict." + name)));
  }
  CHECK(file.tensors.at("1.num_batches_tracked").dtype() == i64);
  CHECK(file.tensors.at("1.num_batches_tracked").item() == 7);

  nn::Sequential net{nn::Linear(4, 3), nn::BatchNorm1d(3), nn::ReLU(), nn::Linear(3, 2)};
  const auto keys = net.load_state_dict(file);  // strict
  CHECK(keys.missing_keys.empty());
  CHECK(keys.unexpected_keys.empty());
  net.eval();
  const Tensor y = net(expected.tensors.at("model.x"));
  const Tensor want = expected.tensors.at("model.y");
  REQUIRE(y.shape() == want.shape());
  for (std::int64_t i = 0; i < y.numel(); ++i) CHECK(y.to_vector<float>()[i] == doctest::Approx(want.to_vector<float>()[i]).epsilon(1e-6));
}

TEST_CASE("load_torch: every storage type, strided and shared views, nesting and plain values (pickle protocols 2 and 4)") {
  const io::TensorFile expected = io::load_safetensors(fixture("expected.safetensors"));
  for (const char* name : {"everything.pt", "everything_p4.pt", "everything_legacy.pt", "everything_deflated.pt"}) {
    INFO(name);
    const io::TensorFile file = io::load_torch(fixture(name));
    std::size_t n = 0;
    for (const auto& [key, t] : expected.tensors) {
      if (!key.starts_with("everything.")) continue;
      ++n;
      const std::string k = key.substr(11);
      INFO(k);
      REQUIRE(file.tensors.contains(k));
      CHECK(bits_equal(file.tensors.at(k), t));
    }
    CHECK(file.tensors.size() == n);
    CHECK(n == 24);
    CHECK(file.tensors.at("bf16").dtype() == f32);
    CHECK(file.tensors.at("f16").dtype() == f32);
    // keep_bf16: the same values as bf16, bit for bit
    const io::TensorFile kept = io::load_torch(fixture(name), true);
    CHECK(kept.tensors.at("bf16").dtype() == bf16);
    CHECK(bits_equal(kept.tensors.at("bf16").to(f32), file.tensors.at("bf16")));
    CHECK(kept.tensors.at("f16").dtype() == f32);
    CHECK(file.tensors.at("u8").dtype() == i64);
    CHECK(file.tensors.at("b8").dtype() == b8);
    CHECK(file.tensors.at("transposed").shape() == Shape{6, 4});
    CHECK(file.tensors.at("tied_a").is_same(file.tensors.at("tied_b")));  // one tensor under two names
    const std::map<std::string, std::string> meta{
        {"epoch", "12"}, {"big", "-1099511627779"}, {"lr", "0.1"}, {"name", "r\xc3\xa9sum\xc3\xa9"}, {"flag", "False"},
        {"nothing", "None"}, {"dtype", "torch.float16"}, {"nested.inner.n", "4"}, {"nested.list.1", "1.5"},
        {"nested.list.2", "s"}, {"nested.list.3", "None"}, {"nested.list.4", "True"}, {"tuple.0", "1"},
        {"optimizer.param_groups.0.lr", "0.001"}, {"optimizer.param_groups.0.betas.0", "0.9"},
        {"optimizer.param_groups.0.betas.1", "0.999"}, {"optimizer.param_groups.0.params.0", "0"}};
    CHECK(file.metadata == meta);
    CHECK(file.meta_int("epoch", 0, 100) == 12);
  }
  const io::TensorFile p = io::load_torch(fixture("parameter.pt"));  // an nn.Parameter: _rebuild_parameter
  CHECK(bits_equal(p.tensors.at("p"), expected.tensors.at("parameter.p")));
}

TEST_CASE("load_torch: the legacy format (before PyTorch 1.6) reads as the zip archive does") {
  const io::TensorFile expected = io::load_safetensors(fixture("expected.safetensors"));
  const io::TensorFile file = io::load_torch(fixture("legacy.pt"));
  CHECK(bits_equal(file.tensors.at("w"), expected.tensors.at("legacy.w")));  // a transposed view
  CHECK(file.metadata.at("n") == "5");
  const std::string good = read_bytes(fixture("legacy.pt"));
  for (std::size_t cut = 15; cut < good.size(); cut += 7) CHECK_THROWS_AS(decode(good.substr(0, cut)), IoError);
  CHECK_THROWS_WITH_AS(decode(good + "x"), Contains("1 bytes after the last storage"), IoError);
  std::string big = good;
  const std::size_t at = big.find("little_endian");
  REQUIRE(at != std::string::npos);
  big[at + 15] = '\x89';  // NEWTRUE → NEWFALSE
  CHECK_THROWS_WITH_AS(decode(big), Contains("big-endian"), IoError);
}

TEST_CASE("load_torch: whole models and files that are not torch.save's are refused, saying why") {
  CHECK_THROWS_WITH_AS(decode(Pk().op("}.").s), Contains("a pickle without the magic number"), IoError);
  CHECK_THROWS_WITH_AS(io::load_torch(fixture("whole_model.pt")), Contains("'torch.nn.modules.container.Sequential'"), IoError);
  CHECK_THROWS_WITH_AS(io::load_torch(fixture("whole_model.pt")), Contains("save model.state_dict() instead"), IoError);
  CHECK_THROWS_WITH_AS(io::load_torch(fixture("expected.safetensors")), Contains("not a torch.save archive"), IoError);
  CHECK_THROWS_WITH_AS(io::load_torch(fixture("missing.pt")), Contains("no such file"), IoError);
  CHECK_THROWS_WITH_AS(io::load_torch(NABLA_TEST_DATA_DIR), Contains("is a directory; expected a regular file"), IoError);
  CHECK_THROWS_WITH_AS(decode(zip_of({{"archive/other.pkl", "x"}})), Contains("no <dir>/data.pkl"), IoError);
  CHECK_THROWS_WITH_AS(decode(zip_of({{"a/data.pkl", "x"}, {"b/data.pkl", "x"}})), Contains("two pickles"), IoError);
}

TEST_CASE("load_torch: bytes, torch.Size and torch.device become text") {
  Pk p;  // {"b": _codecs.encode("a\xe9", "latin1"), "s": torch.Size((2, 3)), "d": torch.device("cuda", 1)}
  p.op("}(").str("b").global("_codecs", "encode").op("(").str("a\xc3\xa9").str("latin1").op("tR");
  p.str("s").global("torch", "Size").op("(").ints({2, 3}).op("tR").str("d").global("torch", "device").op("(").str("cuda").num(1).op("tRu.");
  const io::TensorFile f = decode(archive(p.s));
  CHECK(f.metadata == std::map<std::string, std::string>{{"b", "a\xe9"}, {"s.0", "2"}, {"s.1", "3"}, {"d", "cuda:1"}});
}

TEST_CASE("load_torch: ZIP64 records, DEFLATEd records and any directory name read as torch.save's own") {
  Pk p;  // {"w": [[1.5, 3.5], [2.5, 4.5]], "e": an empty tensor of an empty storage}
  p.op("}(").str("w").tensor(6, 1, {2, 2}, {1, 2}).str("e").tensor(0, 0, {0, 3}, {3, 1}, "FloatStorage", "1").op("u.");
  const std::vector<float> want{1.5f, 3.5f, 2.5f, 4.5f};
  for (const auto& [zip64, deflated] : std::vector<std::pair<bool, bool>>{{false, false}, {true, false}, {false, true}, {true, true}}) {
    const std::string bytes = zip_of({{"my_model/data.pkl", p.s}, {"my_model/data/0", floats(6)}, {"my_model/data/1", ""}}, zip64, deflated);
    const io::TensorFile f = decode(bytes);
    CHECK(f.tensors.at("w").to_vector<float>() == want);
    CHECK(f.tensors.at("e").shape() == Shape{0, 3});
  }
  // A DEFLATE stream longer or shorter than its stated size.
  std::string bad = zip_of({{"a/data.pkl", p.s}, {"a/data/0", floats(6)}, {"a/data/1", ""}}, false, true);
  const std::size_t at = bad.find(std::string("a/data/0")) - 8;  // the local header's uncompressed size
  bad[at] = static_cast<char>(bad[at] - 1);
  const std::size_t cd_at = bad.rfind(std::string("a/data/0")) - 22;  // the central directory's
  bad[cd_at] = static_cast<char>(bad[cd_at] - 1);
  CHECK_THROWS_WITH_AS(decode(bad), Contains("does not inflate to its stated 23 bytes"), IoError);
}

TEST_CASE("load_torch: hostile pickles are IoErrors naming the global, opcode or value refused") {
  auto refused = [](const std::string& pickle, const char* what, const std::string& storage = floats(6)) {
    INFO(std::string(what));
    CHECK_THROWS_WITH_AS(decode(archive(pickle, storage)), Contains(what), IoError);
    CHECK_THROWS_WITH_AS(decode(archive(pickle, storage)), Contains("\"t.pt\""), IoError);
  };
  // Globals off the list, whatever is done with them.
  refused(Pk().global("os", "system").op("(").str("echo owned").op("tR.").s, "'os.system'");
  refused(Pk().global("builtins", "eval").s, "'builtins.eval'");
  refused(Pk().op("\x8c\x05posix\x8c\x06system\x93").s, "'posix.system'");  // STACK_GLOBAL
  refused(dict_of([](Pk& p) { p.global("numpy.core.multiarray", "scalar"); }), "'numpy.core.multiarray.scalar'");
  // REDUCE and BUILD of what is not called.
  refused(Pk().global("torch", "FloatStorage").op(")R.").s, "REDUCE of torch.FloatStorage");
  refused(Pk().str("x").op(")R.").s, "REDUCE of a str");
  refused(Pk().global("collections", "OrderedDict").op("(K\x01tR.").s, "collections.OrderedDict with arguments other than ()");
  refused(Pk().op("]}b.").s, "BUILD of a list");
  refused(Pk().op("}").str("x").op("b.").s, "BUILD of a dict with a str");
  refused(Pk().global("torch._utils", "_rebuild_tensor_v2").op("(K\x01K\x02tR.").s, "_rebuild_tensor_v2 with arguments other than");
  refused(Pk().op("(").str("storage").global("collections", "OrderedDict").str("0").str("cpu").num(6).op("tQ.").s, "a persistent id other than");
  // Opcodes a state dict does not need.
  refused(Pk().op("i").s, "INST");
  refused(Pk().op("\x81").s, "NEWOBJ");
  refused(Pk().op("\xff").s, "unknown opcode");
  refused("\x80\x06}.", "pickle protocol 6");
  // Malformed pickles.
  refused(Pk().op("X\xff\xff\xff\x7f").s, "ends");
  refused(Pk().op("}").s, "ends");
  refused(Pk().op("h\x05.").s, "memo entry 5 was never stored");
  refused(Pk().op("\x8a\x09" + std::string(9, '\x01') + ".").s, "at most 64 bits");
  refused(Pk().op("s.").s, "pops more values");
  refused(Pk().op("u.").s, "needs a MARK");
  refused(Pk().op("]K\x01K\x02s.").s, "SETITEM on a list");
  refused(Pk().op("}}.").s, "STOP with 2 values");
  refused(Pk().num(3).op(".").s, "single value");
  refused(Pk().tensor(6, 0, {6}, {1}).op(".").s, "single tensor");
  refused(dict_of([](Pk& p) { p.op("(").str("storage").global("torch", "FloatStorage").str("0").str("cpu").num(6).op("tQ"); }), "bare storage");
  refused(Pk().op("}(").str("a.b").num(1).str("a").op("}").str("b").num(2).op("su.").s, "collide");
  refused(Pk().op("}(").op("(t").num(1).op("u.").s, "not a string or an int");
  refused(Pk().global("torch", "ComplexFloatStorage").s, "'torch.ComplexFloatStorage'");
  refused(dict_of([](Pk& p) { p.global("_codecs", "encode").op("(").str("\xe2\x82\xac").str("latin1").op("tR"); }), "not latin-1");
  refused(dict_of([](Pk& p) { p.global("_codecs", "encode").op("(").str("x").str("utf-8").op("tR"); }), "(str, 'latin1')");
}

TEST_CASE("load_torch: recursion, sharing and sizes are bounded; offsets and strides are checked against the storage") {
  auto refused = [](const std::string& pickle, const char* what, const std::string& storage = floats(6)) {
    INFO(std::string(what));
    CHECK_THROWS_WITH_AS(decode(archive(pickle, storage)), Contains(what), IoError);
  };
  // 100,000 nested lists: built without recursion, refused at 64 levels when walked.
  {
    Pk p;
    p.op("}(").str("w");
    for (int i = 0; i < 100000; ++i) p.op("]");
    for (int i = 0; i < 99999; ++i) p.op("a");
    refused(p.op("u.").s, "nests deeper than 64 levels");
  }
  refused(Pk().op("}(").str("w").op(std::string_view("]q\x00h\x00", 5)).op("au.").s, "nests deeper than 64 levels");  // a list inside itself
  // A DAG whose paths double at each level: 2^40 names from 40 lists.
  {
    Pk p;
    const auto byte = [](int i) { return std::string(1, static_cast<char>(i)); };
    p.op("]q").op(byte(0)).op("0");
    for (int i = 1; i <= 40; ++i) p.op("](h").op(byte(i - 1)).op("h").op(byte(i - 1)).op("eq").op(byte(i)).op("0");
    p.op("}(").str("w").op("h").op(byte(40)).op("u.");
    refused(p.s, "shared so often");
  }
  // One long string referenced 2,000 times: 120 MB of copies from a 64 KB file.
  {
    Pk p;
    p.op("}(").str("w").op("](").str(std::string(60000, 'a')).op("q\x01");
    for (int i = 0; i < 2000; ++i) p.op("h\x01");
    refused(p.op("eu.").s, "more than 16 times the file");
  }
  // Sizes, offsets and strides.
  refused(dict_of([](Pk& p) { p.tensor(6, 0, {2, 3}, {3, 2}); }), "reach past its storage");  // 1·3 + 2·2 = 7
  refused(dict_of([](Pk& p) { p.tensor(6, 6, {1}, {1}); }), "reach past its storage");
  refused(dict_of([](Pk& p) { p.tensor(6, 0, {3}, {std::int64_t(1) << 62}); }), "reach past its storage");
  refused(dict_of([](Pk& p) { p.tensor(6, -1, {1}, {1}); }), "negative storage offset");
  refused(dict_of([](Pk& p) { p.tensor(6, 0, {2}, {-1}); }), "negative size or stride");
  refused(dict_of([](Pk& p) { p.tensor(6, 0, {-2}, {1}); }), "negative size or stride");
  refused(dict_of([](Pk& p) { p.tensor(1, 0, {std::int64_t(1) << 21, std::int64_t(1) << 20}, {0, 0}); }), "more than a tensor may hold", floats(1));
  refused(dict_of([](Pk& p) { p.tensor(1, 0, {std::int64_t(1) << 30}, {0}); }), "4 times the file", floats(1));  // 4 GiB from one float
  refused(dict_of([](Pk& p) { p.tensor(1, 0, {1, 1, 1, 1, 1, 1, 1, 1, 1}, {0, 0, 0, 0, 0, 0, 0, 0, 0}); }), "9 dimensions", floats(1));
  refused(dict_of([](Pk& p) { p.tensor(7, 0, {1}, {1}); }), "the file holds 24 bytes of it");
  refused(dict_of([](Pk& p) { p.tensor(std::int64_t(1) << 62, 0, {1}, {1}); }), "the file holds 24 bytes of it");
  refused(dict_of([](Pk& p) { p.tensor(6, 0, {1}, {1}, "FloatStorage", "1"); }), "has no record \"archive/data/1\"");
  refused(dict_of([](Pk& p) { p.tensor(3, 0, {3}, {1}, "BoolStorage"); }), "holds the byte 2", std::string("\x01\x00\x02", 3));
}

TEST_CASE("load_torch: truncated, corrupted and big-endian archives are IoErrors, never a crash") {
  const std::string good = read_bytes(fixture("everything.pt"));
  REQUIRE_NOTHROW(decode(good));
  for (std::size_t cut = 0; cut < good.size(); cut += 37) {
    CHECK_THROWS_AS(decode(good.substr(0, cut)), IoError);
  }
  // Every byte of the central directory and end record overwritten in turn: an IoError or a file
  // that still reads (a byte the reader does not use), never anything else.
  const std::size_t cd = good.rfind(std::string("PK\x01\x02", 4), good.size());
  for (std::size_t at = good.size() - 200; at < good.size(); ++at) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x5a);
    try {
      decode(bad);
    } catch (const IoError&) {
    }
  }
  CHECK(cd != std::string::npos);
  const std::string pickle = dict_of([](Pk& p) { p.tensor(6, 0, {6}, {1}); });
  CHECK_THROWS_WITH_AS(decode(zip_of({{"archive/data.pkl", pickle}, {"archive/byteorder", "big"}, {"archive/data/0", floats(6)}})),
                       Contains("byte order \"big\""), IoError);
  CHECK_THROWS_WITH_AS(decode(zip_of({{"archive/data.pkl", pickle}, {"archive/data.pkl", pickle}})), Contains("two records"), IoError);
}

TEST_CASE("load_state_dict: strict and non-strict, as PyTorch's; shapes always checked; a refused state changes nothing") {
  nn::Sequential net{nn::Linear(3, 2, {.dtype = f64}), nn::ReLU(), nn::Linear(2, 1, {.dtype = f64})};
  const std::map<std::string, Tensor> before = net.state();
  std::map<std::string, Tensor> state{{"0.weight", ones({2, 3})}, {"0.bias", full({2}, 2.0)}, {"extra.w", ones({1})}};
  CHECK_THROWS_WITH_AS(net.load_state_dict(state), Contains("2 missing key(s): '2.bias', '2.weight'"), ValueError);
  CHECK_THROWS_WITH_AS(net.load_state_dict(state), Contains("1 unexpected key(s): 'extra.w'"), ValueError);
  CHECK(net.state().at("0.weight").at({0, 0}) != 1.0);  // nothing copied
  const auto keys = net.load_state_dict(state, false);
  CHECK(keys.missing_keys == std::vector<std::string>{"2.bias", "2.weight"});
  CHECK(keys.unexpected_keys == std::vector<std::string>{"extra.w"});
  CHECK(net.state().at("0.weight").dtype() == f64);  // float32 values converted into the float64 model
  CHECK(net.state().at("0.weight").at({1, 2}) == 1.0);
  CHECK(net.state().at("0.bias").at({1}) == 2.0);
  state["0.bias"] = ones({3});
  CHECK_THROWS_WITH_AS(net.load_state_dict(state, false), Contains("size mismatch for '0.bias'"), ShapeError);
  CHECK(net.state().at("0.weight").at({1, 2}) == 1.0);
  (void)before;
}

TEST_CASE("safetensors: F16 and BF16 read as PyTorch widens them, and are written as PyTorch rounds (nearest even)") {
  const io::TensorFile h = io::load_safetensors(fixture("halfs.safetensors"));
  for (const char* src : {"src", "src64"}) {
    const std::string s = src;
    INFO(s);
    CHECK(h.tensors.at(s + "_f16").dtype() == f32);
    CHECK(bits_equal(h.tensors.at(s + "_f16"), h.tensors.at(s + "_f16_wide")));
    CHECK(bits_equal(h.tensors.at(s + "_bf16"), h.tensors.at(s + "_bf16_wide")));
    for (const auto& [format, name] : std::vector<std::pair<io::FloatFormat, std::string>>{{io::FloatFormat::f16, "F16"}, {io::FloatFormat::bf16, "BF16"}}) {
      const std::string bytes = io::encode_safetensors({{"x", h.tensors.at(s)}}, {}, format);
      CHECK(bytes.find(std::string("\"dtype\":\"") + name + "\"") != std::string::npos);
      const io::TensorFile back = io::decode_safetensors(std::as_bytes(std::span(bytes.data(), bytes.size())), "x");
      CHECK(bits_equal(back.tensors.at("x"), h.tensors.at(s + (format == io::FloatFormat::f16 ? "_f16_wide" : "_bf16_wide"))));
    }
  }
  nabla_test::TempDir d;
  Generator gen(3);
  const std::map<std::string, Tensor> t{{"w", randn({4, 5}, f32, gen)}, {"i", arange(0, 3, 1, i64)}};
  io::save_safetensors(d / "half.safetensors", t, {}, io::FloatFormat::bf16);
  const io::TensorFile back = io::load_safetensors(d / "half.safetensors");
  CHECK(bits_equal(back.tensors.at("i"), t.at("i")));  // integers kept
  CHECK(back.tensors.at("w").dtype() == f32);
  // keep_bf16: BF16 read as bf16, its bits those of w rounded; a bf16 tensor is written as BF16 again
  const io::TensorFile kept = io::load_safetensors(d / "half.safetensors", true);
  CHECK(kept.tensors.at("w").dtype() == bf16);
  CHECK(bits_equal(kept.tensors.at("w"), t.at("w").to(bf16)));
  io::save_safetensors(d / "kept.safetensors", kept.tensors);
  CHECK(bits_equal(io::load_safetensors(d / "kept.safetensors", true).tensors.at("w"), kept.tensors.at("w")));
  CHECK(bits_equal(io::load_safetensors(d / "kept.safetensors").tensors.at("w"), back.tensors.at("w")));
  // A float64 model takes the bfloat16 weights through load_state_dict, converted to its dtype.
  nn::Linear fc(5, 4, {.dtype = f64});
  fc.load_state_dict(std::map<std::string, Tensor>{{"weight", back.tensors.at("w")}}, false);
  CHECK(fc.weight().dtype() == f64);
  CHECK(fc.weight().at({3, 4}) == static_cast<double>(back.tensors.at("w").at({3, 4})));
  const std::string raw = read_bytes(d / "half.safetensors");
  std::uint64_t head = 0;
  std::memcpy(&head, raw.data(), 8);
  CHECK(raw.size() - 8 - head == 2 * 20 + 8 * 3);  // 2 bytes a weight, the integers as they were
}
