// ops/pooling_options.cpp — max and average pooling with PyTorch's options: padding, dilation
// (max), ceil_mode, count_include_pad and divisor_override (average), non-square windows, unbatched
// [C, H, W] inputs, return_indices, and the 1-d forms (a 2-d pooling over [N, C, 1, L]).
//
// Output size (PyTorch's pooling_output_shape): Ho = ⌊(H + 2p − d(k − 1) − 1 + (ceil_mode ? s − 1 : 0)) / s⌋ + 1,
// less one when ceil_mode would start the last window at or past H + p (it must start inside the input
// or the left padding). Padding at most half the kernel, as PyTorch refuses more.
//
// Options that reduce to a plain window (square, one stride, no padding or dilation, the floor size)
// run the book's kernels (ops/pooling.cpp) unchanged; the rest run kernels::PoolWindow2d's loops.
// Max pooling: y = the largest input in each window (padding never wins), gradient to that element —
// its backward op scatters gy at the argmaxes, linear in gy, and its own derivative gathers at them.
// Average pooling: y = Σ window / divisor; its backward op spreads gy / divisor over each window, and
// the adjoint of that is the average pooling itself: one formula each, any order.
#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {
namespace ops {

namespace {

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

/// PyTorch's pooling output size along one axis.
std::int64_t pooled_size(std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t p, std::int64_t d, bool ceil_mode) {
  std::int64_t out = floor_div(in + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0), s) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

struct Checked {
  Tensor x4;        // x as [N, C, H, W]
  bool unbatched;   // x was [C, H, W]
  kernels::PoolWindow2d win;
};

/// Checks x and the options for `op` and works out the window; errors name op, x's shape and what was expected.
Checked check_pool(std::string_view op, const Tensor& x, Size2 k, Size2 s, Size2 p, Size2 d, bool ceil_mode) {
  check_floating(op, x);
  if (x.dim() != 3 && x.dim() != 4) {
    throw ShapeError(fmt::format("{}: expected input [N, C, H, W] or [C, H, W], got {}", op, x.shape()));
  }
  if (s.h == 0 && s.w == 0) s = k;
  check_int_arg(op, "kernel_size", std::min(k.h, k.w), 1, kMaxNumel);
  check_int_arg(op, "kernel_size", std::max(k.h, k.w), 1, kMaxNumel);
  check_int_arg(op, "stride", std::min(s.h, s.w), 1, kMaxNumel);
  check_int_arg(op, "stride", std::max(s.h, s.w), 1, kMaxNumel);
  check_int_arg(op, "padding", std::min(p.h, p.w), 0, kMaxNumel);
  check_int_arg(op, "padding", std::max(p.h, p.w), 0, kMaxNumel);
  check_int_arg(op, "dilation", std::min(d.h, d.w), 1, kMaxNumel);
  check_int_arg(op, "dilation", std::max(d.h, d.w), 1, kMaxNumel);
  if (p.h > k.h / 2 || p.w > k.w / 2) {
    throw ValueError(fmt::format("{}: padding ({}, {}) must be at most half the kernel_size ({}, {}), as PyTorch requires",
                                 op, p.h, p.w, k.h, k.w));
  }
  checked_mul(op, "the dilated kernel height", d.h, k.h);
  checked_mul(op, "the dilated kernel width", d.w, k.w);
  const Tensor x4 = x.dim() == 3 ? x.reshape({1, x.shape()[0], x.shape()[1], x.shape()[2]}) : x;
  const std::int64_t h = x4.shape()[2], w = x4.shape()[3];
  const std::int64_t oh = pooled_size(h, k.h, s.h, p.h, d.h, ceil_mode), ow = pooled_size(w, k.w, s.w, p.w, d.w, ceil_mode);
  if (oh < 1 || ow < 1) {
    throw ShapeError(fmt::format("{}: input {} with kernel_size ({}, {}), stride ({}, {}), padding ({}, {}), dilation ({}, {}) "
                                 "gives an output of {}×{}; it must be at least 1×1",
                                 op, x.shape(), k.h, k.w, s.h, s.w, p.h, p.w, d.h, d.w, oh, ow));
  }
  checked_bytes(op, Shape{x4.shape()[0], x4.shape()[1], oh, ow}, x.dtype());
  return {x4, x.dim() == 3, {k.h, k.w, s.h, s.w, p.h, p.w, d.h, d.w, oh, ow}};
}

/// Whether the window is one the book's kernels take: square, one stride, no padding or dilation,
/// and the floor-mode size (ceil_mode that changes nothing).
bool plain(const kernels::PoolWindow2d& w, std::int64_t h, std::int64_t wd) {
  return w.kh == w.kw && w.sh == w.sw && w.ph == 0 && w.pw == 0 && w.dh == 1 && w.dw == 1 && h >= w.kh && wd >= w.kw &&
         w.oh == (h - w.kh) / w.sh + 1 && w.ow == (wd - w.kw) / w.sw + 1;
}

Tensor batched_back(const Tensor& y, bool unbatched) {
  return unbatched ? y.reshape({y.shape()[1], y.shape()[2], y.shape()[3]}) : y;
}

}  // namespace

// max_pool2d's backward for any window: gy scattered at the argmaxes. Linear in gy; its derivative
// gathers gg at the argmaxes. The argmax (int64) gets no gradient.
struct MaxPoolWindowGrad {
  static constexpr std::string_view name = "max_pool2d_backward";
  static constexpr bool differentiable_backward = true;
  Shape x_shape;
  Tensor forward(Context& ctx, const Tensor& gy, const Tensor& argmax) const {
    ctx.save(argmax);
    return kernels::max_pool2d_backward(gy, argmax, x_shape);
  }
  Grads backward(Context& ctx, const Tensor& ggx) const {
    const Shape& s = x_shape;
    const Tensor at = ctx.saved(0).reshape({s[0], s[1], -1});
    return {gather(ggx.reshape({s[0], s[1], s[2] * s[3]}), 2, at).reshape(ctx.input_shape(0)), Tensor{}};
  }
};

// max pooling with any window: outputs y and the argmax (flat in each H×W plane, int64).
struct MaxPoolWindow {
  static constexpr std::string_view name = "max_pool2d";
  static constexpr bool differentiable_backward = true;
  kernels::PoolWindow2d win;
  std::array<Tensor, 2> forward(Context& ctx, const Tensor& x) const {
    Tensor argmax;
    Tensor y = kernels::max_pool2d(x, win, argmax);
    ctx.save(argmax);
    return {y, argmax};
  }
  Grads backward(Context& ctx, const Grads& g) const {
    if (!g[0].defined()) return {Tensor{}};
    return {apply(MaxPoolWindowGrad{ctx.input_shape(0)}, g[0], ctx.saved(0))};
  }
};

struct AvgPoolWindow;
// avg_pool2d's backward for any window: gy / divisor spread over each window. Linear; its adjoint
// is the average pooling itself.
struct AvgPoolWindowGrad {
  static constexpr std::string_view name = "avg_pool2d_backward";
  static constexpr bool differentiable_backward = true;
  kernels::AvgPoolArgs args;
  Shape x_shape;
  Tensor forward(Context&, const Tensor& gy) const { return kernels::avg_pool2d_backward(gy, x_shape, args); }
  Grads backward(Context&, const Tensor& gg) const;
};
struct AvgPoolWindow {
  static constexpr std::string_view name = "avg_pool2d";
  static constexpr bool differentiable_backward = true;
  kernels::AvgPoolArgs args;
  Tensor forward(Context&, const Tensor& x) const { return kernels::avg_pool2d(x, args); }
  Grads backward(Context& ctx, const Tensor& gy) const { return {apply(AvgPoolWindowGrad{args, ctx.input_shape(0)}, gy)}; }
};
inline Grads AvgPoolWindowGrad::backward(Context&, const Tensor& gg) const { return {apply(AvgPoolWindow{args}, gg)}; }

}  // namespace ops

namespace {
Tensor max_pool_named(std::string_view op, const Tensor& x, const MaxPool2dFuncOptions& o) {
  const ops::Checked c = ops::check_pool(op, x, o.kernel_size, o.stride, o.padding, o.dilation, o.ceil_mode);
  if (ops::plain(c.win, c.x4.shape()[2], c.x4.shape()[3])) {
    return ops::batched_back(max_pool2d(c.x4, c.win.kh, c.win.sh), c.unbatched);
  }
  return ops::batched_back(apply(ops::MaxPoolWindow{c.win}, c.x4)[0], c.unbatched);
}

Tensor avg_pool_named(std::string_view op, const Tensor& x, const AvgPool2dFuncOptions& o) {
  const ops::Checked c = ops::check_pool(op, x, o.kernel_size, o.stride, o.padding, 1, o.ceil_mode);
  std::int64_t divisor = 0;
  if (o.divisor_override) divisor = check_int_arg(op, "divisor_override", *o.divisor_override, 1, kMaxNumel);
  if (divisor == 0 && ops::plain(c.win, c.x4.shape()[2], c.x4.shape()[3])) {
    return ops::batched_back(avg_pool2d(c.x4, c.win.kh, c.win.sh), c.unbatched);
  }
  const kernels::AvgPoolArgs args{c.win, o.count_include_pad, divisor};
  return ops::batched_back(apply(ops::AvgPoolWindow{args}, c.x4), c.unbatched);
}
}  // namespace

ValuesIndices max_pool2d_with_indices(const Tensor& x, const MaxPool2dFuncOptions& o) {
  const ops::Checked c = ops::check_pool("max_pool2d", x, o.kernel_size, o.stride, o.padding, o.dilation, o.ceil_mode);
  auto [y, idx] = apply(ops::MaxPoolWindow{c.win}, c.x4);
  return {ops::batched_back(y, c.unbatched), ops::batched_back(idx, c.unbatched)};
}
Tensor max_pool2d(const Tensor& x, const MaxPool2dFuncOptions& o) { return max_pool_named("max_pool2d", x, o); }
Tensor avg_pool2d(const Tensor& x, const AvgPool2dFuncOptions& o) { return avg_pool_named("avg_pool2d", x, o); }

namespace {
/// x [N, C, L] or [C, L] as a 2-d pooling input [N, C, 1, L] (or [C, 1, L]); `back` undoes it.
Tensor as_2d(std::string_view op, const Tensor& x) {
  check_floating(op, x);
  if (x.dim() != 2 && x.dim() != 3) throw ShapeError(fmt::format("{}: expected input [N, C, L] or [C, L], got {}", op, x.shape()));
  return unsqueeze(x, -2);
}
}  // namespace

Tensor max_pool1d(const Tensor& x, const MaxPool1dFuncOptions& o) {
  const Tensor y = max_pool_named("max_pool1d", as_2d("max_pool1d", x), {.kernel_size = {1, o.kernel_size},
                                                       .stride = {1, o.stride == 0 ? o.kernel_size : o.stride},
                                                       .padding = {0, o.padding},
                                                       .dilation = {1, o.dilation},
                                                       .ceil_mode = o.ceil_mode});
  return squeeze(y, -2);
}

Tensor avg_pool1d(const Tensor& x, const AvgPool1dFuncOptions& o) {
  const Tensor y = avg_pool_named("avg_pool1d", as_2d("avg_pool1d", x), {.kernel_size = {1, o.kernel_size},
                                                       .stride = {1, o.stride == 0 ? o.kernel_size : o.stride},
                                                       .padding = {0, o.padding},
                                                       .ceil_mode = o.ceil_mode,
                                                       .count_include_pad = o.count_include_pad});
  return squeeze(y, -2);
}

}  // namespace nabla
