// ops/pooling.cpp — max, average and L2 pooling over 2-d windows of NCHW tensors (book ch. 6), and
// flatten. Windows have no padding: Ho = (H − k) / s + 1.
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

// max_pool2d: y = the largest x in each window. The gradient goes to that element (the first, on
// ties). Saves the argmax of each window (int64), not x.
struct MaxPool2d {
  static constexpr std::string_view name = "max_pool2d";
  std::int64_t kernel, stride;
  Tensor forward(Context& ctx, const Tensor& x) const {
    Tensor argmax;
    Tensor y = kernels::max_pool2d(x, pool_window(name, x, kernel, stride), argmax);
    ctx.save(argmax);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {kernels::max_pool2d_backward(gy, ctx.saved(0), ctx.input_shape(0), {kernel, kernel, stride, 0})};
  }
};

// avg_pool2d: y = the mean of each window. gx spreads gy / k² over the window. Saves nothing.
struct AvgPool2d {
  static constexpr std::string_view name = "avg_pool2d";
  std::int64_t kernel, stride;
  Tensor forward(Context&, const Tensor& x) const { return kernels::avg_pool2d(x, pool_window(name, x, kernel, stride)); }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {kernels::avg_pool2d_backward(gy, ctx.input_shape(0), {kernel, kernel, stride, 0})};
  }
};

// l2_pool2d: y = √(Σ x²) over each window (the book's L2 pooling). gx = gy · x / y, taken as 0
// where y = 0 (every input of the window is 0, the function's minimum), so it never gives NaN.
// Saves x and y.
struct L2Pool2d {
  static constexpr std::string_view name = "l2_pool2d";
  std::int64_t kernel, stride;
  Tensor forward(Context& ctx, const Tensor& x) const {
    Tensor y = kernels::l2_pool2d(x, pool_window(name, x, kernel, stride));
    ctx.save(x, y);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [x, y] = ctx.saved<2>();
    return {kernels::l2_pool2d_backward(gy, x, y, {kernel, kernel, stride, 0})};
  }
};

}  // namespace ops

namespace {
std::int64_t stride_or_kernel(std::int64_t kernel, std::int64_t stride) { return stride > 0 ? stride : kernel; }
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

Tensor flatten(const Tensor& x) {
  if (x.dim() < 1) throw ShapeError("flatten: expected at least 1 dimension, got a 0-d tensor");
  return x.reshape({x.shape()[0], -1});
}

}  // namespace nabla
