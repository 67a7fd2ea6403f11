// ops/fold.cpp — torch.nn.functional.unfold (im2col) and fold (col2im), with kernel_size, dilation,
// padding and stride per axis.
//
// unfold: x [N, C, H, W] → cols [N, C·kh·kw, L], L = Ho·Wo sliding positions,
//   Ho = ⌊(H + 2·ph − dh·(kh − 1) − 1) / sh⌋ + 1 (likewise Wo), cols[n, (c, p, q), (i, j)] =
//   x[n, c, i·sh − ph + p·dh, j·sw − pw + q·dw] (0 in the padding).
// fold: the adjoint — every column entry added back at the place unfold took it from (overlaps sum).
// Both are linear and each is the other's adjoint, so each one's backward is the other (as gather and
// scatter of a window in ops/movement.cpp): one formula, differentiable to any order.
#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {
namespace ops {

struct FoldWindows;
struct UnfoldWindows {
  static constexpr std::string_view name = "unfold";
  static constexpr bool differentiable_backward = true;
  kernels::PoolWindow2d win;
  Tensor forward(Context&, const Tensor& x) const { return kernels::unfold_windows(x, win); }
  Grads backward(Context& ctx, const Tensor& gy) const;
};
struct FoldWindows {
  static constexpr std::string_view name = "fold";
  static constexpr bool differentiable_backward = true;
  kernels::PoolWindow2d win;
  Shape out_shape;  // [N, C, H, W]
  Tensor forward(Context&, const Tensor& cols) const { return kernels::fold_windows(cols, out_shape, win); }
  Grads backward(Context&, const Tensor& gx) const { return {apply(UnfoldWindows{win}, gx)}; }
};
inline Grads UnfoldWindows::backward(Context& ctx, const Tensor& gy) const {
  return {apply(FoldWindows{win, ctx.input_shape(0)}, gy)};
}

namespace {
/// Checks the options for `op` and the sliding positions over an H×W plane; the window with oh, ow.
kernels::PoolWindow2d window(std::string_view op, std::int64_t h, std::int64_t w, Size2 k, Size2 d, Size2 p, Size2 s,
                             const Shape& shown) {
  check_int_arg(op, "kernel_size", std::min(k.h, k.w), 1, kMaxNumel);
  check_int_arg(op, "kernel_size", std::max(k.h, k.w), 1, kMaxNumel);
  check_int_arg(op, "dilation", std::min(d.h, d.w), 1, kMaxNumel);
  check_int_arg(op, "dilation", std::max(d.h, d.w), 1, kMaxNumel);
  check_int_arg(op, "padding", std::min(p.h, p.w), 0, kMaxNumel);
  check_int_arg(op, "padding", std::max(p.h, p.w), 0, kMaxNumel);
  check_int_arg(op, "stride", std::min(s.h, s.w), 1, kMaxNumel);
  check_int_arg(op, "stride", std::max(s.h, s.w), 1, kMaxNumel);
  checked_mul(op, "kernel_size", k.h, k.w);
  const std::int64_t eh = checked_mul(op, "the dilated kernel height", d.h, k.h - 1) + 1;
  const std::int64_t ew = checked_mul(op, "the dilated kernel width", d.w, k.w - 1) + 1;
  const std::int64_t span_h = h + 2 * p.h - eh, span_w = w + 2 * p.w - ew;
  const std::int64_t oh = span_h < 0 ? 0 : span_h / s.h + 1, ow = span_w < 0 ? 0 : span_w / s.w + 1;
  if (oh < 1 || ow < 1) {
    throw ShapeError(fmt::format("{}: a spatial size of {}×{} ({}) with kernel_size ({}, {}), dilation ({}, {}), padding "
                                 "({}, {}), stride ({}, {}) gives {}×{} sliding blocks; there must be at least one along each axis",
                                 op, h, w, shown, k.h, k.w, d.h, d.w, p.h, p.w, s.h, s.w, oh, ow));
  }
  return {k.h, k.w, s.h, s.w, p.h, p.w, d.h, d.w, oh, ow};
}
}  // namespace

}  // namespace ops

Tensor unfold(const Tensor& x, const UnfoldFuncOptions& o) {
  constexpr std::string_view op = "unfold";
  check_defined(op, {&x});
  check_floating(op, x);
  if (x.dim() != 3 && x.dim() != 4) throw ShapeError(fmt::format("unfold: expected input [N, C, H, W] or [C, H, W], got {}", x.shape()));
  const Tensor x4 = x.dim() == 3 ? unsqueeze(x, 0) : x;
  const Shape& s = x4.shape();
  const kernels::PoolWindow2d win = ops::window(op, s[2], s[3], o.kernel_size, o.dilation, o.padding, o.stride, x.shape());
  const std::int64_t rows = checked_mul(op, "the rows", s[1], checked_mul(op, "kernel_size", win.kh, win.kw));
  checked_bytes(op, Shape{s[0], rows, checked_mul(op, "the sliding blocks", win.oh, win.ow)}, x.dtype());
  const Tensor y = apply(ops::UnfoldWindows{win}, x4);
  return x.dim() == 3 ? squeeze(y, 0) : y;
}

Tensor fold(const Tensor& x, const FoldFuncOptions& o) {
  constexpr std::string_view op = "fold";
  check_defined(op, {&x});
  check_floating(op, x);
  if (x.dim() != 2 && x.dim() != 3) throw ShapeError(fmt::format("fold: expected input [N, C·kh·kw, L] or [C·kh·kw, L], got {}", x.shape()));
  const Tensor x3 = x.dim() == 2 ? unsqueeze(x, 0) : x;
  check_int_arg(op, "output_size", std::min(o.output_size.h, o.output_size.w), 1, kMaxNumel);
  check_int_arg(op, "output_size", std::max(o.output_size.h, o.output_size.w), 1, kMaxNumel);
  const kernels::PoolWindow2d win =
      ops::window(op, o.output_size.h, o.output_size.w, o.kernel_size, o.dilation, o.padding, o.stride, x.shape());
  const std::int64_t taps = win.kh * win.kw;
  const Shape& s = x3.shape();
  if (s[1] % taps != 0) {
    throw ShapeError(fmt::format("fold: input {} has {} rows, not a multiple of kernel_size ({}, {}) = {} taps", x.shape(), s[1],
                                 win.kh, win.kw, taps));
  }
  if (s[2] != win.oh * win.ow) {
    throw ShapeError(fmt::format("fold: input {} has {} columns, but output_size ({}, {}) with these options has {}×{} = {} "
                                 "sliding blocks",
                                 x.shape(), s[2], o.output_size.h, o.output_size.w, win.oh, win.ow, win.oh * win.ow));
  }
  const Shape out{s[0], s[1] / taps, o.output_size.h, o.output_size.w};
  checked_bytes(op, out, x.dtype());
  const Tensor y = apply(ops::FoldWindows{win, out}, x3);
  return x.dim() == 2 ? squeeze(y, 0) : y;
}

}  // namespace nabla
