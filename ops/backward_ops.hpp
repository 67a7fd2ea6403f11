// ops/backward_ops.hpp — internal to ops/: the backward ops that several ops files use, and the
// template of the backward op of an elementwise op y = f(x).
//
// Every derivative in ops/ is written once: an op's backward calls its backward op, and the backward
// op has a fused forward (one loop, one output: the plain backward) and a derivative of its own
// (what create_graph differentiates), as PyTorch's tanh_backward and threshold_backward. For an
// elementwise op the backward op is gx = D::grad(gy, s), where s is what the forward saved (x, or y
// when f' reads better from it), in one zip. It is linear in gy, so its derivative there is itself;
// its derivative in s is D::second(gg, gy, s) = gg · gy · ∂f'/∂s, written with recorded nabla ops so
// that it can be differentiated again (or an undefined tensor where f' is piecewise constant).
//
// D is a small struct: `name` ("tanh_backward"), its parameters as members, and
//   auto grad(auto g, auto s) const;                                          // one element, fused
//   Tensor second(const Tensor& gg, const Tensor& gy, const Tensor& s) const;  // recorded ops
// or, in place of grad, the whole fused loop as a kernel of nabla/kernels.hpp (gelu_backward):
//   Tensor kernel(const Tensor& gy, const Tensor& s) const;
// Only the public op API and toolkit are used: a custom op can be written the same way.
#pragma once

#include <string_view>

#include "nabla/op.hpp"
#include "nabla/toolkit.hpp"

namespace nabla::ops {

template <class D>
struct PointwiseBackward {
  static constexpr std::string_view name = D::name;
  static constexpr bool differentiable_backward = true;
  D d;
  Tensor forward(Context& ctx, const Tensor& gy, const Tensor& s) const {
    ctx.save(gy, s);
    if constexpr (requires { d.kernel(gy, s); }) {
      return d.kernel(gy, s);
    } else {
      return zip(gy, s, [d = d](auto g, auto v) { return d.grad(g, v); });
    }
  }
  Grads backward(Context& ctx, const Tensor& gg) const {
    auto [gy, s] = ctx.saved<2>();
    return {ctx.needs_grad(0) ? apply(*this, gg, s) : Tensor{}, ctx.needs_grad(1) ? d.second(gg, gy, s) : Tensor{}};
  }
};

/// gx = D::grad(gy, s) through the backward op: the plain backward's one loop, or a recorded node.
template <class D>
Tensor pointwise_backward(const D& d, const Tensor& gy, const Tensor& s) {
  return apply(PointwiseBackward<D>{d}, gy, s);
}

/// gather's backward op, also that of sort and of max/min with indices (ops/indexing.cpp): zeros of
/// `input_shape` with gy added at `index` along `axis`, one scatter pass (PyTorch's gather_backward).
/// Linear in gy; its derivative is gather(gg, axis, index). The index gets no gradient.
Tensor gather_backward(const Tensor& gy, const Shape& input_shape, int axis, const Tensor& index);

/// softmax's backward, gx = y ⊙ (gy − Σ_axis gy ⊙ y), in recorded ops (ops/softmax.cpp).
Tensor softmax_backward(const Tensor& gy, const Tensor& y, int axis);

}  // namespace nabla::ops
