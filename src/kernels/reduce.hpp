// src/kernels/reduce.hpp — the one partial-sum reduction of the kernels (internal).
#pragma once

#include <cstdint>

namespace nabla::kernels {

/// Σ_{j < n} term(j) in T with eight partial sums, so that the loop vectorizes (one chain of
/// additions would not: floating addition is not associative). term may do more than read (a copy
/// beside the sum). The partial sums are added pairwise, then the tail: a fixed order, the same on
/// every run and thread count.
template <class T, class Term>
inline T partial_sums(std::int64_t n, Term term) {
  T part[8] = {};
  std::int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    for (int l = 0; l < 8; ++l) part[l] += term(j + l);
  }
  T tail = 0;
  for (; j < n; ++j) tail += term(j);
  return tail + ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

}  // namespace nabla::kernels
