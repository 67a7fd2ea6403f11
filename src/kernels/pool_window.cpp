// src/kernels/pool_window.cpp — pooling with PyTorch's options (padding, dilation, ceil_mode,
// count_include_pad, divisor_override) and unfold / fold (im2col / col2im with [N, C·kh·kw, L]
// columns). The plain windows of the book's networks keep pool.cpp's loops; these run only for the
// options those do not take. Each loop walks one plane at a time; the inner loops over a window row
// are contiguous (dilation 1) or strided reads the compiler keeps in registers.
#include <algorithm>
#include <cmath>
#include <limits>

#include "nabla/kernels.hpp"
#include "nabla/toolkit.hpp"
#include "../parallel.hpp"

namespace nabla::kernels {

namespace {
/// The rows (or columns) a window at output position o reads, with PyTorch's clipping:
/// [lo, hi) stepping by `d`, lo the first tap inside the input.
struct Span {
  std::int64_t lo, hi;
};
inline Span taps(std::int64_t o, std::int64_t s, std::int64_t p, std::int64_t k, std::int64_t d, std::int64_t n) {
  std::int64_t lo = o * s - p;
  const std::int64_t hi = std::min(lo + (k - 1) * d + 1, n);
  while (lo < 0) lo += d;
  return {lo, hi};
}
}  // namespace

Tensor max_pool2d(const Tensor& x, const PoolWindow2d& w, Tensor& argmax) {
  const Shape& s = x.shape();
  const std::int64_t planes = s[0] * s[1], h = s[2], wd = s[3];
  const Shape out_shape{s[0], s[1], w.oh, w.ow};
  Tensor y = empty(out_shape, x.dtype());
  argmax = empty(out_shape, Dtype::i64);
  std::int64_t* pa = argmax.mutable_data<std::int64_t>();
  dispatch_float(x.dtype(), "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.mutable_data<T>();
    detail::parallel_for(planes, 8, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t nc = b; nc < e; ++nc) {
        const T* in = px + nc * h * wd;
        T* out = py + nc * w.oh * w.ow;
        std::int64_t* arg = pa + nc * w.oh * w.ow;
        for (std::int64_t i = 0; i < w.oh; ++i) {
          const Span r = taps(i, w.sh, w.ph, w.kh, w.dh, h);
          for (std::int64_t j = 0; j < w.ow; ++j) {
            const Span c = taps(j, w.sw, w.pw, w.kw, w.dw, wd);
            std::int64_t best = r.lo * wd + c.lo;
            T best_v = -std::numeric_limits<T>::infinity();
            for (std::int64_t p = r.lo; p < r.hi; p += w.dh) {
              for (std::int64_t q = c.lo; q < c.hi; q += w.dw) {
                const std::int64_t k = p * wd + q;
                const T v = in[k];
                const bool wins = v > best_v || std::isnan(v);
                best_v = wins ? v : best_v;
                best = wins ? k : best;
              }
            }
            out[i * w.ow + j] = best_v;
            arg[i * w.ow + j] = best;
          }
        }
      }
    });
  });
  return y;
}

Tensor max_pool2d_backward(const Tensor& gy, const Tensor& argmax, const Shape& x_shape) {
  Tensor gx = zeros(x_shape, gy.dtype());
  const std::int64_t planes = x_shape[0] * x_shape[1], plane_in = x_shape[2] * x_shape[3];
  const std::int64_t plane_out = gy.shape()[2] * gy.shape()[3];
  const std::int64_t* pa = argmax.data<std::int64_t>();
  dispatch_float(gy.dtype(), "max_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gy.data<T>();
    T* px = gx.mutable_data<T>();
    detail::parallel_for(planes, 8, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t nc = b; nc < e; ++nc) {
        T* dst = px + nc * plane_in;
        const T* g = pg + nc * plane_out;
        const std::int64_t* arg = pa + nc * plane_out;
        for (std::int64_t k = 0; k < plane_out; ++k) dst[arg[k]] += g[k];
      }
    });
  });
  return gx;
}

namespace {
/// Calls visit(out_index, r0, r1, c0, c1, divisor) for every window of an average pooling of one
/// plane: rows [r0, r1), columns [c0, c1) inside the input, and the divisor PyTorch's CPU kernel uses
/// (0 for a window wholly in the padding, whose output is 0).
template <class Visit>
void avg_windows(const AvgPoolArgs& a, std::int64_t h, std::int64_t wd, Visit visit) {
  const PoolWindow2d& w = a.win;
  for (std::int64_t i = 0; i < w.oh; ++i) {
    std::int64_t r0 = i * w.sh - w.ph;
    std::int64_t r1 = std::min(r0 + w.kh, h + w.ph);
    const std::int64_t rows_padded = r1 - r0;
    r0 = std::max<std::int64_t>(r0, 0);
    r1 = std::min(r1, h);
    for (std::int64_t j = 0; j < w.ow; ++j) {
      std::int64_t c0 = j * w.sw - w.pw;
      std::int64_t c1 = std::min(c0 + w.kw, wd + w.pw);
      const std::int64_t pool_size = rows_padded * (c1 - c0);
      c0 = std::max<std::int64_t>(c0, 0);
      c1 = std::min(c1, wd);
      if (r0 >= r1 || c0 >= c1) {
        visit(i * w.ow + j, r0, r0, c0, c0, std::int64_t(0));
        continue;
      }
      const std::int64_t divisor =
          a.divisor_override > 0 ? a.divisor_override : a.count_include_pad ? pool_size : (r1 - r0) * (c1 - c0);
      visit(i * w.ow + j, r0, r1, c0, c1, divisor);
    }
  }
}
}  // namespace

Tensor avg_pool2d(const Tensor& x, const AvgPoolArgs& a) {
  const Shape& s = x.shape();
  const std::int64_t planes = s[0] * s[1], h = s[2], wd = s[3], plane_out = a.win.oh * a.win.ow;
  Tensor y = empty(Shape{s[0], s[1], a.win.oh, a.win.ow}, x.dtype());
  dispatch_float(x.dtype(), "avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.mutable_data<T>();
    detail::parallel_for(planes, 8, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t nc = b; nc < e; ++nc) {
        const T* in = px + nc * h * wd;
        T* out = py + nc * plane_out;
        avg_windows(a, h, wd, [&](std::int64_t o, std::int64_t r0, std::int64_t r1, std::int64_t c0, std::int64_t c1,
                                  std::int64_t divisor) {
          T sum = 0;
          for (std::int64_t p = r0; p < r1; ++p) {
            for (std::int64_t q = c0; q < c1; ++q) sum += in[p * wd + q];
          }
          out[o] = divisor == 0 ? T(0) : sum / T(divisor);
        });
      }
    });
  });
  return y;
}

Tensor avg_pool2d_backward(const Tensor& gy, const Shape& x_shape, const AvgPoolArgs& a) {
  const std::int64_t planes = x_shape[0] * x_shape[1], h = x_shape[2], wd = x_shape[3];
  const std::int64_t plane_out = a.win.oh * a.win.ow;
  Tensor gx = zeros(x_shape, gy.dtype());
  dispatch_float(gy.dtype(), "avg_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gy.data<T>();
    T* px = gx.mutable_data<T>();
    detail::parallel_for(planes, 8, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t nc = b; nc < e; ++nc) {
        T* dst = px + nc * h * wd;
        const T* g = pg + nc * plane_out;
        avg_windows(a, h, wd, [&](std::int64_t o, std::int64_t r0, std::int64_t r1, std::int64_t c0, std::int64_t c1,
                                  std::int64_t divisor) {
          if (divisor == 0) return;
          const T v = g[o] / T(divisor);
          for (std::int64_t p = r0; p < r1; ++p) {
            for (std::int64_t q = c0; q < c1; ++q) dst[p * wd + q] += v;
          }
        });
      }
    });
  });
  return gx;
}

namespace {
/// unfold (Fold false: cols = the taps of x, 0 outside) and its adjoint fold (Fold true: each tap
/// added back into x), one loop: image n, channel c, tap (p, q) reads row r = i·sh − ph + p·dh and
/// column j·sw − pw + q·dw for output position (i, j). Each (n, c) writes only its own rows (unfold)
/// or its own plane (fold), so the planes run in parallel.
template <class T, bool Fold>
void unfold_loop(T* x, T* cols, const Shape& s, const PoolWindow2d& w) {
  const std::int64_t n_img = s[0], ch = s[1], h = s[2], wd = s[3], l = w.oh * w.ow;
  const std::int64_t rows = ch * w.kh * w.kw;
  detail::parallel_for(n_img * ch, 4, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t nc = b; nc < e; ++nc) {
      const std::int64_t n = nc / ch, c = nc % ch;
      T* img = x + nc * h * wd;
      for (std::int64_t p = 0; p < w.kh; ++p) {
        for (std::int64_t q = 0; q < w.kw; ++q) {
          T* col = cols + (n * rows + (c * w.kh + p) * w.kw + q) * l;
          // The output columns j whose tap lies inside the input: 0 ≤ j·sw − pw + q·dw < W.
          const std::int64_t off = q * w.dw - w.pw;
          std::int64_t j_lo = off >= 0 ? 0 : (-off + w.sw - 1) / w.sw;
          std::int64_t j_hi = wd - off <= 0 ? 0 : (wd - off + w.sw - 1) / w.sw;
          j_lo = std::min(j_lo, w.ow);
          j_hi = std::clamp(j_hi, j_lo, w.ow);
          for (std::int64_t i = 0; i < w.oh; ++i) {
            const std::int64_t r = i * w.sh - w.ph + p * w.dh;
            T* o = col + i * w.ow;
            if (r < 0 || r >= h) {
              if constexpr (!Fold) std::fill(o, o + w.ow, T(0));
              continue;
            }
            T* src = img + r * wd + off;
            if constexpr (Fold) {
              for (std::int64_t j = j_lo; j < j_hi; ++j) src[j * w.sw] += o[j];
            } else {
              std::fill(o, o + j_lo, T(0));
              for (std::int64_t j = j_lo; j < j_hi; ++j) o[j] = src[j * w.sw];
              std::fill(o + j_hi, o + w.ow, T(0));
            }
          }
        }
      }
    }
  });
}
}  // namespace

Tensor unfold_windows(const Tensor& x, const PoolWindow2d& w) {
  const Shape& s = x.shape();
  Tensor cols = empty(Shape{s[0], s[1] * w.kh * w.kw, w.oh * w.ow}, x.dtype());
  dispatch_float(x.dtype(), "unfold", [&](auto tag) {
    using T = decltype(tag);
    unfold_loop<T, false>(const_cast<T*>(x.data<T>()), cols.mutable_data<T>(), s, w);
  });
  return cols;
}

Tensor fold_windows(const Tensor& cols, const Shape& x_shape, const PoolWindow2d& w) {
  Tensor x = zeros(x_shape, cols.dtype());
  dispatch_float(cols.dtype(), "fold", [&](auto tag) {
    using T = decltype(tag);
    unfold_loop<T, true>(x.mutable_data<T>(), const_cast<T*>(cols.data<T>()), x_shape, w);
  });
  return x;
}

}  // namespace nabla::kernels
