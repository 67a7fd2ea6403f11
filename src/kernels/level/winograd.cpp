// src/kernels/level/winograd.cpp — Winograd F(2×2, 3×3)'s input and output transforms for one level:
// winograd_loops.inc's plain loops, which the compiler vectorizes with this level's vectors.
// (simd.hpp for the declarations; the loops use no vector type.)
#include "simd.hpp"

namespace nabla::kernels::NABLA_LEVEL {
#include "winograd_loops.inc"
}  // namespace nabla::kernels::NABLA_LEVEL
