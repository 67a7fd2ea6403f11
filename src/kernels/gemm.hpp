// src/kernels/gemm.hpp — the one GEMM wrapper of the library (internal): every matrix product,
// kernels::gemm on tensors and the convolution's blocks on raw pointers, goes through it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "nabla/kernels.hpp"
#include "../parallel.hpp"

namespace nabla::kernels {

/// Runs `one(m, n, k, a, b, c)`-shaped products for c [m, n] = op(a) · op(b) over the pool: below
/// 2²¹ multiply-adds or on one thread, one call; else the longer side of C in parts of whole 16-wide
/// blocks, one call (on one thread) each, so every element of C is still one call's sum over all of k.
/// `one` has blas_gemm's signature; blas_gemm and gemm_bf16 both split this way.
template <class A, class B, class C, class One>
void split_gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const A* a,
                std::int64_t lda, const B* b, std::int64_t ldb, C* c, std::int64_t ldc, One&& one) {
  // Below this, handing half to another core costs more than it saves (docs/benchmarks.md, the MLP
  // rows at 1 and 2 threads).
  constexpr std::int64_t kSplitMacs = std::int64_t(1) << 21;
  const int threads = detail::thread_count();
  if (threads <= 1 || m * n * k < kSplitMacs) return one(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc);
  const bool split_n = n >= m;
  const std::int64_t blocks = ((split_n ? n : m) + 15) / 16, parts = std::min<std::int64_t>(threads, blocks);
  detail::parallel_for(parts, 1, [&](std::int64_t p0, std::int64_t p1) {
    for (std::int64_t p = p0; p < p1; ++p) {
      const std::int64_t lo = blocks * p / parts * 16, hi = std::min(split_n ? n : m, blocks * (p + 1) / parts * 16);
      if (hi <= lo) continue;
      if (split_n) {
        one(trans_a, trans_b, m, hi - lo, k, a, lda, trans_b ? b + lo * ldb : b + lo, ldb, c + lo, ldc);
      } else {
        one(trans_a, trans_b, hi - lo, n, k, trans_a ? a + lo : a + lo * lda, lda, b, ldb, c + lo * ldc, ldc);
      }
    }
  });
}

/// c = op(a) · op(b) for row-major matrices, c [m, n] with rows ldc apart; op(a) is [m, k], op(b)
/// [k, n]; lda and ldb are the row strides of a and b as stored. An empty sum (k = 0) writes zeros
/// (BLAS would reject the zero leading dimension); m = 0 or n = 0 writes nothing. T: float or double.
template <class T>
void blas_gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const T* a,
               std::int64_t lda, const T* b, std::int64_t ldb, T* c, std::int64_t ldc);

extern template void blas_gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, const float*, std::int64_t,
                                      const float*, std::int64_t, float*, std::int64_t);
extern template void blas_gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, const double*,
                                       std::int64_t, const double*, std::int64_t, double*, std::int64_t);

/// c [m, n] (float32, rows ldc apart) = op(a) · op(b) for bfloat16 a and b, summed in float32: the
/// level's bfloat16 GEMM (src/kernels/bf16.cpp), split over the pool as blas_gemm is.
void gemm_bf16(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const bfloat16* a,
               std::int64_t lda, const bfloat16* b, std::int64_t ldb, float* c, std::int64_t ldc);
/// A bf16 tensor of `shape` from float32 values, each rounded once.
Tensor round_to_bf16(const std::vector<float>& v, const Shape& shape);
/// conv2d_forward / conv2d_backward for bf16 x, w (and bias): im2col + gemm_bf16 a few images at a time;
/// `saved` (what the weight gradient reads) is x itself, its columns unfolded again chunk by chunk.
ConvForward conv2d_forward_bf16(const Tensor& x, const Tensor& w, const Tensor& bias, const Window2d& win, bool keep);
void conv2d_backward_bf16(const Tensor& gy, const Tensor& w, const Tensor& x, const Shape& x_shape, const Shape& w_shape,
                          const Window2d& win, Tensor* gx, Tensor* gw, Tensor* gb);

}  // namespace nabla::kernels
