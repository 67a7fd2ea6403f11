// src/kernels/level/bf16.cpp — bfloat16 at one level: the conversions to and from float32 (plain
// loops the compiler vectorizes for the level, the same integer rounding as nabla/bfloat16.hpp, so
// the same bits at every level), and at level avx512bf16 the bfloat16 GEMM on AVX512-BF16's
// dot-product instruction (vdpbf16ps: 16 float32 lanes each += a₀b₀ + a₁b₁ of a pair of bfloat16
// products, the sum of each pair rounded once into the float32 accumulator). The other levels'
// table holds the generic GEMM (blas.cpp's conversion to float32 + sgemm).
#include "simd.hpp"

// As simd.hpp says of -Wmaybe-uninitialized: GCC 12 flags the _mm512_undefined_* operand inside its own
// unpack intrinsics (the transposes below) as '__Y' used uninitialized; the warning is about the header.
#pragma GCC diagnostic ignored "-Wuninitialized"

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

#if defined(NABLA_LEVEL_AVX512)
// Short rows (a convolution's output rows, 14–30 floats) a vector at a time, the last one masked (the
// other levels' table holds generic::to_bf16_rows).
void to_bf16_rows(const float* in, i64 ld_in, std::uint16_t* out, i64 rows, i64 cols, const float* add) {
  const __m512i half = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1), magnitude = _mm512_set1_epi32(0x7fffffff);
  const __m512i inf = _mm512_set1_epi32(0x7f800000), qnan = _mm512_set1_epi32(0x7fc0);
  const __m512 b = _mm512_set1_ps(add != nullptr ? *add : 0.0f);
  for (i64 r = 0; r < rows; ++r) {
    for (i64 j = 0; j < cols; j += 16) {
      const __mmask16 m = V::first(cols - j);
      __m512 x = _mm512_maskz_loadu_ps(m, in + r * ld_in + j);
      if (add != nullptr) x = _mm512_add_ps(x, b);
      const __m512i xi = _mm512_castps_si512(x);
      __m512i h = _mm512_add_epi32(_mm512_add_epi32(xi, half), _mm512_and_si512(_mm512_srli_epi32(xi, 16), one));
      h = _mm512_srli_epi32(h, 16);
      h = _mm512_mask_mov_epi32(h, _mm512_cmpgt_epu32_mask(_mm512_and_si512(xi, magnitude), inf), qnan);
      _mm256_mask_storeu_epi16(out + r * cols + j, m, _mm512_cvtepi32_epi16(h));
    }
  }
}
#endif

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

/// Words of A kept packed whole (gemm_impl), and the thread's buffers: kept A and one block of A, one of B.
constexpr i64 kKeepA = i64(1) << 19;
Buffers& buffers() {
  static thread_local Buffers bufs;
  if (bufs.a == nullptr) {
    bufs.a = static_cast<std::uint32_t*>(_mm_malloc(sizeof(std::uint32_t) * (kKeepA + kMc * kKc), 64));
    bufs.b = static_cast<std::uint32_t*>(_mm_malloc(sizeof(std::uint32_t) * kNc * kKc, 64));
  }
  return bufs;
}

/// Element (i, kk) of op(a), 0 past k.
inline std::uint16_t at_a(bool ta, const std::uint16_t* a, i64 lda, i64 i, i64 kk, i64 k) {
  if (kk >= k) return 0;
  return ta ? a[kk * lda + i] : a[i * lda + kk];
}

/// The 32-bit word of two bfloat16 at p (any 2-byte alignment).
inline std::uint32_t pair_at(const std::uint16_t* p) {
  std::uint32_t x;
  __builtin_memcpy(&x, p, 4);
  return x;
}

/// out[j·16 + i] = the 32-bit word j of row i (16 words from rows[i], rows at any 2-byte alignment):
/// a 16 × 16 transpose of words, as the B panels of a transposed operand are stored.
/// Rows past `valid` read as zeros.
inline void transpose16(const std::uint16_t* const* rows, i64 valid, i64 word0, std::uint32_t* out, i64 ld_out) {
  __m512i r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = i < valid ? _mm512_loadu_si512(rows[i] + 2 * word0) : _mm512_setzero_si512();
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  // t[2q], t[2q+1]: rows 2q, 2q+1 interleaved (words 0,1 / 2,3 of each 128-bit lane).
  for (int g = 0; g < 16; g += 4) {
    r[g + 0] = _mm512_unpacklo_epi64(t[g], t[g + 2]);      // word 0 of each lane, rows g…g+3
    r[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);      // word 1
    r[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);  // word 2
    r[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);  // word 3
  }
  // r[g + w]: lane l holds word 4l + w of rows g … g+3.
  for (int w = 0; w < 4; ++w) {
    const __m512i v0 = _mm512_shuffle_i32x4(r[w], r[4 + w], 0x88), v1 = _mm512_shuffle_i32x4(r[w], r[4 + w], 0xdd);
    const __m512i w0 = _mm512_shuffle_i32x4(r[8 + w], r[12 + w], 0x88), w1 = _mm512_shuffle_i32x4(r[8 + w], r[12 + w], 0xdd);
    _mm512_storeu_si512(out + (w + 0) * ld_out, _mm512_shuffle_i32x4(v0, w0, 0x88));
    _mm512_storeu_si512(out + (w + 8) * ld_out, _mm512_shuffle_i32x4(v0, w0, 0xdd));
    _mm512_storeu_si512(out + (w + 4) * ld_out, _mm512_shuffle_i32x4(v1, w1, 0x88));
    _mm512_storeu_si512(out + (w + 12) * ld_out, _mm512_shuffle_i32x4(v1, w1, 0xdd));
  }
}

/// A block of op(a): rows i0 … i0+mc, pairs p0 … p0+kc, as panels of kMr rows: word (p, r) of a
/// panel at pa[p·kMr + r] holds the pair (2p, 2p+1) of row r (rows past m zero).
void pack_a(bool ta, const std::uint16_t* a, i64 lda, i64 m, i64 k, i64 i0, i64 mc, i64 p0, i64 kc, std::uint32_t* pa) {
  for (i64 r0 = 0; r0 < mc; r0 += kMr) {
    std::uint32_t* panel = pa + r0 * kc;
    const i64 rows = lmin(kMr, lmin(mc - r0, m - i0 - r0));
    const bool whole_k = 2 * (p0 + kc) <= k;
    if (rows == kMr && whole_k && ta) {  // rows 2p and 2p+1 of the stored a, 8 columns interleaved
      const std::uint16_t* src = a + 2 * p0 * lda + i0 + r0;
      for (i64 p = 0; p < kc; ++p) {
        const __m128i x0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * p * lda));
        const __m128i x1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + (2 * p + 1) * lda));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(panel + p * kMr), _mm_unpacklo_epi16(x0, x1));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(panel + p * kMr + 4), _mm_unpackhi_epi16(x0, x1));
      }
      continue;
    }
    if (rows == kMr && whole_k && !ta) {  // 8 rows of adjacent pairs: words transposed 8 × 8 at a time
      const std::uint16_t* src = a + (i0 + r0) * lda + 2 * p0;
      i64 p = 0;
      for (; p + 8 <= kc; p += 8) {
        __m256i r[8], t[8];
        for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i * lda + 2 * p));
        for (int i = 0; i < 8; i += 2) {
          t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
          t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
        }
        for (int g = 0; g < 8; g += 4) {
          r[g + 0] = _mm256_unpacklo_epi64(t[g], t[g + 2]);
          r[g + 1] = _mm256_unpackhi_epi64(t[g], t[g + 2]);
          r[g + 2] = _mm256_unpacklo_epi64(t[g + 1], t[g + 3]);
          r[g + 3] = _mm256_unpackhi_epi64(t[g + 1], t[g + 3]);
        }
        // r[w] / r[4 + w]: lane l holds word 4l + w of rows 0–3 / 4–7.
        for (int w = 0; w < 4; ++w) {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel + (p + w) * kMr), _mm256_permute2x128_si256(r[w], r[4 + w], 0x20));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel + (p + w + 4) * kMr),
                              _mm256_permute2x128_si256(r[w], r[4 + w], 0x31));
        }
      }
      for (; p < kc; ++p) {
        for (i64 r = 0; r < kMr; ++r) panel[p * kMr + r] = pair_at(src + r * lda + 2 * p);
      }
      continue;
    }
    for (i64 r = 0; r < kMr; ++r) {
      const i64 i = i0 + r0 + r;
      if (r >= rows) {
        for (i64 p = 0; p < kc; ++p) panel[p * kMr + r] = 0;
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
/// Stored row r of b: at b + rows[r] where rows is given, else b + r·ldb.
struct RowsOf {
  const std::uint16_t* b;
  i64 ldb;
  const i64* rows;
  const std::uint16_t* operator()(i64 r) const { return rows != nullptr ? b + rows[r] : b + r * ldb; }
};

void pack_b(bool tb, const RowsOf& row, i64 n, i64 k, i64 p0, i64 kc, i64 j0, i64 nc, std::uint32_t* pb) {
  for (i64 c0 = 0; c0 < nc; c0 += kNr) {
    std::uint32_t* panel = pb + c0 * kc;
    const i64 cols = lmin(kNr, lmin(nc - c0, n - j0 - c0));
    i64 p = 0;
    if (tb && cols > 0) {  // each column's pairs adjacent: 16 × 16 transposes of words (columns past n zero)
      const i64 whole = lmin(kc, k / 2 - p0);  // pairs with both rows inside k
      for (i64 v = 0; v < kNv; ++v) {
        const i64 valid = lclamp(cols - 16 * v, 0, 16);
        const std::uint16_t* rows[16];
        for (i64 i = 0; i < 16; ++i) rows[i] = i < valid ? row(j0 + c0 + 16 * v + i) + 2 * p0 : nullptr;
        for (i64 q = 0; q + 16 <= whole; q += 16) transpose16(rows, valid, q, panel + q * kNr + 16 * v, kNr);
      }
      p = whole / 16 * 16;
    }
    for (; p < kc; ++p) {
      const i64 kk = 2 * (p0 + p);
      std::uint32_t* dst = panel + p * kNr;
      if (!tb) {
        const std::uint16_t* r0 = kk < k ? row(kk) + j0 + c0 : nullptr;
        if (kk + 1 < k) {
          const std::uint16_t* r1 = row(kk + 1) + j0 + c0;
          // The two rows interleaved a vector at a time (masked past cols: those words zero).
          for (i64 v = 0; v < kNv; ++v) {
            const __mmask16 mk = V::first(cols - 16 * v);
            const __m256i x0 = _mm256_maskz_loadu_epi16(mk, r0 + 16 * v);
            const __m256i x1 = _mm256_maskz_loadu_epi16(mk, r1 + 16 * v);
            const __m512i w0 = _mm512_cvtepu16_epi32(x0), w1 = _mm512_cvtepu16_epi32(x1);
            _mm512_storeu_si512(dst + 16 * v, _mm512_or_si512(w0, _mm512_slli_epi32(w1, 16)));
          }
          continue;
        } else if (kk < k) {
          for (i64 j = 0; j < cols; ++j) dst[j] = r0[j];
        } else {
          for (i64 j = 0; j < cols; ++j) dst[j] = 0;
        }
      } else {
        for (i64 j = 0; j < cols; ++j) {
          const std::uint16_t* src = row(j0 + c0 + j) + kk;
          dst[j] = kk + 1 < k ? pair_at(src) : kk < k ? std::uint32_t(src[0]) : 0u;
        }
      }
      for (i64 j = cols; j < kNr; ++j) dst[j] = 0;
    }
  }
}

/// C tile [rows, cols] (rows ≤ kMr, cols ≤ kNr) = (accumulate ? C : 0) + panel A · B over kc pairs,
/// the 16 words v of B's pair p at b_at(p) + 16·v: a packed panel's, or (gemm_bf16_pairs) B's own.
template <class BAt>
inline void tile(i64 kc, const std::uint32_t* pa, BAt b_at, float* c, i64 ldc, i64 rows, i64 cols, bool accumulate) {
  __m512 acc[kMr][kNv];
  for (i64 r = 0; r < kMr; ++r) {
    for (i64 v = 0; v < kNv; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  for (i64 p = 0; p < kc; ++p) {
    __m512bh bv[kNv];
    const std::uint32_t* pb = b_at(p);
    for (i64 v = 0; v < kNv; ++v) bv[v] = (__m512bh)_mm512_loadu_si512(pb + 16 * v);
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
namespace {
void gemm_impl(bool ta, bool tb, i64 m, i64 n, i64 k, const std::uint16_t* a, i64 lda, const RowsOf& b, float* c, i64 ldc,
               bool accumulate) {
  const i64 pairs = (k + 1) / 2, mr = (m + kMr - 1) / kMr * kMr;
  // All of op(a) packed once (its blocks reused for every block of columns) when it takes at most
  // kKeepA words, as the convolutions' weight matrices do; else block by block.
  const bool keep_a = n > kNc && pairs * mr <= kKeepA;
  Buffers& bufs = buffers();
  std::uint32_t* buf_b = bufs.b;
  for (i64 j0 = 0; j0 < n; j0 += kNc) {
    const i64 nc = lmin(kNc, n - j0), ncr = (nc + kNr - 1) / kNr * kNr;
    for (i64 p0 = 0; p0 < pairs; p0 += kKc) {
      const i64 kc = lmin(kKc, pairs - p0);
      pack_b(tb, b, n, k, p0, kc, j0, ncr, buf_b);
      for (i64 i0 = 0; i0 < m; i0 += kMc) {
        const i64 mc = lmin(kMc, m - i0), mcr = (mc + kMr - 1) / kMr * kMr;
        // Block (p0, i0) of the kept A at p0·mr + i0·kc: blocks of kKc pairs × all rows, each
        // as panels of kMr rows.
        std::uint32_t* buf_a = keep_a ? bufs.a + p0 * mr + i0 * kc : bufs.a + kKeepA;
        if (!keep_a || j0 == 0) pack_a(ta, a, lda, m, k, i0, mcr, p0, kc, buf_a);
        for (i64 jr = 0; jr < nc; jr += kNr) {
          for (i64 ir = 0; ir < mc; ir += kMr) {
            const std::uint32_t* panel = buf_b + jr * kc;
            tile(kc, buf_a + ir * kc, [panel](i64 p) { return panel + p * kNr; }, c + (i0 + ir) * ldc + j0 + jr, ldc,
                 lmin(kMr, mc - ir), lmin(kNr, nc - jr), accumulate || p0 > 0);
          }
        }
      }
    }
  }
}
}  // namespace

void gemm_bf16(bool ta, bool tb, i64 m, i64 n, i64 k, const std::uint16_t* a, i64 lda, const std::uint16_t* b, i64 ldb,
               float* c, i64 ldc) {
  gemm_impl(ta, tb, m, n, k, a, lda, RowsOf{b, ldb, nullptr}, c, ldc, false);
}

void gemm_bf16_rows(bool ta, bool tb, i64 m, i64 n, i64 k, const std::uint16_t* a, i64 lda, const std::uint16_t* b,
                    const i64* b_rows, float* c, i64 ldc, bool accumulate) {
  gemm_impl(ta, tb, m, n, k, a, lda, RowsOf{b, 0, b_rows}, c, ldc, accumulate);
}

// B by pairs, read in place: blocks of kKc pairs × kMc rows of A packed, each tile's B words loaded
// from B itself (the whole of a block's columns, tile by tile, each column's sums in the same order as
// gemm_bf16's).
void gemm_bf16_pairs(i64 m, i64 n, i64 pairs, const std::uint16_t* a, i64 lda, const std::uint32_t* b, const i64* offs,
                     float* c, i64 ldc) {
  std::uint32_t* buf_a = buffers().a;
  for (i64 p0 = 0; p0 < pairs; p0 += kKc) {
    const i64 kc = lmin(kKc, pairs - p0);
    const i64* off = offs + p0;
    for (i64 i0 = 0; i0 < m; i0 += kMc) {
      const i64 mc = lmin(kMc, m - i0), mcr = (mc + kMr - 1) / kMr * kMr;
      pack_a(false, a, lda, m, 2 * pairs, i0, mcr, p0, kc, buf_a);
      for (i64 jr = 0; jr < n; jr += kNr) {
        for (i64 ir = 0; ir < mc; ir += kMr) {
          tile(kc, buf_a + ir * kc, [b, off, jr](i64 p) { return b + off[p] + jr; }, c + (i0 + ir) * ldc + jr, ldc,
               lmin(kMr, mc - ir), lmin(kNr, n - jr), p0 > 0);
        }
      }
    }
  }
}
#endif

}  // namespace nabla::kernels::NABLA_LEVEL
