// src/kernels/pool_fast.hpp — the vectorized 2×2 / stride-2 max-pool (internal; the loops are the
// level's, level/pool.cpp): each entry point declines (false, or an undefined Tensor) where it does
// not apply, at generic level always.
#pragma once

#include "nabla/kernels.hpp"

namespace nabla::kernels {

/// Fills y and argmax (allocated by the caller, as max_pool2d does) for float 2×2 / stride-2 windows.
bool max_pool_2x2_fast(const Tensor& x, const Window2d& win, Tensor& y, Tensor& argmax);
/// The gradient of max_pool_2x2_fast: every input element written once.
Tensor max_pool_2x2_fast_backward(const Tensor& gy, const Tensor& argmax, const Shape& x_shape, const Window2d& win);

}  // namespace nabla::kernels
