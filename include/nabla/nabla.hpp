// nabla/nabla.hpp — the whole public API.
#pragma once

#include "nabla/error.hpp"
#include "nabla/gradcheck.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/tensor.hpp"
