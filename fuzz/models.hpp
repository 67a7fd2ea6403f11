// fuzz/models.hpp — the model and optimizers whose checkpoints the checkpoint harness loads (the
// seed corpus is written from the same definitions): one model per optimizer, so that each
// optimizer's state (momentum, Adam's moments, RMSprop's averages and momentum, Adagrad's sums)
// meets every input.
#pragma once

#include <memory>

#include <nabla/nabla.hpp>

namespace fuzz_models {

inline nabla::nn::Sequential make_net() {
  nabla::Generator gen(7);
  return nabla::nn::Sequential{nabla::nn::Linear(4, 3, {}, gen), nabla::nn::Sigmoid(), nabla::nn::Linear(3, 2, {}, gen)};
}

struct Checkpointed {
  nabla::nn::Sequential net = make_net();
  std::unique_ptr<nabla::optim::Optimizer> opt;
};

/// The four: SGD with momentum, Adam, RMSprop with momentum, Adagrad.
inline std::vector<Checkpointed> all() {
  std::vector<Checkpointed> out(4);
  out[0].opt = std::make_unique<nabla::optim::SGD>(out[0].net.parameters(), nabla::optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  out[1].opt = std::make_unique<nabla::optim::Adam>(out[1].net.parameters());
  out[2].opt = std::make_unique<nabla::optim::RMSprop>(out[2].net.parameters(), nabla::optim::RMSpropOptions{.momentum = 0.5});
  out[3].opt = std::make_unique<nabla::optim::Adagrad>(out[3].net.parameters());
  return out;
}

}  // namespace fuzz_models
