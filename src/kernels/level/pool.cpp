// src/kernels/level/pool.cpp — the 2×2 / stride-2 max-pool of a float plane, a vector of windows at a
// time, for one level: the even and odd columns of the two input rows are separated by permutes, the
// first largest of the four kept with compare-and-blend (strictly greater or NaN, so ties and NaN
// behave as pool.cpp's loop does: a NaN anywhere wins), and the gradient writes every input element once, no zeroing pass.
#include "simd.hpp"

namespace nabla::kernels::NABLA_LEVEL {
namespace {
#if defined(NABLA_LEVEL_AVX512)
using VI = __m512i;
inline VI twice_lane() { return _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30); }
inline VI seti(i64 x) { return _mm512_set1_epi32(static_cast<int>(x)); }
inline VI addi(VI a, VI b) { return _mm512_add_epi32(a, b); }
inline VI subi(VI a, VI b) { return _mm512_sub_epi32(a, b); }
inline V::reg even(V::reg a, V::reg b) { return _mm512_permutex2var_ps(a, twice_lane(), b); }
inline V::reg odd(V::reg a, V::reg b) { return _mm512_permutex2var_ps(a, addi(twice_lane(), seti(1)), b); }
inline VI blendi(VI a, VI b, V::mask m) { return _mm512_mask_mov_epi32(a, m, b); }
inline V::mask eqi(VI a, VI b) { return _mm512_cmpeq_epi32_mask(a, b); }
inline V::mask both(V::mask a, V::mask b) { return a & b; }
inline V::mask either(V::mask a, V::mask b) { return a | b; }
inline V::reg keep(V::reg v, V::mask m) { return _mm512_maskz_mov_ps(m, v); }
/// idx[l] widened to int64 and stored at arg[l] for l < n.
inline void store_index(i64* arg, VI idx, i64 n) {
  const V::mask m = V::first(n);
  _mm512_mask_storeu_epi64(arg, static_cast<__mmask8>(m), _mm512_cvtepi32_epi64(_mm512_castsi512_si256(idx)));
  _mm512_mask_storeu_epi64(arg + 8, static_cast<__mmask8>(m >> 8), _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(idx, 1)));
}
/// arg[l] for l < n (0 past n), narrowed to int32.
inline VI load_index(const i64* arg, i64 n) {
  const V::mask m = V::first(n);
  const __m256i a0 = _mm512_cvtepi64_epi32(_mm512_maskz_loadu_epi64(static_cast<__mmask8>(m), arg));
  const __m256i a1 = _mm512_cvtepi64_epi32(_mm512_maskz_loadu_epi64(static_cast<__mmask8>(m >> 8), arg + 8));
  return _mm512_inserti64x4(_mm512_castsi256_si512(a0), a1, 1);
}
/// The lanes of e and o interleaved: e0 o0 e1 o1 … as two vectors.
inline void interleave(V::reg e, V::reg o, V::reg& lo, V::reg& hi) {
  const VI l = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  lo = _mm512_permutex2var_ps(e, l, o);
  hi = _mm512_permutex2var_ps(e, addi(l, seti(8)), o);
}
#else
using VI = __m256i;
inline VI twice_lane() { return _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14); }
inline VI seti(i64 x) { return _mm256_set1_epi32(static_cast<int>(x)); }
inline VI addi(VI a, VI b) { return _mm256_add_epi32(a, b); }
inline VI subi(VI a, VI b) { return _mm256_sub_epi32(a, b); }
// shuffle_ps picks within 128-bit halves (a0 a2 b0 b2 | a4 a6 b4 b6); the 64-bit permute puts the
// pairs in order.
inline V::reg even(V::reg a, V::reg b) {
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
}
inline V::reg odd(V::reg a, V::reg b) {
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}
inline VI blendi(VI a, VI b, V::mask m) { return _mm256_blendv_epi8(a, b, m); }
inline V::mask eqi(VI a, VI b) { return _mm256_cmpeq_epi32(a, b); }
inline V::mask both(V::mask a, V::mask b) { return _mm256_and_si256(a, b); }
inline V::mask either(V::mask a, V::mask b) { return _mm256_or_si256(a, b); }
inline V::reg keep(V::reg v, V::mask m) { return _mm256_and_ps(v, _mm256_castsi256_ps(m)); }
inline __m256i first64(i64 n) {
  return _mm256_cmpgt_epi64(_mm256_set1_epi64x(lclamp(n, 0, 4)), _mm256_setr_epi64x(0, 1, 2, 3));
}
/// The first n (≤ 4) int64 lanes of v (in pieces, as V::store).
inline void store_first64(i64* p, __m256i v, i64 n) {
  if (n >= 4) return _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
  if (n <= 0) return;
  __m128i h = _mm256_castsi256_si128(v);
  if (n & 2) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), h);
    h = _mm256_extracti128_si256(v, 1);
    p += 2;
  }
  if (n & 1) _mm_storel_epi64(reinterpret_cast<__m128i*>(p), h);
}
inline void store_index(i64* arg, VI idx, i64 n) {
  store_first64(arg, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(idx)), n);
  store_first64(arg + 4, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(idx, 1)), n - 4);
}
inline VI load_index(const i64* arg, i64 n) {
  const auto* p = reinterpret_cast<const long long*>(arg);
  const VI low = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);  // the low halves of four int64 first
  const VI a0 = _mm256_permutevar8x32_epi32(_mm256_maskload_epi64(p, first64(n)), low);
  const VI a1 = _mm256_permutevar8x32_epi32(_mm256_maskload_epi64(p + 4, first64(n - 4)), low);
  return _mm256_permute2x128_si256(a0, a1, 0x20);
}
inline void interleave(V::reg e, V::reg o, V::reg& lo, V::reg& hi) {
  const V::reg l = _mm256_unpacklo_ps(e, o), h = _mm256_unpackhi_ps(e, o);  // e0 o0 e1 o1 | e4 o4 e5 o5, …
  lo = _mm256_permute2f128_ps(l, h, 0x20);
  hi = _mm256_permute2f128_ps(l, h, 0x31);
}
#endif
}  // namespace

void max_pool_2x2(const float* in, float* out, i64* arg, i64 h, i64 w) {
  const i64 oh = h / 2, ow = w / 2, W = V::W;
  for (i64 i = 0; i < oh; ++i) {
    const float* r0 = in + 2 * i * w;
    const float* r1 = r0 + w;
    for (i64 j0 = 0; j0 < ow; j0 += W) {
      const i64 c0 = 2 * j0;
      const V::mask ma = V::first(w - c0), mb = V::first(w - c0 - W);
      const V::reg u0 = V::load(r0 + c0, ma), u1 = V::load(r0 + c0 + W, mb);
      const V::reg v0 = V::load(r1 + c0, ma), v1 = V::load(r1 + c0 + W, mb);
      V::reg best = even(u0, u1);
      VI off = seti(0);
      const V::reg cand[3] = {odd(u0, u1), even(v0, v1), odd(v0, v1)};
      const i64 offs[3] = {1, w, w + 1};
      for (int k = 0; k < 3; ++k) {
        const V::mask gt = either(V::gt(cand[k], best), V::is_nan(cand[k]));
        best = V::blend(best, cand[k], gt);
        off = blendi(off, seti(offs[k]), gt);
      }
      const i64 nj = lmin(W, ow - j0);
      V::store(out + i * ow + j0, best, nj);
      // Flat index in the plane: 2i·w + 2(j0 + l) + offset.
      if (arg != nullptr) store_index(arg + i * ow + j0, addi(addi(off, twice_lane()), seti(2 * i * w + c0)), nj);
    }
  }
}

void max_pool_2x2_backward(const float* g, const i64* arg, float* gx, i64 h, i64 w) {
  const i64 oh = h / 2, ow = w / 2, W = V::W;
  for (i64 i = 0; i < oh; ++i) {
    float* r0 = gx + 2 * i * w;
    float* r1 = r0 + w;
    for (i64 j0 = 0; j0 < (w + 1) / 2; j0 += W) {  // every column pair, the uncovered one too
      const i64 c0 = 2 * j0, nj = lclamp(ow - j0, 0, W);
      const V::mask m = V::first(nj);
      const V::reg gv = V::load(g + i * ow + j0, m);
      const VI off = subi(load_index(arg + i * ow + j0, nj), addi(twice_lane(), seti(2 * i * w + c0)));
      const auto at = [&](i64 o) { return keep(gv, both(m, eqi(off, seti(o)))); };
      V::reg lo, hi;
      interleave(at(0), at(1), lo, hi);
      V::store(r0 + c0, lo, w - c0);
      V::store(r0 + c0 + W, hi, w - c0 - W);
      interleave(at(w), at(w + 1), lo, hi);
      V::store(r1 + c0, lo, w - c0);
      V::store(r1 + c0 + W, hi, w - c0 - W);
    }
  }
  // An odd last row is in no window.
  if (h % 2 == 1) {
    for (i64 j = 0; j < w; ++j) gx[(h - 1) * w + j] = 0.0f;
  }
}

}  // namespace nabla::kernels::NABLA_LEVEL
