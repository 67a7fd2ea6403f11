// src/parallel.hpp — the one pool of threads behind every parallel loop of nabla (internal): its own
// loops and the products, which run OpenBLAS on one thread per part (blas.cpp).
#pragma once

#include <cstdint>
#include <functional>

namespace nabla::detail {

/// Calls body(begin, end) over [0, n) in chunks of `grain` indices, on up to num_threads() threads:
/// the caller and the pool's workers take chunks from one shared counter, so a slower core simply
/// takes fewer, and a worker that is not awake when the job starts is not waited for (the caller
/// does its share). Returns when all are done. Runs everything on the caller when one thread is
/// set, when n ≤ grain, from inside another parallel_for, or while another thread is using the
/// pool. If a chunk throws, the chunks not yet started are skipped and the exception reaches the caller.
void parallel_for(std::int64_t n, std::int64_t grain, const std::function<void(std::int64_t, std::int64_t)>& body);

/// The thread count of set_num_threads (initially OpenBLAS's default: OPENBLAS_NUM_THREADS, or
/// the CPU count). Its first call also sets OpenBLAS itself to one thread, so only this pool runs.
int thread_count();
void set_thread_count(int n);

}  // namespace nabla::detail
