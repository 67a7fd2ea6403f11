// nabla/bfloat16.hpp — the element type of bf16 tensors: bfloat16, the top 16 bits of a float32
// (1 sign, 8 exponent, 7 mantissa bits). Widening to float32 is exact; narrowing rounds to nearest,
// ties to even, as PyTorch's c10::BFloat16 (round_to_nearest_even): a NaN becomes the quiet NaN
// 0x7fc0, infinities stay, a finite float32 at or above 0x1.ff8p127 (the midpoint between the
// largest bfloat16, 0x1.fep127, and 2^128) rounds to infinity. float64 narrows through float32, as
// c10::BFloat16(double) does. Integer arithmetic only, so no compiler flag can change a result.
#pragma once

#include <bit>
#include <cstdint>

namespace nabla {

/// bfloat16 bits → float32, exact.
inline float bf16_bits_to_float(std::uint16_t b) { return std::bit_cast<float>(std::uint32_t(b) << 16); }

/// float32 → bfloat16 bits, round to nearest even; NaN → 0x7fc0.
inline std::uint16_t float_to_bf16_bits(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return 0x7fc0u;
  return static_cast<std::uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/// One bfloat16 value (2 bytes, the bits in `bits`). Converts implicitly to float (exactly) and from
/// float (rounded), like c10::BFloat16, so loops that only move or compare elements take it as they
/// take float; arithmetic on it is float arithmetic, rounded back when stored.
struct bfloat16 {
  std::uint16_t bits = 0;

  bfloat16() = default;
  bfloat16(float f) : bits(float_to_bf16_bits(f)) {}  // NOLINT: implicit, as c10::BFloat16 (a double: through float)
  operator float() const { return bf16_bits_to_float(bits); }  // NOLINT
  static bfloat16 from_bits(std::uint16_t b) {
    bfloat16 v;
    v.bits = b;
    return v;
  }
  bfloat16& operator+=(float o) { return *this = bfloat16(float(*this) + o); }
  bfloat16& operator-=(float o) { return *this = bfloat16(float(*this) - o); }
  bfloat16& operator*=(float o) { return *this = bfloat16(float(*this) * o); }
  bfloat16& operator/=(float o) { return *this = bfloat16(float(*this) / o); }
};
static_assert(sizeof(bfloat16) == 2);

}  // namespace nabla
