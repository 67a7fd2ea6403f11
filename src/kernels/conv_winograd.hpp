// src/kernels/conv_winograd.hpp — float32 3×3 stride-1 convolution as Winograd F(2×2, 3×3) (internal;
// conv.cpp calls these where winograd_forward_chosen / winograd_input_grad_chosen say so).
#pragma once

#include "nabla/kernels.hpp"

namespace nabla::kernels {

/// Whether the forward of x_shape, w_shape, win runs as Winograd (conv3x3_algorithm() and the rule).
bool winograd_forward_chosen(const Shape& x_shape, const Shape& w_shape, const Window2d& win);
/// Whether the input gradient does (a stride-1 3×3 convolution of gy with the flipped, transposed w).
bool winograd_input_grad_chosen(const Shape& x_shape, const Shape& w_shape, const Window2d& win);
/// y = conv(x, w) + bias (bias may be undefined) for float32 x [N, C, H, W], w [F, C, 3, 3], stride 1,
/// `pad` zeros around each plane.
Tensor winograd_forward(const Tensor& x, const Tensor& w, const Tensor& bias, std::int64_t pad);
/// gx [x_shape] of that convolution, from gy [N, F, Ho, Wo].
Tensor winograd_input_grad(const Tensor& w, const Tensor& gy, const Shape& x_shape, std::int64_t pad);

}  // namespace nabla::kernels
