// nabla/ops_logical.hpp — all and any (torch.all, torch.any): bool reductions of any dtype, nonzero
// counting as true; over the whole tensor (a 0-d bool) or along `dim` (negative counts from the end).
// No gradient, as in PyTorch.
#pragma once

#include "nabla/tensor.hpp"

namespace nabla {

Tensor all(const Tensor& x);
Tensor all(const Tensor& x, int dim, bool keepdim = false);
Tensor any(const Tensor& x);
Tensor any(const Tensor& x, int dim, bool keepdim = false);

}  // namespace nabla
