// src/kernels/kernels.hpp — the loops behind the ops (internal). Ops in ops/ say what to compute;
// these say how to walk memory. Elementwise loops are plain contiguous loops over raw pointers so
// the compiler can vectorize them; GEMM goes to OpenBLAS.
#pragma once

#include <cstdint>
#include <string_view>

#include <fmt/format.h>

#include "nabla/tensor.hpp"
#include "../tensor_impl.hpp"

namespace nabla::kernels {

/// Calls f(T{}) with T = float or double for the tensor's dtype; int64 is a ValueError naming op.
template <class F>
decltype(auto) dispatch_float(Dtype d, std::string_view op, F&& f) {
  if (d == Dtype::f32) return f(float{});
  if (d == Dtype::f64) return f(double{});
  throw ValueError(fmt::format("{}: expected a float32 or float64 tensor, got int64", op));
}

/// Checks that every tensor has the dtype of the first (ops never convert silently).
void check_same_dtype(std::string_view op, const Tensor& a, const Tensor& b);
/// Checks that a tensor is float32 or float64.
void check_floating(std::string_view op, const Tensor& a);

/// y[i] = f(x[i]); same shape and dtype as x.
template <class F>
Tensor map(const Tensor& x, F f) {
  Tensor y = detail::make_tensor(x.shape(), x.dtype());
  dispatch_float(x.dtype(), "map", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.mutable_data<T>();
    const std::int64_t n = x.numel();
    for (std::int64_t i = 0; i < n; ++i) py[i] = f(px[i]);
  });
  return y;
}

/// y[i] = f(a[i], b[i]) for a and b of one shape and dtype.
template <class F>
Tensor zip(const Tensor& a, const Tensor& b, F f) {
  Tensor y = detail::make_tensor(a.shape(), a.dtype());
  dispatch_float(a.dtype(), "zip", [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* py = y.mutable_data<T>();
    const std::int64_t n = a.numel();
    for (std::int64_t i = 0; i < n; ++i) py[i] = f(pa[i], pb[i]);
  });
  return y;
}

/// y[i] = f(a[i], b[i], c[i]) for tensors of one shape and dtype.
template <class F>
Tensor zip3(const Tensor& a, const Tensor& b, const Tensor& c, F f) {
  Tensor y = detail::make_tensor(a.shape(), a.dtype());
  dispatch_float(a.dtype(), "zip3", [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    const T* pc = c.data<T>();
    T* py = y.mutable_data<T>();
    const std::int64_t n = a.numel();
    for (std::int64_t i = 0; i < n; ++i) py[i] = f(pa[i], pb[i], pc[i]);
  });
  return y;
}

/// Strides (in elements) of `shape` seen from an output of shape `out` (rank ≥ shape's rank):
/// 0 on the axes that broadcasting stretches or adds.
struct BroadcastStrides {
  std::int64_t s[Shape::kMaxRank]{};
};
BroadcastStrides broadcast_strides(const Shape& shape, const Shape& out);

/// Calls body(offset_a, offset_b, offset_out, inner_stride_a, inner_stride_b, inner_n) for each
/// innermost row of a broadcast over `out`.
template <class Body>
void for_each_row(const Shape& out, const BroadcastStrides& sa, const BroadcastStrides& sb, Body body) {
  const int r = out.rank();
  if (r == 0) {
    body(0, 0, 0, 0, 0, 1);
    return;
  }
  const std::int64_t inner = out[r - 1];
  const std::int64_t rows = inner == 0 ? 0 : out.numel() / inner;
  std::int64_t idx[Shape::kMaxRank]{};
  std::int64_t oa = 0, ob = 0;
  for (std::int64_t row = 0; row < rows; ++row) {
    body(oa, ob, row * inner, sa.s[r - 1], sb.s[r - 1], inner);
    for (int d = r - 2; d >= 0; --d) {  // advance the multi-index over the outer axes
      ++idx[d];
      oa += sa.s[d];
      ob += sb.s[d];
      if (idx[d] < out[d]) break;
      oa -= sa.s[d] * out[d];
      ob -= sb.s[d] * out[d];
      idx[d] = 0;
    }
  }
}

/// y = f(a, b) elementwise with NumPy broadcasting to shape `out`.
template <class F>
Tensor broadcast_zip(const Tensor& a, const Tensor& b, const Shape& out, F f) {
  Tensor y = detail::make_tensor(out, a.dtype());
  dispatch_float(a.dtype(), "broadcast", [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* py = y.mutable_data<T>();
    if (a.shape() == out && b.shape() == out) {
      for (std::int64_t i = 0, n = out.numel(); i < n; ++i) py[i] = f(pa[i], pb[i]);
      return;
    }
    if (b.numel() == 1 && a.shape() == out) {
      const T vb = pb[0];
      for (std::int64_t i = 0, n = out.numel(); i < n; ++i) py[i] = f(pa[i], vb);
      return;
    }
    for_each_row(out, broadcast_strides(a.shape(), out), broadcast_strides(b.shape(), out),
                 [&](std::int64_t oa, std::int64_t ob, std::int64_t oy, std::int64_t sa, std::int64_t sb,
                     std::int64_t n) {
                   const T* ra = pa + oa;
                   const T* rb = pb + ob;
                   T* ry = py + oy;
                   if (sa == 1 && sb == 1) {
                     for (std::int64_t i = 0; i < n; ++i) ry[i] = f(ra[i], rb[i]);
                   } else if (sa == 1) {
                     const T vb = rb[0];
                     for (std::int64_t i = 0; i < n; ++i) ry[i] = f(ra[i], vb);
                   } else if (sb == 1) {
                     const T va = ra[0];
                     for (std::int64_t i = 0; i < n; ++i) ry[i] = f(va, rb[i]);
                   } else {
                     const T v = f(ra[0], rb[0]);
                     for (std::int64_t i = 0; i < n; ++i) ry[i] = v;
                   }
                 });
  });
  return y;
}

/// Sums x over the axes that broadcasting stretched from `shape` (which broadcasts to x.shape()).
/// y = 1 / (1 + e^−x). float32 on AVX-512: sixteen at a time, e^−x from a degree-5 polynomial after
/// range reduction (Cephes' expf, within 2 ulp of the exact value) and 2^n by scalef; NaN stays NaN.
/// Otherwise std::exp element by element.
Tensor sigmoid(const Tensor& x);

Tensor sum_to(const Tensor& x, const Shape& shape);

/// Views x as [outer, n, inner] around `axis` (already normalized).
struct AxisSplit {
  std::int64_t outer, n, inner;
};
AxisSplit split_at(const Shape& s, int axis);

Tensor sum_axis(const Tensor& x, int axis, const Shape& out_shape);
Tensor max_axis(const Tensor& x, int axis, const Shape& out_shape);
/// int64 indices of the first maximum along axis.
Tensor argmax_axis(const Tensor& x, int axis, const Shape& out_shape);
/// Scatters gy (reduced shape) to the first maximum of each slice of x along axis.
Tensor max_axis_backward(const Tensor& x, const Tensor& gy, int axis);
/// Repeats g (shape with axis reduced to 1 or removed) along axis to x_shape.
Tensor expand_axis(const Tensor& g, int axis, const Shape& x_shape);

/// C = op(A) · op(B) through cblas_{s,d}gemm; shapes already checked.
Tensor gemm(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b);

/// Softmax and log-softmax over each row of the last axis, with the row max subtracted.
Tensor softmax_rows(const Tensor& x);
Tensor log_softmax_rows(const Tensor& x);

/// Sum of all elements as double (accumulated in double).
double sum_all(const Tensor& x);
/// Σ x² over all elements: eight partial sums in the element type, each folded into a double
/// every 4,096 terms (vectorizes; the float rounding of a partial sum stays near 4,096 · 2⁻²⁴).
double squared_norm(const Tensor& x);

}  // namespace nabla::kernels
