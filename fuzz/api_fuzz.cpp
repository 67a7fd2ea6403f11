// fuzz/api_fuzz.cpp — libFuzzer harness: the public op API under arbitrary arguments. The input is
// decoded into a pool of up to four tensors (shapes from small or extreme int64 values: 0, negative,
// 2^31, 2^62, INT64_MAX; dtypes float32, float64, int64 and bool; values with NaN, ±inf, huge and
// denormal numbers; some requiring grad) and then up to eight calls from a table of public ops, each
// with arguments (axes, sizes, strides, paddings, equations) read from the input too. Every call must
// either return well-formed tensors (defined, a valid dtype, non-negative dimensions whose product is
// numel, readable data) or throw a nabla::Error; any other exception escapes and is a finding, as is
// whatever AddressSanitizer and UndefinedBehaviorSanitizer report.
//
// Sizes: a call whose arguments ask for between 2^24 and 2^38 elements (or as much work) is skipped,
// so that a valid but large request does not exhaust the fuzzer's memory or time; smaller requests
// run, and so do larger ones (and overflowing or negative ones): those are past any memory and must
// be refused. Small results (an empty one: small in its other dimensions) go back into the pool for
// the next calls. Deterministic in its input (the default generator is reseeded, one thread).
//
// Layout of an input: byte 0 → pool size (1–4); per tensor: dtype, rank, dims, requires_grad, a
// count and that many element values (repeated to fill); then per call: the op, its arguments.
//
// Files: api_fuzz.hpp (decoder, limits, pool), api_calls.cpp (the op table), this file (entry point).
#include <cstdint>

#include <nabla/nabla.hpp>

#include "api_fuzz.hpp"

using namespace nabla;
using api_fuzz::Harness;
using api_fuzz::Input;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool once = [] {
    set_num_threads(1);
    return true;
  }();
  (void)once;
  manual_seed(0);
  Harness h{Input(data, size), {}};
  const int count = 1 + h.in.u8() % 4;
  for (int i = 0; i < count; ++i) {
    try {
      h.pool.push_back(h.make_tensor());
    } catch (const Error&) {
      h.pool.push_back(scalar(1.0));
    }
  }
  for (int calls = 0; calls < 8 && !h.in.empty(); ++calls) {
    try {
      h.call();
    } catch (const Error&) {
    }
  }
  return 0;
}
