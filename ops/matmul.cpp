// ops/matmul.cpp — 2-d matrix product through OpenBLAS GEMM.
//
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
  bool trans_a = false;
  bool trans_b = false;

  Tensor forward(Context& ctx, const Tensor& a, const Tensor& b) const {
    check_floating(name, a);
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
    Tensor ga, gb;
    if (ctx.needs_grad(0)) ga = trans_a ? kernels::gemm(b, gy, trans_b, true) : kernels::gemm(gy, b, false, !trans_b);
    if (ctx.needs_grad(1)) gb = trans_b ? kernels::gemm(gy, a, true, trans_a) : kernels::gemm(a, gy, !trans_a, false);
    return {ga, gb};
  }
};

}  // namespace ops

Tensor matmul(const Tensor& a, const Tensor& b, MatmulOptions opts) {
  return apply(ops::Matmul{.trans_a = opts.trans_a, .trans_b = opts.trans_b}, a, b);
}

}  // namespace nabla
