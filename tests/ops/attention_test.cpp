// ops/attention.cpp: scaled_dot_product_attention, its math path and its fused (FlashAttention) path.
#include <cmath>
#include <fstream>
#include <limits>
#include <string>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>
#include <nlohmann/json.hpp>

#include "test_util.hpp"
#include "torch_json.hpp"

using namespace nabla;
using namespace nabla_test;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor attend(SdpaBackend be, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask = {},
              bool causal = false, std::optional<double> scale = std::nullopt) {
  return scaled_dot_product_attention(be, q, k, v, mask, 0, causal, scale);
}

// A bool mask [L, S] with random holes, key 0 always kept, and the listed rows fully masked.
Tensor holes(std::int64_t L, std::int64_t S, Generator& gen, std::initializer_list<std::int64_t> padded_rows = {}) {
  Tensor m = uniform({L, S}, 0, 1, f64, gen) > 0.3;
  bool* p = m.mutable_data<bool>();
  for (std::int64_t i = 0; i < L; ++i) p[i * S] = true;
  for (std::int64_t r : padded_rows) {
    for (std::int64_t j = 0; j < S; ++j) p[r * S + j] = false;
  }
  return m;
}

// The fused and math paths' outputs and q, k, v gradients for one random output weight.
struct Run {
  Tensor out, gq, gk, gv;
};
Run run(SdpaBackend be, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& w, const Tensor& mask, bool causal) {
  Tensor lq = q.detach().requires_grad(true), lk = k.detach().requires_grad(true), lv = v.detach().requires_grad(true);
  Tensor out = attend(be, lq, lk, lv, mask, causal);
  sum(out * w).backward();
  return {out.detach(), lq.grad(), lk.grad(), lv.grad()};
}

double worst_of(const Run& a, const Run& b) {
  return std::max({worst(a.out, b.out), worst(a.gq, b.gq), worst(a.gk, b.gk), worst(a.gv, b.gv)});
}

}  // namespace

TEST_CASE("scaled_dot_product_attention: known values, one key and uniform scores") {
  for (SdpaBackend be : {SdpaBackend::math, SdpaBackend::fused}) {
    // One key: the output is its value, whatever the scores.
    Tensor q = randn({3, 4}, f64), k = randn({1, 4}, f64), v = tensor({2, -1}, {1, 2}, f64);
    Tensor y = attend(be, q, k, v);
    CHECK(y.shape() == Shape{3, 2});
    for (std::int64_t i = 0; i < 3; ++i) {
      CHECK(y.at({i, 0}) == doctest::Approx(2));
      CHECK(y.at({i, 1}) == doctest::Approx(-1));
    }
    // Zero queries: uniform weights, the mean of the values; causal: the mean of the first i + 1.
    Tensor vals = tensor({1, 2, 3, 4}, {4, 1}, f64);
    Tensor z = attend(be, zeros({4, 3}, f64), randn({4, 3}, f64), vals, {}, true);
    for (std::int64_t i = 0; i < 4; ++i) CHECK(z.at({i, 0}) == doctest::Approx((i + 2) / 2.0));
  }
}

TEST_CASE("scaled_dot_product_attention: a fully masked row gives 0 and gradient 0, as PyTorch 2.x") {
  Generator gen(3);
  Tensor mask = holes(4, 5, gen, {1});
  for (SdpaBackend be : {SdpaBackend::math, SdpaBackend::fused}) {
    Tensor q = randn({2, 4, 3}, f64, gen).requires_grad(true), k = randn({2, 5, 3}, f64, gen).requires_grad(true);
    Tensor v = randn({2, 5, 3}, f64, gen).requires_grad(true);
    Tensor y = attend(be, q, k, v, mask);
    sum(y * y).backward();
    for (std::int64_t b = 0; b < 2; ++b) {
      for (std::int64_t c = 0; c < 3; ++c) {
        CHECK(y.at({b, 1, c}) == 0.0);
        CHECK(q.grad().at({b, 1, c}) == 0.0);
      }
    }
    for (double g : k.grad().to_vector()) CHECK(std::isfinite(g));
  }
}

TEST_CASE("scaled_dot_product_attention: no keys gives zeros, no queries an empty output, as PyTorch") {
  for (SdpaBackend be : {SdpaBackend::math, SdpaBackend::fused}) {
    Tensor q = randn({2, 3, 4}, f64).requires_grad(true);
    Tensor y = attend(be, q, randn({2, 0, 4}, f64), randn({2, 0, 5}, f64));
    CHECK(y.shape() == Shape{2, 3, 5});
    for (double x : y.to_vector()) CHECK(x == 0.0);
    sum(y).backward();
    for (double g : q.grad().to_vector()) CHECK(g == 0.0);
    CHECK(attend(be, randn({2, 0, 4}), randn({2, 3, 4}), randn({2, 3, 5})).shape() == Shape{2, 0, 5});
  }
}

TEST_CASE("scaled_dot_product_attention: float64 gradcheck of both paths, gradgradcheck too") {
  Generator gen(11);
  struct Case {
    const char* name;
    Shape q, k, v;
    Tensor mask;
    bool causal;
  };
  Tensor fmask = randn({2, 1, 4, 6}, f64, gen);
  Tensor inf_mask = masked_fill(randn({4, 6}, f64, gen), logical_not(holes(4, 6, gen, {2})), -kInf);
  const std::vector<Case> cases = {
      {"L != S", {2, 3, 4}, {2, 5, 4}, {2, 5, 3}, {}, false},
      {"several heads, bool mask with a padding row", {2, 2, 4, 3}, {2, 2, 6, 3}, {2, 2, 6, 3}, holes(4, 6, gen, {3}), false},
      {"float mask per batch", {2, 2, 4, 3}, {2, 2, 6, 3}, {2, 2, 6, 2}, fmask, false},
      {"float mask with -inf and a fully masked row", {1, 2, 4, 3}, {1, 2, 6, 3}, {1, 2, 6, 3}, inf_mask, false},
      {"causal", {2, 2, 5, 3}, {2, 2, 5, 3}, {2, 2, 5, 3}, {}, true},
      {"causal L > S", {1, 6, 3}, {1, 4, 3}, {1, 4, 2}, {}, true},
      {"causal L < S", {1, 3, 3}, {1, 5, 3}, {1, 5, 2}, {}, true},
      {"T = 1", {3, 1, 4}, {3, 1, 4}, {3, 1, 4}, {}, true},
      {"broadcast batch", {2, 3, 2, 3}, {3, 4, 3}, {1, 3, 4, 2}, {}, false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    for (SdpaBackend be : {SdpaBackend::math, SdpaBackend::fused}) {
      CAPTURE(int(be));
      Tensor q = param(c.q, gen), k = param(c.k, gen), v = param(c.v, gen);
      const Tensor mask = c.mask;
      const bool causal = c.causal;
      CHECK(check_grad([&](const Tensor& a, const Tensor& b, const Tensor& d) { return attend(be, a, b, d, mask, causal); },
                       {q, k, v}));
    }
  }
}

TEST_CASE("scaled_dot_product_attention: the float mask's gradient (math path, chosen by default)") {
  Generator gen(5);
  Tensor q = param({2, 3, 2}, gen), k = param({2, 4, 2}, gen), v = param({2, 4, 3}, gen), m = param({3, 4}, gen);
  CHECK(check_grad(
      [](const Tensor& a, const Tensor& b, const Tensor& c, const Tensor& mask) {
        return scaled_dot_product_attention(a, b, c, mask, 0, false, 0.7);
      },
      {q, k, v, m}));
}

TEST_CASE("scaled_dot_product_attention: dropout on the weights, reproducible from the generator") {
  Generator gen(7);
  Tensor q = param({2, 3, 4}, gen), k = param({2, 5, 4}, gen), v = param({2, 5, 2}, gen);
  auto with_dropout = [](const Tensor& a, const Tensor& b, const Tensor& c) {
    Generator g(42);
    return scaled_dot_product_attention(a, b, c, {}, 0.4, true, std::nullopt, g);
  };
  // The same draws as uniform(...) < 0.6, kept weights scaled by 1/0.6.
  Generator g(42);
  Tensor keep = uniform({2, 3, 5}, 0, 1, f64, g) < 0.6;
  const Tensor visible = tensor({1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0}, {3, 5}, f64) > 0.5;  // j ≤ i
  Tensor w = softmax(masked_fill(matmul(q, k, {.trans_b = true}) * 0.5, logical_not(visible), -kInf));
  Tensor expected = matmul(where(keep, w / 0.6, 0.0), v);
  CHECK(worst(with_dropout(q, k, v), expected) < 1e-14);
  CHECK(check_grad(with_dropout, {q, k, v}));
}

TEST_CASE("scaled_dot_product_attention: fused equals math, float32 and float64, long and odd lengths") {
  Generator gen(2026);
  double worst32 = 0, worst64 = 0;
  struct Case {
    std::int64_t B, H, L, S, E, Ev;
    bool causal, masked;
  };
  for (Case c : {Case{2, 3, 300, 300, 64, 64, true, false}, Case{1, 2, 300, 200, 32, 48, false, true},
                 Case{2, 1, 77, 300, 16, 8, false, false}, Case{1, 2, 257, 130, 64, 64, true, false},
                 Case{1, 1, 1, 1, 8, 8, true, false}, Case{1, 1, 333, 200, 64, 32, false, true}}) {
    CAPTURE(c.L);
    CAPTURE(c.S);
    const Tensor mask = c.masked ? holes(c.L, c.S, gen, {5, c.L - 1}) : Tensor{};
    for (Dtype dt : {f32, f64}) {
      Tensor q = randn({c.B, c.H, c.L, c.E}, dt, gen), k = randn({c.B, c.H, c.S, c.E}, dt, gen);
      Tensor v = randn({c.B, c.H, c.S, c.Ev}, dt, gen), w = randn({c.B, c.H, c.L, c.Ev}, dt, gen);
      const double err = worst_of(run(SdpaBackend::fused, q, k, v, w, mask, c.causal),
                                  run(SdpaBackend::math, q, k, v, w, mask, c.causal));
      CAPTURE(err);
      CHECK(err < (dt == f32 ? 2e-5 : 1e-12));
      (dt == f32 ? worst32 : worst64) = std::max(dt == f32 ? worst32 : worst64, err);
    }
  }
  MESSAGE("fused against math, worst error: float32 ", worst32, ", float64 ", worst64);
}

TEST_CASE("scaled_dot_product_attention: the fused path gives the same bits on one thread and two") {
  Generator gen(9);
  Tensor q = randn({2, 2, 150, 16}, f32, gen), k = randn({2, 2, 150, 16}, f32, gen), v = randn({2, 2, 150, 16}, f32, gen);
  Tensor w = randn({2, 2, 150, 16}, f32, gen);
  const int before = num_threads();
  set_num_threads(1);
  const Run one = run(SdpaBackend::fused, q, k, v, w, {}, true);
  set_num_threads(2);
  const Run two = run(SdpaBackend::fused, q, k, v, w, {}, true);
  // One batch entry: two threads split the backward by key blocks and query blocks.
  Tensor q1 = randn({300, 16}, f32, gen), k1 = randn({260, 16}, f32, gen), v1 = randn({260, 8}, f32, gen);
  Tensor w1 = randn({300, 8}, f32, gen);
  set_num_threads(1);
  const Run one1 = run(SdpaBackend::fused, q1, k1, v1, w1, {}, true);
  set_num_threads(2);
  const Run two1 = run(SdpaBackend::fused, q1, k1, v1, w1, {}, true);
  set_num_threads(before);
  CHECK(worst_of(one, two) == 0.0);
  CHECK(worst_of(one1, two1) == 0.0);
  CHECK(worst_of(one1, run(SdpaBackend::math, q1, k1, v1, w1, {}, true)) < 2e-5);
}

TEST_CASE("scaled_dot_product_attention: equals PyTorch's to 1e-12 (tests/data/attention_reference.json)") {
  std::ifstream in(std::string(NABLA_TEST_DATA_DIR) + "/attention_reference.json");
  REQUIRE(in);
  const nlohmann::json doc = nlohmann::json::parse(in);
  int cases = 0;
  double worst_all = 0;
  for (const auto& c : doc.at("cases")) {
    CAPTURE(c.at("name").get<std::string>());
    Tensor mask;
    if (c.contains("mask")) {
      mask = decode(c.at("mask"));
      if (c.contains("mask_neg_inf")) mask = masked_fill(mask, decode(c.at("mask_neg_inf")), -kInf);
    }
    const bool causal = c.at("is_causal");
    const std::optional<double> scale = c.at("scale").is_null() ? std::nullopt : std::optional<double>(c.at("scale"));
    for (SdpaBackend be : {SdpaBackend::math, SdpaBackend::fused}) {
      CAPTURE(int(be));
      Tensor q = decode(c.at("q")).requires_grad(true), k = decode(c.at("k")).requires_grad(true);
      Tensor v = decode(c.at("v")).requires_grad(true);
      Tensor m = mask;
      const bool mask_grad = c.contains("mask_grad") && be == SdpaBackend::math;
      if (mask_grad) m = mask.detach().requires_grad(true);
      Tensor y = scaled_dot_product_attention(be, q, k, v, m, 0, causal, scale);
      sum(y * decode(c.at("weight"))).backward();
      double e = worst(y, decode(c.at("out")));
      e = std::max(e, worst(q.grad(), decode(c.at("grads")[0])));
      e = std::max(e, worst(k.grad(), decode(c.at("grads")[1])));
      e = std::max(e, worst(v.grad(), decode(c.at("grads")[2])));
      if (mask_grad) e = std::max(e, worst(m.grad(), decode(c.at("mask_grad"))));
      CHECK(e < 1e-12);
      worst_all = std::max(worst_all, e);
    }
    ++cases;
  }
  CHECK(cases == 14);
  MESSAGE("attention vs PyTorch ", doc.at("torch").get<std::string>(), ": ", cases, " cases, worst error ", worst_all);
}

TEST_CASE("scaled_dot_product_attention: bad inputs name the op and the shapes") {
  Tensor q = randn({2, 4, 8}), k = randn({2, 6, 8}), v = randn({2, 6, 5});
  auto sdpa = [](auto... a) { return [=] { (void)scaled_dot_product_attention(a...); }; };
  CHECK(message_of(sdpa(randn({8}), k, v)) ==
        "scaled_dot_product_attention: query must have at least 2 dimensions ([..., L, E], [..., S, E], [..., S, Ev]), "
        "got [8]");
  CHECK(message_of(sdpa(q, randn({2, 6, 7}), v)) ==
        "scaled_dot_product_attention: query [2, 4, 8] and key [2, 6, 7] differ in the last dimension; need query "
        "[..., L, E] and key [..., S, E]");
  CHECK(message_of(sdpa(q, k, randn({2, 5, 5}))) ==
        "scaled_dot_product_attention: key [2, 6, 8] and value [2, 5, 5] differ in the second-to-last dimension; need "
        "key [..., S, E] and value [..., S, Ev]");
  CHECK(message_of(sdpa(q, randn({3, 6, 8}), randn({3, 6, 5}))) ==
        "scaled_dot_product_attention: the leading (batch) axes of query [2, 4, 8], key [3, 6, 8] and value [3, 6, 5] "
        "do not broadcast");
  CHECK(message_of(sdpa(q, k, v, ones({4, 5}) > 0.0)) ==
        "scaled_dot_product_attention: attn_mask [4, 5] does not broadcast to [..., L, S] = [2, 4, 6] (query [2, 4, 8], "
        "key [2, 6, 8])");
  CHECK(message_of(sdpa(q, k, v, ones({3, 2, 4, 6}))) ==
        "scaled_dot_product_attention: attn_mask [3, 2, 4, 6] does not broadcast to [..., L, S] = [2, 4, 6] (query "
        "[2, 4, 8], key [2, 6, 8])");
  CHECK(message_of(sdpa(q, k, v, ones({4, 6}, f64))) ==
        "scaled_dot_product_attention: attn_mask must be bool or of the query's dtype float32, got float64 [4, 6]");
  CHECK(message_of(sdpa(q, k, v, ones({4, 6}) > 0.0, 0.0, true)) ==
        "scaled_dot_product_attention: attn_mask [4, 6] and is_causal = true were both given; pass one of them (as "
        "PyTorch requires)");
  for (double p : {-0.1, 1.0, std::nan("")}) {
    CHECK(message_of(sdpa(q, k, v, Tensor{}, p)) ==
          fmt::format("scaled_dot_product_attention: dropout_p must be in [0, 1), got {}", p));
  }
  CHECK(message_of(sdpa(q, k, randn({2, 6, 5}, f64))).starts_with("scaled_dot_product_attention: "));
  CHECK(message_of([&] { (void)scaled_dot_product_attention(SdpaBackend::fused, q, k, v, {}, 0.2); }) ==
        "scaled_dot_product_attention: the fused backend takes no dropout and no attn_mask that requires grad "
        "(dropout_p 0.2, attn_mask does not require grad); use SdpaBackend::math");
}
