// src/kernels/kernels.cpp — e^x, sigmoid, tanh, GELU and its backward, the four arithmetic ops and the
// SGD step (each through the level table, level/level.hpp), reductions (whole, along an axis, back
// over broadcast axes) and row-wise softmax.
#include "nabla/kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>

#include "reduce.hpp"
#include "vexp.hpp"

#include "level/level.hpp"

namespace nabla::kernels {

void exp_floats(const float* in, float* out, std::int64_t n) { level_kernels().exp(in, out, n); }

float sum_exp(const float* p, std::int64_t n, std::int64_t stride, float m) {
  if (stride == 1) return level_kernels().sum_exp(p, n, m);
  float total = 0;
  for (std::int64_t i = 0; i < n; ++i) total += std::exp(p[i * stride] - m);
  return total;
}

namespace {
/// f32 through the level's loop `fn`, else `scalar` elementwise.
template <class S>
Tensor level_map(const Tensor& x, void (*LevelKernels::*fn)(const float*, float*, std::int64_t), S scalar) {
  if (x.dtype() != Dtype::f32) return map(x, scalar);
  Tensor y = empty(x.shape(), Dtype::f32);
  (level_kernels().*fn)(x.data<float>(), y.mutable_data<float>(), x.numel());
  return y;
}

/// a op b broadcast to out: float32 operands of shape `out` or of one element through the level's
/// loop (op 0–3: +, −, ×, ÷), anything else through `scalar`.
template <class S>
Tensor arith(int op, const Tensor& a, const Tensor& b, const Shape& out, S scalar) {
  if (a.dtype() == Dtype::bf16 && b.dtype() == Dtype::bf16) {  // in float32, each result rounded once
    return detail::narrow_to_bf16(arith(op, detail::widen_bf16(a), detail::widen_bf16(b), out, scalar));
  }
  const bool a_full = a.shape() == out, b_full = b.shape() == out;
  if (a.dtype() != Dtype::f32 || b.dtype() != Dtype::f32 ||
      (!(a_full && b_full) && !(a_full && b.numel() == 1) && !(b_full && a.numel() == 1))) {
    return broadcast_zip(a, b, out, scalar);
  }
  Tensor y = empty(out, Dtype::f32);
  level_kernels().arith(op, a.data<float>(), a_full ? 1 : 0, b.data<float>(), b_full ? 1 : 0, y.mutable_data<float>(),
                        out.numel());
  return y;
}
}  // namespace

Tensor exp(const Tensor& x) {
  return level_map(x, &LevelKernels::exp, [](auto v) { return std::exp(v); });
}

Tensor sigmoid(const Tensor& x) {
  return level_map(x, &LevelKernels::sigmoid, [](auto v) { return 1 / (1 + std::exp(-v)); });
}

Tensor tanh(const Tensor& x) {
  return level_map(x, &LevelKernels::tanh, [](auto v) { return std::tanh(v); });
}

Tensor gelu(const Tensor& x, bool tanh_approximation) {
  if (x.dtype() != Dtype::f32) {
    return map(x, [tanh_approximation](auto v) {
      using T = decltype(v);
      if (tanh_approximation) {
        const T k = T(std::numbers::sqrt2 * std::numbers::inv_sqrtpi);  // √(2/π)
        return v * (1 + std::tanh(k * (v + T(0.044715) * v * v * v))) / 2;
      }
      return v * (1 + std::erf(v * T(1 / std::numbers::sqrt2))) / 2;
    });
  }
  Tensor y = empty(x.shape(), Dtype::f32);
  level_kernels().gelu(x.data<float>(), y.mutable_data<float>(), x.numel(), tanh_approximation);
  return y;
}

Tensor gelu_backward(const Tensor& gy, const Tensor& x, bool tanh_approximation) {
  if (gy.shape() != x.shape() || gy.dtype() != x.dtype()) {
    throw ShapeError(fmt::format("kernels::gelu_backward: gy {} {} and x {} {} differ; expected one shape and dtype",
                                 gy.shape(), gy.dtype(), x.shape(), x.dtype()));
  }
  if (x.dtype() != Dtype::f32) {
    return zip(gy, x, [tanh_approximation](auto g, auto v) {
      using T = decltype(v);
      constexpr double k = std::numbers::sqrt2 * std::numbers::inv_sqrtpi, c = 0.044715;  // √(2/π)
      if (tanh_approximation) {
        const T t = std::tanh(T(k) * (v + T(c) * v * v * v));
        return g * ((1 + t) / 2 + v * (1 - t * t) * T(k) * (1 + 3 * T(c) * v * v) / 2);
      }
      const T cdf = (1 + std::erf(v * T(1 / std::numbers::sqrt2))) / 2;
      const T pdf = std::exp(-v * v / 2) * T(std::numbers::inv_sqrtpi / std::numbers::sqrt2);
      return g * (cdf + v * pdf);
    });
  }
  Tensor gx = empty(x.shape(), Dtype::f32);
  level_kernels().gelu_backward(gy.data<float>(), x.data<float>(), gx.mutable_data<float>(), x.numel(), tanh_approximation);
  return gx;
}

Tensor add(const Tensor& a, const Tensor& b, const Shape& out) {
  return arith(0, a, b, out, [](auto x, auto y) { return x + y; });
}
Tensor sub(const Tensor& a, const Tensor& b, const Shape& out) {
  return arith(1, a, b, out, [](auto x, auto y) { return x - y; });
}
Tensor mul(const Tensor& a, const Tensor& b, const Shape& out) {
  return arith(2, a, b, out, [](auto x, auto y) { return x * y; });
}
Tensor div(const Tensor& a, const Tensor& b, const Shape& out) {
  return arith(3, a, b, out, [](auto x, auto z) { return x / z; });
}

void sgd_step(float* w, const float* g, std::int64_t n, float keep, float step) { level_kernels().sgd(w, g, n, keep, step); }

void sgd_step(double* w, const double* g, std::int64_t n, double keep, double step) {
  for (std::int64_t i = 0; i < n; ++i) w[i] = keep * w[i] - step * g[i];
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  Tensor y = zeros(shape, x.dtype());
  dispatch_float(x.dtype(), "sum_to", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.mutable_data<T>();
    if (shape.numel() == 1) {
      py[0] = static_cast<T>(sum_all(x));
      return;
    }
    // Walk x row by row; y's strides are 0 on the summed axes.
    const BroadcastStrides sy = broadcast_strides(shape, x.shape());
    BroadcastStrides sx;
    std::int64_t stride = 1;
    for (int d = x.dim() - 1; d >= 0; --d) {
      sx.s[d] = stride;
      stride *= x.shape()[d];
    }
    for_each_row(x.shape(), sy, sx,
                 [&](std::int64_t oy, std::int64_t, std::int64_t ox, std::int64_t s, std::int64_t, std::int64_t n) {
                   T* ry = py + oy;
                   const T* rx = px + ox;
                   if (s == 1) {
                     for (std::int64_t i = 0; i < n; ++i) ry[i] += rx[i];
                   } else {
                     T acc = 0;
                     for (std::int64_t i = 0; i < n; ++i) acc += rx[i];
                     ry[0] += acc;
                   }
                 });
  });
  return y;
}

Tensor sum_axis(const Tensor& x, int axis, const Shape& out_shape) {
  if (axis < 0 || axis >= x.dim()) {
    throw ValueError(fmt::format("kernels::sum_axis: axis {} is out of range for {}; expected a normalized axis in [0, {})",
                                 axis, x.shape(), x.dim()));
  }
  const AxisSplit sp = split_at(x.shape(), axis);
  if (out_shape.numel() != sp.outer * sp.inner) {
    throw ShapeError(fmt::format("kernels::sum_axis: out_shape {} does not hold {} summed over axis {}", out_shape,
                                 x.shape(), axis));
  }
  Tensor y = zeros(out_shape, x.dtype());
  dispatch_float(x.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.mutable_data<T>();
    if (sp.inner == 1) {  // along the last axis: each row's sum, eight partial sums so it vectorizes
      for (std::int64_t o = 0; o < sp.outer; ++o) {
        const T* rx = px + o * sp.n;
        py[o] = partial_sums<T>(sp.n, [rx](std::int64_t k) { return rx[k]; });
      }
      return;
    }
    for (std::int64_t o = 0; o < sp.outer; ++o) {
      T* ry = py + o * sp.inner;
      for (std::int64_t k = 0; k < sp.n; ++k) {
        const T* rx = px + (o * sp.n + k) * sp.inner;
        for (std::int64_t i = 0; i < sp.inner; ++i) ry[i] += rx[i];
      }
    }
  });
  return y;
}

// max along an axis: the one search for the first extreme (NaN winning) is extreme_axis (axis.cpp).
Tensor max_axis(const Tensor& x, int axis, const Shape& out_shape) { return view(extreme_axis(x, axis, true), out_shape); }

Tensor argmax_axis(const Tensor& x, int axis, const Shape& out_shape) {
  Tensor idx;
  extreme_axis(x, axis, true, &idx);
  return view(idx, out_shape);
}

Tensor max_axis_backward(const Tensor& x, const Tensor& gy, int axis) {
  Tensor idx;
  extreme_axis(x, axis, true, &idx);
  Tensor gx = zeros(x.shape(), x.dtype());
  scatter_add_axis(gx, axis, idx, view(gy, idx.shape()));
  return gx;
}

Tensor expand_axis(const Tensor& g, int axis, const Shape& x_shape) {
  Tensor y = empty(x_shape, g.dtype());
  const AxisSplit sp = split_at(x_shape, axis);
  dispatch_float(g.dtype(), "expand", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = g.data<T>();
    T* py = y.mutable_data<T>();
    if (sp.inner == 1) {
      for (std::int64_t o = 0; o < sp.outer; ++o) std::fill(py + o * sp.n, py + (o + 1) * sp.n, pg[o]);
      return;
    }
    for (std::int64_t o = 0; o < sp.outer; ++o) {
      for (std::int64_t k = 0; k < sp.n; ++k) {
        std::memcpy(py + (o * sp.n + k) * sp.inner, pg + o * sp.inner, static_cast<std::size_t>(sp.inner) * sizeof(T));
      }
    }
  });
  return y;
}

namespace {
template <bool kLog>
Tensor softmax_impl(const Tensor& x) {
  Tensor y = empty(x.shape(), x.dtype());
  const std::int64_t n = x.dim() == 0 ? 1 : x.shape()[x.dim() - 1];
  const std::int64_t rows = n == 0 ? 0 : x.numel() / n;
  dispatch_float(x.dtype(), kLog ? "log_softmax" : "softmax", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.mutable_data<T>();
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* rx = px + r * n;
      T* ry = py + r * n;
      T mx = -std::numeric_limits<T>::infinity();
      for (std::int64_t j = 0; j < n; ++j) mx = std::max(mx, rx[j]);
      if (!std::isfinite(mx)) mx = 0;  // all −inf (or +inf/NaN): let the arithmetic say so
      T total = 0;
      for (std::int64_t j = 0; j < n; ++j) {
        const T e = std::exp(rx[j] - mx);
        if constexpr (!kLog) ry[j] = e;
        total += e;
      }
      if constexpr (kLog) {
        const T lse = mx + std::log(total);
        for (std::int64_t j = 0; j < n; ++j) ry[j] = rx[j] - lse;
      } else {
        const T inv = T(1) / total;
        for (std::int64_t j = 0; j < n; ++j) ry[j] *= inv;
      }
    }
  });
  return y;
}
}  // namespace

Tensor softmax_rows(const Tensor& x) { return softmax_impl<false>(x); }
Tensor log_softmax_rows(const Tensor& x) { return softmax_impl<true>(x); }

double sum_all(const Tensor& x) {
  return dispatch_float(x.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    const T* p = x.data<T>();
    double acc = 0;
    for (std::int64_t i = 0, n = x.numel(); i < n; ++i) acc += static_cast<double>(p[i]);
    return acc;
  });
}

double squared_norm(const Tensor& x) {
  return dispatch_float(x.dtype(), "squared_norm", [&](auto tag) {
    using T = decltype(tag);
    const T* g = x.data<T>();
    const std::int64_t n = x.numel();
    double total = 0;
    for (std::int64_t start = 0; start < n; start += 4096) {  // each block's float sum folded into a double
      const T* blk = g + start;
      total += double(partial_sums<T>(std::min<std::int64_t>(4096, n - start), [blk](std::int64_t i) { return blk[i] * blk[i]; }));
    }
    return total;
  });
}

}  // namespace nabla::kernels
