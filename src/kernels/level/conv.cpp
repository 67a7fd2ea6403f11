// src/kernels/level/conv.cpp — nabla's own GEMM tiles for float32 convolution, for one level
// (simd.hpp): the forward tiles, im2col and the col2im gather of one image, the transpose of the
// output gradient and the weight-gradient tiles. conv_tiled.cpp drives them image by image.
//
// OpenBLAS runs conv's skinny products (K = 25 or 40, M = 20 or 40) at about half its large-matrix
// rate, and its packing copies of the im2col matrix cost about as much again; here each image's
// im2col block is made while the output tile that reads it is in cache, and the products are written
// straight to NCHW (docs/design.md, "Convolution and pooling").
#include "simd.hpp"

namespace nabla::kernels::NABLA_LEVEL {
namespace {
constexpr i64 kMR = kTileRows, kNR = 2 * V::W;  // a tile: kMR rows × two vectors

/// c[r·ldc + j] = bias[r] + Σ_kk ap[kk·kMR + r] · b[kk·ldb + j] for r < kRows, j < cols ≤ kNR
/// (bias 0 when null): one register-blocked tile, B read in place (rows ldb apart). kFull: cols = kNR.
/// kRows < kMR: the last panel's rows alone (32 rows are three tiles of 10 and one of 2, not four of 10).
template <bool kFull, i64 kRows>
void tile(i64 k, const float* ap, const float* b, i64 ldb, float* c, i64 ldc, i64 cols, const float* bias) {
  const V::mask m0 = V::first(cols), m1 = V::first(cols - V::W);
  V::reg acc[kRows][2];
#pragma GCC unroll 16
  for (i64 r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = V::set1(bias != nullptr ? bias[r] : 0.0f);
  for (i64 kk = 0; kk < k; ++kk) {
    const float* brow = b + kk * ldb;
    const V::reg b0 = kFull ? V::load(brow) : V::load(brow, m0);
    const V::reg b1 = kFull ? V::load(brow + V::W) : V::load(brow + V::W, m1);
    const float* a = ap + kk * kMR;
#pragma GCC unroll 16
    for (i64 r = 0; r < kRows; ++r) {
      const V::reg av = V::set1(a[r]);
      acc[r][0] = V::fmadd(av, b0, acc[r][0]);
      acc[r][1] = V::fmadd(av, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 16
  for (i64 r = 0; r < kRows; ++r) {
    if (kFull) {
      V::store(c + r * ldc, acc[r][0]);
      V::store(c + r * ldc + V::W, acc[r][1]);
    } else {
      V::store(c + r * ldc, acc[r][0], cols);
      V::store(c + r * ldc + V::W, acc[r][1], cols - V::W);
    }
  }
}

/// tile<kFull, rows> for 1 ≤ rows ≤ kR.
template <bool kFull, i64 kR = kMR>
void tile_of(i64 rows, i64 k, const float* ap, const float* b, i64 ldb, float* c, i64 ldc, i64 cols, const float* bias) {
  if constexpr (kR > 1) {
    if (rows < kR) return tile_of<kFull, kR - 1>(rows, k, ap, b, ldb, c, ldc, cols, bias);
  }
  tile<kFull, kR>(k, ap, b, ldb, c, ldc, cols, bias);
}

/// dst[j] = src[j] for j < n: whole vectors, then a masked one.
inline void copy_run(const float* src, float* dst, i64 n) {
  i64 j = 0;
  for (; j + V::W <= n; j += V::W) V::store(dst + j, V::load(src + j));
  if (j < n) V::store(dst + j, V::load(src + j, V::first(n - j)), n - j);
}
}  // namespace

void gemm(i64 m, i64 n, i64 k, const float* packed, const float* b, i64 ldb, float* c, i64 ldc, const float* bias) {
  for (i64 j0 = 0; j0 < n; j0 += kNR) {
    const i64 cols = lmin(kNR, n - j0);
    for (i64 i0 = 0; i0 < m; i0 += kMR) {
      const float* bi = bias != nullptr ? bias + i0 : nullptr;
      const i64 rows = lmin(kMR, m - i0);
      if (cols == kNR) {
        tile_of<true>(rows, k, packed + i0 * k, b + j0, ldb, c + i0 * ldc + j0, ldc, cols, bi);
      } else {
        tile_of<false>(rows, k, packed + i0 * k, b + j0, ldb, c + i0 * ldc + j0, ldc, cols, bi);
      }
    }
  }
}

void im2col_s1(const float* image, float* cols, i64 ld, const ConvDims& d) {
  for (i64 c = 0; c < d.c; ++c) {
    for (i64 p = 0; p < d.kh; ++p) {
      for (i64 q = 0; q < d.kw; ++q) {
        float* row = cols + ((c * d.kh + p) * d.kw + q) * ld;
        const float* src = image + c * d.h * d.w + p * d.w + q;
        for (i64 i = 0; i < d.oh; ++i) copy_run(src + i * d.w, row + i * d.ow, d.ow);
      }
    }
  }
}

/// col2im of one image for stride 1 without padding, as a gather: each row of x[c] is summed in
/// registers from every (p, q) tap that reaches it and stored once, so no load waits on an
/// overlapping store of the tap before.
void col2im_s1(const float* pc, float* px, const ConvDims& d) {
  const i64 plane = d.oh * d.ow;
  V::mask mask[kMaxTaps];  // per tap column q: lanes x0 + l that read column j = x0 + l − q, 0 ≤ j < Wo
  for (i64 x0 = 0; x0 < d.w; x0 += V::W) {
    for (i64 q = 0; q < d.kw; ++q) mask[q] = V::range(lclamp(q - x0, 0, V::W), lclamp(q + d.ow - x0, 0, V::W));
    for (i64 c = 0; c < d.c; ++c) {
      for (i64 y = 0; y < d.h; ++y) {
        // Taps p with 0 ≤ y − p < Ho read row i = y − p of their columns. Four sums (even and odd q,
        // even and odd p) keep four additions in flight instead of one chain.
        const i64 p0 = lmax(0, y - d.oh + 1), p1 = lmin(d.kh, y + 1);
        V::reg a0 = V::zero(), a1 = a0, a2 = a0, a3 = a0;
        for (i64 p = p0; p < p1; ++p) {
          const float* row = pc + ((c * d.kh + p) * d.kw) * plane + (y - p) * d.ow + x0;
          i64 q = 0;
          for (; q + 1 < d.kw; q += 2) {
            a0 = V::add(a0, V::load(row + q * plane - q, mask[q]));
            a1 = V::add(a1, V::load(row + (q + 1) * plane - (q + 1), mask[q + 1]));
          }
          if (q < d.kw) a2 = V::add(a2, V::load(row + q * plane - q, mask[q]));
          const V::reg t = a0;  // the next p adds to the other pair
          a0 = a3;
          a3 = t;
        }
        V::store(px + (c * d.h + y) * d.w + x0, V::add(V::add(a0, a1), V::add(a2, a3)), d.w - x0);
      }
    }
  }
}

void transpose(const float* g, float* gt, i64 f, i64 plane, i64 ldg) {
  // Blocks of W channels × W pixels, transposed in registers (channels past f are zero).
  for (i64 f0 = 0; f0 < ldg; f0 += V::W) {
    for (i64 t0 = 0; t0 < plane; t0 += V::W) {
      const i64 nt = lmin(V::W, plane - t0);
      const V::mask m = V::first(nt);
      V::reg r[V::W];
      for (i64 c = 0; c < V::W; ++c) r[c] = f0 + c < f ? V::load(g + (f0 + c) * plane + t0, m) : V::zero();
      V::transpose(r);
      for (i64 t = 0; t < nt; ++t) V::store(gt + (t0 + t) * ldg + f0, r[t]);
    }
  }
}

namespace {
/// One tile of gwᵀ over the whole batch: acc[r][v] = Σ_i Σ_pixels cols(k0 + r) · gt_i[pixel][W·v …] for
/// r < MR (rows past `rows` repeat the last one and are not written) and NV vectors of gt. Writes
/// gw[f][r] (rows ldw apart) for f < fcount, r < rows.
template <int MR, int NV>
void wgrad_tile(i64 n, i64 oh, i64 ow, const ColsView& a, i64 k0, i64 rows, const float* gt, i64 ldg, float* gw, i64 ldw,
                i64 fcount) {
  i64 off[MR];
  for (int r = 0; r < MR; ++r) {
    const i64 k = k0 + lmin(r, rows - 1);
    off[r] = a.implicit ? (k / (a.kh * a.kw) * a.h + k / a.kw % a.kh) * a.w + k % a.kw : k * a.plane;
  }
  V::reg acc[MR][NV];
#pragma GCC unroll 32
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
  }
  for (i64 i = 0; i < n; ++i) {
    const float* bt = gt + i * oh * ow * ldg;
    for (i64 y = 0; y < oh; ++y) {
      const float* ay = a.base + i * a.image + y * a.row;
      for (i64 x = 0; x < ow; ++x, bt += ldg) {
        V::reg b[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) b[v] = V::load(bt + V::W * v);
#pragma GCC unroll 32
        for (int r = 0; r < MR; ++r) {
          const V::reg av = V::set1(ay[off[r] + x]);
#pragma GCC unroll 8
          for (int v = 0; v < NV; ++v) acc[r][v] = V::fmadd(av, b[v], acc[r][v]);
        }
      }
    }
  }
  alignas(64) float out[MR][NV * V::W];
#pragma GCC unroll 32
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) V::store(&out[r][V::W * v], acc[r][v]);
  }
  for (i64 f = 0; f < fcount; ++f) {
    for (i64 r = 0; r < rows; ++r) gw[f * ldw + r] = out[r][f];
  }
}

template <int NV>
void wgrad_tiles(i64 n, i64 oh, i64 ow, const ColsView& a, i64 k0, i64 rows, const float* gt, i64 ldg, float* gw, i64 ldw,
                 i64 f) {
  constexpr i64 lanes = V::W * NV;
  for (i64 f0 = 0; f0 < f; f0 += lanes) {
    wgrad_tile<kWgradRows[NV], NV>(n, oh, ow, a, k0, rows, gt + f0, ldg, gw + f0 * ldw, ldw, lmin(lanes, f - f0));
  }
}
}  // namespace

void wgrad(i64 nv, i64 n, i64 oh, i64 ow, const ColsView& a, i64 k0, i64 rows, const float* gt, i64 ldg, float* gw, i64 ldw,
           i64 f) {
  switch (nv) {
    case 1: return wgrad_tiles<1>(n, oh, ow, a, k0, rows, gt, ldg, gw, ldw, f);
    case 2: return wgrad_tiles<2>(n, oh, ow, a, k0, rows, gt, ldg, gw, ldw, f);
    case 3: return wgrad_tiles<3>(n, oh, ow, a, k0, rows, gt, ldg, gw, ldw, f);
    case 4: return wgrad_tiles<4>(n, oh, ow, a, k0, rows, gt, ldg, gw, ldw, f);
#if defined(NABLA_LEVEL_AVX2)
    case 5: return wgrad_tiles<5>(n, oh, ow, a, k0, rows, gt, ldg, gw, ldw, f);
#endif
    default: return;
  }
}

}  // namespace nabla::kernels::NABLA_LEVEL
