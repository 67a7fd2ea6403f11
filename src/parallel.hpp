// src/parallel.hpp — one small pool of threads for nabla's own loops (internal).
#pragma once

#include <cstdint>
#include <functional>

namespace nabla::detail {

/// Calls body(begin, end) over [0, n) in chunks of `grain` indices, on up to num_threads() threads:
/// the caller and the pool's workers take chunks from one shared counter, so a slower core simply
/// takes fewer. Returns when all are done. Runs everything on the caller when one thread is set,
/// when n ≤ grain, from inside another parallel_for, or while another thread is using the pool.
/// The body must not call BLAS (OpenBLAS has its own threads; nabla never nests the two pools). If
/// a chunk throws, the chunks not yet started are skipped and the exception reaches the caller.
void parallel_for(std::int64_t n, std::int64_t grain, const std::function<void(std::int64_t, std::int64_t)>& body);

}  // namespace nabla::detail
