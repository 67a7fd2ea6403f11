// ops/attention.cpp — scaled_dot_product_attention (torch.nn.functional.scaled_dot_product_attention).
//
//   out = softmax(q kᵀ · scale + mask) v      q [..., L, E], k [..., S, E], v [..., S, Ev] → [..., L, Ev]
//
// Two paths, as PyTorch's SDPA backends (nabla/ops.hpp says when each runs):
//  - math: the formula in matmul, masked_fill and softmax (attention_math), differentiable to any order
//    by those ops' own backwards; it holds the [..., L, S] scores and weights.
//  - fused: the FusedAttention op over kernels::attention_forward / attention_backward (FlashAttention-2
//    on the CPU, src/kernels/attention.cpp). It saves q, k, v, the mask, its output and one log-sum-exp
//    per row. Its backward is that kernel; under create_graph it instead records the math path on the
//    saved (reconnected) inputs and differentiates it with autograd::grad, so the derivative is written
//    once — as the math path's ops — and the fused op is differentiable to any order.
//
// A row every key of which is masked: PyTorch 2.x gives output 0 and gradient 0 (its math path runs a
// "safe" softmax, its flash kernel the same), so both paths here do: the math path replaces such rows'
// scores by 0 before the softmax and its weights by 0 after (no NaN to hide in a backward), the kernel
// keeps lse = +inf for them.
#include <cmath>
#include <limits>

#include "nabla/autograd.hpp"
#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {
namespace ops {
namespace {

constexpr std::string_view kName = "scaled_dot_product_attention";

Shape leading(const Shape& s) {
  Shape l;
  for (int d = 0; d + 2 < s.rank(); ++d) l.push_back(s[d]);
  return l;
}

struct Checked {
  Shape batch;   // the broadcast leading axes
  double scale;  // the given scale, or 1/√E
};

// Every check, before any work; errors name the op and the shapes.
Checked check_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double dropout_p,
                        bool is_causal, std::optional<double> scale) {
  check_defined(kName, {&q, &k, &v});
  check_floating(kName, q);
  check_same_dtype(kName, q, k);
  check_same_dtype(kName, q, v);
  for (auto [what, t] : {std::pair{"query", &q}, std::pair{"key", &k}, std::pair{"value", &v}}) {
    if (t->dim() < 2) {
      throw ShapeError(fmt::format("{}: {} must have at least 2 dimensions ([..., L, E], [..., S, E], [..., S, Ev]), got {}",
                                   kName, what, t->shape()));
    }
  }
  const std::int64_t L = q.shape()[q.dim() - 2], E = q.shape()[q.dim() - 1], S = k.shape()[k.dim() - 2];
  if (k.shape()[k.dim() - 1] != E) {
    throw ShapeError(fmt::format("{}: query {} and key {} differ in the last dimension; need query [..., L, E] and "
                                 "key [..., S, E]",
                                 kName, q.shape(), k.shape()));
  }
  if (v.shape()[v.dim() - 2] != S) {
    throw ShapeError(fmt::format("{}: key {} and value {} differ in the second-to-last dimension; need key [..., S, E] "
                                 "and value [..., S, Ev]",
                                 kName, k.shape(), v.shape()));
  }
  Checked c;
  try {
    c.batch = broadcast_shape(broadcast_shape(leading(q.shape()), leading(k.shape()), kName), leading(v.shape()), kName);
  } catch (const ShapeError&) {
    throw ShapeError(fmt::format("{}: the leading (batch) axes of query {}, key {} and value {} do not broadcast", kName,
                                 q.shape(), k.shape(), v.shape()));
  }
  if (mask.defined()) {
    if (mask.dtype() != b8 && mask.dtype() != q.dtype()) {
      throw ValueError(fmt::format("{}: attn_mask must be bool or of the query's dtype {}, got {} {}", kName,
                                   dtype_name(q.dtype()), dtype_name(mask.dtype()), mask.shape()));
    }
    Shape full = c.batch;
    full.push_back(L);
    full.push_back(S);
    bool fits = mask.dim() <= full.rank();
    for (int d = 1; fits && d <= mask.dim(); ++d) {
      const std::int64_t m = mask.shape()[mask.dim() - d];
      fits = m == 1 || m == full[full.rank() - d];
    }
    if (!fits) {
      throw ShapeError(fmt::format("{}: attn_mask {} does not broadcast to [..., L, S] = {} (query {}, key {})", kName,
                                   mask.shape(), full, q.shape(), k.shape()));
    }
    if (is_causal) {
      throw ValueError(fmt::format("{}: attn_mask {} and is_causal = true were both given; pass one of them (as "
                                   "PyTorch requires)",
                                   kName, mask.shape()));
    }
  }
  if (!(dropout_p >= 0 && dropout_p < 1)) {
    throw ValueError(fmt::format("{}: dropout_p must be in [0, 1), got {}", kName, dropout_p));
  }
  if (scale && !std::isfinite(*scale)) throw ValueError(fmt::format("{}: scale must be finite, got {}", kName, *scale));
  c.scale = scale ? *scale : 1.0 / std::sqrt(double(E));
  return c;
}

// The [L, S] bool matrix of the keys a causal row may not see: j > i.
Tensor above_diagonal(std::int64_t L, std::int64_t S) {
  Tensor m = zeros({L, S}, b8);
  bool* p = m.mutable_data<bool>();
  for (std::int64_t i = 0; i < L; ++i) {
    for (std::int64_t j = i + 1; j < S; ++j) p[i * S + j] = true;
  }
  return m;
}

bool any_true(const Tensor& b) {
  const bool* p = b.data<bool>();
  for (std::int64_t i = 0, n = b.numel(); i < n; ++i) {
    if (p[i]) return true;
  }
  return false;
}

// The math path: recorded ops, differentiable to any order.
Tensor attention_math(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double dropout_p,
                      bool is_causal, double scale, Generator& gen) {
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  const std::int64_t L = q.shape()[q.dim() - 2], S = k.shape()[k.dim() - 2];
  Tensor s = matmul(q, k, {.trans_b = true}) * scale;
  if (is_causal) {
    s = masked_fill(s, above_diagonal(L, S), kNegInf);
  } else if (mask.defined() && mask.dtype() == b8) {
    s = masked_fill(s, logical_not(mask), kNegInf);
  } else if (mask.defined()) {
    s = s + mask;
  }
  Tensor w;
  Tensor empty_rows;  // rows where every score is −inf: weights 0, as PyTorch's safe softmax
  if (mask.defined() && S > 0) {
    NoGradGuard no_grad;
    empty_rows = eq(amax(s, {-1}, true), kNegInf);
    if (!any_true(empty_rows)) empty_rows = Tensor{};
  }
  if (empty_rows.defined()) {
    w = masked_fill(softmax(masked_fill(s, empty_rows, 0)), empty_rows, 0);
  } else {
    w = softmax(s);
  }
  if (dropout_p > 0) {
    const double keep = 1 - dropout_p;
    Tensor factor = map(uniform(w.shape(), 0, 1, w.dtype(), gen), [keep](auto u) {
      using T = decltype(u);
      return u < T(keep) ? T(1 / keep) : T(0);
    });
    w = w * factor;
  }
  return matmul(w, v);
}

// The fused path: one op over the FlashAttention kernel. Input 3, the mask, is optional and gets no
// gradient (a float mask that requires grad goes the math path).
struct FusedAttention {
  static constexpr std::string_view name = kName;
  void trace(detail::TraceAttrs& a) const { a.floats("scale", {scale}); a.flag("causal", causal); }
  static constexpr bool differentiable_backward = true;
  static constexpr std::uint32_t optional_inputs = 1U << 3;
  Shape batch;
  double scale = 1;
  bool causal = false;

  Tensor forward(Context& ctx, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask) const {
    Tensor lse;
    Tensor out = kernels::attention_forward(q, k, v, mask, {.batch = batch, .scale = scale, .causal = causal}, lse);
    ctx.save(q, k, v, mask, out, lse);
    return out;
  }

  Grads backward(Context& ctx, const Tensor& gout) const {
    auto [q, k, v, mask, out, lse] = ctx.saved<6>();
    Grads g(4);
    if (grad_enabled()) {
      // create_graph: the math path on the reconnected inputs, differentiated by its own ops.
      std::vector<Tensor> wrt;
      for (std::size_t i = 0; i < 3; ++i) {
        if (ctx.needs_grad(i)) wrt.push_back(ctx.saved(i));
      }
      Generator unused;
      const Tensor y = attention_math(q, k, v, mask, 0, causal, scale, unused);
      const std::vector<Tensor> gs = grad({y}, wrt, {gout}, {.create_graph = true, .allow_unused = true});
      for (std::size_t i = 0, n = 0; i < 3; ++i) {
        if (!ctx.needs_grad(i)) continue;
        g[i] = gs[n++];
        if (!g[i].defined()) g[i] = zeros(ctx.input_shape(i), ctx.input_dtype(i));
      }
      return g;
    }
    Tensor gq, gk, gv;
    kernels::attention_backward(q, k, v, mask, {.batch = batch, .scale = scale, .causal = causal}, out, lse, gout, gq,
                                gk, gv);
    if (ctx.needs_grad(0)) g[0] = sum_to(gq, q.shape());
    if (ctx.needs_grad(1)) g[1] = sum_to(gk, k.shape());
    if (ctx.needs_grad(2)) g[2] = sum_to(gv, v.shape());
    return g;
  }
};

}  // namespace
}  // namespace ops

Tensor scaled_dot_product_attention(SdpaBackend backend, const Tensor& query, const Tensor& key, const Tensor& value,
                                   const Tensor& attn_mask, double dropout_p, bool is_causal, std::optional<double> scale,
                                   Generator& gen) {
  const ops::Checked c = ops::check_attention(query, key, value, attn_mask, dropout_p, is_causal, scale);
  const bool mask_grad = attn_mask.defined() && attn_mask.requires_grad() && grad_enabled();
  if (backend == SdpaBackend::fused && (dropout_p > 0 || mask_grad)) {
    throw ValueError(fmt::format("scaled_dot_product_attention: the fused backend takes no dropout and no attn_mask "
                                 "that requires grad (dropout_p {}, attn_mask {}); use SdpaBackend::math",
                                 dropout_p, mask_grad ? "requires grad" : "does not require grad"));
  }
  if (backend == SdpaBackend::math || (backend == SdpaBackend::automatic && (dropout_p > 0 || mask_grad))) {
    return ops::attention_math(query, key, value, attn_mask, dropout_p, is_causal, c.scale, gen);
  }
  return apply(ops::FusedAttention{.batch = c.batch, .scale = c.scale, .causal = is_causal}, query, key, value,
               attn_mask);
}

Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const Tensor& attn_mask, double dropout_p, bool is_causal, std::optional<double> scale,
                                   Generator& gen) {
  return scaled_dot_product_attention(SdpaBackend::automatic, query, key, value, attn_mask, dropout_p, is_causal,
                                      scale, gen);
}

}  // namespace nabla
