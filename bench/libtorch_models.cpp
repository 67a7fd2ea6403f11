// bench/libtorch_models.cpp — the MLP models of the side-by-side benchmarks against libtorch's C++
// API (Debian's libtorch-dev), so the comparison with PyTorch without Python's overhead is measured
// too. The same models, initialization scale, cost, optimizer and fixed random batch as
// bench/models.cpp and bench/torch_models.py, timed the same way; prints one JSON line.
//
//   bench_libtorch --model network1|network2 --batch 10 [--mode train|infer] [--threads 1]
//                  [--steps 2000] [--warmup 200]
// Built only where CMake finds Torch (bench/CMakeLists.txt); bench/run.sh installs libtorch-dev.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "step_options.hpp"
#include "step_timing.hpp"

namespace {

struct Mlp : torch::nn::Module {
  Mlp(std::int64_t hidden, bool sigmoid_out) : sigmoid_out(sigmoid_out) {
    fc1 = register_module("fc1", torch::nn::Linear(784, hidden));
    fc2 = register_module("fc2", torch::nn::Linear(hidden, 10));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor z = fc2->forward(torch::sigmoid(fc1->forward(x)));
    return sigmoid_out ? torch::sigmoid(z) : z;
  }
  bool sigmoid_out;
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"libtorch (C++) side of the side-by-side benchmarks"};
  StepOptions opts;
  auto& [model, mode, batch, threads, steps, warmup] = opts;
  add_step_options(app, opts, {"network1", "network2"});
  CLI11_PARSE(app, argc, argv);

  torch::set_num_threads(threads);
  torch::manual_seed(0);
  const bool net1 = model == "network1";
  auto net = std::make_shared<Mlp>(net1 ? 30 : 100, net1);
  // network.py: N(0, 1) weights and biases; network2.py: N(0, 1/n_in) weights, N(0, 1) biases.
  {
    torch::NoGradGuard g;
    for (auto& fc : {net->fc1, net->fc2}) {
      fc->weight.normal_(0.0, net1 ? 1.0 : 1.0 / std::sqrt(double(fc->weight.size(1))));
      fc->bias.normal_(0.0, 1.0);
    }
  }
  const double lr = net1 ? 3.0 : 0.5, l2 = net1 ? 0.0 : 5.0 / 50000;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{net->fc1->weight, net->fc2->weight},
                      std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(lr).weight_decay(l2)));
  groups.emplace_back(std::vector<torch::Tensor>{net->fc1->bias, net->fc2->bias},
                      std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(lr)));
  torch::optim::SGD opt(groups, torch::optim::SGDOptions(lr));
  const torch::Tensor x = torch::rand({batch, 784});
  const torch::Tensor y = torch::arange(batch) % 10;
  const torch::Tensor target = torch::one_hot(y, 10).to(torch::kFloat);
  if (mode == "infer") net->eval();

  auto train_step = [&] {
    torch::Tensor out = net->forward(x);
    torch::Tensor c = net1 ? 0.5 * (out - target).pow(2).sum(1).mean()
                           : torch::binary_cross_entropy_with_logits(out, target, {}, {}, at::Reduction::Sum) / batch;
    opt.zero_grad();
    c.backward();
    opt.step();
  };
  auto infer_step = [&] {
    torch::NoGradGuard g;
    net->forward(x);
  };
  const std::vector<double> us = mode == "train" ? bench::time_steps(warmup, steps, train_step)
                                                 : bench::time_steps(warmup, steps, infer_step);
  bench::print_result("libtorch", model, mode, batch, threads, steps, us);
  return 0;
}
