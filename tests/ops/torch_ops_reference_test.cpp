// PyTorch cross-check of interpolate (bicubic and area included), Tensor::index, unfold / fold, pad's
// modes and pooling with PyTorch's options (tests/data/ops_reference.json, written by
// scripts/ops_torch_reference.py with the reference environment's PyTorch): each case runs the same
// call in nabla with the same keyword arguments and compares the output and the gradient of
// sum(output · w) in float64 to 1e-12 (and max_pool2d's indices exactly). In two cases (nearest and
// bicubic without align_corners, scale_factor 1.1 on 5 inputs: 5 outputs sampling at i / 1.1) PyTorch's
// backward takes the equal sizes as the identity and is not the gradient of its forward; the fixture
// holds the true gradient Jᵀw, from PyTorch's forward, there.
#include <fstream>
#include <map>

#include "test_util.hpp"
#include "torch_json.hpp"

using namespace nabla;
using nabla_test::decode;
using nabla_test::worst;
using json = nlohmann::json;

namespace {

Size2 size2(const json& j) {
  if (j.is_array()) return {j.at(0).get<std::int64_t>(), j.at(1).get<std::int64_t>()};
  return j.get<std::int64_t>();
}
Size2 size2_or(const json& kw, const char* key, Size2 fallback) { return kw.contains(key) ? size2(kw.at(key)) : fallback; }
template <class T>
T value_or(const json& kw, const char* key, T fallback) {
  return kw.contains(key) ? kw.at(key).get<T>() : fallback;
}

/// The fixture's index spec as libtorch's indices: ints, "None", "...", {"slice": [start, stop, step]}
/// (null: open) and {"tensor": values, "shape": shape, "dtype": "int64" | "bool"}.
std::vector<indexing::TensorIndex> index_spec(const json& spec) {
  using namespace nabla::indexing;
  std::vector<TensorIndex> out;
  auto opt = [](const json& v) { return v.is_null() ? std::optional<std::int64_t>() : v.get<std::int64_t>(); };
  for (const json& e : spec) {
    if (e.is_number_integer()) {
      out.emplace_back(e.get<std::int64_t>());
    } else if (e.is_string()) {
      out.emplace_back(e.get<std::string>() == "None" ? TensorIndex(None) : TensorIndex(Ellipsis));
    } else if (e.contains("slice")) {
      const json& s = e.at("slice");
      out.emplace_back(Slice(opt(s.at(0)), opt(s.at(1)), opt(s.at(2))));
    } else {
      const Shape shape(e.at("shape").get<std::vector<std::int64_t>>());
      if (e.at("dtype") == "bool") {
        std::vector<std::int64_t> v;
        for (const json& b : e.at("tensor")) v.push_back(b.get<bool>() ? 1 : 0);
        out.emplace_back(ne(from_vector(std::span<const std::int64_t>(v), shape), 0.0));
      } else {
        const auto v = e.at("tensor").get<std::vector<std::int64_t>>();
        out.emplace_back(from_vector(std::span<const std::int64_t>(v), shape));
      }
    }
  }
  return out;
}

/// nabla's call for one case: the output, and max_pool2d's indices into `indices`.
Tensor run(const std::string& fn, const json& kw, const Tensor& x, Tensor* indices) {
  if (fn == "index") {
    const json& spec = kw.at("index");
    // A single integer also goes through operator[], which must agree with index({i}).
    if (spec.size() == 1 && spec.at(0).is_number_integer()) {
      CHECK(nabla_test::max_abs_diff(x[spec.at(0).get<std::int64_t>()], x.index(index_spec(spec))) == 0);
    }
    return x.index(index_spec(spec));
  }
  if (fn == "interpolate") {
    InterpolateFuncOptions o;
    if (kw.contains("size")) {
      const json& s = kw.at("size");
      o.size = s.is_array() ? s.get<std::vector<std::int64_t>>() : std::vector<std::int64_t>{s.get<std::int64_t>()};
    }
    if (kw.contains("scale_factor")) {
      const json& s = kw.at("scale_factor");
      o.scale_factor = s.is_array() ? s.get<std::vector<double>>() : std::vector<double>{s.get<double>()};
    }
    const std::string mode = kw.at("mode");
    o.mode = mode;
    if (kw.contains("align_corners")) o.align_corners = kw.at("align_corners").get<bool>();
    if (kw.contains("recompute_scale_factor")) o.recompute_scale_factor = kw.at("recompute_scale_factor").get<bool>();
    return interpolate(x, o);
  }
  if (fn == "unfold") {
    return unfold(x, {.kernel_size = size2(kw.at("kernel_size")),
                      .dilation = size2_or(kw, "dilation", 1),
                      .padding = size2_or(kw, "padding", 0),
                      .stride = size2_or(kw, "stride", 1)});
  }
  if (fn == "fold") {
    return fold(x, {.output_size = size2(kw.at("output_size")),
                    .kernel_size = size2(kw.at("kernel_size")),
                    .dilation = size2_or(kw, "dilation", 1),
                    .padding = size2_or(kw, "padding", 0),
                    .stride = size2_or(kw, "stride", 1)});
  }
  if (fn == "pad") {
    const std::string mode = kw.at("mode");
    return pad(x, kw.at("pad").get<std::vector<std::int64_t>>(), mode, value_or(kw, "value", 0.0));
  }
  if (fn == "max_pool2d") {
    const MaxPool2dFuncOptions o{.kernel_size = size2(kw.at("kernel_size")),
                                 .stride = size2_or(kw, "stride", 0),
                                 .padding = size2_or(kw, "padding", 0),
                                 .dilation = size2_or(kw, "dilation", 1),
                                 .ceil_mode = value_or(kw, "ceil_mode", false)};
    *indices = max_pool2d_with_indices(x.detach(), o).indices;
    return max_pool2d(x, o);
  }
  if (fn == "avg_pool2d") {
    AvgPool2dFuncOptions o{.kernel_size = size2(kw.at("kernel_size")),
                           .stride = size2_or(kw, "stride", 0),
                           .padding = size2_or(kw, "padding", 0),
                           .ceil_mode = value_or(kw, "ceil_mode", false),
                           .count_include_pad = value_or(kw, "count_include_pad", true)};
    if (kw.contains("divisor_override")) o.divisor_override = kw.at("divisor_override").get<std::int64_t>();
    return avg_pool2d(x, o);
  }
  if (fn == "max_pool1d") {
    return max_pool1d(x, {.kernel_size = kw.at("kernel_size"),
                          .stride = value_or<std::int64_t>(kw, "stride", 0),
                          .padding = value_or<std::int64_t>(kw, "padding", 0),
                          .dilation = value_or<std::int64_t>(kw, "dilation", 1),
                          .ceil_mode = value_or(kw, "ceil_mode", false)});
  }
  REQUIRE(fn == "avg_pool1d");
  return avg_pool1d(x, {.kernel_size = kw.at("kernel_size"),
                        .stride = value_or<std::int64_t>(kw, "stride", 0),
                        .padding = value_or<std::int64_t>(kw, "padding", 0),
                        .ceil_mode = value_or(kw, "ceil_mode", false),
                        .count_include_pad = value_or(kw, "count_include_pad", true)});
}

}  // namespace

TEST_CASE("PyTorch cross-check of interpolate, unfold/fold, pad modes and pooling options: 1e-12 in float64") {
  std::ifstream in(NABLA_TEST_DATA_DIR "/ops_reference.json");
  REQUIRE(in.good());
  const json all = json::parse(in);
  const json& cases = all.at("cases");
  REQUIRE(cases.size() >= 213);
  double worst_value = 0, worst_grad = 0;
  std::map<std::string, int> per_fn;
  int torch_backward_differs = 0;
  for (const json& c : cases) {
    const std::string fn = c.at("fn");
    CAPTURE(fn);
    CAPTURE(c.at("kwargs").dump());
    CAPTURE(c.at("input").at("shape").dump());
    ++per_fn[fn];
    const Tensor x = decode(c.at("input")).requires_grad(true);
    Tensor indices;
    const Tensor y = run(fn, c.at("kwargs"), x, &indices);
    const double wv = worst(y, decode(c.at("output")));
    CHECK(wv <= 1e-12);
    worst_value = std::max(worst_value, wv);
    if (c.contains("indices")) {
      REQUIRE(indices.defined());
      CHECK(indices.dtype() == i64);
      CHECK(worst(indices.to(f64), decode(c.at("indices")).to(f64)) == 0);
    }
    sum(y * decode(c.at("weight"))).backward();
    REQUIRE(x.grad().defined());
    const double wg = worst(x.grad(), decode(c.at("grad")));
    CHECK(wg <= 1e-12);
    worst_grad = std::max(worst_grad, wg);
    if (c.value("torch_backward_differs", false)) {
      // PyTorch's own backward is not the gradient of its forward here; nabla's is (Jᵀw above).
      ++torch_backward_differs;
      CHECK(worst(x.grad(), decode(c.at("torch_grad"))) > 1e-3);
    }
  }
  CHECK(torch_backward_differs == 2);
  CHECK(per_fn.size() == 9);
  MESSAGE("PyTorch ops cross-check: " << cases.size() << " cases (" << per_fn["interpolate"] << " interpolate, "
                                      << per_fn["unfold"] + per_fn["fold"] << " unfold/fold, " << per_fn["pad"] << " pad, "
                                      << per_fn["max_pool2d"] + per_fn["avg_pool2d"] + per_fn["max_pool1d"] + per_fn["avg_pool1d"]
                                      << " pooling, " << per_fn["index"] << " index); worst relative error " << worst_value << " (values), " << worst_grad
                                      << " (gradients)");
}
