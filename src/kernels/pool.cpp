// src/kernels/pool.cpp — max, average and L2 pooling over 2-d windows of NCHW planes (no padding).
// The float32 2×2 / stride-2 max-pool runs plane by plane over the threads with the level's loops
// (level/level.hpp; the generic level's are this file's, which float64 shares).
#include <algorithm>
#include <cmath>

#include "im2col.hpp"
#include "level/level.hpp"
#include "../parallel.hpp"

namespace nabla::kernels {

namespace {
/// Whether v takes a max-pool window from the best so far: strictly greater (ties go to the first),
/// or NaN, so that a NaN anywhere in the window is the result (the last NaN, as torch's kernel).
template <class T>
bool wins(T v, T best) {
  return v > best || std::isnan(v);
}

/// The 2×2 / stride-2 max-pool of one plane [h, w]: out [h/2, w/2] and each window's argmax (a flat
/// index into the plane; none where arg is null), the same winner as the general loop below.
template <class T>
void max_pool_2x2_plane(const T* in, T* out, std::int64_t* arg, std::int64_t h, std::int64_t w) {
  const std::int64_t oh = h / 2, ow = w / 2;
  for (std::int64_t i = 0; i < oh; ++i) {
    const T* r0 = in + 2 * i * w;
    const T* r1 = r0 + w;
    const std::int64_t base = 2 * i * w;
    for (std::int64_t j = 0; j < ow; ++j) {
      const T a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], e = r1[2 * j + 1];
      // Branch-free arithmetic: which element wins is unpredictable, and branches on it cost
      // more than the whole window. The rule of the general loop: strictly greater, or NaN.
      T best_v = a;
      std::int64_t k = 0, g = 0;
      g = wins(b, best_v), k += g * (1 - k), best_v = g ? b : best_v;
      g = wins(c, best_v), k += g * (2 - k), best_v = g ? c : best_v;
      g = wins(e, best_v), k += g * (3 - k), best_v = g ? e : best_v;
      out[i * ow + j] = best_v;
      if (arg != nullptr) arg[i * ow + j] = base + 2 * j + (k & 1) + (k >> 1) * w;
    }
  }
}

/// Whether the level's 2×2 loops take this max-pool: float32, 2×2 windows of stride 2, planes of
/// fewer than 2³⁰ elements.
bool level_pool(Dtype dt, const Window2d& win, std::int64_t h, std::int64_t w) {
  return dt == Dtype::f32 && win.kh == 2 && win.kw == 2 && win.stride == 2 && win.padding == 0 &&
         h * w < (std::int64_t(1) << 30);
}

/// Calls visit(plane_in, plane_out, out_index, i0, j0) for every output element of a pooling.
template <class Visit>
void for_each_window(const Dims& d, const Window2d& win, Visit visit) {
  for (std::int64_t nc = 0; nc < d.n * d.c; ++nc) {
    for (std::int64_t i = 0; i < d.oh; ++i) {
      for (std::int64_t j = 0; j < d.ow; ++j) {
        visit(nc * d.h * d.w, nc * d.oh * d.ow + i * d.ow + j, i * win.stride, j * win.stride);
      }
    }
  }
}
}  // namespace

Tensor max_pool2d(const Tensor& x, const Window2d& win, Tensor* keep_argmax) {
  const Dims d = dims_of(x.shape(), win);
  const Shape out_shape{d.n, d.c, d.oh, d.ow};
  Tensor y = empty(out_shape, x.dtype());
  const bool level = level_pool(x.dtype(), win, d.h, d.w);
  Tensor argmax = keep_argmax != nullptr || !level ? empty(out_shape, Dtype::i64) : Tensor{};
  if (keep_argmax != nullptr) *keep_argmax = argmax;
  std::int64_t* pa = argmax.defined() ? argmax.mutable_data<std::int64_t>() : nullptr;  // null: the level's loop writes none
  if (level) {
    const auto pool = level_kernels().max_pool_2x2;
    const float* px = x.data<float>();
    float* py = y.mutable_data<float>();
    detail::parallel_for(d.n * d.c, 32, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t nc = b; nc < e; ++nc) {
        pool(px + nc * d.h * d.w, py + nc * d.oh * d.ow, pa != nullptr ? pa + nc * d.oh * d.ow : nullptr, d.h, d.w);
      }
    });
    return y;
  }
  dispatch_float(x.dtype(), "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.mutable_data<T>();
    for (std::int64_t nc = 0; nc < d.n * d.c; ++nc) {
      const T* in = px + nc * d.h * d.w;
      T* out = py + nc * d.oh * d.ow;
      std::int64_t* arg = pa + nc * d.oh * d.ow;
      if (win.kh == 2 && win.kw == 2 && win.stride == 2) {
        max_pool_2x2_plane(in, out, arg, d.h, d.w);
        continue;
      }
      for (std::int64_t i = 0; i < d.oh; ++i) {
        for (std::int64_t j = 0; j < d.ow; ++j) {
          const std::int64_t i0 = i * win.stride, j0 = j * win.stride;
          std::int64_t best = i0 * d.w + j0;
          T best_v = in[best];
          for (std::int64_t p = 0; p < win.kh; ++p) {
            for (std::int64_t q = 0; q < win.kw; ++q) {
              const std::int64_t k = (i0 + p) * d.w + j0 + q;
              const bool greater = wins(in[k], best_v);
              best_v = greater ? in[k] : best_v;
              best = greater ? k : best;
            }
          }
          out[i * d.ow + j] = best_v;
          arg[i * d.ow + j] = best;  // offset in the input plane
        }
      }
    }
  });
  return y;
}

Tensor max_pool2d_backward(const Tensor& gy, const Tensor& argmax, const Shape& x_shape,
                           const Window2d& win) {
  if (level_pool(gy.dtype(), win, x_shape[2], x_shape[3])) {
    const auto back = level_kernels().max_pool_2x2_backward;
    const Dims d = dims_of(x_shape, win);
    Tensor gx = empty(x_shape, Dtype::f32);
    const float* pg = gy.data<float>();
    const std::int64_t* pa = argmax.data<std::int64_t>();
    float* px = gx.mutable_data<float>();
    detail::parallel_for(d.n * d.c, 32, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t nc = b; nc < e; ++nc) back(pg + nc * d.oh * d.ow, pa + nc * d.oh * d.ow, px + nc * d.h * d.w, d.h, d.w);
    });
    return gx;
  }
  Tensor gx = zeros(x_shape, gy.dtype());
  const std::int64_t planes = x_shape[0] * x_shape[1], plane_in = x_shape[2] * x_shape[3];
  const std::int64_t plane_out = gy.shape()[2] * gy.shape()[3];
  const std::int64_t* pa = argmax.data<std::int64_t>();
  dispatch_float(gy.dtype(), "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gy.data<T>();
    T* px = gx.mutable_data<T>();
    for (std::int64_t nc = 0; nc < planes; ++nc) {
      T* dst = px + nc * plane_in;
      const T* g = pg + nc * plane_out;
      const std::int64_t* arg = pa + nc * plane_out;
      for (std::int64_t k = 0; k < plane_out; ++k) dst[arg[k]] += g[k];
    }
  });
  return gx;
}

namespace {
/// y = finish(Σ_window term(x)) for every window: the loop of average and L2 pooling.
template <class Term, class Finish>
Tensor window_sum(const Tensor& x, const Window2d& win, std::string_view op, Term term, Finish finish) {
  const Dims d = dims_of(x.shape(), win);
  Tensor y = empty(Shape{d.n, d.c, d.oh, d.ow}, x.dtype());
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.mutable_data<T>();
    for_each_window(d, win, [&](std::int64_t in, std::int64_t out, std::int64_t i0, std::int64_t j0) {
      T s = 0;
      for (std::int64_t p = 0; p < win.kh; ++p) {
        for (std::int64_t q = 0; q < win.kw; ++q) s += term(px[in + (i0 + p) * d.w + j0 + q]);
      }
      py[out] = finish(s);
    });
  });
  return y;
}
}  // namespace

Tensor avg_pool2d(const Tensor& x, const Window2d& win) {
  const std::int64_t area = win.kh * win.kw;
  return window_sum(x, win, "avg_pool2d", [](auto v) { return v; }, [area](auto sum) {
    using T = decltype(sum);
    return sum * (T(1) / T(area));
  });
}

Tensor avg_pool2d_backward(const Tensor& gy, const Shape& x_shape, const Window2d& win) {
  const Dims d = dims_of(x_shape, win);
  Tensor gx = zeros(x_shape, gy.dtype());
  dispatch_float(gy.dtype(), "avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gy.data<T>();
    T* px = gx.mutable_data<T>();
    const T scale = T(1) / T(win.kh * win.kw);
    for_each_window(d, win, [&](std::int64_t in, std::int64_t out, std::int64_t i0, std::int64_t j0) {
      const T g = pg[out] * scale;
      for (std::int64_t p = 0; p < win.kh; ++p) {
        for (std::int64_t q = 0; q < win.kw; ++q) px[in + (i0 + p) * d.w + j0 + q] += g;
      }
    });
  });
  return gx;
}

Tensor l2_pool2d(const Tensor& x, const Window2d& win) {
  return window_sum(x, win, "l2_pool2d", [](auto v) { return v * v; }, [](auto sum) { return std::sqrt(sum); });
}

Tensor l2_pool2d_backward(const Tensor& gy, const Tensor& x, const Tensor& y, const Window2d& win) {
  const Dims d = dims_of(x.shape(), win);
  Tensor gx = zeros(x.shape(), gy.dtype());
  dispatch_float(gy.dtype(), "l2_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gy.data<T>();
    const T* px = x.data<T>();
    const T* py = y.data<T>();
    T* pgx = gx.mutable_data<T>();
    for_each_window(d, win, [&](std::int64_t in, std::int64_t out, std::int64_t i0, std::int64_t j0) {
      if (py[out] == T(0)) return;  // all inputs 0: the gradient is taken as 0 (the function's minimum)
      const T g = pg[out] / py[out];
      for (std::int64_t p = 0; p < win.kh; ++p) {
        for (std::int64_t q = 0; q < win.kw; ++q) {
          const std::int64_t k = in + (i0 + p) * d.w + j0 + q;
          pgx[k] += g * px[k];
        }
      }
    });
  });
  return gx;
}

}  // namespace nabla::kernels

// The generic level's 2×2 max-pool loops (generic.cpp's table).
namespace nabla::kernels::generic {

void max_pool_2x2(const float* in, float* out, std::int64_t* arg, std::int64_t h, std::int64_t w) {
  max_pool_2x2_plane(in, out, arg, h, w);
}

void max_pool_2x2_backward(const float* g, const std::int64_t* arg, float* gx, std::int64_t h, std::int64_t w) {
  // As the general loop: the plane zeroed, then each window's gradient added at its argmax.
  std::fill(gx, gx + h * w, 0.0f);
  for (std::int64_t k = 0; k < (h / 2) * (w / 2); ++k) gx[arg[k]] += g[k];
}

}  // namespace nabla::kernels::generic
