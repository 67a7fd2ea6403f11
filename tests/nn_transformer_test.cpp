// nn::MultiheadAttention and the transformer layers (nabla/nn_transformer.hpp): PyTorch cross-check
// (tests/data/transformer_reference.json, written by scripts/transformer_reference.py: PyTorch's
// state_dict loaded by name, outputs and gradients to 1e-12 in float64), float64 gradchecks, names,
// initialization, masks and errors.
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>
#include <nlohmann/json.hpp>

#include "test_util.hpp"
#include "torch_json.hpp"

using namespace nabla;
using json = nlohmann::json;
using nabla_test::decode;
using nabla_test::worst;
using nabla_test::check_grad;
using nabla_test::check_grad_first_order;
using nabla_test::max_abs_diff;

namespace {

/// A mask: bool, or float64 whose −inf entries the script writes as "-inf" (JSON has no infinity).
Tensor mask_of(const json& masks, const char* name) {
  if (!masks.contains(name)) return Tensor{};
  json m = masks.at(name);
  if (m.at("dtype") == "float64") {
    std::vector<double> v;
    for (const json& x : m.at("values")) v.push_back(x.is_string() ? -std::numeric_limits<double>::infinity() : x.get<double>());
    Shape s;
    for (std::int64_t d : m.at("shape")) s.push_back(d);
    return from_vector(std::span<const double>(v), s, f64);
  }
  return decode(m);
}

nn::TransformerLayerOptions layer_options(const json& p) {
  return {.dim_feedforward = p.at("ff"), .dropout = 0, .activation = p.at("activation"), .batch_first = p.at("batch_first"),
          .norm_first = p.at("norm_first"), .dtype = f64};
}

struct Built {
  std::shared_ptr<nn::Module> module;
  std::function<std::vector<Tensor>(const std::vector<Tensor>&)> run;
};

Built build(const json& c) {
  const std::string kind = c.at("module");
  const json& p = c.at("params");
  const json& fwd = c.at("forward");
  const json& masks = c.at("masks");
  if (kind == "MultiheadAttention") {
    auto m = std::make_shared<nn::MultiheadAttention>(
        p.at("E"), p.at("H"),
        nn::MultiheadAttentionOptions{.bias = p.value("bias", true), .kdim = p.value("kdim", 0), .vdim = p.value("vdim", 0),
                                      .batch_first = p.value("batch_first", false), .dtype = f64});
    const nn::MultiheadAttentionForward o{.key_padding_mask = mask_of(masks, "key_padding_mask"),
                                          .need_weights = fwd.at("need_weights"),
                                          .attn_mask = mask_of(masks, "attn_mask"),
                                          .average_attn_weights = fwd.value("average_attn_weights", true),
                                          .is_causal = fwd.value("is_causal", false)};
    return {m, [m, o](const std::vector<Tensor>& x) {
              const nn::AttentionOutput r = (*m)(x[0], x[1], x[2], o);
              return r.weights.defined() ? std::vector<Tensor>{r.output, r.weights} : std::vector<Tensor>{r.output};
            }};
  }
  const nn::EncoderForward eo{.mask = mask_of(masks, "mask"), .src_key_padding_mask = mask_of(masks, "key_padding_mask"),
                              .is_causal = fwd.value("is_causal", false)};
  if (kind == "TransformerEncoderLayer") {
    auto m = std::make_shared<nn::TransformerEncoderLayer>(p.at("d_model"), p.at("nhead"), layer_options(p));
    return {m, [m, eo](const std::vector<Tensor>& x) { return std::vector<Tensor>{(*m)(x[0], eo)}; }};
  }
  if (kind == "TransformerEncoder") {
    nn::TransformerEncoderLayer layer(p.at("d_model"), p.at("nhead"), layer_options(p));
    auto m = std::make_shared<nn::TransformerEncoder>(
        layer, p.at("layers"), std::make_shared<nn::LayerNorm>(Shape{p.at("d_model").get<std::int64_t>()}, nn::LayerNormOptions{.dtype = f64}));
    return {m, [m, eo](const std::vector<Tensor>& x) { return std::vector<Tensor>{(*m)(x[0], eo)}; }};
  }
  REQUIRE(kind == "TransformerDecoderLayer");
  auto m = std::make_shared<nn::TransformerDecoderLayer>(p.at("d_model"), p.at("nhead"), layer_options(p));
  const nn::DecoderForward d{.tgt_mask = mask_of(masks, "tgt_mask"),
                             .tgt_key_padding_mask = mask_of(masks, "tgt_key_padding_mask"),
                             .memory_key_padding_mask = mask_of(masks, "memory_key_padding_mask"),
                             .tgt_is_causal = fwd.value("tgt_is_causal", false)};
  return {m, [m, d](const std::vector<Tensor>& x) { return std::vector<Tensor>{(*m)(x[0], x[1], d)}; }};
}

Tensor f64_randn(const Shape& s, Generator& gen) { return randn(s, f64, gen).requires_grad(true); }

}  // namespace

TEST_CASE("PyTorch cross-check of MultiheadAttention and the transformer layers: state_dict by name, 1e-12 in float64") {
  std::ifstream in(NABLA_TEST_DATA_DIR "/transformer_reference.json");
  REQUIRE(in.good());
  const json all = json::parse(in);
  const json& cases = all.at("cases");
  REQUIRE(cases.size() >= 60);
  double worst_value = 0, worst_grad = 0;
  std::size_t compared = 0;
  std::map<std::string, int> kinds;
  for (const json& c : cases) {
    CAPTURE(c.at("module").get<std::string>());
    CAPTURE(c.at("params").dump());
    CAPTURE(c.at("forward").dump());
    CAPTURE(c.at("masks").size());
    ++kinds[c.at("module")];
    Built b = build(c);
    std::map<std::string, Tensor> state;
    for (const auto& [k, v] : c.at("state").items()) state.emplace(k, decode(v));
    b.module->load_state(state);  // exactly PyTorch's names: load_state checks both ways
    b.module->eval();
    std::vector<Tensor> xs;
    for (const json& j : c.at("inputs")) xs.push_back(decode(j).requires_grad(true));
    const std::vector<Tensor> ys = b.run(xs);
    REQUIRE(ys.size() == c.at("outputs").size());
    Tensor total = zeros({}, f64);
    for (std::size_t k = 0; k < ys.size(); ++k) {
      const double w = worst(ys[k], decode(c.at("outputs")[k]));
      CHECK(w <= 1e-12);
      worst_value = std::max(worst_value, w);
      total = total + sum(ys[k] * decode(c.at("weights")[k]));
    }
    total.backward();
    auto check = [&](const Tensor& got, const json& expected) {
      REQUIRE(got.defined());
      const double w = worst(got, decode(expected));
      CHECK(w <= 1e-12);
      worst_grad = std::max(worst_grad, w);
      ++compared;
    };
    for (std::size_t k = 0; k < xs.size(); ++k) check(xs[k].grad(), c.at("input_grads")[k]);
    const auto params = b.module->parameters();
    REQUIRE(params.size() == c.at("param_grads").size());
    for (const nn::Param& p : params) {
      CAPTURE(p.name);
      check(p.tensor.grad(), c.at("param_grads").at(p.name));
    }
  }
  CHECK(kinds.size() == 4);
  MESSAGE("PyTorch transformer cross-check: " << cases.size() << " cases, " << compared
                                              << " gradients; worst relative error " << worst_value << " (values), "
                                              << worst_grad << " (gradients)");
}

TEST_CASE("MultiheadAttention: PyTorch's parameter names, shapes and initialization") {
  Generator gen(3);
  nn::MultiheadAttention m(8, 2, {}, gen);
  const auto s = m.state();
  REQUIRE(s.size() == 4);
  CHECK(s.at("in_proj_weight").shape() == Shape{24, 8});
  CHECK(s.at("in_proj_bias").shape() == Shape{24});
  CHECK(s.at("out_proj.weight").shape() == Shape{8, 8});
  CHECK(s.at("out_proj.bias").shape() == Shape{8});
  CHECK(max(abs(s.at("in_proj_bias")), 0).item() == 0);
  CHECK(max(abs(s.at("out_proj.bias")), 0).item() == 0);
  const double xavier = std::sqrt(6.0 / 32);
  const double in_max = amax(abs(s.at("in_proj_weight"))).item();
  CHECK(in_max <= xavier);
  CHECK(in_max > 0.8 * xavier);
  const double out_max = amax(abs(s.at("out_proj.weight"))).item();
  CHECK(out_max <= 1 / std::sqrt(8.0));
  CHECK(out_max > 0.8 / std::sqrt(8.0));
  nn::MultiheadAttention kv(8, 4, {.bias = false, .kdim = 5, .vdim = 3}, gen);
  const auto t = kv.state();
  CHECK(t.size() == 4);
  CHECK(t.at("q_proj_weight").shape() == Shape{8, 8});
  CHECK(t.at("k_proj_weight").shape() == Shape{8, 5});
  CHECK(t.at("v_proj_weight").shape() == Shape{8, 3});
  CHECK(t.contains("out_proj.weight"));
}

TEST_CASE("Transformer layers: PyTorch's child names") {
  nn::TransformerEncoderLayer enc(8, 2, {.dim_feedforward = 16});
  std::vector<std::string> names;
  for (const auto& [n, c] : enc.children()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"self_attn", "linear1", "dropout", "linear2", "norm1", "norm2", "dropout1", "dropout2"});
  nn::TransformerEncoder stack(enc, 3, std::make_shared<nn::LayerNorm>(Shape{8}));
  const auto s = stack.state();
  CHECK(s.contains("layers.0.self_attn.in_proj_weight"));
  CHECK(s.contains("layers.2.linear2.bias"));
  CHECK(s.contains("norm.weight"));
  CHECK(s.size() == 3 * enc.state().size() + 2);
  // The copies are copies: changing one leaves the others.
  CHECK(max_abs_diff(s.at("layers.0.linear1.weight"), s.at("layers.1.linear1.weight")) == 0);
  {
    NoGradGuard no_grad;
    Tensor w = s.at("layers.0.linear1.weight");
    w.copy_(zeros(w.shape()));
  }
  CHECK(max_abs_diff(s.at("layers.0.linear1.weight"), s.at("layers.1.linear1.weight")) > 0);
  nn::TransformerDecoderLayer dec(8, 2, {.dim_feedforward = 16});
  names.clear();
  for (const auto& [n, c] : dec.children()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"self_attn", "multihead_attn", "linear1", "dropout", "linear2", "norm1", "norm2",
                                          "norm3", "dropout1", "dropout2", "dropout3"});
  nn::TransformerDecoder dstack(dec, 2);
  CHECK(dstack.state().contains("layers.1.multihead_attn.out_proj.weight"));
}

TEST_CASE("MultiheadAttention gradcheck in float64: masks, key padding, causal, T = 1, both paths") {
  Generator gen(11);
  for (bool need_weights : {true, false}) {
    for (bool batch_first : {false, true}) {
      CAPTURE(need_weights);
      CAPTURE(batch_first);
      nn::MultiheadAttention m(4, 2, {.batch_first = batch_first, .dtype = f64}, gen);
      const std::int64_t n = 2;
      auto shape = [&](std::int64_t t) { return batch_first ? Shape{n, t, 4} : Shape{t, n, 4}; };
      Tensor kpm = zeros({n, 3}, f64).to(b8);
      {
        NoGradGuard g;
        kpm = from_vector(std::span<const double>(std::vector<double>{0, 0, 1, 0, 1, 1}), {n, 3}, f64).to(b8);
      }
      struct Case {
        const char* what;
        std::int64_t l, s;
        nn::MultiheadAttentionForward o;
      };
      std::vector<Case> cases = {
          {"no mask", 3, 3, {}},
          {"T = 1", 1, 1, {}},
          {"bool mask", 2, 3, {.attn_mask = from_vector(std::span<const double>(std::vector<double>{0, 1, 0, 0, 0, 1}), {2, 3}, f64).to(b8)}},
          {"float mask", 3, 3, {.attn_mask = randn({3, 3}, f64, gen)}},
          {"key padding", 2, 3, {.key_padding_mask = kpm}},
          {"causal", 3, 3, {.is_causal = true}},
          {"causal + padding", 3, 3, {.key_padding_mask = kpm, .is_causal = true}},
      };
      for (Case& c : cases) {
        CAPTURE(c.what);
        c.o.need_weights = need_weights;
        auto f = [&](const Tensor& q, const Tensor& k, const Tensor& v) {
          nn::AttentionOutput r = m.forward(q, k, v, c.o);
          return need_weights ? std::vector<Tensor>{r.output, r.weights} : std::vector<Tensor>{r.output};
        };
        CHECK(check_grad_first_order(f, {f64_randn(shape(c.l), gen), f64_randn(shape(c.s), gen), f64_randn(shape(c.s), gen)}));
      }
    }
  }
  // Second order on the composed path, unbatched inputs.
  nn::MultiheadAttention m(4, 2, {.dtype = f64}, gen);
  auto f = [&](const Tensor& q, const Tensor& k, const Tensor& v) {
    return m.forward(q, k, v, {.attn_mask = nn::generate_square_subsequent_mask(3, f64), .is_causal = true}).output;
  };
  CHECK(check_grad(f, {f64_randn({3, 4}, gen), f64_randn({3, 4}, gen), f64_randn({3, 4}, gen)}));
}

TEST_CASE("Transformer layers gradcheck in float64: encoder (post- and pre-norm, relu and gelu, masks), decoder") {
  Generator gen(5);
  for (bool norm_first : {false, true}) {
    for (const char* act : {"relu", "gelu"}) {
      CAPTURE(norm_first);
      CAPTURE(act);
      nn::TransformerEncoderLayer layer(4, 2, {.dim_feedforward = 6, .dropout = 0, .activation = act, .norm_first = norm_first, .dtype = f64}, gen);
      const Tensor kpm = from_vector(std::span<const double>(std::vector<double>{0, 0, 0, 0, 0, 1}), {2, 3}, f64).to(b8);
      auto f = [&](const Tensor& x) {
        return layer.forward(x, {.mask = nn::generate_square_subsequent_mask(3, f64), .src_key_padding_mask = kpm, .is_causal = true});
      };
      CHECK(check_grad_first_order(f, {f64_randn({3, 2, 4}, gen)}));
      auto g = [&](const Tensor& x) { return layer.forward(x); };
      CHECK(check_grad_first_order(g, {f64_randn({1, 2, 4}, gen)}));  // T = 1
    }
  }
  nn::TransformerDecoderLayer dec(4, 2, {.dim_feedforward = 6, .dropout = 0, .activation = "gelu", .batch_first = true, .dtype = f64}, gen);
  auto d = [&](const Tensor& t, const Tensor& mem) {
    return dec.forward(t, mem, {.tgt_mask = nn::generate_square_subsequent_mask(3, f64), .tgt_is_causal = true});
  };
  CHECK(check_grad_first_order(d, {f64_randn({2, 3, 4}, gen), f64_randn({2, 4, 4}, gen)}));
}

TEST_CASE("MultiheadAttention: the fused path equals the composed one; bool and float masks agree") {
  Generator gen(9);
  nn::MultiheadAttention m(8, 2, {.dtype = f64}, gen);
  const Tensor q = randn({5, 3, 8}, f64, gen), k = randn({6, 3, 8}, f64, gen), v = randn({6, 3, 8}, f64, gen);
  const Tensor bmask = lt(uniform({5, 6}, 0, 1, f64, gen), 0.3);
  const Tensor fmask = masked_fill(zeros({5, 6}, f64), bmask, -std::numeric_limits<double>::infinity());
  const nn::AttentionOutput a = m.forward(q, k, v, {.need_weights = true, .attn_mask = bmask});
  const nn::AttentionOutput b = m.forward(q, k, v, {.need_weights = false, .attn_mask = fmask});
  CHECK(max_abs_diff(a.output, b.output) < 1e-12);
  CHECK_FALSE(b.weights.defined());
  CHECK(a.weights.shape() == Shape{3, 5, 6});
  // Masked keys get weight 0; each row sums to 1.
  CHECK(amax(abs(sum(a.weights, 2) - 1.0)).item() < 1e-12);
  CHECK(amax(abs(where(bmask, a.weights, 0.0))).item() == 0);
  // is_causal alone is the causal mask.
  const Tensor qq = randn({4, 3, 8}, f64, gen);
  const nn::AttentionOutput c1 = m.forward(qq, qq, qq, {.need_weights = false, .is_causal = true});
  const nn::AttentionOutput c2 = m.forward(qq, qq, qq, {.need_weights = false, .attn_mask = nn::generate_square_subsequent_mask(4, f64)});
  const nn::AttentionOutput c3 = m.forward(qq, qq, qq, {.is_causal = true});
  CHECK(max_abs_diff(c1.output, c2.output) < 1e-12);
  CHECK(max_abs_diff(c1.output, c3.output) < 1e-12);
  // Per-head weights.
  CHECK(m.forward(q, k, v, {.average_attn_weights = false}).weights.shape() == Shape{3, 2, 5, 6});
  // One-tensor call: self-attention, usable in Sequential.
  CHECK(max_abs_diff(m(qq), c1.output) > 0);
  CHECK(max_abs_diff(m(qq), m.forward(qq, qq, qq, {.need_weights = false}).output) == 0);
}

TEST_CASE("generate_square_subsequent_mask and the positional embeddings") {
  const Tensor mask = nn::generate_square_subsequent_mask(3, f64);
  const auto v = mask.to_vector();
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(v == std::vector<double>{0, -inf, -inf, 0, 0, -inf, 0, 0, 0});
  const Tensor pe = nn::sinusoidal_positional_encoding(4, 6, f64);
  CHECK(pe.shape() == Shape{4, 6});
  const auto p = pe.to_vector();
  CHECK(p[0] == 0);
  CHECK(p[1] == 1);
  CHECK(p[2 * 6 + 0] == doctest::Approx(std::sin(2.0)));
  CHECK(p[3 * 6 + 3] == doctest::Approx(std::cos(3.0 / std::pow(10000.0, 2.0 / 6))));
  nn::SinusoidalPositionalEncoding sin_pe(10, 6, f64);
  const Tensor x = randn({2, 4, 6}, f64);
  CHECK(max_abs_diff(sin_pe(x), x + pe) < 1e-15);
  CHECK(sin_pe.parameters().empty());
  CHECK_THROWS_AS(sin_pe(randn({2, 11, 6}, f64)), ShapeError);
  nn::LearnedPositionalEmbedding learned(10, 6, f64);
  CHECK(learned.state().contains("embedding.weight"));
  const Tensor xl = randn({4, 6}, f64).requires_grad(true);
  sum(learned(xl)).backward();
  const Tensor gw = learned.weight().grad();
  CHECK(sum(gw).item() == doctest::Approx(24));  // rows 0..3 get ones, the rest zero
  CHECK(sum(slice(gw, 0, 4)).item() == 0);
}

TEST_CASE("Transformer errors name the module") {
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message([] { nn::MultiheadAttention(6, 4); }).find("MultiheadAttention: embed_dim 6 must be divisible by num_heads 4") !=
        std::string::npos);
  CHECK(message([] { nn::TransformerEncoderLayer(6, 4); }).find("TransformerEncoderLayer") != std::string::npos);
  CHECK(message([] { nn::TransformerEncoderLayer(8, 2, {.activation = "tanh"}); }).find("activation") != std::string::npos);
  nn::MultiheadAttention m(4, 2, {.dtype = f64});
  const Tensor x = randn({3, 2, 4}, f64);
  const std::string bad_mask = message([&] { m.forward(x, x, x, {.attn_mask = zeros({3, 4}, f64)}); });
  CHECK(bad_mask.find("MultiheadAttention(embed_dim=4, num_heads=2): attn_mask is [3, 4]; expected [3, 3]") != std::string::npos);
  CHECK_THROWS_AS(m.forward(x, x, x, {.attn_mask = zeros({3, 3, 3}, f64)}), ShapeError);
  const std::string bad_kpm = message([&] { m.forward(x, x, x, {.key_padding_mask = zeros({3, 2}, f64).to(b8)}); });
  CHECK(bad_kpm.find("key_padding_mask is [3, 2]; expected [2, 3]") != std::string::npos);
  CHECK(message([&] { m.forward(x, x, x, {.attn_mask = zeros({3, 3}, f32)}); }).find("attn_mask is float32") != std::string::npos);
  CHECK(message([&] { m.forward(randn({3, 2, 5}, f64), x, x); }).find("MultiheadAttention") != std::string::npos);
  CHECK_THROWS_AS(m.forward(x.to(f32), x, x), ValueError);
  nn::TransformerDecoderLayer dec(4, 2, {.dtype = f64});
  CHECK(message([&] { dec(x); }).find("needs memory") != std::string::npos);
  nn::TransformerEncoderLayer enc(4, 2, {.dropout = 0, .dtype = f64});
  CHECK(message([&] { enc.forward(x, {.mask = zeros({2, 2}, f64)}); }).find("attn_mask is [2, 2]") != std::string::npos);
}

TEST_CASE("Transformer layers in training: dropout is active, eval is deterministic; a Sequential of encoder layers") {
  Generator gen(2);
  nn::TransformerEncoderLayer layer(8, 2, {.dim_feedforward = 16, .dropout = 0.5, .dtype = f64}, gen);
  const Tensor x = randn({4, 2, 8}, f64, gen);
  const Tensor a = layer(x), b = layer(x);
  CHECK(max_abs_diff(a, b) > 0);
  layer.eval();
  CHECK(max_abs_diff(layer(x), layer(x)) == 0);
  nn::Sequential seq{nn::TransformerEncoderLayer(8, 2, {.dim_feedforward = 16, .dtype = f64}, gen), nn::Identity()};
  seq.eval();
  CHECK(seq(x).shape() == x.shape());
  // float32 by default, batch first, with a causal mask: the fused path.
  nn::TransformerEncoderLayer f32_layer(8, 2, {.dim_feedforward = 16, .batch_first = true}, gen);
  f32_layer.eval();
  const Tensor y = f32_layer(randn({2, 5, 8}, f32, gen), {.mask = nn::generate_square_subsequent_mask(5), .is_causal = true});
  CHECK(y.dtype() == f32);
  CHECK(y.shape() == Shape{2, 5, 8});
  CHECK(std::isfinite(sum(y).item()));
}

TEST_CASE("anomaly mode: the module path runs through the several-input calls") {
  Generator gen(6);
  nn::TransformerEncoderLayer layer(4, 2, {.dim_feedforward = 6, .dropout = 0, .dtype = f64}, gen);
  {
    NoGradGuard no_grad;
    Tensor w = layer.state().at("self_attn.out_proj.weight");
    w.copy_(full(w.shape(), std::numeric_limits<double>::infinity(), f64));
  }
  const Tensor x = randn({3, 2, 4}, f64, gen);
  inspect::AnomalyGuard guard;
  CHECK_THROWS_WITH_AS(layer(x, {}), doctest::Contains("TransformerEncoderLayer(d_model=4, nhead=2) › [self_attn] MultiheadAttention(embed_dim=4, num_heads=2) › [out_proj] Linear(4, 4)"), NumericError);
}
