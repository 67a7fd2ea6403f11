// fuzz/torch_fuzz.cpp — libFuzzer harness: any bytes into decode_torch (the zip reader, the pickle
// machine, the strided gathers). A refusal must be a nabla::Error; an accepted file must give whole
// tensors of nabla's dtypes, and reading the same bytes again must give the same names, bits and
// metadata. Anything else — a crash, a sanitizer report (an out-of-bounds read of a record, a leak of
// the pickle's values), another exception, a mismatch — is a finding. Seeds: the .pt files PyTorch
// wrote for the tests (tests/data/torch/), copied by scripts/fuzz.sh; fuzz/torch.dict holds the
// pickle's names and opcodes.
#include <cstdint>
#include <cstring>

#include <nabla/nabla.hpp>

#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  nabla::io::TensorFile file;
  try {
    file = nabla::io::decode_torch(bytes, "input.pt");
  } catch (const nabla::Error&) {
    return 0;
  }
  for (const auto& [name, t] : file.tensors) {
    fuzz_check(t.defined(), "an undefined tensor was returned");
    fuzz_check(t.numel() >= 0 && t.numel() <= nabla::kMaxNumel, "a tensor past the element limit was returned");
    if (t.dtype() == nabla::b8) {
      const bool* b = t.data<bool>();
      for (std::int64_t i = 0; i < t.numel(); ++i) {
        unsigned char c;
        std::memcpy(&c, b + i, 1);
        fuzz_check(c <= 1, "a bool tensor holds a byte other than 0 or 1");
      }
    }
  }
  const nabla::io::TensorFile again = nabla::io::decode_torch(bytes, "input.pt");
  fuzz_check(again.metadata == file.metadata, "a second read gave other metadata");
  fuzz_check(same_state(again.tensors, file.tensors), "a second read gave other tensors");
  return 0;
}
