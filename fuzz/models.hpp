// fuzz/models.hpp — the model and optimizer whose checkpoints the checkpoint harness loads (the seed
// corpus is written from the same definition).
#pragma once

#include <nabla/nabla.hpp>

namespace fuzz_models {

struct Checkpointed {
  nabla::Generator gen{7};
  nabla::nn::Sequential net{nabla::nn::Linear(4, 3, {}, gen), nabla::nn::Sigmoid(), nabla::nn::Linear(3, 2, {}, gen)};
  nabla::optim::Sgd opt{net.parameters(), {.lr = 0.1, .momentum = 0.9}};
};

}  // namespace fuzz_models
