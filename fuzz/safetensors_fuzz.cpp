// fuzz/safetensors_fuzz.cpp — libFuzzer harness: any bytes into decode_safetensors. A refusal must be
// a nabla::Error; an accepted file must survive a round trip (encode what was decoded, decode it
// again: the same names, dtypes, shapes, bytes and metadata). Anything else — a crash, a sanitizer
// report, another exception, a mismatch — is a finding.
#include <cstdint>
#include <cstring>

#include <nabla/nabla.hpp>

#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nabla::io::TensorFile file;
  try {
    file = nabla::io::decode_safetensors(std::as_bytes(std::span(data, size)), "input.safetensors");
  } catch (const nabla::Error&) {
    return 0;
  }
  const std::string again = nabla::io::encode_safetensors(file.tensors, file.metadata);
  const nabla::io::TensorFile back = nabla::io::decode_safetensors(std::as_bytes(std::span(again.data(), again.size())), "again");
  fuzz_check(back.metadata == file.metadata, "metadata changed in a round trip");
  fuzz_check(back.tensors.size() == file.tensors.size(), "tensor count changed in a round trip");
  for (const auto& [name, t] : file.tensors) {
    const auto it = back.tensors.find(name);
    fuzz_check(it != back.tensors.end(), "a tensor was lost in a round trip");
    fuzz_check(same_bits(t, it->second), "a tensor changed in a round trip");
  }
  return 0;
}
