// src/kernels/conv.cpp — the convolution kernels of nabla/kernels.hpp, and the one place that picks how
// they run: float32 3×3 stride-1 forward and input gradient as Winograd F(2×2, 3×3) where the rule of
// conv_winograd.cpp says it pays; otherwise with the level's tiles (ConvKind::tiles, conv_tiled.cpp) for
// float32, else the portable convolution here — im2col + one OpenBLAS GEMM over a few images at a time,
// col2im for the input gradient, and the batch unfold and plane sums of the backward.
#include <algorithm>

#include "conv_tiled.hpp"
#include "conv_winograd.hpp"
#include "gemm.hpp"
#include "im2col.hpp"
#include "level/level.hpp"
#include "reduce.hpp"

namespace nabla::kernels {

Tensor im2col(const Tensor& x, const Window2d& win) {
  const Dims d = dims_of(x.shape(), win);
  const std::int64_t ncols = d.n * d.oh * d.ow;
  Tensor cols = empty(Shape{d.c * win.kh * win.kw, ncols}, x.dtype());
  dispatch_float(x.dtype(), "im2col", [&](auto tag) {
    using T = decltype(tag);
    im2col_range(x.data<T>(), 0, d.n, cols.mutable_data<T>(), ncols, d, win);
  });
  return cols;
}

namespace {
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

Tensor blas_forward(const Tensor& wm, const Tensor& cols, const Tensor& bias, const Shape& out_shape) {
  const std::int64_t n = out_shape[0], f = out_shape[1], plane = out_shape[2] * out_shape[3], k = wm.shape()[1];
  Tensor out = empty(out_shape, cols.dtype());
  dispatch_float(cols.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    const std::int64_t chunk = chunk_images(f, plane, n, sizeof(T));
    Tensor block = empty(Shape{f, chunk * plane}, cols.dtype());
    T* pblk = block.mutable_data<T>();
    const T* pb = bias.defined() ? bias.data<T>() : nullptr;
    T* po = out.mutable_data<T>();
    for (std::int64_t n0 = 0; n0 < n; n0 += chunk) {
      const std::int64_t nc = std::min(chunk, n - n0);
      blas_gemm<T>(false, false, f, nc * plane, k, wm.data<T>(), k, cols.data<T>() + n0 * plane, n * plane, pblk, nc * plane);
      fold_block(pblk, n0, nc, f, plane, pb, po);
    }
  });
  return out;
}

Tensor blas_forward_streamed(const Tensor& x, const Tensor& wm, const Tensor& bias, const Window2d& win) {
  const Dims d = dims_of(x.shape(), win);
  const std::int64_t f = wm.shape()[0], k = wm.shape()[1], plane = d.oh * d.ow;
  Tensor out = empty(Shape{d.n, f, d.oh, d.ow}, x.dtype());
  dispatch_float(x.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    // Blocks sized by the larger of the two per-image pieces (columns [k, P], products [f, P]).
    const std::int64_t chunk = chunk_images(std::max(k, f), plane, d.n, sizeof(T));
    Tensor cols = empty(Shape{k, chunk * plane}, x.dtype());
    Tensor block = empty(Shape{f, chunk * plane}, x.dtype());
    T* pc = cols.mutable_data<T>();
    T* pblk = block.mutable_data<T>();
    const T* pb = bias.defined() ? bias.data<T>() : nullptr;
    T* po = out.mutable_data<T>();
    for (std::int64_t n0 = 0; n0 < d.n; n0 += chunk) {
      const std::int64_t nc = std::min(chunk, d.n - n0);
      im2col_range(x.data<T>(), n0, n0 + nc, pc, nc * plane, d, win);
      blas_gemm<T>(false, false, f, nc * plane, k, wm.data<T>(), k, pc, nc * plane, pblk, nc * plane);
      fold_block(pblk, n0, nc, f, plane, pb, po);
    }
  });
  return out;
}

Tensor blas_input_grad(const Tensor& wm, const Tensor& g, const Shape& x_shape, const Window2d& win) {
  const Dims d = dims_of(x_shape, win);
  const std::int64_t f = wm.shape()[0], k = wm.shape()[1], plane = d.oh * d.ow;
  Tensor x = zeros(x_shape, g.dtype());
  dispatch_float(g.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    const std::int64_t chunk = chunk_images(k, plane, d.n, sizeof(T));
    Tensor block = empty(Shape{k, chunk * plane}, g.dtype());
    T* pblk = block.mutable_data<T>();
    for (std::int64_t n0 = 0; n0 < d.n; n0 += chunk) {
      const std::int64_t nc = std::min(chunk, d.n - n0);
      // block = Wᵀ · G[:, images n0 …] ([C·kh·kw, nc·P]), then summed back into those images.
      blas_gemm<T>(true, false, k, nc * plane, f, wm.data<T>(), k, g.data<T>() + n0 * plane, d.n * plane, pblk, nc * plane);
      col2im_range<T>(pblk, nc * plane, n0, n0 + nc, x.mutable_data<T>(), d, win);
    }
  });
  return x;
}

// w [F, C, kh, kw] as the [F, C·kh·kw] matrix of the GEMMs (explicit: with F = 0, -1 could not be inferred).
Tensor weight_matrix(const Tensor& w) { return w.reshape({w.shape()[0], w.shape()[1] * w.shape()[2] * w.shape()[3]}); }

/// Whether the level's tiles run a float32 convolution whose output planes hold `plane` pixels: not
/// below one tile's width. The tiles go image by image, so a plane narrower than a tile (a DCGAN's 1×1,
/// 3×3 and 4×4 planes) leaves most of each tile's columns empty — 1 of 32 at 1×1 — where im2col and
/// one GEMM over the whole batch fill them: pytorch_dcgan's step 1.25× faster; planes of 49 and up
/// measured the same either way. The forward and backward of one convolution decide alike (what the
/// forward keeps is what the backward reads).
bool tiled(Dtype dt, std::int64_t plane) {
  const LevelKernels& lk = level_kernels();
  return dt == Dtype::f32 && lk.conv == ConvKind::tiles && plane >= lk.tiles.tile_cols;
}
std::int64_t out_plane(const Shape& x_shape, const Window2d& win) { return win.out_h(x_shape[2]) * win.out_w(x_shape[3]); }
}  // namespace

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
        ps[c] += partial_sums<T>(p, [src](std::int64_t j) { return src[j]; });
      }
    }
  });
  return sums;
}

Tensor unfold_batch(const Tensor& y, Tensor* sums) {
  // y is [n, f, oh, ow]: the plane size from its axes, as n or f may be 0 (an empty batch, no filters)
  const std::int64_t n = y.shape()[0], f = y.shape()[1], p = y.shape()[2] * y.shape()[3];
  Tensor out = empty(Shape{f, n * p}, y.dtype());
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
        // The copy and the plane's sum in one pass.
        ps[c] += partial_sums<T>(p, [src, dst](std::int64_t i) { return dst[i] = src[i]; });
      }
    }
  });
  return out;
}

ConvForward conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Window2d& win, bool keep) {
  if (x.dtype() == Dtype::bf16) return conv2d_forward_bf16(x, w, bias, win, keep);
  if (x.dtype() == Dtype::f32 && winograd_forward_chosen(x.shape(), w.shape(), win)) {
    // The weight gradient (not Winograd) reads what the direct forward would have kept.
    ConvForward r;
    if (keep && !tiled(x.dtype(), out_plane(x.shape(), win))) {
      r.saved = im2col(x, win);
    } else if (keep && win.padding > 0) {
      r.saved = pad_planes(x, win.padding);  // convolved as is: the same zeros, read without bounds
      r.y = winograd_forward(r.saved, w, bias, 0);
      return r;
    } else if (keep) {
      r.saved = x;
    }
    r.y = winograd_forward(x, w, bias, win.padding);
    return r;
  }
  if (tiled(x.dtype(), out_plane(x.shape(), win))) {
    // The weight gradient reads x itself (stride 1, no padding) or what the forward keeps.
    const bool reads_x = tiled_reads_x(win);
    ConvForward r;
    r.y = tiled_forward(x, w, bias, win, keep && !reads_x ? &r.saved : nullptr);
    if (keep && reads_x) r.saved = x;
    return r;
  }
  if (!keep) return {blas_forward_streamed(x, weight_matrix(w), bias, win), Tensor{}};  // cols need not be kept
  const Tensor cols = im2col(x, win);
  const Shape out{x.shape()[0], w.shape()[0], win.out_h(x.shape()[2]), win.out_w(x.shape()[3])};
  return {blas_forward(weight_matrix(w), cols, bias, out), cols};
}

void conv2d_backward(const Tensor& gy, const Tensor& w, const Tensor& saved, const Shape& x_shape, const Shape& w_shape,
                     const Window2d& win, Tensor* gx, Tensor* gw, Tensor* gb) {
  if (gy.dtype() == Dtype::bf16) return conv2d_backward_bf16(gy, w, saved, x_shape, w_shape, win, gx, gw, gb);
  const bool wino_gx = gx != nullptr && gy.dtype() == Dtype::f32 && winograd_input_grad_chosen(x_shape, w_shape, win);
  if (wino_gx) *gx = winograd_input_grad(w, gy, x_shape, win.padding);
  if (tiled(gy.dtype(), gy.shape()[2] * gy.shape()[3])) {
    if (gx != nullptr && !wino_gx) *gx = tiled_input_grad(w, gy, x_shape, win);
    if (gw != nullptr) {
      *gw = tiled_weight_grad(gy, saved, x_shape, w_shape, win, gb);
    } else if (gb != nullptr) {
      *gb = plane_sums(gy);
    }
    return;
  }
  const Tensor g = unfold_batch(gy, gb);
  if (gx != nullptr && !wino_gx) *gx = blas_input_grad(weight_matrix(w), g, x_shape, win);
  if (gw != nullptr) *gw = gemm(g, saved, false, true).reshape(w_shape);
}

Tensor conv2d_input_grad(const Tensor& w, const Tensor& gy, const Shape& x_shape, const Window2d& win) {
  if (gy.dtype() == Dtype::bf16) {
    Tensor gx;
    conv2d_backward_bf16(gy, w, Tensor{}, x_shape, w.shape(), win, &gx, nullptr, nullptr);
    return gx;
  }
  if (gy.dtype() == Dtype::f32 && winograd_input_grad_chosen(x_shape, w.shape(), win)) {
    return winograd_input_grad(w, gy, x_shape, win.padding);
  }
  if (tiled(gy.dtype(), gy.shape()[2] * gy.shape()[3])) return tiled_input_grad(w, gy, x_shape, win);
  return blas_input_grad(weight_matrix(w), unfold_batch(gy), x_shape, win);
}

}  // namespace nabla::kernels
