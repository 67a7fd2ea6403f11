// src/kernels/conv_avx512.cpp — float32 convolution on AVX-512 with nabla's own GEMM tiles, image by
// image, straight from and to NCHW (docs/design.md, "Convolution and pooling"). Builds without
// AVX-512 compile the stubs at the end, and conv_fast() sends every call to conv.cpp.
#include <algorithm>

#include "im2col.hpp"
#include "../parallel.hpp"

namespace nabla::kernels {

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
  Tensor packed = empty(Shape{panels * k * kMR}, Dtype::f32);
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

namespace {
/// x [N, C, H, W] with p zeros around each plane: [N, C, H + 2p, W + 2p].
Tensor pad_planes(const Tensor& x, std::int64_t p) {
  const Shape& s = x.shape();
  const std::int64_t h = s[2], w = s[3], ph = h + 2 * p, pw = w + 2 * p;
  Tensor out = empty(Shape{s[0], s[1], ph, pw}, Dtype::f32);
  const float* px = x.data<float>();
  float* po = out.mutable_data<float>();
  detail::parallel_for(s[0] * s[1], 16, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t plane = b; plane < e; ++plane) {
      float* dst = po + plane * ph * pw;
      const float* src = px + plane * h * w;
      std::fill(dst, dst + p * pw, 0.0f);
      for (std::int64_t i = 0; i < h; ++i) {
        float* row = dst + (i + p) * pw;
        std::fill(row, row + p, 0.0f);
        std::copy(src + i * w, src + (i + 1) * w, row + p);
        std::fill(row + p + w, row + pw, 0.0f);
      }
      std::fill(dst + (h + p) * pw, dst + ph * pw, 0.0f);
    }
  });
  return out;
}

/// The inside of each padded plane of g [N, C, H + 2p, W + 2p]: [N, C, H, W].
Tensor crop_planes(const Tensor& g, std::int64_t p) {
  const Shape& s = g.shape();
  const std::int64_t ph = s[2], pw = s[3], h = ph - 2 * p, w = pw - 2 * p;
  Tensor out = empty(Shape{s[0], s[1], h, w}, Dtype::f32);
  const float* pg = g.data<float>();
  float* po = out.mutable_data<float>();
  detail::parallel_for(s[0] * s[1], 16, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t plane = b; plane < e; ++plane) {
      for (std::int64_t i = 0; i < h; ++i) {
        const float* src = pg + plane * ph * pw + (i + p) * pw + p;
        std::copy(src, src + w, po + plane * h * w + i * w);
      }
    }
  });
  return out;
}

Window2d unpadded(Window2d win) {
  win.padding = 0;
  return win;
}
}  // namespace

Tensor conv2d_forward_fast(const Tensor& x, const Tensor& w, const Tensor& bias, const Window2d& win, Tensor* cols) {
  if (win.stride == 1 && win.padding > 0) {  // the padded input, convolved without padding, is what backward reads
    Tensor xp = pad_planes(x, win.padding);
    Tensor y = conv2d_forward_fast(xp, w, bias, unpadded(win), nullptr);
    if (cols != nullptr) *cols = std::move(xp);
    return y;
  }
  const Dims d = dims_of(x.shape(), win);
  const std::int64_t f = w.shape()[0], k = d.c * win.kh * win.kw, plane = d.oh * d.ow;
  Tensor y = empty(Shape{d.n, f, d.oh, d.ow}, Dtype::f32);
  const Tensor packed = pack_panels(w.data<float>(), f, k, k, 1);
  // Each image's columns [k, P]: kept image after image in *cols when asked for, else a scratch
  // block per thread.
  float* pcols = nullptr;
  if (cols != nullptr) {
    *cols = empty(Shape{d.n, k, plane}, Dtype::f32);
    pcols = cols->mutable_data<float>();
  }
  const float* pb = bias.defined() ? bias.data<float>() : nullptr;
  const float* px = x.data<float>();
  const float* pw = packed.data<float>();
  float* py = y.mutable_data<float>();
  detail::parallel_for(d.n, 1, [&](std::int64_t n0, std::int64_t n1) {
    Tensor scratch;
    if (pcols == nullptr) scratch = empty(Shape{k, plane}, Dtype::f32);
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
  if (win.stride == 1 && win.padding > 0 && win.kw <= kMaxTaps) {  // the gather of col2im_image_s1, then a crop
    const std::int64_t p = win.padding;
    const Shape padded{x_shape[0], x_shape[1], x_shape[2] + 2 * p, x_shape[3] + 2 * p};
    return crop_planes(conv2d_input_grad_fast(w, gy, padded, unpadded(win)), p);
  }
  const Dims d = dims_of(x_shape, win);
  const std::int64_t f = w.shape()[0], k = d.c * win.kh * win.kw, plane = d.oh * d.ow, image = d.c * d.h * d.w;
  Tensor gx = empty(x_shape, Dtype::f32);
  const Tensor packed = pack_panels(w.data<float>(), k, f, 1, k);  // Wᵀ [k, f]
  float* px = gx.mutable_data<float>();
  const float* pw = packed.data<float>();
  const float* pg = gy.data<float>();
  detail::parallel_for(d.n, 1, [&](std::int64_t n0, std::int64_t n1) {
    Tensor block = empty(Shape{k, plane}, Dtype::f32);
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
  const std::int64_t nv = f <= 16 ? 1 : f <= 32 ? 2 : f <= 48 ? 3 : 4, ldg = (f + 16 * nv - 1) / (16 * nv) * (16 * nv);
  Tensor gt = empty(Shape{n * plane, ldg}, Dtype::f32);  // every lane is written below
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
    // Stride 1 reads x, or the padded x forward kept, in place.
    const bool implicit = win.stride == 1;
    const std::int64_t h = x_shape[2] + 2 * win.padding, w = x_shape[3] + 2 * win.padding;
    const ColsView a{src.data<float>(), implicit ? x_shape[1] * h * w : k * plane, implicit ? w : ow, implicit, plane, win.kh,
                     win.kw, h, w};
    float* pw = gw.mutable_data<float>();
    if (nv == 1) {
      weight_grad<24, 1>(n, oh, ow, a, f, k, pt, ldg, pw);
    } else if (nv == 2) {
      weight_grad<13, 2>(n, oh, ow, a, f, k, pt, ldg, pw);
    } else if (nv == 3) {
      weight_grad<8, 3>(n, oh, ow, a, f, k, pt, ldg, pw);
    } else {
      weight_grad<6, 4>(n, oh, ow, a, f, k, pt, ldg, pw);
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

}  // namespace nabla::kernels
