// tests/dist/dist_check.cpp — data-parallel training equals one process, run under mpirun:
//
//   mpirun -np 2 dist_check [scratch dir]
//
// Every rank trains a small CNN (conv, max-pool, ReLU, linear) with momentum SGD for 50 steps at
// per-rank batch b, its gradients averaged by dist::DistributedDataParallel, and beside it, in the
// same process and without MPI, the same model at batch W·b on the same data and order. After 50
// steps each parameter of the two must agree to 1e-12 relative (float64) or 1e-5 (float32):
// max |a − b| / max |b| over the tensor's elements. Then the same for a run stopped after 25 steps,
// checkpointed by rank 0, and resumed by every rank into a freshly built model and optimizer.
// Exits 0 when all agree (rank 0 prints the errors), 1 otherwise.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <nabla/nabla.hpp>

using namespace nabla;

namespace {

constexpr std::int64_t kPerRank = 4, kSteps = 50, kExamples = 400;

nn::Sequential make_model(Dtype dtype, std::uint64_t seed) {
  Generator gen(seed);
  nn::Sequential net{nn::Reshape({1, 12, 12}),  nn::Conv2d(1, 4, 3, {}, gen), nn::MaxPool2d(2), nn::ReLU(),
                     nn::Flatten(),            nn::Linear(4 * 5 * 5, 16, {}, gen), nn::Sigmoid(), nn::Linear(16, 10, {}, gen)};
  net.to(dtype);
  return net;
}

data::Dataset make_data(Dtype dtype) {
  Generator gen(123);
  Tensor x = uniform({kExamples, 144}, 0.0, 1.0, dtype, gen);
  std::vector<std::int64_t> y(kExamples);
  for (std::int64_t i = 0; i < kExamples; ++i) y[std::size_t(i)] = (i * 7 + 3) % 10;
  return data::Dataset(x, from_vector(std::span<const std::int64_t>(y), {kExamples}));
}

optim::SGD make_sgd(nn::Module& net) { return optim::SGD(net.parameters(), {.lr = 0.1, .momentum = 0.9}); }

/// Steps [from, to) of one epoch's batches (batch `b`, sharded when `world` > 1), with `ddp` if given.
void train(nn::Module& net, optim::SGD& opt, const data::Dataset& d, std::int64_t b, std::int64_t from, std::int64_t to,
           bool sharded, dist::DistributedDataParallel* ddp) {
  std::int64_t step = 0;
  const data::BatchOptions o{.shuffle = true, .seed = 99, .rank = sharded ? dist::rank() : 0,
                             .world_size = sharded ? dist::world_size() : 1};
  for (const auto& [x, y] : d.batches(b, o)) {
    if (step >= to) break;
    if (step++ < from) continue;
    opt.zero_grad();
    softmax_cross_entropy(net(x), y).backward();
    if (ddp != nullptr) ddp->synchronize();
    opt.step();
  }
}

/// The largest relative difference of any parameter.
double worst(const nn::Module& a, const nn::Module& b) {
  double w = 0;
  const auto pa = a.parameters(), pb = b.parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) {
    const auto va = pa[i].tensor.to_vector<double>(), vb = pb[i].tensor.to_vector<double>();
    double diff = 0, scale = 0;
    for (std::size_t k = 0; k < va.size(); ++k) {
      diff = std::max(diff, std::abs(va[k] - vb[k]));
      scale = std::max(scale, std::abs(vb[k]));
    }
    w = std::max(w, diff / scale);
  }
  return w;
}

bool check(Dtype dtype, const std::filesystem::path& scratch) {
  const double tol = dtype == f64 ? 1e-12 : 1e-5;
  const std::int64_t world = dist::world_size();
  const data::Dataset d = make_data(dtype);

  // One process at batch W·b: the reference, on every rank.
  nn::Sequential single = make_model(dtype, 1);
  optim::SGD single_opt = make_sgd(single);
  train(single, single_opt, d, kPerRank * world, 0, kSteps, false, nullptr);

  // W ranks at batch b; rank 1 starts from other weights, which the broadcast replaces.
  nn::Sequential net = make_model(dtype, dist::rank() == 0 ? 1 : 2);
  dist::check_same_model(net);
  dist::broadcast_state(net);
  optim::SGD opt = make_sgd(net);
  dist::DistributedDataParallel ddp(net, {.bucket_mb = 0.004});  // a few buckets even for this small model
  train(net, opt, d, kPerRank, 0, kSteps, true, &ddp);
  const double e_run = worst(net, single);

  // Stopped after 25 steps, checkpointed by rank 0, resumed by every rank into new objects.
  const std::string path = (scratch / fmt::format("dist_check_{}.safetensors", dtype == f64 ? "f64" : "f32")).string();
  double e_resumed = 0;
  {
    nn::Sequential first = make_model(dtype, 1);
    optim::SGD first_opt = make_sgd(first);
    dist::DistributedDataParallel first_ddp(first);
    train(first, first_opt, d, kPerRank, 0, kSteps / 2, true, &first_ddp);
    if (dist::is_main()) io::save_checkpoint(path, first, &first_opt, {});
    dist::barrier();
  }
  {
    nn::Sequential second = make_model(dtype, 3);
    optim::SGD second_opt = make_sgd(second);
    io::load_checkpoint(path, second, &second_opt);
    dist::DistributedDataParallel second_ddp(second);
    train(second, second_opt, d, kPerRank, kSteps / 2, kSteps, true, &second_ddp);
    e_resumed = worst(second, single);
  }
  // Every rank's verdict counts.
  const std::vector<double> worst_all = dist::all_reduce(std::vector<double>{e_run, e_resumed}, dist::ReduceOp::max);
  const bool ok = worst_all[0] <= tol && worst_all[1] <= tol;
  if (dist::is_main()) {
    fmt::print("{}: {} ranks at batch {} vs 1 process at batch {}, {} steps of momentum SGD: largest relative parameter "
               "difference {:.3g} (uninterrupted), {:.3g} (resumed after {} steps); tolerance {:g}; {} of {} bucket allreduces "
               "started during backward: {}\n",
               dtype == f64 ? "float64" : "float32", world, kPerRank, kPerRank * world, kSteps, worst_all[0], worst_all[1],
               kSteps / 2, tol, ddp.stats().started_in_backward, ddp.stats().buckets * ddp.stats().steps, ok ? "ok" : "FAILED");
  }
  return ok && (world == 1 || ddp.stats().started_in_backward > 0);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    dist::init({.timeout_seconds = 60});
    const std::filesystem::path scratch = argc > 1 ? argv[1] : ".";
    if (dist::is_main()) fmt::print("{}\n", dist::describe());
    const bool ok = check(f64, scratch) & check(f32, scratch);
    dist::finalize();
    return ok ? 0 : 1;
  } catch (const Error& e) {
    fmt::print(stderr, "dist_check (rank {}): {}\n", dist::rank(), e.what());
    return 1;
  }
}
