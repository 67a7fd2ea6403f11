// fuzz/fuzz_util.hpp — what the harnesses share: a check that stops the fuzzer with a message, and
// bit-for-bit comparison of tensors.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <nabla/nabla.hpp>

/// A finding: print it and abort, so that libFuzzer saves the input that caused it.
inline void fuzz_check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz finding: %s\n", what);
    std::abort();
  }
}

/// The bytes of a contiguous tensor.
inline const void* tensor_bytes(const nabla::Tensor& t) {
  switch (t.dtype()) {
    case nabla::Dtype::f32: return t.data<float>();
    case nabla::Dtype::f64: return t.data<double>();
    case nabla::Dtype::i64: return t.data<std::int64_t>();
    case nabla::Dtype::b8: return t.data<bool>();
  }
  return nullptr;
}

/// Same dtype, shape and bytes.
inline bool same_bits(const nabla::Tensor& a, const nabla::Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const std::size_t n = static_cast<std::size_t>(a.numel()) * nabla::dtype_size(a.dtype());
  return n == 0 || std::memcmp(tensor_bytes(a), tensor_bytes(b), n) == 0;
}

/// A deep copy of a state (name → tensor), so that later changes to the originals do not show.
inline std::map<std::string, nabla::Tensor> snapshot(const std::map<std::string, nabla::Tensor>& state) {
  std::map<std::string, nabla::Tensor> out;
  for (const auto& [name, t] : state) out.emplace(name, t.detach().clone());
  return out;
}

inline bool same_state(const std::map<std::string, nabla::Tensor>& a, const std::map<std::string, nabla::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [name, t] : a) {
    const auto it = b.find(name);
    if (it == b.end() || !same_bits(t, it->second)) return false;
  }
  return true;
}
