// nabla/evaluation.hpp — what evaluating a model over a data set gives: train::evaluate computes it
// (nabla/train.hpp), dist::all_reduce sums it over ranks (nabla/dist.hpp).
#pragma once

#include <cstdint>

namespace nabla::train {

struct Evaluation {
  double cost = 0;            // mean over the examples (the book's 1/n)
  double accuracy = 0;        // fraction of argmax(output) == label
  std::int64_t correct = 0;
  std::int64_t examples = 0;
};

}  // namespace nabla::train
