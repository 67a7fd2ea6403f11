// nabla/train.hpp — what every training loop needs besides the model: evaluation over a data set,
// a live progress bar, and (from nabla/cpu.hpp) the number of threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "nabla/cpu.hpp"  // set_num_threads, num_threads, blas_info
#include "nabla/data.hpp"
#include "nabla/evaluation.hpp"
#include "nabla/nn.hpp"
#include "nabla/tensor.hpp"

namespace nabla {
namespace train {

/// A cost of a batch of model outputs and int64 labels, e.g. softmax_cross_entropy, or
/// [](auto& a, auto& y) { return quadratic_cost(a, one_hot(y, 10)); }.
using CostFunction = std::function<Tensor(const Tensor& output, const Tensor& labels)>;

/// Runs the model over `data` in batches, in evaluation mode and with recording off, and restores
/// the model's mode afterwards.
Evaluation evaluate(nn::Module& model, const data::Dataset& data, const CostFunction& cost, std::int64_t batch_size = 1000);

/// A progress bar for one pass over `total` examples, drawn on stderr:
///   epoch 3/30 [##########..........]  51%  12,345 ex/s  cost 0.0912  ETA 0:03
/// On a terminal it redraws in place a few times a second; otherwise (a log file, CI) it prints only
/// the final line of each pass.
class Progress {
 public:
  Progress(std::string label, std::int64_t total, std::FILE* out = stderr);
  /// Adds `examples` done, with the running mean cost to show.
  void update(std::int64_t examples, double running_cost);
  /// Ends the pass: prints the final state and a newline.
  void finish();
  double seconds() const;

 private:
  void draw(bool final);
  std::string label_;
  std::int64_t total_, done_ = 0;
  double cost_ = 0;
  std::FILE* out_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace train
}  // namespace nabla
