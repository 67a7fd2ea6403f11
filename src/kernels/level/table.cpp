// src/kernels/level/table.cpp — this level's entry in level.hpp's table, filled by name.
#include "simd.hpp"

namespace nabla::kernels::NABLA_LEVEL {

#define NABLA_STR2(x) #x
#define NABLA_STR(x) NABLA_STR2(x)

extern const LevelKernels table;
const LevelKernels table = {
    .name = NABLA_STR(NABLA_LEVEL),
    .lanes = V::W,
    .exp = exp_floats,
    .sigmoid = sigmoid_floats,
    .tanh = tanh_floats,
    .gelu = gelu_floats,
    .gelu_backward = gelu_backward_floats,
    .sum_exp = sum_exp,
    .arith = arith,
    .sgd = sgd,
    .max_pool_2x2 = max_pool_2x2,
    .max_pool_2x2_backward = max_pool_2x2_backward,
    .to_bf16 = to_bf16,
    .from_bf16 = from_bf16,
#if defined(NABLA_LEVEL_AVX512)
    .to_bf16_rows = to_bf16_rows,
#else
    .to_bf16_rows = generic::to_bf16_rows,
#endif
#if defined(NABLA_LEVEL_AVX512BF16)
    .gemm_bf16 = gemm_bf16,
    .gemm_bf16_rows = gemm_bf16_rows,
    .gemm_bf16_pairs = gemm_bf16_pairs,
#else
    .gemm_bf16 = generic::gemm_bf16,
    .gemm_bf16_rows = generic::gemm_bf16_rows,
    .gemm_bf16_pairs = generic::gemm_bf16_pairs,
#endif
    .lstm_forward_rows = lstm_forward_floats,
    .lstm_backward_rows = lstm_backward_floats,
    .conv = ConvKind::tiles,
    .tiles = {.tile_rows = kTileRows,
              .tile_cols = 2 * V::W,
              .gemm = gemm,
              .im2col_s1 = im2col_s1,
              .max_taps = kMaxTaps,
              .col2im_s1 = col2im_s1,
              .transpose = transpose,
              .max_vectors = kMaxVectors,
              .wgrad_rows = kWgradRows,
              .wgrad = wgrad},
    .winograd = {.work_floats = winograd_work, .input = winograd_input, .output = winograd_output},
};

}  // namespace nabla::kernels::NABLA_LEVEL
