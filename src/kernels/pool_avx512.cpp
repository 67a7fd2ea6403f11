// src/kernels/pool_avx512.cpp — the 2×2 / stride-2 max-pool of float planes on AVX-512, 16 windows
// at a time; without AVX-512 its entry points decline and pool.cpp's loops run.
#include "pool_avx512.hpp"

#include <algorithm>

#include "im2col.hpp"
#include "../parallel.hpp"

namespace nabla::kernels {

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
}  // namespace

namespace {
bool applies(Dtype dt, const Window2d& win, std::int64_t h, std::int64_t w) {
  return dt == Dtype::f32 && win.kh == 2 && win.kw == 2 && win.stride == 2 && win.padding == 0 &&
         h * w < (std::int64_t(1) << 30);
}
}  // namespace

bool max_pool_2x2_fast(const Tensor& x, const Window2d& win, Tensor& y, Tensor& argmax) {
  const Dims d = dims_of(x.shape(), win);
  if (!applies(x.dtype(), win, d.h, d.w)) return false;
  const float* px = x.data<float>();
  float* py = y.mutable_data<float>();
  std::int64_t* pa = argmax.mutable_data<std::int64_t>();
  detail::parallel_for(d.n * d.c, 32, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t nc = b; nc < e; ++nc) {
      max_pool_2x2_plane(px + nc * d.h * d.w, py + nc * d.oh * d.ow, pa + nc * d.oh * d.ow, d);
    }
  });
  return true;
}

Tensor max_pool_2x2_fast_backward(const Tensor& gy, const Tensor& argmax, const Shape& x_shape, const Window2d& win) {
  if (!applies(gy.dtype(), win, x_shape[2], x_shape[3])) return Tensor{};
  const Dims d = dims_of(x_shape, win);
  Tensor gx = empty(x_shape, Dtype::f32);
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
#else
bool max_pool_2x2_fast(const Tensor&, const Window2d&, Tensor&, Tensor&) { return false; }
Tensor max_pool_2x2_fast_backward(const Tensor&, const Tensor&, const Shape&, const Window2d&) { return Tensor{}; }
#endif

}  // namespace nabla::kernels
