// ops/pooling.cpp — max, average and L2 pooling over 2-d windows of NCHW tensors (book ch. 6),
// adaptive average pooling (composed of matmuls) and nearest upsampling (interpolate's nearest mode),
// and flatten. Windows have no padding: Ho = (H − k) / s + 1.
#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {
namespace ops {

kernels::Window2d pool_window(std::string_view op, const Tensor& x, std::int64_t kernel, std::int64_t stride) {
  check_floating(op, x);
  if (x.dim() != 4) throw ShapeError(fmt::format("{}: expected input [N, C, H, W], got {}", op, x.shape()));
  if (kernel < 1 || stride < 1) {
    throw ValueError(fmt::format("{}: need kernel ≥ 1 and stride ≥ 1, got {} and {}", op, kernel, stride));
  }
  if (x.shape()[2] < kernel || x.shape()[3] < kernel) {
    throw ShapeError(fmt::format("{}: a {}×{} window does not fit input {}", op, kernel, kernel, x.shape()));
  }
  return {kernel, kernel, stride, 0};
}

// avg_pool2d's backward as an op: gx spreads gy / k² over each window; its own backward (the
// adjoint) is avg_pool2d itself. Also l2_pool2d's backward is written with it.
// Each pooling op's backward is an op of its own (as PyTorch's max_pool2d_with_indices_backward,
// avg_pool2d_backward): the pooling kernel's backward as its forward, and a derivative of its own,
// so the plain backward and create_graph run the same code.

// avg_pool2d's backward: each window's gradient spread evenly over it. Linear; its adjoint is
// avg_pool2d itself.
struct AvgPoolGrad {
  static constexpr std::string_view name = "avg_pool2d_backward";
  static constexpr bool differentiable_backward = true;
  Shape x_shape;
  kernels::Window2d win;
  Tensor forward(Context&, const Tensor& gy) const { return kernels::avg_pool2d_backward(gy, x_shape, win); }
  Grads backward(Context&, const Tensor& ggx) const { return {avg_pool2d(ggx, win.kh, win.stride)}; }
};

// max_pool2d's backward: gy added at each window's argmax (flat in its H×W plane). Linear in gy;
// its adjoint reads gg at the argmaxes (a gather); the argmax (int64) gets no gradient.
struct MaxPoolGrad {
  static constexpr std::string_view name = "max_pool2d_backward";
  static constexpr bool differentiable_backward = true;
  Shape x_shape;
  kernels::Window2d win;
  Tensor forward(Context& ctx, const Tensor& gy, const Tensor& argmax) const {
    ctx.save(argmax);
    return kernels::max_pool2d_backward(gy, argmax, x_shape, win);
  }
  Grads backward(Context& ctx, const Tensor& ggx) const {
    const Shape& s = x_shape;
    const Tensor at = ctx.saved(0).reshape({s[0], s[1], -1});
    return {gather(ggx.reshape({s[0], s[1], s[2] * s[3]}), 2, at).reshape(ctx.input_shape(0)), Tensor{}};
  }
};

// l2_pool2d's backward: gx_e = x_e Σ_{windows w ∋ e} gy_w / y_w (0 where y_w = 0), which is
// x_e · k² · avg_pool2d_backward(gy / y)_e. Linear in gy; with S(t) = k² avg_pool2d(t), the sum over
// each window, and q = S(gg x) / y: ∂/∂gy = q, ∂/∂x = gg · k² avg_pool2d_backward(gy / y), ∂/∂y = −q gy / y.
struct L2PoolGrad {
  static constexpr std::string_view name = "l2_pool2d_backward";
  static constexpr bool differentiable_backward = true;
  kernels::Window2d win;
  Tensor forward(Context& ctx, const Tensor& gy, const Tensor& x, const Tensor& y) const {
    ctx.save(gy, x, y);
    return kernels::l2_pool2d_backward(gy, x, y, win);
  }
  Grads backward(Context& ctx, const Tensor& gg) const {
    auto [gy, x, y] = ctx.saved<3>();
    const Tensor zero = y == 0.0;  // there every term is 0; divide by 1 instead, so no NaN reaches a gradient
    const Tensor y_or_1 = where(zero, 1.0, y);
    const double area = double(win.kh * win.kw);
    const Tensor per_window = where(zero, 0.0, gy / y_or_1);  // gy / y
    Tensor q;
    if (ctx.needs_grad(0) || ctx.needs_grad(2)) q = where(zero, 0.0, avg_pool2d(gg * x, win.kh, win.stride) * area / y_or_1);
    return {ctx.needs_grad(0) ? q : Tensor{},
            ctx.needs_grad(1) ? gg * apply(AvgPoolGrad{x.shape(), win}, per_window) * area : Tensor{},
            ctx.needs_grad(2) ? -(q * per_window) : Tensor{}};
  }
};

// max_pool2d: y = the largest x in each window, NaN if the window holds one (as torch). The gradient
// goes to that element (the first, on ties; the last NaN). Saves the argmax of each window (int64), not x.
struct MaxPool2d {
  static constexpr std::string_view name = "max_pool2d";
  void trace(detail::TraceAttrs& a) const { a.ints("kernel", {kernel}); a.ints("stride", {stride}); }
  static constexpr bool differentiable_backward = true;
  std::int64_t kernel, stride;
  Tensor forward(Context& ctx, const Tensor& x) const {
    Tensor argmax;  // only when recorded: in inference the 2×2 pools write no indices
    Tensor y = kernels::max_pool2d(x, pool_window(name, x, kernel, stride), ctx.recording() ? &argmax : nullptr);
    ctx.save(argmax);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {apply(MaxPoolGrad{ctx.input_shape(0), {kernel, kernel, stride, 0}}, gy, ctx.saved(0))};
  }
};

// avg_pool2d: y = the mean of each window. gx spreads gy / k² over the window. Saves nothing.
struct AvgPool2d {
  static constexpr std::string_view name = "avg_pool2d";
  void trace(detail::TraceAttrs& a) const { a.ints("kernel", {kernel}); a.ints("stride", {stride}); }
  static constexpr bool differentiable_backward = true;
  std::int64_t kernel, stride;
  Tensor forward(Context&, const Tensor& x) const { return kernels::avg_pool2d(x, pool_window(name, x, kernel, stride)); }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {apply(AvgPoolGrad{ctx.input_shape(0), {kernel, kernel, stride, 0}}, gy)};
  }
};

// l2_pool2d: y = √(Σ x²) over each window (the book's L2 pooling). gx = gy · x / y, taken as 0
// where y = 0 (every input of the window is 0, the function's minimum), so it never gives NaN.
// Saves x and y.
struct L2Pool2d {
  static constexpr std::string_view name = "l2_pool2d";
  static constexpr bool differentiable_backward = true;
  std::int64_t kernel, stride;
  Tensor forward(Context& ctx, const Tensor& x) const {
    Tensor y = kernels::l2_pool2d(x, pool_window(name, x, kernel, stride));
    ctx.save(x, y);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [x, y] = ctx.saved<2>();
    return {apply(L2PoolGrad{{kernel, kernel, stride, 0}}, gy, x, y)};
  }
};

}  // namespace ops

namespace {
// Only the default 0 means "as the kernel"; a negative stride reaches pool_window's check.
std::int64_t stride_or_kernel(std::int64_t kernel, std::int64_t stride) { return stride == 0 ? kernel : stride; }
}  // namespace

Tensor max_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride) {
  return apply(ops::MaxPool2d{.kernel = kernel, .stride = stride_or_kernel(kernel, stride)}, x);
}
Tensor avg_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride) {
  return apply(ops::AvgPool2d{.kernel = kernel, .stride = stride_or_kernel(kernel, stride)}, x);
}
Tensor l2_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride) {
  return apply(ops::L2Pool2d{.kernel = kernel, .stride = stride_or_kernel(kernel, stride)}, x);
}

namespace {
// Checks an output grid of out_h × out_w for x [N, C, H, W] before anything is made: each a size
// (1 … 2^40), the output within a tensor's limit.
void check_grid(std::string_view op, const Tensor& x, std::int64_t out_h, std::int64_t out_w) {
  check_floating(op, x);
  if (x.dim() != 4) throw ShapeError(fmt::format("{}: expected input [N, C, H, W], got {}", op, x.shape()));
  check_int_arg(op, "output height", out_h, 1, kMaxNumel);
  check_int_arg(op, "output width", out_w, 1, kMaxNumel);
  checked_bytes(op, Shape{x.shape()[0], x.shape()[1], out_h, out_w}, x.dtype());
}

// ⌊i · n / out⌋ without overflow (i < out and n each up to 2^40).
std::int64_t scaled(std::int64_t i, std::int64_t n, std::int64_t out) {
  return static_cast<std::int64_t>(static_cast<__int128>(i) * n / out);
}
}  // namespace

Tensor adaptive_avg_pool2d(const Tensor& x, std::int64_t out_h, std::int64_t out_w) {
  constexpr std::string_view op = "adaptive_avg_pool2d";
  check_grid(op, x, out_h, out_w);
  if (x.shape()[2] == 0 || x.shape()[3] == 0) {
    throw ValueError(fmt::format("adaptive_avg_pool2d: input {} has an empty plane; there is nothing to average", x.shape()));
  }
  const OpScope scope(op);
  if (out_h == 1 && out_w == 1) return mean(x, {2, 3}, true);
  // Along each axis the pooling is linear: output line i is the mean of input lines
  // [⌊i·n/out⌋, ⌈(i+1)·n/out⌉), i.e. the product with a matrix P [n, out] holding 1/len in window i's
  // rows of column i. One matmul per axis (differentiable, any order), built in O(n·out).
  auto pool_axis = [&](const Tensor& t, int axis, std::int64_t out) {
    const std::int64_t n = t.shape()[axis];
    if (out == n) return t;
    std::int64_t cells = 0;
    if (__builtin_mul_overflow(n, out, &cells) || cells > kMaxNumel) {
      throw ShapeError(fmt::format("{}: pooling {} input lines into {} along axis {} of {} takes more than 2^40 weights",
                                   op, n, out, axis, x.shape()));
    }
    Tensor p = zeros({n, out}, t.dtype());
    dispatch_float(t.dtype(), op, [&](auto tag) {
      using T = decltype(tag);
      T* pp = p.mutable_data<T>();
      for (std::int64_t i = 0; i < out; ++i) {
        const std::int64_t start = scaled(i, n, out), stop = n - scaled(out - 1 - i, n, out);  // ⌈(i+1)·n/out⌉
        for (std::int64_t j = start; j < stop; ++j) pp[j * out + i] = T(1) / static_cast<T>(stop - start);
      }
    });
    return axis == 3 ? matmul(t, p) : matmul(p, t, {.trans_a = true});
  };
  return pool_axis(pool_axis(x, 2, out_h), 3, out_w);
}

Tensor upsample_nearest2d(const Tensor& x, std::int64_t out_h, std::int64_t out_w) {
  constexpr std::string_view op = "upsample_nearest2d";
  check_grid(op, x, out_h, out_w);
  if (x.shape()[2] == 0 || x.shape()[3] == 0) {
    throw ValueError(fmt::format("upsample_nearest2d: input {} has an empty plane; there is nothing to sample", x.shape()));
  }
  const OpScope scope(op);
  // interpolate's nearest mode (ops/resample.cpp): PyTorch's source rows, computed as its kernel does.
  return interpolate(x, {.size = {out_h, out_w}, .mode = "nearest"});
}

Tensor flatten(const Tensor& x) {
  if (x.dim() < 1) throw ShapeError("flatten: expected at least 1 dimension, got a 0-d tensor");
  std::int64_t rest = 1;  // explicit, not -1: with 0 rows the rest could not be inferred ([0, 3] → [0, 3])
  for (int d = 1; d < x.dim(); ++d) rest *= x.shape()[d];
  return x.reshape({x.shape()[0], rest});
}

}  // namespace nabla
