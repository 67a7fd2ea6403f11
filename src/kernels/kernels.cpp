// src/kernels/kernels.cpp — sigmoid, reductions (whole, along an axis, back over broadcast axes) and
// row-wise softmax.
#include "nabla/kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "reduce.hpp"
#include "vexp.hpp"

#if defined(__AVX512F__)
#include "avx512.hpp"
#endif

namespace nabla::kernels {

#if defined(__AVX512F__)
namespace {
/// e^t for 16 floats: t = n·ln 2 + r with |r| ≤ ln 2 / 2 (ln 2 split in two for exactness), e^r from
/// Cephes' polynomial, 2^n by scalef (which over- and underflows to inf and 0 as exp does). t is
/// clamped to ±100, far past both, so the polynomial never sees a huge r; NaN is the caller's.
inline __m512 exp16(__m512 t) {
  t = _mm512_max_ps(_mm512_min_ps(t, _mm512_set1_ps(100.0f)), _mm512_set1_ps(-100.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_fmadd_ps(t, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f)),
                                        _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), t);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 e = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(e, n);
}
}  // namespace
#endif

void exp_floats(const float* in, float* out, std::int64_t n) {
#if defined(__AVX512F__)
  for (std::int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = first_lanes(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, in + i);
    const __m512 e = _mm512_mask_mov_ps(exp16(v), _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);  // NaN in, NaN out
    _mm512_mask_storeu_ps(out + i, m, e);
  }
#else
  for (std::int64_t i = 0; i < n; ++i) out[i] = std::exp(in[i]);
#endif
}

float sum_exp(const float* p, std::int64_t n, std::int64_t stride, float m) {
#if defined(__AVX512F__)
  if (stride == 1) {
    __m512 acc = _mm512_setzero_ps();
    const __m512 mv = _mm512_set1_ps(m);
    for (std::int64_t i = 0; i < n; i += 16) {
      const __mmask16 k = first_lanes(n - i);
      const __m512 v = _mm512_maskz_loadu_ps(k, p + i);
      __m512 e = exp16(_mm512_sub_ps(v, mv));
      e = _mm512_mask_mov_ps(e, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
      acc = _mm512_mask_add_ps(acc, k, acc, e);
    }
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, acc);
    float total = 0;
    for (float l : lanes) total += l;
    return total;
  }
#endif
  float total = 0;
  for (std::int64_t i = 0; i < n; ++i) total += std::exp(p[i * stride] - m);
  return total;
}

Tensor exp(const Tensor& x) {
  if (x.dtype() == Dtype::f32) {
    Tensor y = empty(x.shape(), Dtype::f32);
    exp_floats(x.data<float>(), y.mutable_data<float>(), x.numel());
    return y;
  }
  return map(x, [](auto v) { return std::exp(v); });
}

Tensor sigmoid(const Tensor& x) {
#if defined(__AVX512F__)
  if (x.dtype() == Dtype::f32) {
    Tensor y = empty(x.shape(), Dtype::f32);
    const float* px = x.data<float>();
    float* py = y.mutable_data<float>();
    const std::int64_t n = x.numel();
    const __m512 one = _mm512_set1_ps(1.0f);
    for (std::int64_t i = 0; i < n; i += 16) {
      const __mmask16 m = first_lanes(n - i);
      const __m512 v = _mm512_maskz_loadu_ps(m, px + i);
      __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), v))));
      s = _mm512_mask_mov_ps(s, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);  // NaN in, NaN out
      _mm512_mask_storeu_ps(py + i, m, s);
    }
    return y;
  }
#endif
  return map(x, [](auto v) { return 1 / (1 + std::exp(-v)); });
}

Tensor tanh(const Tensor& x) {
#if defined(__AVX512F__)
  if (x.dtype() == Dtype::f32) {
    Tensor y = empty(x.shape(), Dtype::f32);
    const float* px = x.data<float>();
    float* py = y.mutable_data<float>();
    const std::int64_t n = x.numel();
    const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (std::int64_t i = 0; i < n; i += 16) {
      const __mmask16 m = first_lanes(n - i);
      const __m512 v = _mm512_maskz_loadu_ps(m, px + i);
      const __m512 a = _mm512_andnot_ps(sign, v);  // |x|
      // |x| ≥ 0.625: 1 − 2 / (e^{2|x|} + 1) (e^{2|x|} = inf gives 1); below, Cephes' odd polynomial
      // x + x z P(z), z = x², which keeps the digits that the difference from 1 would lose.
      const __m512 big = _mm512_sub_ps(one, _mm512_div_ps(two, _mm512_add_ps(exp16(_mm512_add_ps(a, a)), one)));
      const __m512 z = _mm512_mul_ps(v, v);
      __m512 p = _mm512_set1_ps(-5.70498872745e-3f);
      p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.06390887954e-2f));
      p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
      p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
      p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
      const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), v, v);
      __m512 t = _mm512_or_ps(big, _mm512_and_ps(sign, v));  // the sign of x back on
      t = _mm512_mask_mov_ps(t, _mm512_cmp_ps_mask(a, _mm512_set1_ps(0.625f), _CMP_LT_OQ), small);
      t = _mm512_mask_mov_ps(t, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);  // NaN in, NaN out
      _mm512_mask_storeu_ps(py + i, m, t);
    }
    return y;
  }
#endif
  return map(x, [](auto v) { return std::tanh(v); });
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
  Tensor y = zeros(out_shape, x.dtype());
  const AxisSplit sp = split_at(x.shape(), axis);
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
