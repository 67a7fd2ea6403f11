// ops/conv.cpp — 2-d convolution on NCHW tensors (book ch. 6: local receptive fields, shared
// weights and biases); dilated, grouped, 1-d and transposed convolution built on it.
//
//   y[n, f, i, j] = b[f] + Σ_{c, p, q} w[f, c, p, q] · x[n, c, i·s + p − pad, j·s + q − pad]
//   x [N, C, H, W], w [F, C, kh, kw], b [F] (optional) → y [N, F, Ho, Wo],
//   Ho = (H + 2·pad − kh) / s + 1, likewise Wo.
// With cols = im2col(x) [C·kh·kw, N·Ho·Wo] and W the weights as [F, C·kh·kw]: Y = W · cols, and
// backward, with G the gradient gy as [F, N·Ho·Wo]: gw = G · colsᵀ, gb = row sums of G,
// gx = col2im(Wᵀ · G). Each gradient only if its input needs one.
//
// How the products run (the level's tiles or im2col + OpenBLAS, and so what the weight gradient
// reads) is the kernels' choice (nabla/kernels.hpp); the forward saves what they return. w is saved
// for gx only if x needs a gradient.
#include <limits>
#include <string>

#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {
namespace ops {

namespace {
// The checks shared by every convolution entry point: stride ≥ 1, 0 ≤ padding ≤ 2^40 (an axis is no
// longer), so that H + 2·padding and the window arithmetic cannot wrap.
void check_window_args(std::string_view op, std::int64_t stride, std::int64_t padding) {
  check_int_arg(op, "stride", stride, 1);
  check_int_arg(op, "padding", padding, 0, kMaxNumel);
}
}  // namespace

// conv2d's backward is an op of its own, Conv2dGrad (PyTorch's convolution_backward): the kernels'
// one pass as its forward, so the plain backward and create_graph run the same code. Its parts are
// the two products gx = conv2d_input_grad(gy, w) (a transposed convolution, also conv_transpose2d's
// forward) and gw = conv2d_weight_grad(x, gy), and gb = Σ gy. Each is linear in each input; their
// derivatives are conv2d and each other, written once here:
//   gg of gx: ∂/∂gy = conv2d(gg, w),  ∂/∂w = conv2d_weight_grad(gg, gy);
//   gg of gw: ∂/∂gy = conv2d(x, gg),  ∂/∂x = conv2d_input_grad(gy, gg);
//   gg of gb: ∂/∂gy = gg repeated over gy's shape.
struct ConvInputGrad {
  static constexpr std::string_view name = "conv2d_input_grad";
  void trace(detail::TraceAttrs& a) const { a.ints("stride", {win.stride}); a.ints("padding", {win.padding}); }
  static constexpr bool differentiable_backward = true;
  Shape x_shape;
  kernels::Window2d win;
  Tensor forward(Context& ctx, const Tensor& gy, const Tensor& w) const {
    ctx.save(gy, w);
    return kernels::conv2d_input_grad(w, gy, x_shape, win);
  }
  Grads backward(Context& ctx, const Tensor& ggx) const;
};
struct ConvWeightGrad {
  static constexpr std::string_view name = "conv2d_weight_grad";
  static constexpr bool differentiable_backward = true;
  Shape w_shape;
  kernels::Window2d win;
  Tensor forward(Context& ctx, const Tensor& x, const Tensor& gy) const {
    ctx.save(x, gy);
    return kernels::gemm(kernels::unfold_batch(gy), kernels::im2col(x, win), false, true).reshape(w_shape);
  }
  Grads backward(Context& ctx, const Tensor& ggw) const;
};

namespace {
Conv2dFuncOptions dense(const kernels::Window2d& win) { return {.stride = win.stride, .padding = win.padding}; }
// The derivatives of gx = conv2d_input_grad(gy, w) for ggx, and of gw = conv2d_weight_grad(x, gy) for ggw.
Tensor input_grad_by_gy(const Tensor& ggx, const Tensor& w, const kernels::Window2d& win) {
  return conv2d(ggx, w, Tensor{}, dense(win));
}
Tensor input_grad_by_w(const Tensor& ggx, const Tensor& gy, const Shape& w_shape, const kernels::Window2d& win) {
  return apply(ConvWeightGrad{w_shape, win}, ggx, gy);
}
Tensor weight_grad_by_gy(const Tensor& ggw, const Tensor& x, const kernels::Window2d& win) {
  return conv2d(x, ggw, Tensor{}, dense(win));
}
Tensor weight_grad_by_x(const Tensor& ggw, const Tensor& gy, const Shape& x_shape, const kernels::Window2d& win) {
  return apply(ConvInputGrad{x_shape, win}, gy, ggw);
}
}  // namespace

inline Grads ConvInputGrad::backward(Context& ctx, const Tensor& ggx) const {
  auto [gy, w] = ctx.saved<2>();
  return {ctx.needs_grad(0) ? input_grad_by_gy(ggx, w, win) : Tensor{},
          ctx.needs_grad(1) ? input_grad_by_w(ggx, gy, w.shape(), win) : Tensor{}};
}
inline Grads ConvWeightGrad::backward(Context& ctx, const Tensor& ggw) const {
  auto [x, gy] = ctx.saved<2>();
  return {ctx.needs_grad(0) ? weight_grad_by_x(ggw, gy, x.shape(), win) : Tensor{},
          ctx.needs_grad(1) ? weight_grad_by_gy(ggw, x, win) : Tensor{}};
}

// conv2d's backward op: of gx, gw, gb those `asked` for, in that order, from gy, w (undefined unless
// gx is asked for) and x (undefined unless gw is), in the kernels' one pass (kernels::conv2d_backward),
// which reads what the forward kept for gw (`saved`, the kernels' choice: a constant handle).
struct Conv2dGrad {
  static constexpr std::string_view name = "conv2d_backward";
  static constexpr bool differentiable_backward = true;
  static constexpr std::uint32_t optional_inputs = (1U << 1) | (1U << 2);  // w, x
  Shape x_shape, w_shape;
  kernels::Window2d win;
  std::array<bool, 3> asked;
  Tensor saved;
  std::vector<Tensor> forward(Context& ctx, const Tensor& gy, const Tensor& w, const Tensor& x) const {
    ctx.save(gy, w, x);
    std::array<Tensor, 3> g;
    kernels::conv2d_backward(gy, w, saved, x_shape, w_shape, win, asked[0] ? &g[0] : nullptr, asked[1] ? &g[1] : nullptr,
                             asked[2] ? &g[2] : nullptr);
    std::vector<Tensor> out;
    for (std::size_t k = 0; k < 3; ++k) {
      if (asked[k]) out.push_back(std::move(g[k]));
    }
    return out;
  }
  Grads backward(Context& ctx, const Grads& ggs) const {
    auto [gy, w, x] = ctx.saved<3>();
    std::array<Tensor, 3> gg;  // the gradients of gx, gw, gb, undefined where none flowed or none was asked for
    for (std::size_t k = 0, o = 0; k < 3; ++k) {
      if (asked[k]) gg[k] = ggs[o++];
    }
    Tensor g_gy, g_w, g_x;
    auto add = [](Tensor& to, const Tensor& t) { to = to.defined() ? to + t : t; };
    if (ctx.needs_grad(0)) {
      if (gg[0].defined()) add(g_gy, input_grad_by_gy(gg[0], w, win));
      if (gg[1].defined()) add(g_gy, weight_grad_by_gy(gg[1], x, win));
      if (gg[2].defined()) add(g_gy, expand(gg[2].reshape({1, w_shape[0], 1, 1}), gy.shape()));
    }
    if (ctx.needs_grad(1) && gg[0].defined()) g_w = input_grad_by_w(gg[0], gy, w_shape, win);
    if (ctx.needs_grad(2) && gg[1].defined()) g_x = weight_grad_by_x(gg[1], gy, x_shape, win);
    return {g_gy, g_w, g_x};
  }
};

struct Conv2d {
  static constexpr std::string_view name = "conv2d";
  void trace(detail::TraceAttrs& a) const { a.ints("stride", {stride}); a.ints("padding", {padding}); }
  static constexpr bool differentiable_backward = true;
  static constexpr std::uint32_t optional_inputs = 1U << 2;  // the bias
  std::int64_t stride = 1;
  std::int64_t padding = 0;

  kernels::Window2d window(const Shape& w_shape) const { return {w_shape[2], w_shape[3], stride, padding}; }

  Tensor forward(Context& ctx, const Tensor& x, const Tensor& w, const Tensor& b) const {
    check_window_args(name, stride, padding);
    check_floating_or_bf16(name, x);
    check_same_dtype(name, x, w);
    if (x.dim() != 4 || w.dim() != 4) {
      throw ShapeError(fmt::format("conv2d: expected input [N, C, H, W] and weight [F, C, kh, kw], got {} and {}",
                                   x.shape(), w.shape()));
    }
    if (x.shape()[1] != w.shape()[1]) {
      throw ShapeError(fmt::format("conv2d: input {} has {} channels, weight {} expects {}", x.shape(), x.shape()[1],
                                   w.shape(), w.shape()[1]));
    }
    if (b.defined() && (b.shape() != Shape{w.shape()[0]} || b.dtype() != w.dtype())) {
      throw ShapeError(fmt::format("conv2d: bias is {} {}; expected {} [{}] for weight {}", b.dtype(), b.shape(), w.dtype(),
                                   w.shape()[0], w.shape()));
    }
    const kernels::Window2d win = window(w.shape());
    const std::int64_t oh = win.out_h(x.shape()[2]), ow = win.out_w(x.shape()[3]);
    if (oh <= 0 || ow <= 0 || x.shape()[2] + 2 * padding < win.kh || x.shape()[3] + 2 * padding < win.kw) {
      throw ShapeError(fmt::format("conv2d: a {}×{} kernel does not fit input {} with padding {}", win.kh, win.kw,
                                   x.shape(), padding));
    }
    checked_bytes(name, Shape{x.shape()[0], w.shape()[0], oh, ow}, x.dtype());  // the output, before any work
    kernels::ConvForward r = kernels::conv2d_forward(x, w, b, win, ctx.needs_grad(1));
    ctx.save(r.saved, ctx.needs_grad(0) ? w : Tensor{}, ctx.needs_grad(1) ? x : Tensor{});  // x (a handle) for create_graph
    return r.y;
  }

  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [saved, w, x] = ctx.saved<3>();
    const Shape& w_shape = ctx.input_shape(1);
    const std::array<bool, 3> asked{ctx.needs_grad(0), ctx.needs_grad(1), ctx.needs_grad(2)};
    const std::vector<Tensor> g =
        apply(Conv2dGrad{ctx.input_shape(0), w_shape, window(w_shape), asked, saved}, gy, w, x);
    Grads out(3);
    for (std::size_t k = 0, o = 0; k < 3; ++k) {
      if (asked[k]) out[k] = g[o++];
    }
    return out;
  }
};

}  // namespace ops

namespace {

// w [F, C, kh, kw] with dilation − 1 zeros between taps along both spatial axes:
// [F, C, (kh − 1)·d + 1, (kw − 1)·d + 1]. Composed of differentiable ops.
Tensor dilate_kernel(const Tensor& w, std::int64_t d) {
  const Shape s = w.shape();
  Tensor t = pad(unsqueeze(w, 4), {0, d - 1});                     // [F, C, kh, kw, d]
  t = slice(t.reshape({s[0], s[1], s[2], s[3] * d}), 3, 0, (s[3] - 1) * d + 1);
  t = pad(unsqueeze(t, 3), {0, 0, 0, d - 1});                       // [F, C, kh, d, kw']
  return slice(t.reshape({s[0], s[1], s[2] * d, (s[3] - 1) * d + 1}), 2, 0, (s[2] - 1) * d + 1);
}

// The extent of k taps spaced `dilation` apart: (k − 1)·dilation + 1, or −1 past int64.
std::int64_t dilated_extent(std::int64_t k, std::int64_t dilation) {
  std::int64_t span = 0;
  if (k < 1) return k;
  if (__builtin_mul_overflow(k - 1, dilation, &span) || span == std::numeric_limits<std::int64_t>::max()) return -1;
  return span + 1;
}

// "a 3×3 kernel with dilation 2 (5×5)" or "a 3×3 kernel".
std::string kernel_words(std::int64_t kh, std::int64_t kw, std::int64_t dilation) {
  if (dilation == 1) return fmt::format("a {}×{} kernel", kh, kw);
  const std::int64_t eh = dilated_extent(kh, dilation), ew = dilated_extent(kw, dilation);
  if (eh < 0 || ew < 0) return fmt::format("a {}×{} kernel with dilation {} (past 2^63 elements across)", kh, kw, dilation);
  return fmt::format("a {}×{} kernel with dilation {} ({}×{})", kh, kw, dilation, eh, ew);
}

// Whether taps spanning `extent` fit `n` elements padded by `padding` on each side (no overflow).
bool fits(std::int64_t extent, std::int64_t n, std::int64_t padding) {
  return extent >= 0 && static_cast<__int128>(n) + 2 * static_cast<__int128>(padding) >= extent;
}

// Whether c channels split into g groups of c_per_group each (c = c_per_group · g, a product that
// could wrap for a huge g or an empty weight's huge channel count, so compared by division).
bool groups_fit(std::int64_t c, std::int64_t c_per_group, std::int64_t g) { return c % g == 0 && c / g == c_per_group; }

// The checks of a dilated or grouped conv2d, made before the kernel is dilated or split, so that
// the message speaks of the caller's shapes and options.
void check_conv2d_composite(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dFuncOptions& opts) {
  if (opts.stride < 1 || opts.padding < 0) {
    throw ValueError(fmt::format("conv2d: need stride ≥ 1 and padding ≥ 0, got stride {} and padding {}", opts.stride,
                                 opts.padding));
  }
  check_floating("conv2d", x);
  check_same_dtype("conv2d", x, w);
  const std::int64_t f = w.shape()[0];
  if (b.defined() && (b.shape() != Shape{f} || b.dtype() != w.dtype())) {
    throw ShapeError(fmt::format("conv2d: bias is {} {}; expected {} [{}] for weight {}", b.dtype(), b.shape(), w.dtype(), f,
                                 w.shape()));
  }
  const std::int64_t kh = w.shape()[2], kw = w.shape()[3], d = opts.dilation;
  if (!fits(dilated_extent(kh, d), x.shape()[2], opts.padding) || !fits(dilated_extent(kw, d), x.shape()[3], opts.padding)) {
    throw ShapeError(fmt::format("conv2d: {} does not fit input {} with padding {}", kernel_words(kh, kw, d), x.shape(),
                                 opts.padding));
  }
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, Conv2dFuncOptions opts) {
  check_defined("conv2d", {&x, &w});
  if (opts.dilation == 1 && opts.groups == 1) {
    return apply(ops::Conv2d{.stride = opts.stride, .padding = opts.padding}, x, w, b);
  }
  // Dilated or grouped: composed of the dense convolution (a dilated kernel holds zeros between its
  // taps; groups are convolved one by one and joined), so every order of gradient is conv2d's.
  const OpScope scope("conv2d");
  ops::check_window_args("conv2d", opts.stride, opts.padding);
  check_int_arg("conv2d", "dilation", opts.dilation, 1, kMaxNumel);
  check_int_arg("conv2d", "groups", opts.groups, 1, kMaxNumel);
  if (x.dim() != 4 || w.dim() != 4) {
    throw ShapeError(fmt::format("conv2d: expected input [N, C, H, W] and weight [F, C/groups, kh, kw], got {} and {}",
                                 x.shape(), w.shape()));
  }
  const std::int64_t g = opts.groups;
  // As PyTorch: at least one filter per group (F = 0 would leave the groups nothing to convolve).
  if (!groups_fit(x.shape()[1], w.shape()[1], g) || w.shape()[0] % g != 0 || w.shape()[0] < g) {
    throw ShapeError(fmt::format("conv2d: input {} and weight {} do not fit {} groups (need C = {}·{} and F a positive "
                                 "multiple of {})",
                                 x.shape(), w.shape(), g, g, w.shape()[1], g));
  }
  check_conv2d_composite(x, w, b, opts);
  // A 1×1 kernel has no gaps to dilate.
  const bool dilate = opts.dilation > 1 && (w.shape()[2] > 1 || w.shape()[3] > 1);
  const Tensor wd = dilate ? dilate_kernel(w, opts.dilation) : w;
  const Conv2dFuncOptions dense{.stride = opts.stride, .padding = opts.padding};
  if (g == 1) return conv2d(x, wd, b, dense);
  // g pieces each, also of an empty axis (chunk would give one).
  auto pieces = [g](const Tensor& t, int axis) {
    return split(t, std::vector<std::int64_t>(std::size_t(g), t.shape()[axis] / g), axis);
  };
  const std::vector<Tensor> xs = pieces(x, 1), ws = pieces(wd, 0);
  const std::vector<Tensor> bs = b.defined() ? pieces(b, 0) : std::vector<Tensor>(std::size_t(g));
  std::vector<Tensor> ys;
  for (std::int64_t k = 0; k < g; ++k) ys.push_back(conv2d(xs[std::size_t(k)], ws[std::size_t(k)], bs[std::size_t(k)], dense));
  return cat(ys, 1);
}

Tensor conv1d(const Tensor& x, const Tensor& w, const Tensor& b, Conv1dFuncOptions opts) {
  check_defined("conv1d", {&x, &w});
  if (x.dim() != 3 || w.dim() != 3) {
    throw ShapeError(fmt::format("conv1d: expected input [N, C, L] and weight [F, C/groups, k], got {} and {}", x.shape(),
                                 w.shape()));
  }
  const OpScope scope("conv1d");
  ops::check_window_args("conv1d", opts.stride, opts.padding);
  if (opts.stride < 1 || opts.padding < 0 || opts.dilation < 1 || opts.groups < 1) {
    throw ValueError(fmt::format("conv1d: need stride ≥ 1, padding ≥ 0, dilation ≥ 1 and groups ≥ 1, got {}, {}, {} and {}",
                                 opts.stride, opts.padding, opts.dilation, opts.groups));
  }
  check_int_arg("conv1d", "dilation", opts.dilation, 1, kMaxNumel);  // as conv2d's
  check_int_arg("conv1d", "groups", opts.groups, 1, kMaxNumel);
  // Checked here, in the caller's terms: conv2d would speak of [N, C, 1, L] and a 1 × k kernel.
  check_floating("conv1d", x);
  check_same_dtype("conv1d", x, w);
  const std::int64_t g = opts.groups, f = w.shape()[0], k = w.shape()[2];
  if (!groups_fit(x.shape()[1], w.shape()[1], g) || f % g != 0) {
    throw ShapeError(fmt::format("conv1d: input {} and weight {} do not fit {} group{} (need C = {}·{} and F a multiple of {})",
                                 x.shape(), w.shape(), g, g == 1 ? "" : "s", g, w.shape()[1], g));
  }
  if (b.defined() && (b.shape() != Shape{f} || b.dtype() != w.dtype())) {
    throw ShapeError(fmt::format("conv1d: bias is {} {}; expected {} [{}] for weight {}", b.dtype(), b.shape(), w.dtype(), f,
                                 w.shape()));
  }
  if (!fits(dilated_extent(k, opts.dilation), x.shape()[2], opts.padding)) {
    const std::int64_t e = dilated_extent(k, opts.dilation);
    throw ShapeError(fmt::format("conv1d: a kernel of size {}{} does not fit input {} with padding {}", k,
                                 opts.dilation == 1 ? std::string()
                                 : e < 0           ? fmt::format(" with dilation {} (past 2^63 across)", opts.dilation)
                                                   : fmt::format(" with dilation {} ({} across)", opts.dilation, e),
                                 x.shape(), opts.padding));
  }
  // A 1 × L image: padding along L only (conv2d would pad the single row too).
  const Tensor xp = opts.padding > 0 ? pad(x, {opts.padding, opts.padding}) : x;
  const Conv2dFuncOptions o{.stride = opts.stride, .padding = 0, .dilation = opts.dilation, .groups = opts.groups};
  return squeeze(conv2d(unsqueeze(xp, 2), unsqueeze(w, 2), b, o), 2);
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b, ConvTranspose2dFuncOptions opts) {
  check_defined("conv_transpose2d", {&x, &w});
  check_floating("conv_transpose2d", x);
  check_same_dtype("conv_transpose2d", x, w);
  if (x.dim() != 4 || w.dim() != 4 || x.shape()[1] != w.shape()[0]) {
    throw ShapeError(fmt::format("conv_transpose2d: expected input [N, C, H, W] and weight [C, F, kh, kw], got {} and {}",
                                 x.shape(), w.shape()));
  }
  if (opts.stride < 1 || opts.padding < 0 || opts.output_padding < 0 || opts.output_padding >= opts.stride) {
    throw ValueError(fmt::format("conv_transpose2d: need stride ≥ 1, padding ≥ 0 and 0 ≤ output_padding < stride, got {}, {}, {}",
                                 opts.stride, opts.padding, opts.output_padding));
  }
  ops::check_window_args("conv_transpose2d", opts.stride, opts.padding);
  const kernels::Window2d win{w.shape()[2], w.shape()[3], opts.stride, opts.padding};
  // (H − 1)·stride − 2·padding + kh + output_padding, checked: a huge stride must not wrap.
  auto extent = [&](std::int64_t in, std::int64_t k, const char* what) {
    const std::int64_t spread = checked_mul("conv_transpose2d", what, in - 1, opts.stride);
    return checked_add("conv_transpose2d", what, checked_add("conv_transpose2d", what, spread, k),
                       opts.output_padding - 2 * opts.padding);  // 0 ≤ output_padding < stride, padding ≤ 2^40
  };
  const std::int64_t oh = extent(x.shape()[2], win.kh, "the output height");
  const std::int64_t ow = extent(x.shape()[3], win.kw, "the output width");
  if (oh <= 0 || ow <= 0) {
    throw ShapeError(fmt::format("conv_transpose2d: input {} with weight {}, stride {} and padding {} gives no output",
                                 x.shape(), w.shape(), opts.stride, opts.padding));
  }
  const std::int64_t f = w.shape()[1];
  if (b.defined() && (b.shape() != Shape{f} || b.dtype() != w.dtype())) {
    throw ShapeError(fmt::format("conv_transpose2d: bias is {} {}; expected {} [{}] for weight {}", b.dtype(), b.shape(),
                                 w.dtype(), f, w.shape()));
  }
  checked_bytes("conv_transpose2d", Shape{x.shape()[0], f, oh, ow}, x.dtype());  // before any work
  const OpScope scope("conv_transpose2d");
  // The adjoint of conv2d with this weight: conv2d's input gradient, x in the place of gy.
  const Tensor y = apply(ops::ConvInputGrad{Shape{x.shape()[0], f, oh, ow}, win}, x, w);
  return b.defined() ? y + b.reshape({1, f, 1, 1}) : y;
}

}  // namespace nabla
