// nabla/nabla.hpp — the whole public API.
#pragma once

#include "nabla/autograd.hpp"
#include "nabla/data.hpp"
#include "nabla/error.hpp"
#include "nabla/gradcheck.hpp"
#include "nabla/inspect.hpp"
#include "nabla/io.hpp"
#include "nabla/kernels.hpp"
#include "nabla/nn.hpp"
#include "nabla/nn_layers.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/optim.hpp"
#include "nabla/profile.hpp"
#include "nabla/tensor.hpp"
#include "nabla/toolkit.hpp"
#include "nabla/train.hpp"
