// src/kernels/bf16_conv.cpp — the bfloat16 convolution: float32 sums of bf16 products (the level's
// GEMMs), each output rounded once. Stride 1 on shifted views of the padded image (no columns
// written; the forward reads channels by pairs, in place), other strides by im2col + the bf16 GEMM
// over a few images at a time.
#include <algorithm>
#include <cstring>
#include <vector>

#include "gemm.hpp"
#include "im2col.hpp"
#include "level/level.hpp"
#include "nabla/kernels.hpp"
#include "../parallel.hpp"

namespace nabla::kernels {

// ---- convolution ------------------------------------------------------------------------------------

namespace {
Tensor weight_matrix_of(const Tensor& w) { return w.reshape({w.shape()[0], w.shape()[1] * w.shape()[2] * w.shape()[3]}); }

/// im2col_range of a bf16 x into `cols`, on the raw bits (plain 16-bit copies, which vectorize).
void unfold_bf16(const Tensor& x, std::int64_t n0, std::int64_t n1, bfloat16* cols, std::int64_t ld, const Dims& d,
                 const Window2d& win) {
  im2col_range(reinterpret_cast<const std::uint16_t*>(x.data<bfloat16>()), n0, n1, reinterpret_cast<std::uint16_t*>(cols), ld,
               d, win);
}

/// dst[j] = src[j], j < n, for the short rows of the shifted views (14–30 elements in bn_cnn), src and
/// dst apart: blocks of 16 bytes by fixed-size copies the compiler inlines (a loop or std::copy
/// becomes a memmove call per row), the last block overlapping the one before it.
inline void copy_row(const std::uint16_t* src, std::uint16_t* dst, std::int64_t n) {
  if (n < 8) {
    for (std::int64_t j = 0; j < n; ++j) dst[j] = src[j];
    return;
  }
  std::int64_t j = 0;
  for (; j + 8 <= n; j += 8) std::memcpy(dst + j, src + j, 16);
  if (j < n) std::memcpy(dst + n - 8, src + n - 8, 16);
}

// ---- stride 1 on shifted views --------------------------------------------------------------------
// With xp the image padded by `pad` zeros, output (f, i, j) of a stride-1 convolution is
// Σ_{c,p,q} w[f, c, p, q] · xp[c, i + p, j + q]. Over a "wide" output of Wp columns per row, column
// J = i·Wp + j reads plane c at p·Wp + q + J: row (c, p, q) of the im2col matrix is plane c itself
// from offset p·Wp + q on. So the products read the padded image in place, its K = C·kh·kw rows found
// by offset, and no columns are written; the wide columns past each row's Wo are discarded.
//
// Padding is shared: Wp = W + pad (the zeros right of row y are those left of row y + 1; while
// pad < kw, else a row's outputs would reach into the next row's), and `nb` images are stacked in one
// plane, image i from row i·(H + pad) on (the zeros below one are those above the next; while
// pad < kh), so that one product covers several small images and the wide rows are short.
struct Stacked {
  static constexpr std::int64_t kTail = 64;    // zeros past the planes and the last row's right padding (the level's reads past n)
  static constexpr std::int64_t kCols = 512;   // wide columns per product to aim for
  std::int64_t c, h, w, pad, kh, kw, wp, oh, ow, step, nb, ht;  // step: rows per stacked image; ht: rows per plane
  Stacked(const Shape& x, std::int64_t kh_, std::int64_t kw_, std::int64_t padding)
      : c(x[1]), h(x[2]), w(x[3]), pad(padding), kh(kh_), kw(kw_), wp(pad < kw ? w + pad : w + 2 * pad),
        oh(h + 2 * pad - kh + 1), ow(w + 2 * pad - kw + 1), step(h + pad),
        nb(oh <= step ? std::clamp<std::int64_t>((kCols + step * wp - 1) / (step * wp), 1, std::max<std::int64_t>(x[0], 1)) : 1),
        ht((nb - 1) * step + h + 2 * pad) {}
  /// The wide columns of `count` stacked images; output (i, r, j) is column (i·step + r)·wp + j.
  std::int64_t cols(std::int64_t count) const { return ((count - 1) * step + oh - 1) * wp + ow; }
  /// Elements of a padded stack of `planes` planes, with the tail.
  std::size_t size(std::int64_t planes) const { return static_cast<std::size_t>(planes * ht * wp + pad + kTail); }
  /// Offset of (plane, tap p, q) for planes < `planes`: index (plane·kh + p)·kw + q.
  std::vector<std::int64_t> offsets(std::int64_t planes) const {
    std::vector<std::int64_t> offs(static_cast<std::size_t>(planes * kh * kw));
    for (std::int64_t ci = 0; ci < planes; ++ci) {
      for (std::int64_t p = 0; p < kh; ++p) {
        for (std::int64_t q = 0; q < kw; ++q) offs[static_cast<std::size_t>((ci * kh + p) * kw + q)] = (ci * ht + p) * wp + q;
      }
    }
    return offs;
  }
  /// Row i of plane `plane`, slot `slot`, of a padded stack: where its first element goes.
  std::int64_t at(std::int64_t plane, std::int64_t slot, std::int64_t i) const { return (plane * ht + slot * step + pad + i) * wp + pad; }
};

/// The forward (and the input gradient, a forward of its own) reads channels by pairs: with the padded
/// stack stored as words [C/2, ht, Wp] (word (c₂, y, x) = channels 2c₂ and 2c₂+1 at (y, x), the second
/// zero for an odd C) and the weights' K axis reordered to (c₂, p, q, e), pair (c₂, p, q) of the
/// product's B is that stack's words from its offset on: the form vdpbf16ps reads, so the product takes
/// B where it lies (level gemm_bf16_pairs), with no packing.
struct Paired : Stacked {
  std::int64_t c2;
  std::vector<std::int64_t> offs;  // offset of pair (c₂, p, q)
  Paired(const Shape& x, std::int64_t kh_, std::int64_t kw_, std::int64_t padding)
      : Stacked(x, kh_, kw_, padding), c2((c + 1) / 2), offs(offsets(c2)) {}
  /// Image n of x [N, C, H, W] into slot `slot` of xp (its padding and tail are zero already).
  void pad_image(const bfloat16* x, std::int64_t n, std::int64_t slot, std::uint32_t* xp) const {
    const auto* px = reinterpret_cast<const std::uint16_t*>(x) + n * c * h * w;
    for (std::int64_t ci = 0; ci < c2; ++ci) {
      const std::uint16_t* lo = px + 2 * ci * h * w;
      const std::uint16_t* hi = 2 * ci + 1 < c ? lo + h * w : nullptr;
      for (std::int64_t i = 0; i < h; ++i) {
        std::uint32_t* dst = xp + at(ci, slot, i);
        const std::uint16_t* l = lo + i * w;
        if (hi != nullptr) {
          const std::uint16_t* u = hi + i * w;
          for (std::int64_t j = 0; j < w; ++j) dst[j] = std::uint32_t(l[j]) | (std::uint32_t(u[j]) << 16);
        } else {
          for (std::int64_t j = 0; j < w; ++j) dst[j] = l[j];
        }
      }
    }
  }
  /// w [F, C, kh, kw] with its K axis as (c₂, p, q, e): [F, 2·c2·kh·kw], zeros for channel C of an odd C.
  std::vector<std::uint16_t> weights(const Tensor& wt) const {
    const std::int64_t f = wt.shape()[0], taps = kh * kw, k2 = 2 * c2 * taps;
    const auto* pw = reinterpret_cast<const std::uint16_t*>(wt.data<bfloat16>());
    std::vector<std::uint16_t> out(static_cast<std::size_t>(f * k2), 0);
    for (std::int64_t o = 0; o < f; ++o) {
      for (std::int64_t ci = 0; ci < c; ++ci) {
        for (std::int64_t t = 0; t < taps; ++t) {
          out[static_cast<std::size_t>(o * k2 + ((ci / 2) * taps + t) * 2 + ci % 2)] = pw[(o * c + ci) * taps + t];
        }
      }
    }
    return out;
  }
};

/// Splits c [m, n]'s columns over the pool in blocks of 16 (as split_gemm does) and calls
/// one(lo, hi) for each part; the whole on one thread when the product is small.
template <class One>
void split_columns(std::int64_t m, std::int64_t n, std::int64_t k, One one) {
  const int threads = detail::thread_count();
  if (threads <= 1 || m * n * k < (std::int64_t(1) << 21)) return one(0, n);
  const std::int64_t blocks = (n + 15) / 16, parts = std::min<std::int64_t>(threads, blocks);
  detail::parallel_for(parts, 1, [&](std::int64_t p0, std::int64_t p1) {
    for (std::int64_t part = p0; part < p1; ++part) {
      const std::int64_t lo = blocks * part / parts * 16, hi = std::min(n, blocks * (part + 1) / parts * 16);
      if (hi > lo) one(lo, hi);
    }
  });
}

/// y = conv(x, w) + bias for stride 1, a few stacked images at a time on shifted views of the paired stack.
Tensor forward_shifted(const Tensor& x, const Tensor& w, const std::vector<float>* bias, std::int64_t kh, std::int64_t kw,
                       std::int64_t padding) {
  const Paired s(x.shape(), kh, kw, padding);
  const std::int64_t n = x.shape()[0], f = w.shape()[0], pairs = s.c2 * kh * kw, plane = s.oh * s.ow;
  Tensor y = empty(Shape{n, f, s.oh, s.ow}, bf16);
  const std::vector<std::uint16_t> wq = s.weights(w);
  std::vector<std::uint32_t> xp(s.size(s.c2), 0);
  // The wide products, kept by the thread between calls (a fresh buffer of this size would be
  // mapped, zeroed and faulted in on every call).
  static thread_local std::vector<float> wide;
  const std::int64_t most = s.cols(s.nb);
  if (wide.size() < static_cast<std::size_t>(f * most)) wide.resize(static_cast<std::size_t>(f * most));
  float* pw = wide.data();  // this thread's (the pool's threads see their own `wide`)
  auto* py = reinterpret_cast<std::uint16_t*>(y.mutable_data<bfloat16>());
  const LevelKernels& level = level_kernels();
  for (std::int64_t n0 = 0; n0 < n; n0 += s.nb) {
    const std::int64_t nc = std::min(s.nb, n - n0), cols = s.cols(nc);
    for (std::int64_t i = 0; i < nc; ++i) s.pad_image(x.data<bfloat16>(), n0 + i, i, xp.data());
    split_columns(f, cols, 2 * pairs, [&](std::int64_t lo, std::int64_t hi) {
      level.gemm_bf16_pairs(f, hi - lo, pairs, wq.data(), 2 * pairs, xp.data() + lo, s.offs.data(), pw + lo, cols);
    });
    for (std::int64_t i = 0; i < nc; ++i) {
      for (std::int64_t o = 0; o < f; ++o) {  // image i's rows of output o, bias added, rounded
        level.to_bf16_rows(pw + o * cols + i * s.step * s.wp, s.wp, py + ((n0 + i) * f + o) * plane, s.oh, s.ow,
                           bias != nullptr ? bias->data() + o : nullptr);
      }
    }
  }
  return y;
}

/// gw [F, C·kh·kw] (float32 sums) = Σ_n gy[n] · cols(x[n])ᵀ for stride 1, on shifted views of the
/// padded stack (bf16 planes [C, ht, Wp]): gy widened to the stack's wide columns (zeros in the
/// columns the forward discards) times the stack's rows by offset (level gemm_bf16_rows), a few
/// stacked images per product.
std::vector<float> weight_grad_shifted(const Tensor& gy, const Tensor& x, std::int64_t kh, std::int64_t kw, std::int64_t padding) {
  const Stacked s(x.shape(), kh, kw, padding);
  const std::int64_t n = gy.shape()[0], f = gy.shape()[1], k = s.c * kh * kw, plane = s.oh * s.ow, most = s.cols(s.nb);
  const std::vector<std::int64_t> rows = s.offsets(s.c);
  std::vector<std::uint16_t> xp(s.size(s.c), 0);
  std::vector<std::uint16_t> g(static_cast<std::size_t>(f * most), 0);  // rows `most` apart, their gaps zero for every stack
  std::vector<float> out(static_cast<std::size_t>(f * k), 0.0f);
  const auto* px = reinterpret_cast<const std::uint16_t*>(x.data<bfloat16>());
  const auto* pg = reinterpret_cast<const std::uint16_t*>(gy.data<bfloat16>());
  const GemmBf16Rows one = level_kernels().gemm_bf16_rows;
  for (std::int64_t n0 = 0; n0 < n; n0 += s.nb) {
    const std::int64_t nc = std::min(s.nb, n - n0), cols = s.cols(nc);
    for (std::int64_t i = 0; i < nc; ++i) {
      for (std::int64_t ci = 0; ci < s.c; ++ci) {
        const std::uint16_t* plane_in = px + ((n0 + i) * s.c + ci) * s.h * s.w;
        for (std::int64_t r = 0; r < s.h; ++r) copy_row(plane_in + r * s.w, xp.data() + s.at(ci, i, r), s.w);
      }
      for (std::int64_t o = 0; o < f; ++o) {
        const std::uint16_t* plane_in = pg + ((n0 + i) * f + o) * plane;
        std::uint16_t* wide_out = g.data() + o * most + i * s.step * s.wp;
        for (std::int64_t r = 0; r < s.oh; ++r) copy_row(plane_in + r * s.ow, wide_out + r * s.wp, s.ow);
      }
    }
    split_columns(f, k, cols, [&](std::int64_t lo, std::int64_t hi) {
      one(false, true, f, hi - lo, cols, g.data(), most, xp.data(), rows.data() + lo, out.data() + lo, k, n0 > 0);
    });
  }
  return out;
}
}  // namespace

ConvForward conv2d_forward_bf16(const Tensor& x, const Tensor& w, const Tensor& bias, const Window2d& win, bool keep) {
  if (win.stride == 1) {
    std::vector<float> fbias(bias.defined() ? static_cast<std::size_t>(w.shape()[0]) : 0);
    if (bias.defined()) bf16_to_float(bias.data<bfloat16>(), fbias.data(), w.shape()[0]);
    return {forward_shifted(x, w, bias.defined() ? &fbias : nullptr, win.kh, win.kw, win.padding),
            keep ? x : Tensor{}};
  }
  // A few images at a time: their columns (in the cache, never the whole batch's), the product, and
  // the outputs rounded once, bias added. What the weight gradient reads is x itself: the backward
  // unfolds its columns again, chunk by chunk, rather than keeping [C·kh·kw, N·Ho·Wo] alive.
  const Dims d = dims_of(x.shape(), win);
  const Tensor wm = weight_matrix_of(w);
  const std::int64_t f = wm.shape()[0], k = wm.shape()[1], plane = d.oh * d.ow;
  Tensor y = empty(Shape{d.n, f, d.oh, d.ow}, bf16);
  std::vector<float> fbias(static_cast<std::size_t>(f), 0.0f);
  if (bias.defined()) bf16_to_float(bias.data<bfloat16>(), fbias.data(), f);
  const std::int64_t chunk = chunk_images(std::max(k, f), plane, d.n, sizeof(float));
  std::vector<bfloat16> scratch(static_cast<std::size_t>(k * chunk * plane));
  std::vector<float> block(static_cast<std::size_t>(f * chunk * plane));
  bfloat16* py = y.mutable_data<bfloat16>();
  for (std::int64_t n0 = 0; n0 < d.n; n0 += chunk) {
    const std::int64_t nc = std::min(chunk, d.n - n0);
    unfold_bf16(x, n0, n0 + nc, scratch.data(), nc * plane, d, win);
    gemm_bf16(false, false, f, nc * plane, k, wm.data<bfloat16>(), k, scratch.data(), nc * plane, block.data(), nc * plane);
    for (std::int64_t i = 0; i < nc; ++i) {
      for (std::int64_t c = 0; c < f; ++c) {
        float* src = block.data() + c * nc * plane + i * plane;
        if (bias.defined()) {
          for (std::int64_t j = 0; j < plane; ++j) src[j] += fbias[c];
        }
        float_to_bf16(src, py + ((n0 + i) * f + c) * plane, plane);
      }
    }
  }
  return {y, keep ? x : Tensor{}};
}

void conv2d_backward_bf16(const Tensor& gy, const Tensor& w, const Tensor& x, const Shape& x_shape, const Shape& w_shape,
                          const Window2d& win, Tensor* gx, Tensor* gw, Tensor* gb) {
  const std::int64_t n = gy.shape()[0], f = gy.shape()[1], p = gy.shape()[2] * gy.shape()[3];
  const Dims d = dims_of(x_shape, win);
  const std::int64_t k = w_shape[1] * w_shape[2] * w_shape[3];
  // Stride 1 with a square window: gx as a convolution of gy (below), which reads gy as it is.
  const bool gx_by_conv = win.stride == 1 && win.kh == win.kw && win.padding < win.kh;
  // g [F, N·P]: the output gradient with the batch unfolded (for the products that read it); the
  // bias gradient summed in float32.
  Tensor g;
  std::vector<float> sums(static_cast<std::size_t>(f), 0.0f), row(static_cast<std::size_t>(p));
  if ((gw != nullptr && win.stride != 1) || gb != nullptr || (gx != nullptr && !gx_by_conv)) {
    g = empty(Shape{f, n * p}, bf16);
    const bfloat16* src = gy.data<bfloat16>();
    bfloat16* dst = g.mutable_data<bfloat16>();
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t c = 0; c < f; ++c) {
        const bfloat16* s = src + (i * f + c) * p;
        std::copy(s, s + p, dst + c * n * p + i * p);
        if (gb != nullptr) {
          bf16_to_float(s, row.data(), p);
          float acc = 0;
          for (std::int64_t j = 0; j < p; ++j) acc += row[j];
          sums[static_cast<std::size_t>(c)] += acc;
        }
      }
    }
  }
  if (gb != nullptr) *gb = round_to_bf16(sums, Shape{f});
  if (gw != nullptr && win.stride == 1) {
    *gw = round_to_bf16(weight_grad_shifted(gy, x, win.kh, win.kw, win.padding), w_shape);
  } else if (gw != nullptr) {
    // gw = Σ over chunks of images of G[:, chunk] · cols(chunk)ᵀ, the columns unfolded from x again.
    std::vector<float> out(static_cast<std::size_t>(f * k), 0.0f), part(static_cast<std::size_t>(f * k));
    const std::int64_t chunk = chunk_images(k, p, n, sizeof(float));
    std::vector<bfloat16> scratch(static_cast<std::size_t>(k * chunk * p));
    for (std::int64_t n0 = 0; n0 < n; n0 += chunk) {
      const std::int64_t nc = std::min(chunk, n - n0);
      unfold_bf16(x, n0, n0 + nc, scratch.data(), nc * p, d, win);
      gemm_bf16(false, true, f, k, nc * p, g.data<bfloat16>() + n0 * p, n * p, scratch.data(), nc * p,
                n0 == 0 ? out.data() : part.data(), k);
      if (n0 > 0) {
        for (std::size_t i = 0; i < out.size(); ++i) out[i] += part[i];
      }
    }
    *gw = round_to_bf16(out, w_shape);
  }
  if (gx != nullptr && gx_by_conv) {
    // Stride 1: gx is the convolution of gy, padded by kh − 1 − padding, with w's taps flipped and
    // its two channel axes swapped (w' [C, F, kh, kw]): the forward's path (columns of gy a few
    // images at a time, the product, each output rounded once), with no float32 image to sum into.
    const std::int64_t c = w_shape[1], taps = win.kh * win.kw;
    Tensor wt = empty(Shape{c, f, win.kh, win.kw}, bf16);
    const bfloat16* pw = w.data<bfloat16>();
    bfloat16* pt = wt.mutable_data<bfloat16>();
    for (std::int64_t o = 0; o < f; ++o) {
      for (std::int64_t i = 0; i < c; ++i) {
        for (std::int64_t t = 0; t < taps; ++t) pt[(i * f + o) * taps + (taps - 1 - t)] = pw[(o * c + i) * taps + t];
      }
    }
    const Window2d back{win.kh, win.kw, 1, win.kh - 1 - win.padding};
    *gx = conv2d_forward_bf16(gy, wt, Tensor{}, back, false).y;
  } else if (gx != nullptr) {
    const Tensor wm = weight_matrix_of(w);
    std::vector<float> fx(static_cast<std::size_t>(x_shape.numel()), 0.0f);
    const std::int64_t chunk = chunk_images(k, p, d.n, sizeof(float));
    std::vector<float> block(static_cast<std::size_t>(k * chunk * p));
    for (std::int64_t n0 = 0; n0 < d.n; n0 += chunk) {
      const std::int64_t nc = std::min(chunk, d.n - n0);
      gemm_bf16(true, false, k, nc * p, f, wm.data<bfloat16>(), k, g.data<bfloat16>() + n0 * p, d.n * p, block.data(), nc * p);
      col2im_range<float>(block.data(), nc * p, n0, n0 + nc, fx.data(), d, win);
    }
    *gx = round_to_bf16(fx, x_shape);
  }
}

}  // namespace nabla::kernels
