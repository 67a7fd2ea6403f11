// The tensor-surface ops against PyTorch: tests/data/torch_reference.json holds, per case, inputs,
// PyTorch's float64 output and the gradient of sum(output · w) for a fixed w (written by
// scripts/torch_reference.py); nabla recomputes both and must agree to 1e-12.
#include <cmath>
#include <fstream>
#include <functional>
#include <map>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>
#include <nlohmann/json.hpp>

#include "test_util.hpp"
#include "torch_json.hpp"

using namespace nabla;
using json = nlohmann::json;
using nabla_test::decode;
using nabla_test::worst;

namespace {

std::vector<int> ints(const json& j) { return j.get<std::vector<int>>(); }

using Op = std::function<Tensor(const std::vector<Tensor>&, const json&)>;

// Each case's op, as nabla spells it.
const std::map<std::string, Op>& ops() {
  static const std::map<std::string, Op> table = {
      {"permute", [](auto& x, auto& p) { return permute(x[0], ints(p["dims"])); }},
      {"transpose", [](auto& x, auto& p) { return transpose(x[0], p["d0"], p["d1"]); }},
      {"slice", [](auto& x, auto& p) { return slice(x[0], p["axis"], p["start"], p["stop"], p["step"]); }},
      {"narrow", [](auto& x, auto& p) { return narrow(x[0], p["axis"], p["start"], p["length"]); }},
      {"select", [](auto& x, auto& p) { return select(x[0], p["axis"], p["index"]); }},
      {"squeeze", [](auto& x, auto&) { return squeeze(x[0]); }},
      {"unsqueeze", [](auto& x, auto& p) { return unsqueeze(x[0], p["axis"]); }},
      {"expand", [](auto& x, auto& p) {
         Shape s;
         for (std::int64_t d : p["shape"]) s.push_back(d);
         return expand(x[0], s);
       }},
      {"flip", [](auto& x, auto& p) { return flip(x[0], ints(p["axes"])); }},
      {"pad", [](auto& x, auto& p) { return pad(x[0], p["widths"].template get<std::vector<std::int64_t>>(), p["value"]); }},
      {"cat", [](auto& x, auto& p) { return cat(x, p["axis"]); }},
      {"stack", [](auto& x, auto& p) { return stack(x, p["axis"]); }},
      {"split_last", [](auto& x, auto& p) { return split(x[0], p["size"].template get<std::int64_t>(), p["axis"]).back(); }},
      {"chunk_first", [](auto& x, auto& p) { return chunk(x[0], p["chunks"], p["axis"]).front(); }},
      {"index_select", [](auto& x, auto& p) { return index_select(x[0], p["axis"], x[1]); }},
      {"gather", [](auto& x, auto& p) { return gather(x[0], p["axis"], x[1]); }},
      {"scatter_add", [](auto& x, auto& p) { return scatter_add(x[0], p["axis"], x[1], x[2]); }},
      {"where", [](auto& x, auto&) { return where(x[0], x[1], x[2]); }},
      {"masked_fill", [](auto& x, auto& p) { return masked_fill(x[0], x[1], p["value"]); }},
      {"lt", [](auto& x, auto&) { return (x[0] < x[1]).to(f64); }},
      {"ge", [](auto& x, auto&) { return (x[0] >= x[1]).to(f64); }},
      {"maximum", [](auto& x, auto&) { return maximum(x[0], x[1]); }},
      {"minimum", [](auto& x, auto&) { return minimum(x[0], x[1]); }},
      {"clamp", [](auto& x, auto& p) { return clamp(x[0], p["lo"], p["hi"]); }},
      {"log1p", [](auto& x, auto&) { return log1p(x[0]); }},
      {"expm1", [](auto& x, auto&) { return expm1(x[0]); }},
      {"sin", [](auto& x, auto&) { return sin(x[0]); }},
      {"cos", [](auto& x, auto&) { return cos(x[0]); }},
      {"sign", [](auto& x, auto&) { return sign(x[0]); }},
      {"reciprocal", [](auto& x, auto&) { return reciprocal(x[0]); }},
      {"rsqrt", [](auto& x, auto&) { return rsqrt(x[0]); }},
      {"erf", [](auto& x, auto&) { return erf(x[0]); }},
      {"softplus", [](auto& x, auto& p) { return softplus(x[0], p["beta"], p["threshold"]); }},
      {"gelu", [](auto& x, auto& p) { return gelu(x[0], p["approximate"].template get<std::string>()); }},
      {"silu", [](auto& x, auto&) { return silu(x[0]); }},
      {"elu", [](auto& x, auto& p) { return elu(x[0], p["alpha"]); }},
      {"sum_axes", [](auto& x, auto& p) { return sum(x[0], ints(p["axes"]), p["keepdim"]); }},
      {"mean_axes", [](auto& x, auto& p) { return mean(x[0], ints(p["axes"]), p["keepdim"]); }},
      {"amax", [](auto& x, auto& p) { return amax(x[0], ints(p["axes"]), p["keepdim"]); }},
      {"amin", [](auto& x, auto& p) { return amin(x[0], ints(p["axes"]), p["keepdim"]); }},
      {"max_values", [](auto& x, auto& p) { return max_with_indices(x[0], p["axis"], p["keepdim"]).values; }},
      {"max_indices", [](auto& x, auto& p) { return max_with_indices(x[0], p["axis"], p["keepdim"]).indices; }},
      {"min_values", [](auto& x, auto& p) { return min_with_indices(x[0], p["axis"], p["keepdim"]).values; }},
      {"argmin", [](auto& x, auto& p) { return argmin(x[0], p["axis"]); }},
      {"logsumexp", [](auto& x, auto& p) { return logsumexp(x[0], ints(p["axes"]), p["keepdim"]); }},
      {"var", [](auto& x, auto& p) { return var(x[0], ints(p["axes"]), p["correction"], p["keepdim"]); }},
      {"std", [](auto& x, auto& p) { return nabla::std(x[0], ints(p["axes"]), p["correction"], p["keepdim"]); }},
      {"norm", [](auto& x, auto& p) {
         const double order = p["p"].is_string() ? INFINITY : p["p"].template get<double>();
         return norm(x[0], order, ints(p["axes"]), p["keepdim"]);
       }},
      {"prod", [](auto& x, auto& p) { return prod(x[0], p["axis"], p["keepdim"]); }},
      {"cumsum", [](auto& x, auto& p) { return cumsum(x[0], p["axis"]); }},
      {"sort_values", [](auto& x, auto& p) { return sort(x[0], p["axis"], p["descending"]).values; }},
      {"argsort", [](auto& x, auto& p) { return argsort(x[0], p["axis"], p["descending"]); }},
      {"topk_values", [](auto& x, auto& p) { return topk(x[0], p["k"], p["axis"], p["largest"]).values; }},
      {"topk_indices", [](auto& x, auto& p) { return topk(x[0], p["k"], p["axis"], p["largest"]).indices; }},
      {"softmax", [](auto& x, auto& p) { return softmax(x[0], p["axis"].template get<int>()); }},
      {"log_softmax", [](auto& x, auto& p) { return log_softmax(x[0], p["axis"].template get<int>()); }},
      {"matmul", [](auto& x, auto&) { return matmul(x[0], x[1]); }},
      {"bmm", [](auto& x, auto&) { return bmm(x[0], x[1]); }},
      {"dot", [](auto& x, auto&) { return dot(x[0], x[1]); }},
      {"outer", [](auto& x, auto&) { return outer(x[0], x[1]); }},
      {"einsum", [](auto& x, auto& p) { return einsum(p["equation"].template get<std::string>(), x[0], x[1]); }},
  };
  return table;
}

}  // namespace

TEST_CASE("PyTorch cross-check: forward values and gradients agree to 1e-12 in float64") {
  std::ifstream in(NABLA_TEST_DATA_DIR "/torch_reference.json");
  REQUIRE(in.good());
  const json all = json::parse(in);
  const json& cases = all.at("cases");
  REQUIRE(cases.size() >= 70);
  double worst_value = 0, worst_grad = 0;
  std::size_t grads_checked = 0;
  for (const json& c : cases) {
    const std::string op = c.at("op");
    CAPTURE(op);
    CAPTURE(c.at("params").dump());
    REQUIRE(ops().contains(op));
    std::vector<Tensor> xs;
    for (const json& j : c.at("inputs")) {
      Tensor t = decode(j);
      xs.push_back(t.dtype() == f64 ? t.requires_grad(true) : t);
    }
    const Tensor y = ops().at(op)(xs, c.at("params"));
    const Tensor expected = decode(c.at("output"));
    CHECK(y.dtype() == (expected.dtype() == f64 ? f64 : expected.dtype()));
    const double wv = worst(y.to(f64), expected.to(f64));
    CHECK(wv <= 1e-12);
    worst_value = std::max(worst_value, wv);
    if (!c.contains("grads")) continue;
    sum(y * decode(c.at("weight"))).backward();
    for (std::size_t k = 0; k < xs.size(); ++k) {
      const json& g = c.at("grads")[k];
      if (g.is_null()) continue;
      CAPTURE(k);
      const double wg = worst(xs[k].grad(), decode(g));
      CHECK(wg <= 1e-12);
      worst_grad = std::max(worst_grad, wg);
      ++grads_checked;
    }
  }
  MESSAGE("PyTorch cross-check: " << cases.size() << " cases, " << grads_checked << " gradients; worst relative error "
                                  << worst_value << " (values), " << worst_grad << " (gradients)");
}
