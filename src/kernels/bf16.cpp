// src/kernels/bf16.cpp — bfloat16 in the kernels: the conversions and the GEMM entry (the level's
// vdpbf16ps GEMM, or the generic one here: widened to float32, then sgemm). The bf16 convolution is
// bf16_conv.cpp.
#include <algorithm>
#include <vector>

#include "gemm.hpp"
#include "level/level.hpp"
#include "nabla/kernels.hpp"

namespace nabla::kernels {

namespace generic {
void gemm_bf16(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const std::uint16_t* a,
               std::int64_t lda, const std::uint16_t* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  // The stored blocks that op(a) and op(b) read, widened (exactly) into contiguous float32 copies.
  const std::int64_t ar = trans_a ? k : m, ac = trans_a ? m : k, br = trans_b ? n : k, bc = trans_b ? k : n;
  std::vector<float> fa(static_cast<std::size_t>(ar * ac)), fb(static_cast<std::size_t>(br * bc));
  for (std::int64_t r = 0; r < ar; ++r) level_kernels().from_bf16(a + r * lda, fa.data() + r * ac, ac);
  for (std::int64_t r = 0; r < br; ++r) level_kernels().from_bf16(b + r * ldb, fb.data() + r * bc, bc);
  blas_gemm<float>(trans_a, trans_b, m, n, k, fa.data(), ac, fb.data(), bc, c, ldc);
}

void gemm_bf16_rows(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const std::uint16_t* a,
                    std::int64_t lda, const std::uint16_t* b, const std::int64_t* b_rows, float* c, std::int64_t ldc,
                    bool accumulate) {
  const std::int64_t rows = trans_b ? n : k, len = trans_b ? k : n;
  std::vector<std::uint16_t> gathered(static_cast<std::size_t>(rows * len));
  for (std::int64_t r = 0; r < rows; ++r) std::copy(b + b_rows[r], b + b_rows[r] + len, gathered.data() + r * len);
  if (!accumulate) return gemm_bf16(trans_a, trans_b, m, n, k, a, lda, gathered.data(), len, c, ldc);
  std::vector<float> part(static_cast<std::size_t>(m * n));
  gemm_bf16(trans_a, trans_b, m, n, k, a, lda, gathered.data(), len, part.data(), n);
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) c[i * ldc + j] += part[static_cast<std::size_t>(i * n + j)];
  }
}

void gemm_bf16_pairs(std::int64_t m, std::int64_t n, std::int64_t pairs, const std::uint16_t* a, std::int64_t lda,
                     const std::uint32_t* b, const std::int64_t* offs, float* c, std::int64_t ldc) {
  std::vector<std::uint16_t> rows(static_cast<std::size_t>(2 * pairs * n));
  for (std::int64_t p = 0; p < pairs; ++p) {
    const std::uint32_t* src = b + offs[p];
    std::uint16_t* lo = rows.data() + 2 * p * n;
    for (std::int64_t j = 0; j < n; ++j) {
      lo[j] = static_cast<std::uint16_t>(src[j]);
      lo[n + j] = static_cast<std::uint16_t>(src[j] >> 16);
    }
  }
  gemm_bf16(false, false, m, n, 2 * pairs, a, lda, rows.data(), n, c, ldc);
}
}  // namespace generic

void float_to_bf16(const float* in, bfloat16* out, std::int64_t n) {
  level_kernels().to_bf16(in, reinterpret_cast<std::uint16_t*>(out), n);
}

void bf16_to_float(const bfloat16* in, float* out, std::int64_t n) {
  level_kernels().from_bf16(reinterpret_cast<const std::uint16_t*>(in), out, n);
}


void gemm_bf16(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const bfloat16* a,
               std::int64_t lda, const bfloat16* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (std::int64_t r = 0; r < m; ++r) std::fill(c + r * ldc, c + r * ldc + n, 0.0f);
    return;
  }
  const auto* pa = reinterpret_cast<const std::uint16_t*>(a);
  const auto* pb = reinterpret_cast<const std::uint16_t*>(b);
  split_gemm(trans_a, trans_b, m, n, k, pa, lda, pb, ldb, c, ldc, level_kernels().gemm_bf16);
}

Tensor round_to_bf16(const std::vector<float>& v, const Shape& shape) {
  Tensor t = empty(shape, bf16);
  float_to_bf16(v.data(), t.mutable_data<bfloat16>(), shape.numel());
  return t;
}

}  // namespace nabla::kernels
