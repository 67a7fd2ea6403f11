// ops/shape.cpp — reshape (a view), 2-d transpose, dtype conversion, clone.
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {
namespace ops {

// reshape: the same elements in row-major order under another shape; a view of x's storage.
// gx = gy reshaped back.
struct Reshape {
  static constexpr std::string_view name = "reshape";
  static constexpr bool differentiable_backward = true;
  Shape shape;  // one dimension may be −1: inferred from x's numel

  Shape resolved(const Tensor& x) const {
    Shape s = shape;
    int infer = -1;
    Shape known_dims = s;  // the target without the inferred axis, its count through Shape's checked multiply
    for (int d = 0; d < s.rank(); ++d) {
      if (s[d] == -1 && infer < 0) {
        infer = d;
        known_dims[d] = 1;
      } else if (s[d] < 0) {
        throw ShapeError(fmt::format("reshape: bad target shape {} for {}", s, x.shape()));
      }
    }
    const std::int64_t known = known_dims.numel();
    if (infer >= 0) {
      if (known == 0 || x.numel() % known != 0) {
        throw ShapeError(fmt::format("reshape: cannot infer -1 in {} for {} elements of {}", s, x.numel(), x.shape()));
      }
      s[infer] = x.numel() / known;
    }
    if (s.numel() != x.numel()) {
      throw ShapeError(fmt::format("reshape: {} has {} elements, target {} has {}", x.shape(), x.numel(), s, s.numel()));
    }
    return s;
  }
  Tensor forward(Context&, const Tensor& x) const { return view(x, resolved(x)); }
  Grads backward(Context& ctx, const Tensor& gy) const { return {gy.reshape(ctx.input_shape(0))}; }
};

// transpose: y[j, i] = x[i, j], copied. gx = gyᵀ.
struct Transpose {
  static constexpr std::string_view name = "transpose";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context&, const Tensor& x) const {
    if (x.dim() != 2) throw ShapeError(fmt::format("transpose: expected a 2-d tensor, got {}", x.shape()));
    const std::int64_t r = x.shape()[0], c = x.shape()[1];
    Tensor y = empty(Shape{c, r}, x.dtype());
    dispatch_all(x.dtype(), [&](auto tag) {  // every dtype, as transpose(x, 0, 1) and permute
      using T = decltype(tag);
      const T* px = x.data<T>();
      T* py = y.mutable_data<T>();
      for (std::int64_t i = 0; i < r; ++i) {
        for (std::int64_t j = 0; j < c; ++j) py[j * r + i] = px[i * c + j];
      }
    });
    return y;
  }
  Grads backward(Context&, const Tensor& gy) const { return {transpose(gy)}; }
};

// to: y = x converted to another floating dtype. gx = gy converted back.
struct Convert {
  static constexpr std::string_view name = "to";
  static constexpr bool differentiable_backward = true;
  Dtype dtype;
  Tensor forward(Context&, const Tensor& x) const {
    Tensor y = empty(x.shape(), dtype);
    y.copy_(x);  // forward runs with recording off
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const { return {gy.to(ctx.input_dtype(0))}; }
};

// clone: y = a copy of x. gx = gy.
struct Clone {
  static constexpr std::string_view name = "clone";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context&, const Tensor& x) const {
    Tensor y = empty(x.shape(), x.dtype());
    y.copy_(x);
    return y;
  }
  Grads backward(Context&, const Tensor& gy) const { return {gy}; }
};

}  // namespace ops

Tensor Tensor::reshape(Shape shape) const {
  check_defined("reshape");
  return apply(ops::Reshape{.shape = shape}, *this);
}

Tensor reshape(const Tensor& x, const Shape& shape) { return x.reshape(shape); }

Tensor transpose(const Tensor& x) { return apply(ops::Transpose{}, x); }

Tensor Tensor::to(Dtype dtype) const {
  check_defined("to");
  if (dtype == this->dtype()) return *this;
  if (requires_grad() && !is_floating_point(dtype)) {
    throw ValueError(fmt::format("to: a tensor that requires grad cannot become {}", dtype));
  }
  return apply(ops::Convert{.dtype = dtype}, *this);
}

Tensor Tensor::clone() const {
  check_defined("clone");
  return apply(ops::Clone{}, *this);
}

}  // namespace nabla
