// src/kernels/gemm.hpp — the one GEMM wrapper of the library (internal): every matrix product,
// kernels::gemm on tensors and the convolution's blocks on raw pointers, goes through it.
#pragma once

#include <cstdint>

namespace nabla::kernels {

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

}  // namespace nabla::kernels
