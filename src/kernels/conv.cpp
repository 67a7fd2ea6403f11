// src/kernels/conv.cpp — im2col/col2im, batch folding, pooling.
#include "conv.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include <cblas.h>
#if defined(__AVX512F__)
#include "avx512.hpp"
#endif

#include "kernels.hpp"
#include "../parallel.hpp"

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
/// dst[j] = src[j] (copy_run) or dst[j] += src[j] (add_run) for j < n: the short runs of im2col and
/// col2im (8–24 elements in the book's networks). copy_run moves whole and masked AVX-512 vectors
/// where there are; add_run stays a plain loop (float on AVX-512 never gets here: its input gradient
/// gathers instead, see col2im_image_s1, because masked adds of overlapping runs stall on each other).
template <class T>
inline void copy_run(const T* src, T* dst, std::int64_t n) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    std::int64_t j = 0;
    for (; j + 16 <= n; j += 16) _mm512_storeu_ps(dst + j, _mm512_loadu_ps(src + j));
    if (j < n) {
      const __mmask16 m = first_lanes(n - j);
      _mm512_mask_storeu_ps(dst + j, m, _mm512_maskz_loadu_ps(m, src + j));
    }
    return;
  }
#endif
  for (std::int64_t j = 0; j < n; ++j) dst[j] = src[j];
}
template <class T>
inline void add_run(const T* src, T* dst, std::int64_t n) {
  for (std::int64_t j = 0; j < n; ++j) dst[j] += src[j];
}

#if defined(__AVX512F__)
/// The sum of a vector's 16 lanes (not _mm512_reduce_add_ps, which GCC 12 warns about).
inline float hsum(__m512 v) {
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  v = _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm512_cvtss_f32(v);
}
#endif

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
            for (std::int64_t i = 0; i < oh; ++i) copy_run(src + i * w, out + i * ow, ow);
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
            for (std::int64_t i = 0; i < oh; ++i) add_run(in + i * ow, dst + i * w, ow);
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

#if defined(__AVX512F__)
namespace {
// nabla's own GEMM tiles for float convolutions. OpenBLAS runs conv's skinny products (K = 25 or 40,
// M = 20 or 40) at about half its large-matrix rate, and its packing copies of the im2col matrix cost
// about as much again; here each image's im2col block is made while the output tile that reads it
// is in cache, and the products are written straight to NCHW.
constexpr std::int64_t kMR = 10;  // rows of a tile: 2·kMR accumulators of the 32 AVX-512 registers
constexpr std::int64_t kNR = 32;  // columns of a tile: two vectors of 16 floats
constexpr std::int64_t kMaxTaps = 32;  // widest window col2im_image_s1 takes

/// Packs `rows` (≤ kMR) rows of A, element (r, k) at a[r·rs + k·cs], k-major: out[k·kMR + r]; the
/// rows from `rows` to kMR are zero.
void pack_panel(const float* a, std::int64_t rows, std::int64_t k, std::int64_t rs, std::int64_t cs, float* out) {
  for (std::int64_t kk = 0; kk < k; ++kk) {
    for (std::int64_t r = 0; r < kMR; ++r) out[kk * kMR + r] = r < rows ? a[r * rs + kk * cs] : 0.0f;
  }
}

/// c[r·ldc + j] = bias[r] + Σ_kk ap[kk·kMR + r] · b[kk·ldb + j] for r < rows, j < cols ≤ kNR
/// (bias 0 when null): one register-blocked tile, B read in place (rows ldb apart).
void tile(std::int64_t k, const float* ap, const float* b, std::int64_t ldb, float* c, std::int64_t ldc,
          std::int64_t rows, std::int64_t cols, const float* bias) {
  const __mmask16 m0 = first_lanes(cols), m1 = first_lanes(cols - 16);
  __m512 acc[kMR][2];
#pragma GCC unroll 16
  for (std::int64_t r = 0; r < kMR; ++r) {
    acc[r][0] = acc[r][1] = _mm512_set1_ps(bias != nullptr && r < rows ? bias[r] : 0.0f);
  }
  for (std::int64_t kk = 0; kk < k; ++kk) {
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, b + kk * ldb);
    const __m512 b1 = _mm512_maskz_loadu_ps(m1, b + kk * ldb + 16);
    const float* a = ap + kk * kMR;
#pragma GCC unroll 16
    for (std::int64_t r = 0; r < kMR; ++r) {
      const __m512 av = _mm512_set1_ps(a[r]);
      acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 16
  for (std::int64_t r = 0; r < kMR; ++r) {
    if (r < rows) {
      _mm512_mask_storeu_ps(c + r * ldc, m0, acc[r][0]);
      _mm512_mask_storeu_ps(c + r * ldc + 16, m1, acc[r][1]);
    }
  }
}

/// A [m, k] (element (i, kk) at a[i·rs + kk·cs]) packed as ⌈m / kMR⌉ panels of pack_panel, one after another.
Tensor pack_panels(const float* a, std::int64_t m, std::int64_t k, std::int64_t rs, std::int64_t cs) {
  const std::int64_t panels = (m + kMR - 1) / kMR;
  Tensor packed = detail::make_tensor(Shape{panels * k * kMR}, Dtype::f32);
  float* out = packed.mutable_data<float>();
  for (std::int64_t p = 0; p < panels; ++p) {
    pack_panel(a + p * kMR * rs, std::min(kMR, m - p * kMR), k, rs, cs, out + p * k * kMR);
  }
  return packed;
}

/// c [m, n] (rows ldc apart) = bias + packed A [m, k] · B [k, n] (rows ldb apart), tile by tile.
void gemm_tiles(std::int64_t m, std::int64_t n, std::int64_t k, const float* packed, const float* b, std::int64_t ldb,
                float* c, std::int64_t ldc, const float* bias) {
  for (std::int64_t j0 = 0; j0 < n; j0 += kNR) {
    for (std::int64_t i0 = 0; i0 < m; i0 += kMR) {
      tile(k, packed + i0 * k, b + j0, ldb, c + i0 * ldc + j0, ldc, std::min(kMR, m - i0), std::min(kNR, n - j0),
           bias != nullptr ? bias + i0 : nullptr);
    }
  }
}
}  // namespace

bool conv_fast(const Tensor& x) { return x.dtype() == Dtype::f32; }

Tensor conv2d_forward_fast(const Tensor& x, const Tensor& w, const Tensor& bias, const Window2d& win, Tensor* cols) {
  const Dims d = dims_of(x.shape(), win);
  const std::int64_t f = w.shape()[0], k = d.c * win.kh * win.kw, plane = d.oh * d.ow;
  Tensor y = detail::make_tensor(Shape{d.n, f, d.oh, d.ow}, Dtype::f32);
  const Tensor packed = pack_panels(w.data<float>(), f, k, k, 1);
  // Each image's columns [k, P]: kept image after image in *cols when asked for, else a scratch
  // block per thread.
  float* pcols = nullptr;
  if (cols != nullptr) {
    *cols = detail::make_tensor(Shape{d.n, k, plane}, Dtype::f32);
    pcols = cols->mutable_data<float>();
  }
  const float* pb = bias.defined() ? bias.data<float>() : nullptr;
  const float* px = x.data<float>();
  const float* pw = packed.data<float>();
  float* py = y.mutable_data<float>();
  detail::parallel_for(d.n, 1, [&](std::int64_t n0, std::int64_t n1) {
    Tensor scratch;
    if (pcols == nullptr) scratch = detail::make_tensor(Shape{k, plane}, Dtype::f32);
    for (std::int64_t n = n0; n < n1; ++n) {
      float* cn = pcols != nullptr ? pcols + n * k * plane : scratch.mutable_data<float>();
      im2col_range(px, n, n + 1, cn, plane, d, win);
      gemm_tiles(f, plane, k, pw, cn, plane, py + n * f * plane, plane, pb);
    }
  });
  return y;
}

/// col2im of one image for stride 1 without padding, as a gather: each row of x[c] is summed in
/// registers from every (p, q) tap that reaches it and stored once, so no load waits on an
/// overlapping store of the tap before. pc: the image's columns [C·kh·kw, P] (rows P apart); px: the image.
void col2im_image_s1(const float* pc, float* px, const Dims& d, const Window2d& win) {
  const std::int64_t plane = d.oh * d.ow;
  __mmask16 mask[kMaxTaps];  // per tap column q: lanes x0 + l that read column j = x0 + l − q, 0 ≤ j < Wo
  for (std::int64_t x0 = 0; x0 < d.w; x0 += 16) {
    for (std::int64_t q = 0; q < win.kw; ++q) {
      const std::int64_t lo = std::clamp<std::int64_t>(q - x0, 0, 16), hi = std::clamp<std::int64_t>(q + d.ow - x0, 0, 16);
      mask[q] = static_cast<__mmask16>(first_lanes(hi) & ~first_lanes(lo));
    }
    const __mmask16 out_mask = first_lanes(d.w - x0);
    for (std::int64_t c = 0; c < d.c; ++c) {
      for (std::int64_t y = 0; y < d.h; ++y) {
        // Taps p with 0 ≤ y − p < Ho read row i = y − p of their columns. Four sums (even and odd q,
        // even and odd p) keep four additions in flight instead of one chain.
        const std::int64_t p0 = std::max<std::int64_t>(0, y - d.oh + 1), p1 = std::min<std::int64_t>(win.kh, y + 1);
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (std::int64_t p = p0; p < p1; ++p) {
          const float* row = pc + ((c * win.kh + p) * win.kw) * plane + (y - p) * d.ow + x0;
          std::int64_t q = 0;
          for (; q + 1 < win.kw; q += 2) {
            a0 = _mm512_add_ps(a0, _mm512_maskz_loadu_ps(mask[q], row + q * plane - q));
            a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps(mask[q + 1], row + (q + 1) * plane - (q + 1)));
          }
          if (q < win.kw) a2 = _mm512_add_ps(a2, _mm512_maskz_loadu_ps(mask[q], row + q * plane - q));
          std::swap(a0, a3);  // the next p adds to the other pair
        }
        const __m512 sum = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
        _mm512_mask_storeu_ps(px + (c * d.h + y) * d.w + x0, out_mask, sum);
      }
    }
  }
}

Tensor conv2d_input_grad_fast(const Tensor& w, const Tensor& gy, const Shape& x_shape, const Window2d& win) {
  const Dims d = dims_of(x_shape, win);
  const std::int64_t f = w.shape()[0], k = d.c * win.kh * win.kw, plane = d.oh * d.ow, image = d.c * d.h * d.w;
  Tensor gx = detail::make_tensor(x_shape, Dtype::f32);
  const Tensor packed = pack_panels(w.data<float>(), k, f, 1, k);  // Wᵀ [k, f]
  float* px = gx.mutable_data<float>();
  const float* pw = packed.data<float>();
  const float* pg = gy.data<float>();
  detail::parallel_for(d.n, 1, [&](std::int64_t n0, std::int64_t n1) {
    Tensor block = detail::make_tensor(Shape{k, plane}, Dtype::f32);
    float* pblk = block.mutable_data<float>();
    for (std::int64_t n = n0; n < n1; ++n) {
      // Wᵀ · G_n [k, P], with G_n = gy[n] read in place, then summed back into image n.
      gemm_tiles(k, plane, f, pw, pg + n * f * plane, plane, pblk, plane, nullptr);
      if (win.stride == 1 && win.padding == 0 && win.kw <= kMaxTaps) {
        col2im_image_s1(pblk, px + n * image, d, win);
      } else {
        std::fill(px + n * image, px + (n + 1) * image, 0.0f);
        col2im_range(pblk, plane, n, n + 1, px, d, win);
      }
    }
  });
  return gx;
}

namespace {
/// Transposes the 16×16 block whose rows are r[0 … 15] in place (row k becomes column k).
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 4; ++j) {
      t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0x88);
      t[8 * i + 4 + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0xdd);
    }
  }
  for (int j = 0; j < 8; ++j) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
  }
}

/// The im2col matrix as the weight gradient reads it: element (row k, image i, output pixel (y, x))
/// at base[i·image + off(k) + y·row + x]. From kept columns [N, K, Ho·Wo], or, for stride 1 without
/// padding, from x itself (implicit im2col: row (c, p, q) starts at x[i, c, p, q]).
struct ColsView {
  const float* base;
  std::int64_t image, row;
  bool implicit;
  std::int64_t plane, kh, kw, h, w;
  std::int64_t off(std::int64_t k) const {
    if (!implicit) return k * plane;
    return (k / (kh * kw) * h + k / kw % kh) * w + k % kw;
  }
};

/// One tile of gwᵀ over the whole batch: acc[r][v] = Σ_i Σ_pixels cols(k0 + r) · gt_i[pixel][16·v …] for
/// r < MR (rows past `rows` repeat the last one and are not written) and NV vectors of the transposed
/// gradient gt (ldg apart per pixel, image i at gt + i·Ho·Wo·ldg). Writes gw[f][r] (rows ldw apart) for
/// f < fcount, r < rows.
template <int MR, int NV>
void wgrad_tile(std::int64_t n, std::int64_t oh, std::int64_t ow, const ColsView& a, std::int64_t k0,
                std::int64_t rows, const float* gt, std::int64_t ldg, float* gw, std::int64_t ldw, std::int64_t fcount) {
  std::int64_t off[MR];
  for (int r = 0; r < MR; ++r) off[r] = a.off(k0 + std::min<std::int64_t>(r, rows - 1));
  __m512 acc[MR][NV];
#pragma GCC unroll 32
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  for (std::int64_t i = 0; i < n; ++i) {
    const float* bt = gt + i * oh * ow * ldg;
    for (std::int64_t y = 0; y < oh; ++y) {
      const float* ay = a.base + i * a.image + y * a.row;
      for (std::int64_t x = 0; x < ow; ++x, bt += ldg) {
        __m512 b[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(bt + 16 * v);
#pragma GCC unroll 32
        for (int r = 0; r < MR; ++r) {
          const __m512 av = _mm512_set1_ps(ay[off[r] + x]);
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(av, b[v], acc[r][v]);
        }
      }
    }
  }
  alignas(64) float out[MR][NV * 16];
#pragma GCC unroll 32
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) _mm512_store_ps(&out[r][16 * v], acc[r][v]);
  }
  for (std::int64_t f = 0; f < fcount; ++f) {
    for (std::int64_t r = 0; r < rows; ++r) gw[f * ldw + r] = out[r][f];
  }
}

/// gw [f, k] = Σ_i G_i · cols_iᵀ with vectors along f: the gradient is transposed once (it is small,
/// [N, P, f]) and each panel of up to MR rows of cols is read once, in place, for all f ≤ 16·NV at a
/// time. Panels are made equal (K = 25 in 13 + 12, not 24 + 1), as a tile's work is MR rows anyway.
template <int MR, int NV>
void weight_grad(std::int64_t n, std::int64_t oh, std::int64_t ow, const ColsView& a, std::int64_t f, std::int64_t k,
                 const float* gt, std::int64_t ldg, float* gw) {
  const std::int64_t panels = (k + MR - 1) / MR, per = (k + panels - 1) / panels;
  detail::parallel_for(panels, 1, [&](std::int64_t p0, std::int64_t p1) {
    for (std::int64_t k0 = p0 * per; k0 < std::min(k, p1 * per); k0 += per) {
      for (std::int64_t f0 = 0; f0 < f; f0 += 16 * NV) {
        wgrad_tile<MR, NV>(n, oh, ow, a, k0, std::min(per, k - k0), gt + f0, ldg, gw + f0 * k + k0, k,
                           std::min<std::int64_t>(16 * NV, f - f0));
      }
    }
  });
}
}  // namespace

bool conv_fast_reads_x(const Window2d& win) { return win.stride == 1 && win.padding == 0; }

Tensor conv2d_weight_grad_fast(const Tensor& gy, const Tensor& src, const Shape& x_shape, const Shape& w_shape,
                               const Window2d& win, Tensor* bias_grad) {
  const std::int64_t n = gy.shape()[0], f = gy.shape()[1], oh = gy.shape()[2], ow = gy.shape()[3], plane = oh * ow;
  const std::int64_t k = x_shape[1] * win.kh * win.kw;
  Tensor gw = zeros(Shape{f, k}, Dtype::f32);
  // G transposed to [N, P, ldg], ldg: f rounded up to whole filter tiles of 16·nv lanes (the tiles
  // below read whole tiles), the lanes past f zero.
  const std::int64_t nv = f <= 16 ? 1 : f <= 32 ? 2 : 3, ldg = (f + 16 * nv - 1) / (16 * nv) * (16 * nv);
  Tensor gt = detail::make_tensor(Shape{n * plane, ldg}, Dtype::f32);  // every lane is written below
  const float* pg = gy.data<float>();
  float* pt = gt.mutable_data<float>();
  // Blocks of 16 channels × 16 pixels, transposed in registers (channels past f are zero).
  detail::parallel_for(n, 4, [&](std::int64_t i0, std::int64_t i1) {
  for (std::int64_t i = i0; i < i1; ++i) {
    for (std::int64_t f0 = 0; f0 < ldg; f0 += 16) {
      for (std::int64_t t0 = 0; t0 < plane; t0 += 16) {
        const std::int64_t nt = std::min<std::int64_t>(16, plane - t0);
        const __mmask16 m = first_lanes(nt);
        __m512 r[16];
        for (std::int64_t c = 0; c < 16; ++c) {
          r[c] = f0 + c < f ? _mm512_maskz_loadu_ps(m, pg + (i * f + f0 + c) * plane + t0) : _mm512_setzero_ps();
        }
        transpose16(r);
        for (std::int64_t t = 0; t < nt; ++t) _mm512_storeu_ps(pt + (i * plane + t0 + t) * ldg + f0, r[t]);
      }
    }
  }
  });
  if (bias_grad != nullptr) *bias_grad = plane_sums(gy);
  if (k > 0 && n > 0) {
    const bool implicit = conv_fast_reads_x(win);
    const ColsView a{src.data<float>(),         implicit ? x_shape[1] * x_shape[2] * x_shape[3] : k * plane,
                     implicit ? x_shape[3] : ow, implicit, plane, win.kh, win.kw, x_shape[2], x_shape[3]};
    float* pw = gw.mutable_data<float>();
    if (nv == 1) {
      weight_grad<24, 1>(n, oh, ow, a, f, k, pt, ldg, pw);
    } else if (nv == 2) {
      weight_grad<13, 2>(n, oh, ow, a, f, k, pt, ldg, pw);
    } else {
      weight_grad<8, 3>(n, oh, ow, a, f, k, pt, ldg, pw);
    }
  }
  return gw.reshape(w_shape);
}
#else
bool conv_fast(const Tensor&) { return false; }
Tensor conv2d_forward_fast(const Tensor&, const Tensor&, const Tensor&, const Window2d&, Tensor*) {
  throw Error("conv2d: the AVX-512 kernels are not compiled in this build");
}
Tensor conv2d_input_grad_fast(const Tensor&, const Tensor&, const Shape&, const Window2d&) {
  throw Error("conv2d: the AVX-512 kernels are not compiled in this build");
}
bool conv_fast_reads_x(const Window2d&) { return false; }
Tensor conv2d_weight_grad_fast(const Tensor&, const Tensor&, const Shape&, const Shape&, const Window2d&, Tensor*) {
  throw Error("conv2d: the AVX-512 kernels are not compiled in this build");
}
#endif

Tensor plane_sums(const Tensor& y) {
  const std::int64_t n = y.shape()[0], f = y.shape()[1], p = y.numel() / std::max<std::int64_t>(1, n * f);
  Tensor sums = zeros(Shape{f}, y.dtype());
  dispatch_float(y.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    const T* py = y.data<T>();
    T* ps = sums.mutable_data<T>();
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t c = 0; c < f; ++c) {
        const T* src = py + (i * f + c) * p;
#if defined(__AVX512F__)
        if constexpr (std::is_same_v<T, float>) {
          __m512 acc = _mm512_setzero_ps();
          std::int64_t j = 0;
          for (; j + 16 <= p; j += 16) acc = _mm512_add_ps(acc, _mm512_loadu_ps(src + j));
          if (j < p) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(first_lanes(p - j), src + j));
          ps[c] += hsum(acc);
          continue;
        }
#endif
        T part[8] = {};  // eight partial sums so the loop vectorizes
        std::int64_t j = 0;
        for (; j + 8 <= p; j += 8) {
          for (int l = 0; l < 8; ++l) part[l] += src[j + l];
        }
        T s = 0;
        for (; j < p; ++j) s += src[j];
        ps[c] += s + ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
      }
    }
  });
  return sums;
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

#if defined(__AVX512F__)
namespace {
/// 2·l in lane l: the even columns of two vectors (a permute index) and each window's first column.
inline __m512i twice_lane() { return _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30); }

/// The 2×2, stride-2 max-pool of a float plane, 16 windows at a time: the even and odd columns of the
/// two input rows are separated with one permute each, the first largest of the four kept with
/// compare-and-blend (strictly greater, so ties and NaN behave as in the loop below).
void max_pool_2x2_plane(const float* in, float* out, std::int64_t* arg, const Dims& d) {
  const __m512i even = twice_lane();
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (std::int64_t i = 0; i < d.oh; ++i) {
    const float* r0 = in + 2 * i * d.w;
    const float* r1 = r0 + d.w;
    for (std::int64_t j0 = 0; j0 < d.ow; j0 += 16) {
      const std::int64_t c0 = 2 * j0;
      const __mmask16 ma = first_lanes(d.w - c0), mb = first_lanes(d.w - c0 - 16);
      const __m512 u0 = _mm512_maskz_loadu_ps(ma, r0 + c0), u1 = _mm512_maskz_loadu_ps(mb, r0 + c0 + 16);
      const __m512 v0 = _mm512_maskz_loadu_ps(ma, r1 + c0), v1 = _mm512_maskz_loadu_ps(mb, r1 + c0 + 16);
      __m512 best = _mm512_permutex2var_ps(u0, even, u1);
      __m512i off = _mm512_setzero_si512();
      const __m512 cand[3] = {_mm512_permutex2var_ps(u0, odd, u1), _mm512_permutex2var_ps(v0, even, v1),
                              _mm512_permutex2var_ps(v0, odd, v1)};
      const std::int64_t offs[3] = {1, d.w, d.w + 1};
      for (int k = 0; k < 3; ++k) {
        const __mmask16 gt = _mm512_cmp_ps_mask(cand[k], best, _CMP_GT_OQ);
        best = _mm512_mask_mov_ps(best, gt, cand[k]);
        off = _mm512_mask_mov_epi32(off, gt, _mm512_set1_epi32(static_cast<int>(offs[k])));
      }
      const std::int64_t nj = std::min<std::int64_t>(16, d.ow - j0);
      const __mmask16 m = first_lanes(nj);
      _mm512_mask_storeu_ps(out + i * d.ow + j0, m, best);
      // Flat index in the plane: 2i·W + 2(j0 + l) + offset, widened to int64.
      const __m512i idx = _mm512_add_epi32(_mm512_add_epi32(off, even), _mm512_set1_epi32(static_cast<int>(2 * i * d.w + c0)));
      _mm512_mask_storeu_epi64(arg + i * d.ow + j0, static_cast<__mmask8>(m), _mm512_cvtepi32_epi64(_mm512_castsi512_si256(idx)));
      _mm512_mask_storeu_epi64(arg + i * d.ow + j0 + 8, static_cast<__mmask8>(m >> 8),
                               _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(idx, 1)));
    }
  }
}

/// The gradient of max_pool_2x2_plane: every input element written once (gy where it was its window's
/// argmax, 0 elsewhere, the rows and columns no window covers included), no zeroing pass, no scatter.
void max_pool_2x2_plane_backward(const float* g, const std::int64_t* arg, float* gx, const Dims& d) {
  const __m512i lane2 = twice_lane();
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
  for (std::int64_t i = 0; i < d.oh; ++i) {
    float* r0 = gx + 2 * i * d.w;
    float* r1 = r0 + d.w;
    for (std::int64_t j0 = 0; j0 < (d.w + 1) / 2; j0 += 16) {  // every column pair, the uncovered one too
      const std::int64_t c0 = 2 * j0, nj = std::clamp<std::int64_t>(d.ow - j0, 0, 16);
      const __mmask16 m = first_lanes(nj);
      const __m512 gv = _mm512_maskz_loadu_ps(m, g + i * d.ow + j0);
      const __m256i a0 = _mm512_cvtepi64_epi32(_mm512_maskz_loadu_epi64(static_cast<__mmask8>(m), arg + i * d.ow + j0));
      const __m256i a1 =
          _mm512_cvtepi64_epi32(_mm512_maskz_loadu_epi64(static_cast<__mmask8>(m >> 8), arg + i * d.ow + j0 + 8));
      const __m512i off = _mm512_sub_epi32(_mm512_inserti64x4(_mm512_castsi256_si512(a0), a1, 1),
                                           _mm512_add_epi32(lane2, _mm512_set1_epi32(static_cast<int>(2 * i * d.w + c0))));
      const auto at = [&](std::int64_t o) {
        return _mm512_maskz_mov_ps(m & _mm512_cmpeq_epi32_mask(off, _mm512_set1_epi32(static_cast<int>(o))), gv);
      };
      const __m512 e0 = at(0), o0 = at(1), e1 = at(d.w), o1 = at(d.w + 1);
      _mm512_mask_storeu_ps(r0 + c0, first_lanes(d.w - c0), _mm512_permutex2var_ps(e0, lo, o0));
      _mm512_mask_storeu_ps(r0 + c0 + 16, first_lanes(d.w - c0 - 16), _mm512_permutex2var_ps(e0, hi, o0));
      _mm512_mask_storeu_ps(r1 + c0, first_lanes(d.w - c0), _mm512_permutex2var_ps(e1, lo, o1));
      _mm512_mask_storeu_ps(r1 + c0 + 16, first_lanes(d.w - c0 - 16), _mm512_permutex2var_ps(e1, hi, o1));
    }
  }
  // An odd last row is in no window.
  if (d.h % 2 == 1) std::fill(gx + (d.h - 1) * d.w, gx + d.h * d.w, 0.0f);
}

bool pool_2x2_fast(Dtype dt, const Window2d& win, std::int64_t h, std::int64_t w) {
  return dt == Dtype::f32 && win.kh == 2 && win.kw == 2 && win.stride == 2 && win.padding == 0 &&
         h * w < (std::int64_t(1) << 30);
}
}  // namespace
#endif

Tensor max_pool2d(const Tensor& x, const Window2d& win, Tensor& argmax) {
  const Dims d = dims_of(x.shape(), win);
  const Shape out_shape{d.n, d.c, d.oh, d.ow};
  Tensor y = detail::make_tensor(out_shape, x.dtype());
  argmax = detail::make_tensor(out_shape, Dtype::i64);
  std::int64_t* pa = argmax.mutable_data<std::int64_t>();
#if defined(__AVX512F__)
  if (pool_2x2_fast(x.dtype(), win, d.h, d.w)) {
    const float* px = x.data<float>();
    float* py = y.mutable_data<float>();
    detail::parallel_for(d.n * d.c, 32, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t nc = b; nc < e; ++nc) {
        max_pool_2x2_plane(px + nc * d.h * d.w, py + nc * d.oh * d.ow, pa + nc * d.oh * d.ow, d);
      }
    });
    return y;
  }
#endif
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

Tensor max_pool2d_backward(const Tensor& gy, const Tensor& argmax, const Shape& x_shape,
                           [[maybe_unused]] const Window2d& win) {
#if defined(__AVX512F__)
  if (pool_2x2_fast(gy.dtype(), win, x_shape[2], x_shape[3])) {
    const Dims d = dims_of(x_shape, win);
    Tensor gx = detail::make_tensor(x_shape, Dtype::f32);
    const float* pg = gy.data<float>();
    const std::int64_t* pa = argmax.data<std::int64_t>();
    float* px = gx.mutable_data<float>();
    detail::parallel_for(d.n * d.c, 32, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t nc = b; nc < e; ++nc) {
        max_pool_2x2_plane_backward(pg + nc * d.oh * d.ow, pa + nc * d.oh * d.ow, px + nc * d.h * d.w, d);
      }
    });
    return gx;
  }
#endif
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
