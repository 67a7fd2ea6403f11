// examples/train_dist.hpp — nabla-train under mpirun: which rank this is, where its output goes (rank
// 0 prints and writes; the others are silent), its part of each evaluation, and the checks that every
// rank was started alike (nabla/dist.hpp).
#pragma once

#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <nabla/nabla.hpp>

#include "train_models.hpp"

namespace nabla_train {

/// The seed of an epoch's order, dropout masks and augmentations.
inline std::uint64_t epoch_seed_of(const Config& c, int epoch) { return c.seed * 1000003 + std::uint64_t(epoch); }

struct Ranks {
  int rank = nabla::dist::rank(), world = nabla::dist::world_size();
  bool main = nabla::dist::is_main();

  /// stdout on rank 0; elsewhere a sink.
  std::FILE* log() const {
    static std::FILE* const sink = std::fopen("/dev/null", "w");
    return main || sink == nullptr ? stdout : sink;
  }
  /// This rank's part of a data set for evaluation (all of it in one process).
  nabla::data::Dataset part(const nabla::data::Dataset& d) const {
    if (world == 1 || d.empty()) return d;
    const auto [begin, end] = nabla::dist::shard_range(d.size());
    return d.slice(begin, end);
  }
  /// The evaluation of the whole set: each rank's part, summed over the ranks.
  nabla::train::Evaluation evaluate(nabla::nn::Module& net, const nabla::data::Dataset& part,
                                    const nabla::train::CostFunction& cost) const {
    const nabla::train::Evaluation local = part.empty() ? nabla::train::Evaluation{} : nabla::train::evaluate(net, part, cost);
    return world > 1 ? nabla::dist::all_reduce(local) : local;
  }
  /// A DistError on every rank unless all have the same model, configuration and training data.
  void check(const nabla::nn::Module& net, const Config& cfg, int epochs, const nabla::data::Split& data) const {
    if (world == 1) return;
    nabla::dist::check_same_model(net);
    const std::string c = nlohmann::json(cfg).dump() + " epochs " + std::to_string(epochs);
    nabla::dist::check_same("the configuration (flags)", nabla::dist::hash_bytes(c.data(), c.size()), c);
    std::uint64_t h = nabla::dist::hash_bytes(data.train.x().data<float>(), std::size_t(data.train.x().numel()) * sizeof(float));
    h = nabla::dist::hash_bytes(data.train.y().data<std::int64_t>(), std::size_t(data.train.y().numel()) * sizeof(std::int64_t), h);
    const std::int64_t sizes[2] = {data.validation.size(), data.test.size()};
    h = nabla::dist::hash_bytes(sizes, sizeof sizes, h);
    nabla::dist::check_same("the training data", h,
                            fmt::format("{} training, {} validation, {} test examples", data.train.size(), sizes[0], sizes[1]));
  }
};

}  // namespace nabla_train
