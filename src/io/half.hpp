// src/io/half.hpp — the 16-bit floating formats of checkpoints (IEEE binary16 "F16", bfloat16
// "BF16"), converted to and from float32 bit for bit: widening is exact; narrowing rounds to
// nearest, ties to even, as PyTorch's c10::Half and c10::BFloat16 do. Integer arithmetic only, so
// no compiler flag (FMA contraction, flush-to-zero) can change a result.
#pragma once

#include <bit>
#include <cstdint>

#include "nabla/bfloat16.hpp"

namespace nabla::io::detail {

/// binary16 → float32, exact (subnormals, infinities, NaN payloads kept).
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0) {
    // ±0, or a subnormal mant · 2^-24: exact in float32 (float(mant) has at most 10 bits).
    bits = sign | std::bit_cast<std::uint32_t>(float(mant) * 0x1p-24f);
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);  // infinity or NaN (payload kept)
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // rebias 15 → 127
  }
  return std::bit_cast<float>(bits);
}

/// float32 → binary16, round to nearest even; beyond 65504 (from 65520 up) infinity; a NaN stays a
/// quiet NaN with the top bits of its payload (as the F16C instruction does).
inline std::uint16_t float_to_half(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  if (ax >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // ≥ 65520: rounds up to infinity
  if (ax >= 0x38800000u) {                                                  // a normal half (≥ 2^-14)
    const std::uint32_t m = ax - (112u << 23);                              // rebias 127 → 15
    return static_cast<std::uint16_t>(sign | ((m + 0xfffu + ((m >> 13) & 1u)) >> 13));  // a carry bumps the exponent
  }
  if (ax <= 0x33000000u) return sign;  // at most 2^-25, half the smallest subnormal: ties to even, 0
  // A subnormal: round(|f| / 2^-24). |f| = significand · 2^(e - 150), so shift by 126 - e (14..24).
  const std::uint32_t e = ax >> 23, significand = (ax & 0x7fffffu) | 0x800000u, shift = 126 - e;
  std::uint32_t q = significand >> shift;
  const std::uint32_t rest = significand & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (rest > half || (rest == half && (q & 1u))) ++q;  // 0x400 is the smallest normal: still right
  return static_cast<std::uint16_t>(sign | q);
}

/// bfloat16 ↔ float32: nabla/bfloat16.hpp's conversions (the bf16 dtype uses the same ones).
inline float bfloat16_to_float(std::uint16_t b) { return nabla::bf16_bits_to_float(b); }
inline std::uint16_t float_to_bfloat16(float f) { return nabla::float_to_bf16_bits(f); }

}  // namespace nabla::io::detail
