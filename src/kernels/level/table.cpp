// src/kernels/level/table.cpp — this level's entry in level.hpp's table.
#include "simd.hpp"

namespace nabla::kernels::NABLA_LEVEL {

#define NABLA_STR2(x) #x
#define NABLA_STR(x) NABLA_STR2(x)

extern const LevelKernels table;
const LevelKernels table = {
    NABLA_STR(NABLA_LEVEL), V::W, exp_floats, sigmoid_floats, tanh_floats, sum_exp, arith, sgd, max_pool_2x2, max_pool_2x2_backward,
    kTileRows, gemm, im2col_s1, kMaxTaps, col2im_s1, transpose, kMaxVectors,
    kWgradRows, wgrad};

}  // namespace nabla::kernels::NABLA_LEVEL
