// src/kernels/im2col.hpp — the loops shared by both convolution paths (internal): image geometry,
// short-run copies, im2col and col2im over a range of images, and the cache-sized image chunks.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "nabla/kernels.hpp"

namespace nabla::kernels {

struct Dims {
  std::int64_t n, c, h, w, oh, ow;
};
inline Dims dims_of(const Shape& x, const Window2d& win) {
  return {x[0], x[1], x[2], x[3], win.out_h(x[2]), win.out_w(x[3])};
}

/// dst[j] = src[j] (copy_run) or dst[j] += src[j] (add_run) for j < n: the short runs of im2col and
/// col2im (8–24 elements in the book's networks; plain loops, which the compiler vectorizes).
template <class T>
inline void copy_run(const T* src, T* dst, std::int64_t n) {
  for (std::int64_t j = 0; j < n; ++j) dst[j] = src[j];
}
template <class T>
inline void add_run(const T* src, T* dst, std::int64_t n) {
  for (std::int64_t j = 0; j < n; ++j) dst[j] += src[j];
}


/// Writes the im2col columns of images n0 … n1−1 into pc: column (n, i, j) at (n − n0)·Ho·Wo + i·Wo + j,
/// rows `ld` apart.
template <class T>
inline void im2col_range(const T* px, std::int64_t n0, std::int64_t n1, T* pc, std::int64_t ld, const Dims& d,
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

/// Sums the columns of images n0 … n1−1 back into x (the adjoint of im2col over those images):
/// column (n, i, j) of cols is at (n − n0)·Ho·Wo + i·Wo + j, rows `ld` apart.
template <class T>
inline void col2im_range(const T* pc, std::int64_t ld, std::int64_t n0, std::int64_t n1, T* px, const Dims& d,
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


/// Images per chunk so that a [rows, chunk·P] block stays within about 1 MiB (in the L2 cache).
inline std::int64_t chunk_images(std::int64_t rows, std::int64_t plane, std::int64_t n, std::size_t elem) {
  const std::int64_t per_image = std::max<std::int64_t>(1, rows * plane * std::int64_t(elem));
  return std::clamp<std::int64_t>((std::int64_t(1) << 20) / per_image, 1, std::max<std::int64_t>(n, 1));
}

}  // namespace nabla::kernels
