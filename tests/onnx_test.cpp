// tests/onnx_test.cpp — onnx::export_model without Python: the bytes parsed back (a small protobuf
// reader below), the node list of small models, the symbolic batch, and the refusals. The outputs
// against ONNX Runtime are the ctest onnx/runtime_check (tests/onnx/export_models.cpp).
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nabla/nabla.hpp>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace nabla;

namespace {

// One protobuf message: each field number → its values (a varint, or the bytes of a string,
// bytes or nested message; fixed32 kept as its 4 bytes).
struct Fields {
  std::multimap<std::uint32_t, std::string> bytes;
  std::multimap<std::uint32_t, std::uint64_t> ints;
  std::vector<std::string> all(std::uint32_t f) const {
    std::vector<std::string> v;
    for (auto [a, b] = bytes.equal_range(f); a != b; ++a) v.push_back(a->second);
    return v;
  }
  std::string one(std::uint32_t f) const {
    const auto v = all(f);
    REQUIRE(v.size() == 1);
    return v[0];
  }
  std::vector<std::int64_t> ints_of(std::uint32_t f) const {
    std::vector<std::int64_t> v;
    for (auto [a, b] = ints.equal_range(f); a != b; ++a) v.push_back(static_cast<std::int64_t>(a->second));
    return v;
  }
};

std::uint64_t varint(const std::string& s, std::size_t& i) {
  std::uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    REQUIRE(i < s.size());
    const auto c = static_cast<unsigned char>(s[i++]);
    v |= std::uint64_t(c & 0x7FU) << shift;
    if ((c & 0x80U) == 0) return v;
  }
}

Fields parse(const std::string& s) {
  Fields f;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::uint64_t key = varint(s, i);
    const auto field = static_cast<std::uint32_t>(key >> 3U);
    switch (key & 7U) {
      case 0: f.ints.emplace(field, varint(s, i)); break;
      case 2: {
        const std::uint64_t n = varint(s, i);
        REQUIRE(i + n <= s.size());
        f.bytes.emplace(field, s.substr(i, n));
        i += n;
        break;
      }
      case 5:
        REQUIRE(i + 4 <= s.size());
        f.bytes.emplace(field, s.substr(i, 4));
        i += 4;
        break;
      default: FAIL("unexpected wire type " << (key & 7U));
    }
  }
  return f;
}

std::vector<std::string> op_types(const Fields& graph) {
  std::vector<std::string> v;
  for (const auto& n : graph.all(1)) v.push_back(parse(n).one(4));
  return v;
}

// A ValueInfoProto's name and dims ("batch" for a symbolic one, else the number).
std::pair<std::string, std::vector<std::string>> value_info(const std::string& bytes) {
  const Fields vi = parse(bytes);
  const Fields tensor = parse(parse(vi.one(2)).one(1));
  std::vector<std::string> dims;
  for (const auto& d : parse(tensor.one(2)).all(1)) {
    const Fields dim = parse(d);
    dims.push_back(dim.bytes.count(2) ? dim.one(2) : std::to_string(dim.ints_of(1).at(0)));
  }
  return {vi.one(1), dims};
}

Fields graph_of(const std::string& model_bytes) { return parse(parse(model_bytes).one(7)); }

onnx::Forward one(nn::Module& m) {
  return [&m](const std::vector<Tensor>& xs) { return std::vector<Tensor>{m(xs[0])}; };
}

}  // namespace

TEST_CASE("onnx: a Linear + sigmoid model parses back: nodes, initializers by state-dict name, a symbolic batch") {
  Generator gen(1);
  nn::Sequential net{nn::Linear(4, 3, {}, gen), nn::Sigmoid()};
  net.eval();
  const std::string bytes = onnx::export_bytes(net, one(net), {randn({2, 4}, f32, gen)});
  const Fields model = parse(bytes);
  CHECK(model.ints_of(1) == std::vector<std::int64_t>{8});  // IR version
  const Fields opset = parse(model.one(8));
  CHECK(opset.ints_of(2) == std::vector<std::int64_t>{18});
  const Fields graph = graph_of(bytes);
  CHECK(op_types(graph) == std::vector<std::string>{"Transpose", "MatMul", "Add", "Sigmoid", "Identity"});
  std::map<std::string, Fields> inits;
  for (const auto& t : graph.all(5)) {
    Fields f = parse(t);
    inits.emplace(f.one(8), f);
  }
  REQUIRE(inits.count("0.weight") == 1);
  REQUIRE(inits.count("0.bias") == 1);
  const Fields& w = inits.at("0.weight");
  CHECK(w.ints_of(1) == std::vector<std::int64_t>{3, 4});
  CHECK(w.ints_of(2) == std::vector<std::int64_t>{1});  // FLOAT
  const Tensor weight = net.state().at("0.weight");
  REQUIRE(w.one(9).size() == 12 * sizeof(float));
  CHECK(std::memcmp(w.one(9).data(), weight.data<float>(), 12 * sizeof(float)) == 0);
  const auto in = value_info(graph.one(11));
  CHECK(in.first == "input");
  CHECK(in.second == std::vector<std::string>{"batch", "4"});
  const auto out = value_info(graph.one(12));
  CHECK(out.first == "output");
  CHECK(out.second == std::vector<std::string>{"batch", "3"});
}

TEST_CASE("onnx: a reshape that follows the batch is written with -1; names and batch dims from the options") {
  Generator gen(2);
  nn::Sequential net{nn::Reshape({2, 3}), nn::Flatten(), nn::Linear(6, 2, {}, gen)};
  net.eval();
  // The batch is dim 1 of a [6, N] input: transpose first.
  const onnx::Forward f = [&](const std::vector<Tensor>& xs) { return std::vector<Tensor>{net(transpose(xs[0]))}; };
  const std::string bytes = onnx::export_bytes(net, f, {randn({6, 4}, f32, gen)},
                                               {.input_names = {"x"}, .output_names = {"y"}, .batch_dims = {1}});
  const Fields graph = graph_of(bytes);
  CHECK(op_types(graph) == std::vector<std::string>{"Transpose", "Reshape", "Reshape", "Transpose", "MatMul", "Add", "Identity"});
  CHECK(value_info(graph.one(11)) == std::pair<std::string, std::vector<std::string>>{"x", {"6", "batch"}});
  CHECK(value_info(graph.one(12)) == std::pair<std::string, std::vector<std::string>>{"y", {"batch", "2"}});
  // The shapes the reshapes were given: [-1, 2, 3] and [-1, 6].
  std::vector<std::vector<std::int64_t>> shapes;
  std::map<std::string, std::string> raw;
  for (const auto& t : graph.all(5)) {
    const Fields f = parse(t);
    raw[f.one(8)] = f.one(9);
  }
  for (const auto& n : graph.all(1)) {
    const Fields node = parse(n);
    if (node.one(4) != "Reshape") continue;
    const std::string& r = raw.at(node.all(1).at(1));
    std::vector<std::int64_t> v(r.size() / 8);
    std::memcpy(v.data(), r.data(), r.size());
    shapes.push_back(v);
  }
  CHECK(shapes == std::vector<std::vector<std::int64_t>>{{-1, 2, 3}, {-1, 6}});
}

TEST_CASE("onnx: an op with no mapping is refused by name") {
  nn::Sequential net{nn::ReLU()};
  net.eval();
  const onnx::Forward f = [&](const std::vector<Tensor>& xs) { return std::vector<Tensor>{cumsum(net(xs[0]), 1)}; };
  CHECK_THROWS_WITH_AS(onnx::export_bytes(net, f, {randn({2, 3})}), doctest::Contains("'cumsum'"), onnx::ExportError);
  // The recorder is off again after the refusal: ops run as usual, and a second export works.
  CHECK(relu(full({2}, -1.0)).at({0}) == 0.0);
  CHECK_NOTHROW(onnx::export_bytes(net, one(net), {randn({2, 3})}));
}

TEST_CASE("onnx: refusals — a batch-sized constant, a batch-dependent path, training mode, no inputs, bad batch dims") {
  nn::Sequential net{nn::ReLU()};
  net.eval();
  const onnx::Forward constant = [&](const std::vector<Tensor>& xs) {
    return std::vector<Tensor>{net(xs[0] + zeros({xs[0].size(0), 3}))};
  };
  CHECK_THROWS_WITH_AS(onnx::export_bytes(net, constant, {randn({2, 3})}), doctest::Contains("follows the batch"), onnx::ExportError);
  const onnx::Forward branches = [&](const std::vector<Tensor>& xs) {
    return std::vector<Tensor>{xs[0].size(0) == 2 ? net(xs[0]) : net(sigmoid(xs[0]))};
  };
  CHECK_THROWS_WITH_AS(onnx::export_bytes(net, branches, {randn({2, 3})}), doctest::Contains("same path"), onnx::ExportError);
  nn::Sequential training{nn::Dropout(0.5)};
  CHECK_THROWS_WITH_AS(onnx::export_bytes(training, one(training), {randn({2, 3})}), doctest::Contains("module.eval()"),
                       onnx::ExportError);
  CHECK_THROWS_AS(onnx::export_bytes(net, one(net), {}), onnx::ExportError);
  CHECK_THROWS_WITH_AS(onnx::export_bytes(net, one(net), {randn({2, 3})}, {.batch_dims = {2}}), doctest::Contains("batch dim 2"),
                       onnx::ExportError);
  CHECK_THROWS_WITH_AS(onnx::export_bytes(net, one(net), {randn({2, 3})}, {.input_names = {"x"}, .output_names = {"x"}}),
                       doctest::Contains("'x'"), onnx::ExportError);
  nn::Sequential two{nn::ReLU()};
  two.eval();
  CHECK_THROWS_AS(onnx::export_model(two, {randn({2, 3}), randn({2, 3})}, "unused.onnx"), onnx::ExportError);
}

TEST_CASE("onnx: export_model writes the file; a path in a missing directory is an IoError naming it") {
  nn::Sequential net{nn::Linear(3, 2), nn::Softmax(-1)};
  net.eval();
  const nabla_test::TempDir dir;  // its own directory: test runs side by side do not share the file
  const std::string path = dir / "m.onnx";
  onnx::export_model(net, {randn({2, 3})}, path);
  std::ifstream f(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  CHECK(op_types(graph_of(bytes)) == std::vector<std::string>{"Transpose", "MatMul", "Add", "Softmax", "Identity"});
  CHECK_THROWS_WITH_AS(onnx::export_model(net, {randn({2, 3})}, "/nonexistent-nabla-dir/m.onnx"),
                       doctest::Contains("/nonexistent-nabla-dir/m.onnx"), IoError);
}
