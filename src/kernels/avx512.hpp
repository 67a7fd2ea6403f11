// src/kernels/avx512.hpp — <immintrin.h> for nabla's AVX-512 loops (internal; include only under
// #if defined(__AVX512F__)).
#pragma once

#include <immintrin.h>

// GCC 12 warns "'__Y' may be used uninitialized" inside its own AVX-512 intrinsics (their
// _mm512_undefined_* operand) wherever they are inlined; the warning is about the header, not the
// code using it.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstdint>

namespace nabla::kernels {

/// The mask of lanes l < n of a 16-float vector (none for n ≤ 0, all for n ≥ 16): whole vectors and
/// the tail of a row alike.
inline __mmask16 first_lanes(std::int64_t n) {
  return n <= 0 ? 0 : n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1);
}

}  // namespace nabla::kernels
