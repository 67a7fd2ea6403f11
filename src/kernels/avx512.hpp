// src/kernels/avx512.hpp — <immintrin.h> for nabla's AVX-512 loops (internal; include only under
// #if defined(__AVX512F__)).
#pragma once

#include <immintrin.h>

// GCC 12 warns "'__Y' may be used uninitialized" inside its own AVX-512 intrinsics (their
// _mm512_undefined_* operand) wherever they are inlined; the warning is about the header, not the
// code using it.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
