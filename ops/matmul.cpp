// ops/matmul.cpp — matrix products through OpenBLAS GEMM: matmul with PyTorch's rules for 1-d, 2-d
// and batched N-d operands (batch axes broadcast), bmm, dot, outer.
//
// The 2-d product:
// y = op(a) · op(b), op(t) = t or tᵀ as the flags say; transposes are passed to GEMM as flags and
// never copied. Backward is two more GEMMs with the flags worked out so that nothing is copied:
//   ga = gy · op(b)ᵀ  (if a was transposed: ga = op(b) · gyᵀ)
//   gb = op(a)ᵀ · gy  (if b was transposed: gb = gyᵀ · op(a))
// Saves a and b (each only if the other needs a gradient).
#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {
namespace ops {

struct Matmul {
  static constexpr std::string_view name = "matmul";
  void trace(detail::TraceAttrs& a) const { a.flag("trans_a", trans_a); a.flag("trans_b", trans_b); }
  static constexpr bool differentiable_backward = true;
  bool trans_a = false;
  bool trans_b = false;

  Tensor forward(Context& ctx, const Tensor& a, const Tensor& b) const {
    check_floating_or_bf16(name, a);
    check_same_dtype(name, a, b);
    if (a.dim() != 2 || b.dim() != 2) {
      throw ShapeError(fmt::format("matmul: expected 2-d tensors, got a {} and b {}", a.shape(), b.shape()));
    }
    const std::int64_t ka = trans_a ? a.shape()[0] : a.shape()[1];
    const std::int64_t kb = trans_b ? b.shape()[1] : b.shape()[0];
    if (ka != kb) {
      throw ShapeError(fmt::format("matmul: inner dimensions differ: a{} is {}, b{} is {}; need {} == {}",
                                   trans_a ? " (transposed)" : "", a.shape(), trans_b ? " (transposed)" : "", b.shape(),
                                   trans_a ? "a.shape[0]" : "a.shape[1]", trans_b ? "b.shape[1]" : "b.shape[0]"));
    }
    ctx.save(ctx.needs_grad(1) ? a : Tensor{}, ctx.needs_grad(0) ? b : Tensor{});
    return kernels::gemm(a, b, trans_a, trans_b);
  }

  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [a, b] = ctx.saved<2>();
    // Matmul ops themselves: one GEMM each in the plain backward, recorded under create_graph.
    Tensor ga, gb;
    if (ctx.needs_grad(0)) ga = trans_a ? apply(Matmul{.trans_a = trans_b, .trans_b = true}, b, gy)
                                   : apply(Matmul{.trans_b = !trans_b}, gy, b);
    if (ctx.needs_grad(1)) gb = trans_b ? apply(Matmul{.trans_a = true, .trans_b = trans_a}, gy, a)
                                   : apply(Matmul{.trans_a = !trans_a}, a, gy);
    return {ga, gb};
  }
};

// Batched: a [..., M, K] · b [..., K, N] (each after its flag), the batch axes broadcast. One GEMM
// per batch entry into one output (kernels::gemm_batched); backward is the same two products as in
// 2-d, batched, each summed back over the batch axes its operand was broadcast along.
struct BatchedMatmul {
  static constexpr std::string_view name = "matmul";
  void trace(detail::TraceAttrs& a) const { a.flag("trans_a", trans_a); a.flag("trans_b", trans_b); }
  static constexpr bool differentiable_backward = true;
  bool trans_a = false;
  bool trans_b = false;

  Tensor forward(Context& ctx, const Tensor& a, const Tensor& b) const {
    check_floating_or_bf16(name, a);
    check_same_dtype(name, a, b);
    const int ra = a.dim(), rb = b.dim();
    const std::int64_t ka = trans_a ? a.shape()[ra - 2] : a.shape()[ra - 1];
    const std::int64_t kb = trans_b ? b.shape()[rb - 1] : b.shape()[rb - 2];
    if (ka != kb) {
      throw ShapeError(fmt::format("matmul: inner dimensions differ: a is {}, b is {}; need {} == {}", a.shape(), b.shape(),
                                   ka, kb));
    }
    Shape ba, bb;
    for (int d = 0; d < ra - 2; ++d) ba.push_back(a.shape()[d]);
    for (int d = 0; d < rb - 2; ++d) bb.push_back(b.shape()[d]);
    const Shape batch = broadcast_shape(ba, bb, name);
    ctx.save(ctx.needs_grad(1) ? a : Tensor{}, ctx.needs_grad(0) ? b : Tensor{});
    return kernels::gemm_batched(a, b, trans_a, trans_b, batch);
  }

  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [a, b] = ctx.saved<2>();
    Tensor ga, gb;
    if (ctx.needs_grad(0)) {
      ga = trans_a ? matmul(b, gy, {.trans_a = trans_b, .trans_b = true}) : matmul(gy, b, {.trans_b = !trans_b});
      ga = sum_to(ga, ctx.input_shape(0));
    }
    if (ctx.needs_grad(1)) {
      gb = trans_b ? matmul(gy, a, {.trans_a = true, .trans_b = trans_a}) : matmul(a, gy, {.trans_a = !trans_a});
      gb = sum_to(gb, ctx.input_shape(1));
    }
    return {ga, gb};
  }
};

}  // namespace ops

Tensor matmul(const Tensor& a, const Tensor& b, MatmulOptions opts) {
  check_defined("matmul", {&a, &b});
  if (a.dim() == 2 && b.dim() == 2) return apply(ops::Matmul{.trans_a = opts.trans_a, .trans_b = opts.trans_b}, a, b);
  if (a.dim() == 0 || b.dim() == 0) {
    throw ShapeError(fmt::format("matmul: both operands need at least 1 dimension, got {} and {}", a.shape(), b.shape()));
  }
  if ((a.dim() == 1 && opts.trans_a) || (b.dim() == 1 && opts.trans_b)) {
    throw ValueError(fmt::format("matmul: a transpose flag was given for a 1-d operand ({} and {})", a.shape(), b.shape()));
  }
  if (a.dim() == 1 && b.dim() == 1) return dot(a, b);
  // A 1-d operand is a row (a) or a column (b) for the product, removed from the result after.
  if (a.dim() == 1) return squeeze(matmul(unsqueeze(a, 0), b, opts), -2);
  if (b.dim() == 1) return squeeze(matmul(a, unsqueeze(b, -1), opts), -1);
  return apply(ops::BatchedMatmul{.trans_a = opts.trans_a, .trans_b = opts.trans_b}, a, b);
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  check_defined("bmm", {&a, &b});
  if (a.dim() != 3 || b.dim() != 3 || a.shape()[0] != b.shape()[0]) {
    throw ShapeError(fmt::format("bmm: expected two 3-d tensors with one batch size, got {} and {}", a.shape(), b.shape()));
  }
  return matmul(a, b);
}

Tensor dot(const Tensor& a, const Tensor& b) {
  check_defined("dot", {&a, &b});
  if (a.dim() != 1 || b.dim() != 1 || a.shape()[0] != b.shape()[0]) {
    throw ShapeError(fmt::format("dot: expected two 1-d tensors of one length, got {} and {}", a.shape(), b.shape()));
  }
  check_floating("dot", a);
  check_same_dtype("dot", a, b);
  return sum(a * b);
}

Tensor outer(const Tensor& a, const Tensor& b) {
  check_defined("outer", {&a, &b});
  if (a.dim() != 1 || b.dim() != 1) {
    throw ShapeError(fmt::format("outer: expected two 1-d tensors, got {} and {}", a.shape(), b.shape()));
  }
  check_floating("outer", a);
  check_same_dtype("outer", a, b);
  return unsqueeze(a, 1) * unsqueeze(b, 0);
}

}  // namespace nabla
