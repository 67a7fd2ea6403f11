// src/dist/dist_detail.hpp — what the data-parallel pieces of src/dist/ share (internal).
#pragma once

#include <cstdint>
#include <string_view>

#include "nabla/tensor.hpp"

namespace nabla::dist::detail {

/// The timeout of init(), in seconds.
double timeout();
/// A started MPI request (an MPI_Request*, owned by the caller; nullptr without MPI).
void* start_all_reduce(void* data, std::int64_t count, Dtype dtype, std::string_view what);
/// Whether it has completed (progresses MPI); waits for it with a deadline (0: init()'s timeout).
bool test(void* request, std::string_view what);
void wait(void* request, std::string_view what, double timeout_seconds);
void free_request(void* request);

/// The first byte of a tensor's elements, for writing (bumps its version).
inline void* bytes_of(Tensor& t) {
  switch (t.dtype()) {
    case Dtype::f32: return t.mutable_data<float>();
    case Dtype::f64: return t.mutable_data<double>();
    case Dtype::i64: return t.mutable_data<std::int64_t>();
    case Dtype::bf16: return t.mutable_data<bfloat16>();
    default: return t.mutable_data<bool>();
  }
}

}  // namespace nabla::dist::detail
