// nabla/dist.hpp — data-parallel training over MPI (Debian's OpenMPI), launched with mpirun.
//
// Each process (rank) holds the whole model and trains on its own shard of every batch; after
// backward the gradients are averaged across ranks, so every rank takes the same optimizer step and
// the parameters stay equal — the same step as one process at world_size times the batch size.
//
//   dist::init();                                        // from mpirun's environment; world 1 without it
//   dist::check_same_model(net);                         // every rank built the same model
//   dist::broadcast_state(net);                          // rank 0's parameters and buffers everywhere
//   dist::DistributedDataParallel ddp(net);              // averages gradients during backward
//   for (auto [x, y] : data.train.batches(b, {.shuffle = true, .seed = epoch,
//                                             .rank = dist::rank(), .world_size = dist::world_size()})) {
//     opt.zero_grad();
//     cost(net(x), y).backward();                        // buckets' allreduces start as gradients complete
//     ddp.synchronize();                                 // the last ones finish; .grad holds the mean
//     opt.step();
//   }
//
// Started without mpirun (no OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK in the environment) a
// program is world size 1 and makes no MPI call; every function below is then the identity. Only the
// thread that called init() may call the rest (MPI_THREAD_FUNNELED). A rank that dies is noticed
// by mpirun, which stops the others and names it; a collective that waits longer than the timeout
// is a DistError here (what a stalled host, not a dead process, looks like).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nabla/evaluation.hpp"
#include "nabla/nn.hpp"
#include "nabla/tensor.hpp"

namespace nabla::dist {

/// Whether this build of nabla has MPI (CMake option NABLA_MPI).
bool available();
/// Whether the environment says an MPI launcher (mpirun, srun) started this process.
bool launched_by_mpi();

struct InitOptions {
  /// A collective that has not completed after this many seconds is a DistError. The environment
  /// variable NABLA_DIST_TIMEOUT (seconds), when set, takes its place.
  double timeout_seconds = 120;
};
/// Joins the MPI job when launched by one (MPI_Init_thread, MPI_THREAD_FUNNELED); otherwise world
/// size 1 without MPI. Launched by MPI but built without it: a DistError saying so. Idempotent.
void init(InitOptions opts = {});
/// MPI_Finalize if init() initialized MPI (every rank must call it; after a DistError, exit instead).
void finalize();
bool is_initialized();
/// This process's rank in [0, world_size()), and the number of ranks; 0 and 1 before init().
int rank();
int world_size();
/// Rank 0: the one that prints, and writes metrics, checkpoints and plots.
inline bool is_main() { return rank() == 0; }
/// "rank 1 of 2 (MPI: Open MPI v4.1.4 …)", or "1 process (no MPI)".
std::string describe();

enum class ReduceOp { sum, max, min };

/// Reduces a contiguous f32, f64 or i64 tensor over all ranks in place: every rank gets the result.
void all_reduce(Tensor& t, ReduceOp op = ReduceOp::sum);
/// Reduces doubles over all ranks; returns the result (on every rank).
std::vector<double> all_reduce(std::vector<double> values, ReduceOp op = ReduceOp::sum);
/// Copies root's values of a contiguous tensor into every rank's (same shape and dtype everywhere).
void broadcast(Tensor& t, int root = 0);
/// Root's bytes on every rank (other ranks' `bytes` are replaced, whatever their size).
void broadcast(std::string& bytes, int root = 0);
/// Every rank's value, by rank.
std::vector<std::uint64_t> all_gather(std::uint64_t value);
void barrier();

/// A DistError naming the ranks whose `value` differs from rank 0's: `what` says what it hashes
/// ("the model", "the training data"). Call it on every rank.
void check_same(std::string_view what, std::uint64_t value, std::string_view rank0_detail = {});
/// check_same on a hash of every parameter's and buffer's name, shape and dtype.
void check_same_model(const nn::Module& model);
/// A 64-bit hash (FNV-1a) of bytes, for check_same; `seed` chains several calls.
std::uint64_t hash_bytes(const void* data, std::size_t n, std::uint64_t seed = 14695981039346656037ull);
/// Copies rank 0's parameters and buffers into every rank's model.
void broadcast_state(nn::Module& model, int root = 0);

/// An evaluation summed over the ranks, each having evaluated its own part of the data: the cost
/// weighted by examples, the correct and the examples added.
train::Evaluation all_reduce(const train::Evaluation& local);
/// The part of [0, n) that rank r evaluates: [r·n / W, (r + 1)·n / W).
std::pair<std::int64_t, std::int64_t> shard_range(std::int64_t n);

struct DataParallelOptions {
  /// Gradients are averaged in buckets of about this many bytes, each allreduced on its own.
  double bucket_mb = 4;
  /// A bucket's allreduce that has not completed after this many seconds is a DistError (0: the
  /// timeout of init()).
  double timeout_seconds = 0;
};

/// Averages a model's parameter gradients over the ranks during backward (torch's
/// DistributedDataParallel, without wrapping forward). The parameters are grouped, last first
/// (the order backward reaches them), into buckets of about bucket_mb; as the last gradient of a
/// bucket is accumulated (register_post_accumulate_grad_hook), its values are copied into the
/// bucket and a non-blocking allreduce starts (buckets start in the same order on every rank),
/// while backward goes on. synchronize() starts what has not started (a parameter that got no
/// gradient counts as zeros), waits, and writes each mean into .grad. At world size 1 it does
/// nothing at all. The model must outlive it; one backward per synchronize.
class DistributedDataParallel {
 public:
  explicit DistributedDataParallel(nn::Module& model, DataParallelOptions opts = {});
  ~DistributedDataParallel();
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;

  /// After backward, before the optimizer step: every parameter's .grad is then the mean over the
  /// ranks (the same bits on every rank).
  void synchronize();

  struct Stats {
    std::int64_t buckets = 0;          // buckets of the model
    std::int64_t steps = 0;            // synchronize() calls
    double wait_seconds = 0;           // time spent in synchronize() waiting for allreduces
    std::int64_t started_in_backward = 0;  // bucket allreduces started before synchronize()
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Stats stats_;
};

}  // namespace nabla::dist
