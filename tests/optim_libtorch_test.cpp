// libtorch's optimizer test, replayed: the 19 "ProducesPyTorchValues" configurations of
// pytorch/pytorch test/cpp/api/optim.cpp — a float64 MLP Linear(2, 3) → sigmoid → Linear(3, 1) →
// sigmoid with fixed parameters, 1001 iterations of zero_grad, loss = output.sum(), backward and
// step(closure) with a closure that returns 10, the parameters compared every 100 iterations with
// libtorch's tolerance (allclose, rtol 1e-3, atol 5e-4). The options are passed as a libtorch user
// passes them (torch's defaults otherwise). The expected values, tests/data/optim_baseline.json, were
// written by scripts/optim_baseline.py with the reference environment's PyTorch.
#include <cmath>
#include <fstream>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>
#include <nlohmann/json.hpp>

using namespace nabla;
using json = nlohmann::json;

namespace {

std::unique_ptr<optim::Optimizer> make(const std::string& cls, const json& o, std::vector<nn::Param> ps) {
  auto num = [&](const char* k, double d) { return o.contains(k) ? o[k].get<double>() : d; };
  auto flag = [&](const char* k) { return o.contains(k) && o[k].get<bool>(); };
  if (cls == "SGD") {
    return std::make_unique<optim::SGD>(ps, optim::SGDOptions{.lr = num("lr", 0), .momentum = num("momentum", 0),
                                                              .weight_decay = num("weight_decay", 0), .nesterov = flag("nesterov")});
  }
  if (cls == "Adam") {
    return std::make_unique<optim::Adam>(ps, optim::AdamOptions{.lr = num("lr", 1e-3), .weight_decay = num("weight_decay", 0), .amsgrad = flag("amsgrad")});
  }
  if (cls == "AdamW") {
    return std::make_unique<optim::AdamW>(ps, optim::AdamWOptions{.lr = num("lr", 1e-3), .weight_decay = num("weight_decay", 0.01),
                                                                  .amsgrad = flag("amsgrad")});
  }
  if (cls == "Adagrad") {
    return std::make_unique<optim::Adagrad>(ps, optim::AdagradOptions{.lr = num("lr", 1e-2), .lr_decay = num("lr_decay", 0),
                                                                      .weight_decay = num("weight_decay", 0)});
  }
  if (cls == "RMSprop") {
    return std::make_unique<optim::RMSprop>(ps, optim::RMSpropOptions{.lr = num("lr", 1e-2), .weight_decay = num("weight_decay", 0),
                                                                      .momentum = num("momentum", 0), .centered = flag("centered")});
  }
  if (cls == "LBFGS") {
    return std::make_unique<optim::LBFGS>(ps, optim::LBFGSOptions{.lr = num("lr", 1), .line_search_fn = o.value("line_search_fn", std::string())});
  }
  FAIL("unknown optimizer " << cls);
  return nullptr;
}

}  // namespace

TEST_CASE("optim libtorch: the 19 configurations of libtorch's optimizer test give PyTorch's parameters") {
  std::ifstream in(NABLA_TEST_DATA_DIR "/optim_baseline.json");
  REQUIRE(in.good());
  const json baseline = json::parse(in);
  const int iterations = baseline["iterations"], every = baseline["sample_every"];
  int passed = 0;
  double worst = 0;
  for (const auto& [name, config] : baseline["configs"].items()) {
    CAPTURE(name);
    nn::Sequential model{nn::Linear(2, 3), nn::Sigmoid(), nn::Linear(3, 1), nn::Sigmoid()};
    model.to(f64);
    std::vector<nn::Param> params = model.parameters();
    REQUIRE(params.size() == 4);
    {
      NoGradGuard no_grad;
      for (nn::Param& p : params) {
        const std::vector<double> v = baseline["init"].at(p.name);
        p.tensor.copy_(from_vector(v, p.tensor.shape(), f64));
      }
    }
    auto optimizer = make(config["optimizer"], config["options"], params);
    const Tensor input = tensor({0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, {3, 2}, f64);
    bool ok = true;
    for (int i = 0; i < iterations && ok; ++i) {
      optimizer->zero_grad();
      Tensor loss = sum(model.forward(input));
      loss.backward();
      optimizer->step([] { return tensor({10.0}, {1}, f64); });
      if (i % every != 0) continue;
      const auto& sample = config["samples"][std::size_t(i / every)];
      for (std::size_t p = 0; p < params.size(); ++p) {
        const std::vector<double> got = params[p].tensor.to_vector();
        const std::vector<double> want = sample[p];
        REQUIRE(got.size() == want.size());
        for (std::size_t k = 0; k < got.size(); ++k) {
          worst = std::max(worst, std::abs(got[k] - want[k]) / std::max(std::abs(want[k]), 1e-12));
          if (!(std::abs(got[k] - want[k]) <= 5e-4 + 1e-3 * std::abs(want[k]))) {  // libtorch's allclose
            ok = false;
            FAIL_CHECK("iteration " << i << ", parameter " << params[p].name << "[" << k << "]: " << got[k] << ", PyTorch " << want[k]);
          }
        }
      }
    }
    passed += ok;
    MESSAGE(name << ": " << (ok ? "pass" : "FAIL"));
  }
  CHECK(passed == 19);
  MESSAGE("worst relative difference from PyTorch over the 19 configurations: " << worst);
}
