// src/kernels/level/bf16.cpp — bfloat16 at one level: the conversions to and from float32 (plain
// loops the compiler vectorizes for the level, the same integer rounding as nabla/bfloat16.hpp, so
// the same bits at every level), and at level avx512bf16 the bfloat16 GEMM on AVX512-BF16's
// dot-product instruction (vdpbf16ps: 16 float32 lanes each += a₀b₀ + a₁b₁ of a pair of bfloat16
// products, the sum of each pair rounded once into the float32 accumulator). The other levels'
// table holds the generic GEMM (blas.cpp's conversion to float32 + sgemm).
#include "simd.hpp"

namespace nabla::kernels::NABLA_LEVEL {

namespace {
inline std::uint32_t bits_of(float f) {
  std::uint32_t x;
  __builtin_memcpy(&x, &f, 4);
  return x;
}
inline float float_of(std::uint32_t x) {
  float f;
  __builtin_memcpy(&f, &x, 4);
  return f;
}
}  // namespace

// nabla/bfloat16.hpp's float_to_bf16_bits (round to nearest even; NaN → 0x7fc0), as a loop.
void to_bf16(const float* in, std::uint16_t* out, i64 n) {
  for (i64 i = 0; i < n; ++i) {
    const std::uint32_t x = bits_of(in[i]);
    const std::uint16_t r = static_cast<std::uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
    out[i] = (x & 0x7fffffffu) > 0x7f800000u ? std::uint16_t(0x7fc0u) : r;
  }
}

void from_bf16(const std::uint16_t* in, float* out, i64 n) {
  for (i64 i = 0; i < n; ++i) out[i] = float_of(std::uint32_t(in[i]) << 16);
}

#if defined(NABLA_LEVEL_AVX512BF16)
namespace {
constexpr i64 kMr = 8;          // rows of C per tile
constexpr i64 kNv = 3;          // vectors of 16 columns per tile
constexpr i64 kNr = 16 * kNv;   // columns per tile
constexpr i64 kKc = 256;        // pairs of k per packed block
constexpr i64 kMc = 64;         // rows of A per packed block
constexpr i64 kNc = 960;        // columns of B per packed block (a multiple of kNr)

/// The packing buffers of one thread, kept between calls (freed as the thread ends).
struct Buffers {
  std::uint32_t* a = nullptr;
  std::uint32_t* b = nullptr;
  Buffers() = default;
  Buffers(const Buffers&) = delete;
  Buffers& operator=(const Buffers&) = delete;
  ~Buffers() {
    _mm_free(a);
    _mm_free(b);
  }
};

/// Element (i, kk) of op(a), 0 past k.
inline std::uint16_t at_a(bool ta, const std::uint16_t* a, i64 lda, i64 i, i64 kk, i64 k) {
  if (kk >= k) return 0;
  return ta ? a[kk * lda + i] : a[i * lda + kk];
}

/// A block of op(a): rows i0 … i0+mc, pairs p0 … p0+kc, as panels of kMr rows: word (p, r) of a
/// panel at pa[p·kMr + r] holds the pair (2p, 2p+1) of row r (rows past m zero).
void pack_a(bool ta, const std::uint16_t* a, i64 lda, i64 m, i64 k, i64 i0, i64 mc, i64 p0, i64 kc, std::uint32_t* pa) {
  for (i64 r0 = 0; r0 < mc; r0 += kMr) {
    std::uint32_t* panel = pa + r0 * kc;
    for (i64 r = 0; r < kMr; ++r) {
      const i64 i = i0 + r0 + r;
      if (i >= m || r0 + r >= mc) {
        for (i64 p = 0; p < kc; ++p) panel[p * kMr + r] = 0;
        continue;
      }
      if (!ta && 2 * (p0 + kc) <= k) {  // the pairs are adjacent in memory
        const std::uint16_t* src = a + i * lda + 2 * p0;
        for (i64 p = 0; p < kc; ++p) panel[p * kMr + r] = std::uint32_t(src[2 * p]) | (std::uint32_t(src[2 * p + 1]) << 16);
        continue;
      }
      for (i64 p = 0; p < kc; ++p) {
        const i64 kk = 2 * (p0 + p);
        panel[p * kMr + r] = std::uint32_t(at_a(ta, a, lda, i, kk, k)) | (std::uint32_t(at_a(ta, a, lda, i, kk + 1, k)) << 16);
      }
    }
  }
}

/// A block of op(b): pairs p0 … p0+kc, columns j0 … j0+nc, as panels of kNr columns: panel word
/// (p, j) at pb[p·kNr + j] holds rows (2p, 2p+1) of column j (columns past n and rows past k zero).
void pack_b(bool tb, const std::uint16_t* b, i64 ldb, i64 n, i64 k, i64 p0, i64 kc, i64 j0, i64 nc, std::uint32_t* pb) {
  for (i64 c0 = 0; c0 < nc; c0 += kNr) {
    std::uint32_t* panel = pb + c0 * kc;
    const i64 cols = lmin(kNr, lmin(nc - c0, n - j0 - c0));
    for (i64 p = 0; p < kc; ++p) {
      const i64 kk = 2 * (p0 + p);
      std::uint32_t* dst = panel + p * kNr;
      if (!tb) {
        const std::uint16_t* r0 = b + kk * ldb + j0 + c0;
        if (kk + 1 < k) {
          const std::uint16_t* r1 = r0 + ldb;
          if (cols == kNr) {  // the two rows interleaved a vector at a time
            for (i64 v = 0; v < kNv; ++v) {
              const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r0 + 16 * v));
              const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r1 + 16 * v));
              const __m512i w0 = _mm512_cvtepu16_epi32(x0), w1 = _mm512_cvtepu16_epi32(x1);
              _mm512_storeu_si512(dst + 16 * v, _mm512_or_si512(w0, _mm512_slli_epi32(w1, 16)));
            }
          } else {
            for (i64 j = 0; j < cols; ++j) dst[j] = std::uint32_t(r0[j]) | (std::uint32_t(r1[j]) << 16);
          }
        } else if (kk < k) {
          for (i64 j = 0; j < cols; ++j) dst[j] = r0[j];
        } else {
          for (i64 j = 0; j < cols; ++j) dst[j] = 0;
        }
      } else {
        for (i64 j = 0; j < cols; ++j) {
          const std::uint16_t* src = b + (j0 + c0 + j) * ldb + kk;
          dst[j] = kk + 1 < k ? std::uint32_t(src[0]) | (std::uint32_t(src[1]) << 16) : kk < k ? std::uint32_t(src[0]) : 0u;
        }
      }
      for (i64 j = cols; j < kNr; ++j) dst[j] = 0;
    }
  }
}

/// C tile [rows, cols] (rows ≤ kMr, cols ≤ kNr) = (accumulate ? C : 0) + panel A · panel B over kc pairs.
void tile(i64 kc, const std::uint32_t* pa, const std::uint32_t* pb, float* c, i64 ldc, i64 rows, i64 cols, bool accumulate) {
  __m512 acc[kMr][kNv];
  for (i64 r = 0; r < kMr; ++r) {
    for (i64 v = 0; v < kNv; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  for (i64 p = 0; p < kc; ++p) {
    __m512bh bv[kNv];
    for (i64 v = 0; v < kNv; ++v) bv[v] = (__m512bh)_mm512_loadu_si512(pb + p * kNr + 16 * v);
    for (i64 r = 0; r < kMr; ++r) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(pa[p * kMr + r]));
      for (i64 v = 0; v < kNv; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
    }
  }
  for (i64 r = 0; r < rows; ++r) {
    for (i64 v = 0; v < kNv; ++v) {
      const i64 left = cols - 16 * v;
      if (left <= 0) break;
      const __mmask16 mk = V::first(left);
      float* dst = c + r * ldc + 16 * v;
      __m512 x = acc[r][v];
      if (accumulate) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mk, dst));
      _mm512_mask_storeu_ps(dst, mk, x);
    }
  }
}
}  // namespace

// c [m, n] = op(a) · op(b), float32 sums of bfloat16 products, blocked as GotoBLAS: panels of b of
// kKc pairs × kNc columns, of a kMc rows × kKc pairs, tiles of kMr × kNr. Each element of c is summed
// over k in order, pair by pair (each pair's two products added before the accumulator), one kKc
// block at a time.
void gemm_bf16(bool ta, bool tb, i64 m, i64 n, i64 k, const std::uint16_t* a, i64 lda, const std::uint16_t* b, i64 ldb,
               float* c, i64 ldc) {
  const i64 pairs = (k + 1) / 2;
  static thread_local Buffers bufs;
  if (bufs.a == nullptr) {
    bufs.a = static_cast<std::uint32_t*>(_mm_malloc(sizeof(std::uint32_t) * kMc * kKc, 64));
    bufs.b = static_cast<std::uint32_t*>(_mm_malloc(sizeof(std::uint32_t) * kNc * kKc, 64));
  }
  std::uint32_t* buf_a = bufs.a;
  std::uint32_t* buf_b = bufs.b;
  for (i64 j0 = 0; j0 < n; j0 += kNc) {
    const i64 nc = lmin(kNc, n - j0), ncr = (nc + kNr - 1) / kNr * kNr;
    for (i64 p0 = 0; p0 < pairs; p0 += kKc) {
      const i64 kc = lmin(kKc, pairs - p0);
      pack_b(tb, b, ldb, n, k, p0, kc, j0, ncr, buf_b);
      for (i64 i0 = 0; i0 < m; i0 += kMc) {
        const i64 mc = lmin(kMc, m - i0), mcr = (mc + kMr - 1) / kMr * kMr;
        pack_a(ta, a, lda, m, k, i0, mcr, p0, kc, buf_a);
        for (i64 jr = 0; jr < nc; jr += kNr) {
          for (i64 ir = 0; ir < mc; ir += kMr) {
            tile(kc, buf_a + ir * kc, buf_b + jr * kc, c + (i0 + ir) * ldc + j0 + jr, ldc, lmin(kMr, mc - ir),
                 lmin(kNr, nc - jr), p0 > 0);
          }
        }
      }
    }
  }
}
#endif

}  // namespace nabla::kernels::NABLA_LEVEL
