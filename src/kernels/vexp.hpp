// src/kernels/vexp.hpp — e^x for float32 runs (internal): a vector at a time at avx2 and avx512 level
// (Cephes' expf polynomial, within 2 ulp; level/vmath.cpp), std::exp at generic level. NaN stays NaN.
#pragma once

#include <cstdint>

namespace nabla::kernels {

/// out[i] = e^{in[i]} for i < n (in and out may be the same).
void exp_floats(const float* in, float* out, std::int64_t n);
/// Σ_{i<n} e^{p[i·stride] − m}, for the log-sum-exp of a line (stride 1 runs vectorized).
float sum_exp(const float* p, std::int64_t n, std::int64_t stride, float m);

}  // namespace nabla::kernels
