// src/kernels/level/simd.hpp — the vector type V that one level's kernels are written with (internal;
// only for the files of this folder, compiled per level with NABLA_LEVEL_AVX2 or NABLA_LEVEL_AVX512
// defined and NABLA_LEVEL the level's namespace). V::W floats per vector; V::mask selects lanes, for
// masked loads (lanes off: 0) and for blends; stores take the number of leading lanes to write.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "level.hpp"

#if !defined(NABLA_LEVEL) || !(defined(NABLA_LEVEL_AVX2) || defined(NABLA_LEVEL_AVX512))
#error "src/kernels/level/ is compiled once per level: NABLA_LEVEL and NABLA_LEVEL_<name> must be defined"
#endif

// GCC 12 warns "'__Y' may be used uninitialized" inside its own AVX-512 intrinsics (their
// _mm512_undefined_* operand) wherever they are inlined; the warning is about the header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace nabla::kernels::NABLA_LEVEL {

using i64 = std::int64_t;

// No <algorithm> here: a std:: function template emitted in this file would be compiled for this
// level under a name shared with every other file.
inline i64 lmin(i64 a, i64 b) { return a < b ? a : b; }
inline i64 lmax(i64 a, i64 b) { return a < b ? b : a; }
inline i64 lclamp(i64 v, i64 lo, i64 hi) { return v < lo ? lo : v > hi ? hi : v; }

#if defined(NABLA_LEVEL_AVX512)
struct V {
  using reg = __m512;
  using mask = __mmask16;
  static constexpr i64 W = 16;
  /// Lanes l < n (none for n ≤ 0, all for n ≥ W).
  static mask first(i64 n) { return n <= 0 ? 0 : n >= 16 ? 0xFFFF : static_cast<mask>((1u << n) - 1); }
  /// Lanes lo ≤ l < hi.
  static mask range(i64 lo, i64 hi) { return static_cast<mask>(first(hi) & ~first(lo)); }
  static reg zero() { return _mm512_setzero_ps(); }
  static reg set1(float x) { return _mm512_set1_ps(x); }
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static reg load(const float* p, mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  /// The first n lanes of v (none for n ≤ 0, all for n ≥ W).
  static void store(float* p, reg v, i64 n) { _mm512_mask_storeu_ps(p, first(n), v); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm512_div_ps(a, b); }
  static reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  /// a·b + c and c − a·b, rounded once.
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg fnmadd(reg a, reg b, reg c) { return _mm512_fnmadd_ps(a, b, c); }
  static reg bit_and(reg a, reg b) { return _mm512_and_ps(a, b); }
  static reg bit_or(reg a, reg b) { return _mm512_or_ps(a, b); }
  static reg and_not(reg a, reg b) { return _mm512_andnot_ps(a, b); }  // ~a & b
  static reg floor(reg a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  /// e·2ⁿ for integral n, rounded once (to inf or subnormal where it over- or underflows).
  static reg scale(reg e, reg n) { return _mm512_scalef_ps(e, n); }
  static mask lt(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static mask gt(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static mask is_nan(reg a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
  /// b where m, else a.
  static reg blend(reg a, reg b, mask m) { return _mm512_mask_mov_ps(a, m, b); }
  /// Rows r[0 … W−1] of a W×W block transposed in place (row k becomes column k).
  static void transpose(reg r[16]) {
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
};
// Register blocking: forward tiles of kTileRows × 2 vectors (20 of the 32 registers accumulate);
// weight-gradient tiles of kWgradRows[nv] rows × nv vectors.
constexpr i64 kTileRows = 10;
constexpr i64 kMaxVectors = 4;
constexpr i64 kWgradRows[kMaxVectors + 1] = {0, 24, 13, 8, 6};
#else
struct V {
  using reg = __m256;
  using mask = __m256i;
  static constexpr i64 W = 8;
  static mask first(i64 n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lclamp(n, 0, 8))), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static mask range(i64 lo, i64 hi) { return _mm256_andnot_si256(first(lo), first(hi)); }
  static reg zero() { return _mm256_setzero_ps(); }
  static reg set1(float x) { return _mm256_set1_ps(x); }
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static reg load(const float* p, mask m) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  // Partial stores as 4-, 2- and 1-float pieces: vmaskmovps to memory is microcoded on AMD's cores
  // (tens of cycles), and rows of 12, 24 and 28 floats end in one every row.
  static void store(float* p, reg v, i64 n) {
    if (n >= 8) return _mm256_storeu_ps(p, v);
    if (n <= 0) return;
    __m128 h = _mm256_castps256_ps128(v);
    if (n & 4) {
      _mm_storeu_ps(p, h);
      h = _mm256_extractf128_ps(v, 1);
      p += 4;
    }
    if (n & 2) {
      _mm_storel_pi(reinterpret_cast<__m64*>(p), h);
      h = _mm_movehl_ps(h, h);
      p += 2;
    }
    if (n & 1) _mm_store_ss(p, h);
  }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm256_div_ps(a, b); }
  static reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg fnmadd(reg a, reg b, reg c) { return _mm256_fnmadd_ps(a, b, c); }
  static reg bit_and(reg a, reg b) { return _mm256_and_ps(a, b); }
  static reg bit_or(reg a, reg b) { return _mm256_or_ps(a, b); }
  static reg and_not(reg a, reg b) { return _mm256_andnot_ps(a, b); }
  static reg floor(reg a) { return _mm256_floor_ps(a); }
  /// e·2ⁿ for e in [0.7, 1.42] and integral |n| ≤ 200, rounded once, as AVX-512's scalef. For
  /// |n| ≤ 125 the product is a normal float and exact: n added to e's exponent field. Otherwise
  /// (over- or underflow, rare) two factors 2^⌊n/2⌋ · 2^(n − ⌊n/2⌋), each a normal float: the first
  /// product is exact, so the second rounds once.
  static reg scale(reg e, reg n) {
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i far = _mm256_cmpgt_epi32(_mm256_abs_epi32(ni), _mm256_set1_epi32(125));
    if (_mm256_testz_si256(far, far)) return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(e), _mm256_slli_epi32(ni, 23)));
    const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const reg p1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const reg p2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(e, p1), p2);
  }
  static mask lt(reg a, reg b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_LT_OQ)); }
  static mask gt(reg a, reg b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_GT_OQ)); }
  static mask is_nan(reg a) { return _mm256_castps_si256(_mm256_cmp_ps(a, a, _CMP_UNORD_Q)); }
  static reg blend(reg a, reg b, mask m) { return _mm256_blendv_ps(a, b, _mm256_castsi256_ps(m)); }
  static void transpose(reg r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 4; ++i) {
      t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; ++i) {
      u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
      u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
      u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
      u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int j = 0; j < 4; ++j) {
      r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
      r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
    }
  }
};
// Register blocking for 16 registers: forward tiles of 6 × 2 vectors; weight-gradient tiles of
// kWgradRows[nv] × nv.
constexpr i64 kTileRows = 6;
constexpr i64 kMaxVectors = 5;
constexpr i64 kWgradRows[kMaxVectors + 1] = {0, 12, 6, 4, 3, 2};
#endif

/// e^t, for the elementwise kernels (vmath.cpp, gelu.cpp): t = n·ln 2 + r with |r| ≤ ln 2 / 2 (ln 2 split in two for exactness), e^r from Cephes'
/// polynomial, then e^r·2ⁿ (which over- and underflows to inf and 0 as exp does). t is clamped to
/// ±110, past both (e^t overflows above 88.8 and rounds to 0 below −104; between −104 and −87.3 it
/// is subnormal), so |n| ≤ 159 and the polynomial never sees a huge r; NaN is the caller's.
inline V::reg exp_v(V::reg t) {
  t = V::max(V::min(t, V::set1(110.0f)), V::set1(-110.0f));
  const V::reg n = V::floor(V::fmadd(t, V::set1(1.44269504088896341f), V::set1(0.5f)));
  V::reg r = V::fnmadd(n, V::set1(0.693359375f), t);
  r = V::fnmadd(n, V::set1(-2.12194440e-4f), r);
  V::reg p = V::set1(1.9875691500e-4f);
  p = V::fmadd(p, r, V::set1(1.3981999507e-3f));
  p = V::fmadd(p, r, V::set1(8.3334519073e-3f));
  p = V::fmadd(p, r, V::set1(4.1665795894e-2f));
  p = V::fmadd(p, r, V::set1(1.6666665459e-1f));
  p = V::fmadd(p, r, V::set1(5.0000001201e-1f));
  const V::reg e = V::add(V::fmadd(p, V::mul(r, r), r), V::set1(1.0f));
  return V::scale(e, n);
}

// The kernels of this level (level.hpp's table, filled in table.cpp).
void exp_floats(const float* in, float* out, i64 n);
void sigmoid_floats(const float* in, float* out, i64 n);
void tanh_floats(const float* in, float* out, i64 n);
void gelu_floats(const float* in, float* out, i64 n, bool tanh_approximation);
void gelu_backward_floats(const float* gy, const float* x, float* gx, i64 n, bool tanh_approximation);
float sum_exp(const float* p, i64 n, float m);
void arith(int op, const float* a, i64 a_step, const float* b, i64 b_step, float* y, i64 n);
void sgd(float* w, const float* g, i64 n, float keep, float step);
void lstm_forward_floats(const LstmStep<float>& s);
void lstm_backward_floats(const LstmStepGrad<float>& s);
void max_pool_2x2(const float* in, float* out, i64* arg, i64 h, i64 w);
void max_pool_2x2_backward(const float* g, const i64* arg, float* gx, i64 h, i64 w);
void gemm(i64 m, i64 n, i64 k, const float* packed, const float* b, i64 ldb, float* c, i64 ldc, const float* bias);
void im2col_s1(const float* image, float* cols, i64 ld, const ConvDims& d);
constexpr i64 kMaxTaps = 32;
void col2im_s1(const float* cols, float* image, const ConvDims& d);
void transpose(const float* g, float* gt, i64 f, i64 plane, i64 ldg);
void wgrad(i64 nv, i64 n, i64 oh, i64 ow, const ColsView& a, i64 k0, i64 rows, const float* gt, i64 ldg, float* gw, i64 ldw,
           i64 fcount);
i64 winograd_work(const WinoDims& d, i64 rows);
void winograd_input(const float* x, float* v, i64 ldv, const WinoDims& d, i64 r0, i64 r1, float* work);
void winograd_output(const float* m, i64 ldm, float* y, const float* bias, const WinoDims& d, i64 r0, i64 r1, float* work);
void to_bf16(const float* in, std::uint16_t* out, i64 n);
void from_bf16(const std::uint16_t* in, float* out, i64 n);
#if defined(NABLA_LEVEL_AVX512)
void to_bf16_rows(const float* in, i64 ld_in, std::uint16_t* out, i64 rows, i64 cols, const float* add);
#endif
#if defined(NABLA_LEVEL_AVX512BF16)
void gemm_bf16(bool ta, bool tb, i64 m, i64 n, i64 k, const std::uint16_t* a, i64 lda, const std::uint16_t* b, i64 ldb,
               float* c, i64 ldc);
void gemm_bf16_rows(bool ta, bool tb, i64 m, i64 n, i64 k, const std::uint16_t* a, i64 lda, const std::uint16_t* b,
                    const i64* b_rows, float* c, i64 ldc, bool accumulate);
void gemm_bf16_pairs(i64 m, i64 n, i64 pairs, const std::uint16_t* a, i64 lda, const std::uint32_t* b, const i64* offs,
                     float* c, i64 ldc);
#endif

}  // namespace nabla::kernels::NABLA_LEVEL
