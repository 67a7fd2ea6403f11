// nabla/train.hpp — what every training loop needs besides the model: evaluation over a data set,
// a live progress bar, and the number of threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "nabla/data.hpp"
#include "nabla/nn.hpp"
#include "nabla/tensor.hpp"

namespace nabla {

/// Threads of nabla's one pool, which runs its own parallel loops (float32 convolution, max-pooling),
/// which give the same bits on any number, and the products (matmul and every layer built on it):
/// OpenBLAS itself runs on one thread, and a product large enough to gain is split into parts, one
/// OpenBLAS call each, over the pool; smaller ones run on the calling thread. Initially OpenBLAS's
/// default (OPENBLAS_NUM_THREADS, else the number of CPUs); nabla sets OpenBLAS to one thread when
/// it first needs a thread count.
void set_num_threads(int n);
int num_threads();
/// The BLAS library, its build options and the kernel set it runs, e.g. "OpenBLAS 0.3.21
/// DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64, core SkylakeX". OpenBLAS 0.3.21 (Debian 12)
/// does not know CPUs newer than itself and falls back to its slow SSE3 "Prescott" kernels; when
/// that happens and OPENBLAS_CORETYPE is unset, nabla selects the kernels the CPU supports as it
/// loads (AVX-512: SkylakeX; AVX2 + FMA: Haswell) and says so here.
std::string blas_info();

namespace train {

/// A cost of a batch of model outputs and int64 labels, e.g. softmax_cross_entropy, or
/// [](auto& a, auto& y) { return quadratic_cost(a, one_hot(y, 10)); }.
using CostFunction = std::function<Tensor(const Tensor& output, const Tensor& labels)>;

struct Evaluation {
  double cost = 0;            // mean over the examples (the book's 1/n)
  double accuracy = 0;        // fraction of argmax(output) == label
  std::int64_t correct = 0;
  std::int64_t examples = 0;
};

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
