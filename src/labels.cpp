// src/labels.cpp — class labels: one-hot rows, accuracy and the plurality vote of several models.
// None is differentiable.
#include <fmt/format.h>

#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {

Tensor one_hot(const Tensor& labels, std::int64_t classes, Dtype dtype) {
  if (labels.dtype() != Dtype::i64 || labels.dim() != 1) {
    throw ShapeError(fmt::format("one_hot: expected int64 labels [n], got {} {}", labels.dtype(), labels.shape()));
  }
  if (classes <= 0) throw ValueError(fmt::format("one_hot: classes must be positive, got {}", classes));
  if (!is_floating(dtype)) throw ValueError(fmt::format("one_hot: dtype must be float32 or float64, got {}", dtype));
  const std::int64_t n = labels.numel();
  checked_bytes("one_hot", Shape{n, classes}, dtype);  // before allocating: [n, classes] may be past the limit
  Tensor y = zeros({n, classes}, dtype);
  const std::int64_t* pl = labels.data<std::int64_t>();
  NoGradGuard g;
  for (std::int64_t i = 0; i < n; ++i) {
    if (pl[i] < 0 || pl[i] >= classes) {
      throw ValueError(fmt::format("one_hot: label {} at row {} is out of range for {} classes", pl[i], i, classes));
    }
    y.set({i, pl[i]}, 1.0);
  }
  return y;
}

double accuracy(const Tensor& scores, const Tensor& labels) {
  if (scores.dim() != 2 || labels.dtype() != Dtype::i64 || labels.shape() != Shape{scores.shape()[0]} || scores.shape()[0] == 0) {
    throw ShapeError(fmt::format("accuracy: expected scores [n, classes] with n > 0 and int64 labels [n], got {} and {} {}",
                                 scores.shape(), labels.dtype(), labels.shape()));
  }
  if (scores.shape()[1] == 0) throw ShapeError(fmt::format("accuracy: scores {} have no classes", scores.shape()));
  const std::int64_t* pl = labels.data<std::int64_t>();
  for (std::int64_t i = 0, n = labels.numel(), k = scores.shape()[1]; i < n; ++i) {
    if (pl[i] < 0 || pl[i] >= k) {  // as the costs: a label that is no class is an error, not a miss
      throw ValueError(fmt::format("accuracy: label {} at row {} is out of range for {} classes", pl[i], i, k));
    }
  }
  const Tensor predicted = argmax(scores, 1);
  const std::int64_t* pp = predicted.data<std::int64_t>();
  std::int64_t correct = 0;
  for (std::int64_t i = 0, n = labels.numel(); i < n; ++i) correct += pp[i] == pl[i];
  return double(correct) / double(labels.numel());
}

Tensor vote(const std::vector<Tensor>& scores) {
  if (scores.empty()) throw ValueError("vote: no models to vote");
  const Shape shape = scores[0].shape();
  if (shape.rank() != 2) throw ShapeError(fmt::format("vote: expected scores [n, classes], got {}", shape));
  for (std::size_t m = 1; m < scores.size(); ++m) {
    if (scores[m].shape() != shape) {
      throw ShapeError(fmt::format("vote: model {} gave scores {}, model 0 gave {}", m, scores[m].shape(), shape));
    }
  }
  const std::int64_t n = shape[0], k = shape[1];
  if (k == 0) throw ShapeError(fmt::format("vote: scores {} have no classes", shape));
  std::vector<std::int64_t> votes(static_cast<std::size_t>(n * k), 0);
  std::vector<double> totals(static_cast<std::size_t>(n * k), 0.0);
  for (const Tensor& s : scores) {
    const auto first = argmax(s, 1).to_vector<std::int64_t>();
    const auto values = s.to_vector();
    for (std::int64_t i = 0; i < n; ++i) ++votes[static_cast<std::size_t>(i * k + first[static_cast<std::size_t>(i)])];
    for (std::size_t j = 0; j < values.size(); ++j) totals[j] += values[j];
  }
  Tensor out = empty({n}, i64);
  std::int64_t* po = out.mutable_data<std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t best = 0;
    for (std::int64_t c = 1; c < k; ++c) {
      const auto a = static_cast<std::size_t>(i * k + c), b = static_cast<std::size_t>(i * k + best);
      if (votes[a] > votes[b] || (votes[a] == votes[b] && totals[a] > totals[b])) best = c;
    }
    po[i] = best;
  }
  return out;
}

}  // namespace nabla
