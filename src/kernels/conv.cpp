// src/kernels/conv.cpp — im2col/col2im, batch folding, pooling.
#include "conv.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include <cblas.h>

#include "kernels.hpp"

namespace nabla::kernels {

namespace {
struct Dims {
  std::int64_t n, c, h, w, oh, ow;
};
Dims dims_of(const Shape& x, const Window2d& win) {
  return {x[0], x[1], x[2], x[3], win.out_h(x[2]), win.out_w(x[3])};
}
}  // namespace

namespace {
/// Writes the im2col columns of images n0 … n1−1 into pc: column (n, i, j) at (n − n0)·Ho·Wo + i·Wo + j,
/// rows `ld` apart.
template <class T>
void im2col_range(const T* px, std::int64_t n0, std::int64_t n1, T* pc, std::int64_t ld, const Dims& d,
                  const Window2d& win) {
  const std::int64_t plane = d.oh * d.ow;
  if (win.stride == 1 && win.padding == 0) {
    // The book's convolutions: every tap reads inside the image, each output row is one run of Wo.
    const std::int64_t oh = d.oh, ow = d.ow, w = d.w;
    for (std::int64_t c = 0; c < d.c; ++c) {
      for (std::int64_t p = 0; p < win.kh; ++p) {
        for (std::int64_t q = 0; q < win.kw; ++q) {
          T* row = pc + ((c * win.kh + p) * win.kw + q) * ld;
          for (std::int64_t n = n0; n < n1; ++n) {
            const T* src = px + (n * d.c + c) * d.h * w + p * w + q;
            T* out = row + (n - n0) * plane;
            for (std::int64_t i = 0; i < oh; ++i) {
              for (std::int64_t j = 0; j < ow; ++j) out[i * ow + j] = src[i * w + j];
            }
          }
        }
      }
    }
    return;
  }
  for (std::int64_t c = 0; c < d.c; ++c) {
    for (std::int64_t p = 0; p < win.kh; ++p) {
      for (std::int64_t q = 0; q < win.kw; ++q) {
        T* row = pc + ((c * win.kh + p) * win.kw + q) * ld;
        for (std::int64_t n = n0; n < n1; ++n) {
          const T* img = px + (n * d.c + c) * d.h * d.w;
          T* out = row + (n - n0) * plane;
          for (std::int64_t i = 0; i < d.oh; ++i) {
            const std::int64_t r = i * win.stride + p - win.padding;
            T* o = out + i * d.ow;
            if (r < 0 || r >= d.h) {
              for (std::int64_t j = 0; j < d.ow; ++j) o[j] = 0;
              continue;
            }
            const T* src = img + r * d.w;
            if (win.stride == 1) {
              // Columns j with 0 ≤ j + q − pad < W are copied; the rest are zero. (A loop, not
              // memcpy: the runs are short, 8–24 elements in the book's networks.)
              const std::int64_t lo = std::max<std::int64_t>(0, win.padding - q);
              const std::int64_t hi = std::min<std::int64_t>(d.ow, d.w + win.padding - q);
              const T* in = src + q - win.padding;
              for (std::int64_t j = 0; j < lo; ++j) o[j] = 0;
              for (std::int64_t j = lo; j < hi; ++j) o[j] = in[j];
              for (std::int64_t j = std::max(hi, lo); j < d.ow; ++j) o[j] = 0;
            } else {
              for (std::int64_t j = 0; j < d.ow; ++j) {
                const std::int64_t col = j * win.stride + q - win.padding;
                o[j] = col >= 0 && col < d.w ? src[col] : T(0);
              }
            }
          }
        }
      }
    }
  }
}
}  // namespace

Tensor im2col(const Tensor& x, const Window2d& win) {
  const Dims d = dims_of(x.shape(), win);
  const std::int64_t ncols = d.n * d.oh * d.ow;
  Tensor cols = detail::make_tensor(Shape{d.c * win.kh * win.kw, ncols}, x.dtype());
  dispatch_float(x.dtype(), "im2col", [&](auto tag) {
    using T = decltype(tag);
    im2col_range(x.data<T>(), 0, d.n, cols.mutable_data<T>(), ncols, d, win);
  });
  return cols;
}

namespace {
/// Sums the columns of images n0 … n1−1 back into x (the adjoint of im2col over those images):
/// column (n, i, j) of cols is at (n − n0)·Ho·Wo + i·Wo + j, rows `ld` apart.
template <class T>
void col2im_range(const T* pc, std::int64_t ld, std::int64_t n0, std::int64_t n1, T* px, const Dims& d,
                  const Window2d& win) {
  const std::int64_t plane = d.oh * d.ow;
  if (win.stride == 1 && win.padding == 0) {  // as in im2col_range: one run of Wo per output row
    const std::int64_t oh = d.oh, ow = d.ow, w = d.w;
    for (std::int64_t c = 0; c < d.c; ++c) {
      for (std::int64_t p = 0; p < win.kh; ++p) {
        for (std::int64_t q = 0; q < win.kw; ++q) {
          const T* row = pc + ((c * win.kh + p) * win.kw + q) * ld;
          for (std::int64_t n = n0; n < n1; ++n) {
            T* dst = px + (n * d.c + c) * d.h * w + p * w + q;
            const T* in = row + (n - n0) * plane;
            for (std::int64_t i = 0; i < oh; ++i) {
              for (std::int64_t j = 0; j < ow; ++j) dst[i * w + j] += in[i * ow + j];
            }
          }
        }
      }
    }
    return;
  }
  for (std::int64_t c = 0; c < d.c; ++c) {
    for (std::int64_t p = 0; p < win.kh; ++p) {
      for (std::int64_t q = 0; q < win.kw; ++q) {
        const T* row = pc + ((c * win.kh + p) * win.kw + q) * ld;
        for (std::int64_t n = n0; n < n1; ++n) {
          T* img = px + (n * d.c + c) * d.h * d.w;
          const T* in = row + (n - n0) * plane;
          for (std::int64_t i = 0; i < d.oh; ++i) {
            const std::int64_t r = i * win.stride + p - win.padding;
            if (r < 0 || r >= d.h) continue;
            T* dst = img + r * d.w;
            const T* g = in + i * d.ow;
            if (win.stride == 1) {
              // Columns j with 0 ≤ j + q − pad < W: one contiguous run, a loop that vectorizes.
              const std::int64_t lo = std::max<std::int64_t>(0, win.padding - q);
              const std::int64_t hi = std::min<std::int64_t>(d.ow, d.w + win.padding - q);
              T* out = dst + q - win.padding;
              for (std::int64_t j = lo; j < hi; ++j) out[j] += g[j];
              continue;
            }
            for (std::int64_t j = 0; j < d.ow; ++j) {
              const std::int64_t col = j * win.stride + q - win.padding;
              if (col >= 0 && col < d.w) dst[col] += g[j];
            }
          }
        }
      }
    }
  }
}

/// C = op(A) · B for row-major float or double matrices with leading dimensions given.
template <class T>
void gemm_raw(bool trans_a, std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t lda, const T* b,
              std::int64_t ldb, T* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum (no input channels): BLAS would reject the zero leading dimension
    for (std::int64_t r = 0; r < m; ++r) std::fill(c + r * ldc, c + r * ldc + n, T(0));
    return;
  }
  const auto ta = trans_a ? CblasTrans : CblasNoTrans;
  const auto M = static_cast<blasint>(m), N = static_cast<blasint>(n), K = static_cast<blasint>(k);
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, CblasNoTrans, M, N, K, 1.0f, a, blasint(lda), b, blasint(ldb), 0.0f, c, blasint(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, ta, CblasNoTrans, M, N, K, 1.0, a, blasint(lda), b, blasint(ldb), 0.0, c, blasint(ldc));
  }
}

/// Moves a GEMM block [F, nc·P] (images n0 … n0+nc−1) to out [N, F, P], adding bias[f] if given.
template <class T>
void fold_block(const T* blk, std::int64_t n0, std::int64_t nc, std::int64_t f, std::int64_t plane, const T* bias, T* out) {
  for (std::int64_t i = 0; i < nc; ++i) {
    for (std::int64_t c = 0; c < f; ++c) {
      const T* src = blk + c * nc * plane + i * plane;
      T* dst = out + ((n0 + i) * f + c) * plane;
      const T b = bias ? bias[c] : T(0);
      for (std::int64_t j = 0; j < plane; ++j) dst[j] = src[j] + b;
    }
  }
}

/// Images per chunk so that a [rows, chunk·P] block stays within about 1 MiB (in the L2 cache).
std::int64_t chunk_images(std::int64_t rows, std::int64_t plane, std::int64_t n, std::size_t elem) {
  const std::int64_t per_image = std::max<std::int64_t>(1, rows * plane * std::int64_t(elem));
  return std::clamp<std::int64_t>((std::int64_t(1) << 20) / per_image, 1, std::max<std::int64_t>(n, 1));
}
}  // namespace

Tensor col2im(const Tensor& cols, const Shape& x_shape, const Window2d& win) {
  const Dims d = dims_of(x_shape, win);
  Tensor x = zeros(x_shape, cols.dtype());
  dispatch_float(cols.dtype(), "col2im", [&](auto tag) {
    using T = decltype(tag);
    col2im_range(cols.data<T>(), d.n * d.oh * d.ow, 0, d.n, x.mutable_data<T>(), d, win);
  });
  return x;
}

Tensor conv2d_forward(const Tensor& wm, const Tensor& cols, const Tensor& bias, const Shape& out_shape) {
  const std::int64_t n = out_shape[0], f = out_shape[1], plane = out_shape[2] * out_shape[3], k = wm.shape()[1];
  Tensor out = detail::make_tensor(out_shape, cols.dtype());
  dispatch_float(cols.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    const std::int64_t chunk = chunk_images(f, plane, n, sizeof(T));
    Tensor block = detail::make_tensor(Shape{f, chunk * plane}, cols.dtype());
    T* pblk = block.mutable_data<T>();
    const T* pb = bias.defined() ? bias.data<T>() : nullptr;
    T* po = out.mutable_data<T>();
    for (std::int64_t n0 = 0; n0 < n; n0 += chunk) {
      const std::int64_t nc = std::min(chunk, n - n0);
      gemm_raw<T>(false, f, nc * plane, k, wm.data<T>(), k, cols.data<T>() + n0 * plane, n * plane, pblk, nc * plane);
      fold_block(pblk, n0, nc, f, plane, pb, po);
    }
  });
  return out;
}

Tensor conv2d_forward_streamed(const Tensor& x, const Tensor& wm, const Tensor& bias, const Window2d& win) {
  const Dims d = dims_of(x.shape(), win);
  const std::int64_t f = wm.shape()[0], k = wm.shape()[1], plane = d.oh * d.ow;
  Tensor out = detail::make_tensor(Shape{d.n, f, d.oh, d.ow}, x.dtype());
  dispatch_float(x.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    // Blocks sized by the larger of the two per-image pieces (columns [k, P], products [f, P]).
    const std::int64_t chunk = chunk_images(std::max(k, f), plane, d.n, sizeof(T));
    Tensor cols = detail::make_tensor(Shape{k, chunk * plane}, x.dtype());
    Tensor block = detail::make_tensor(Shape{f, chunk * plane}, x.dtype());
    T* pc = cols.mutable_data<T>();
    T* pblk = block.mutable_data<T>();
    const T* pb = bias.defined() ? bias.data<T>() : nullptr;
    T* po = out.mutable_data<T>();
    for (std::int64_t n0 = 0; n0 < d.n; n0 += chunk) {
      const std::int64_t nc = std::min(chunk, d.n - n0);
      im2col_range(x.data<T>(), n0, n0 + nc, pc, nc * plane, d, win);
      gemm_raw<T>(false, f, nc * plane, k, wm.data<T>(), k, pc, nc * plane, pblk, nc * plane);
      fold_block(pblk, n0, nc, f, plane, pb, po);
    }
  });
  return out;
}

Tensor conv2d_input_grad(const Tensor& wm, const Tensor& g, const Shape& x_shape, const Window2d& win) {
  const Dims d = dims_of(x_shape, win);
  const std::int64_t f = wm.shape()[0], k = wm.shape()[1], plane = d.oh * d.ow;
  Tensor x = zeros(x_shape, g.dtype());
  dispatch_float(g.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    const std::int64_t chunk = chunk_images(k, plane, d.n, sizeof(T));
    Tensor block = detail::make_tensor(Shape{k, chunk * plane}, g.dtype());
    T* pblk = block.mutable_data<T>();
    for (std::int64_t n0 = 0; n0 < d.n; n0 += chunk) {
      const std::int64_t nc = std::min(chunk, d.n - n0);
      // block = Wᵀ · G[:, images n0 …] ([C·kh·kw, nc·P]), then summed back into those images.
      gemm_raw<T>(true, k, nc * plane, f, wm.data<T>(), k, g.data<T>() + n0 * plane, d.n * plane, pblk, nc * plane);
      col2im_range<T>(pblk, nc * plane, n0, n0 + nc, x.mutable_data<T>(), d, win);
    }
  });
  return x;
}

Tensor unfold_batch(const Tensor& y, Tensor* sums) {
  const std::int64_t n = y.shape()[0], f = y.shape()[1], p = y.numel() / (n * f);
  Tensor out = detail::make_tensor(Shape{f, n * p}, y.dtype());
  if (sums != nullptr) *sums = zeros(Shape{f}, y.dtype());
  dispatch_float(y.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    const T* py = y.data<T>();
    T* po = out.mutable_data<T>();
    T* ps = sums != nullptr ? sums->mutable_data<T>() : nullptr;
    for (std::int64_t k = 0; k < n; ++k) {
      for (std::int64_t c = 0; c < f; ++c) {
        const T* src = py + (k * f + c) * p;
        T* dst = po + c * n * p + k * p;
        if (ps == nullptr) {
          for (std::int64_t i = 0; i < p; ++i) dst[i] = src[i];
          continue;
        }
        // The copy and the plane's sum in one pass; eight partial sums so the loop vectorizes.
        T part[8] = {};
        std::int64_t i = 0;
        for (; i + 8 <= p; i += 8) {
          for (int j = 0; j < 8; ++j) {
            dst[i + j] = src[i + j];
            part[j] += src[i + j];
          }
        }
        T s = 0;
        for (; i < p; ++i) {
          dst[i] = src[i];
          s += src[i];
        }
        ps[c] += s + ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
      }
    }
  });
  return out;
}

namespace {
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

Tensor max_pool2d(const Tensor& x, const Window2d& win, Tensor& argmax) {
  const Dims d = dims_of(x.shape(), win);
  const Shape out_shape{d.n, d.c, d.oh, d.ow};
  Tensor y = detail::make_tensor(out_shape, x.dtype());
  argmax = detail::make_tensor(out_shape, Dtype::i64);
  std::int64_t* pa = argmax.mutable_data<std::int64_t>();
  dispatch_float(x.dtype(), "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.mutable_data<T>();
    for (std::int64_t nc = 0; nc < d.n * d.c; ++nc) {
      const T* in = px + nc * d.h * d.w;
      T* out = py + nc * d.oh * d.ow;
      std::int64_t* arg = pa + nc * d.oh * d.ow;
      if (win.kh == 2 && win.kw == 2 && win.stride == 2) {
        // The common 2×2 window, stride 2: four candidates, in the same order as below.
        for (std::int64_t i = 0; i < d.oh; ++i) {
          const T* r0 = in + 2 * i * d.w;
          const T* r1 = r0 + d.w;
          const std::int64_t base = 2 * i * d.w;
          for (std::int64_t j = 0; j < d.ow; ++j) {
            const T a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], e = r1[2 * j + 1];
            // Branch-free arithmetic: which element wins is unpredictable, and branches on it cost
            // more than the whole window. Strictly greater keeps the first on ties, as below.
            T best_v = a;
            std::int64_t k = 0, g = 0;
            g = b > best_v, k += g * (1 - k), best_v = std::max(best_v, b);
            g = c > best_v, k += g * (2 - k), best_v = std::max(best_v, c);
            g = e > best_v, k += g * (3 - k), best_v = std::max(best_v, e);
            const std::int64_t best = base + 2 * j + (k & 1) + (k >> 1) * d.w;
            out[i * d.ow + j] = best_v;
            arg[i * d.ow + j] = best;
          }
        }
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
              const bool greater = in[k] > best_v;  // strictly greater: ties go to the first
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

Tensor max_pool2d_backward(const Tensor& gy, const Tensor& argmax, const Shape& x_shape) {
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
  Tensor y = detail::make_tensor(Shape{d.n, d.c, d.oh, d.ow}, x.dtype());
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
