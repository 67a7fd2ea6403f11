// Optimizer options and schedules against PyTorch over many steps, in float64:
// tests/data/optimizer_reference.json (scripts/optimizer_reference.py, the reference environment's
// PyTorch) holds each trajectory; here nabla replays it and agrees to 1e-12, relative. Bad options are
// refused with a ValueError naming the option.
#include <cmath>
#include <fstream>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>
#include <nlohmann/json.hpp>

using namespace nabla;
using json = nlohmann::json;
using doctest::Contains;

namespace {

const json& reference() {
  static const json j = [] {
    std::ifstream in(NABLA_TEST_DATA_DIR "/optimizer_reference.json");
    REQUIRE(in.good());
    return json::parse(in);
  }();
  return j;
}

double worst = 0;  // the worst relative error of all cases, reported at the end

void check_rel(double got, double want, double scale, const std::string& where) {
  const double err = std::abs(got - want) / std::max(std::abs(want), scale);
  worst = std::max(worst, err);
  INFO(where << ": got " << got << ", PyTorch " << want);
  CHECK(err <= 1e-12);
}

/// The gradient of f(w) = Σ ½ a (w − c)² + a4 w⁴/4, in the order the script computes it.
std::vector<double> grad_of(const std::vector<double>& w) {
  const json& r = reference();
  std::vector<double> a = r["a"], c = r["c"], g(w.size());
  const double a4 = r["a4"];
  for (std::size_t i = 0; i < w.size(); ++i) g[i] = a[i] * (w[i] - c[i]) + a4 * (w[i] * w[i] * w[i]);
  return g;
}
double loss_of(const std::vector<double>& w) {
  const json& r = reference();
  std::vector<double> a = r["a"], c = r["c"];
  const double a4 = r["a4"];
  double s = 0;
  for (std::size_t i = 0; i < w.size(); ++i) s += (0.5 * a[i]) * (w[i] - c[i]) * (w[i] - c[i]) + (0.25 * a4) * (w[i] * w[i] * w[i] * w[i]);
  return s;
}

std::unique_ptr<optim::Optimizer> make(const std::string& name, const json& o, std::vector<nn::Param> ps) {
  auto num = [&](const char* k, double d) { return o.contains(k) ? o[k].get<double>() : d; };
  auto flag = [&](const char* k) { return o.contains(k) && o[k].get<bool>(); };
  if (name.starts_with("sgd")) {
    return std::make_unique<optim::SGD>(ps, optim::SGDOptions{.lr = num("lr", 0.1), .momentum = num("momentum", 0), .dampening = num("dampening", 0),
                                                              .weight_decay = num("weight_decay", 0), .nesterov = flag("nesterov"),
                                                              .maximize = flag("maximize")});
  }
  if (name.starts_with("adamw")) {
    return std::make_unique<optim::AdamW>(ps, optim::AdamWOptions{.lr = num("lr", 1e-3), .weight_decay = num("weight_decay", 0.01),
                                                                  .amsgrad = flag("amsgrad"), .maximize = flag("maximize")});
  }
  if (name.starts_with("adam")) {
    std::array<double, 2> betas = {0.9, 0.999};
    if (o.contains("betas")) betas = {o["betas"][0].get<double>(), o["betas"][1].get<double>()};
    return std::make_unique<optim::Adam>(ps, optim::AdamOptions{.lr = num("lr", 1e-3), .betas = betas, .weight_decay = num("weight_decay", 0),
                                                                .amsgrad = flag("amsgrad"), .maximize = flag("maximize")});
  }
  if (name.starts_with("rmsprop")) {
    return std::make_unique<optim::RMSprop>(ps, optim::RMSpropOptions{.lr = num("lr", 1e-2), .alpha = num("alpha", 0.99),
                                                                      .weight_decay = num("weight_decay", 0), .momentum = num("momentum", 0),
                                                                      .centered = flag("centered"), .maximize = flag("maximize")});
  }
  if (name.starts_with("adagrad")) {
    return std::make_unique<optim::Adagrad>(ps, optim::AdagradOptions{.lr = num("lr", 1e-2), .lr_decay = num("lr_decay", 0),
                                                                      .weight_decay = num("weight_decay", 0),
                                                                      .initial_accumulator_value = num("initial_accumulator_value", 0),
                                                                      .maximize = flag("maximize")});
  }
  if (name.starts_with("lbfgs")) {
    return std::make_unique<optim::LBFGS>(ps, optim::LBFGSOptions{.lr = num("lr", 1), .max_iter = std::int64_t(num("max_iter", 20)),
                                                                  .history_size = std::int64_t(num("history_size", 100)),
                                                                  .line_search_fn = o.value("line_search_fn", std::string()),
                                                                  .maximize = flag("maximize")});
  }
  FAIL("unknown case " << name);
  return nullptr;
}

void replay(const std::string& section, bool closure) {
  for (const auto& [name, c] : reference()[section].items()) {
    CAPTURE(name);
    std::vector<double> w0 = reference()["w0"];
    const std::int64_t n = std::int64_t(w0.size());
    nn::Param p{"w", from_vector(w0, {n}, f64).requires_grad(true), true};
    auto opt = make(name, c["options"], {p});
    const auto& want = c["w"];
    for (std::size_t s = 0; s < want.size(); ++s) {
      const double sign = c["sign"];  // −1: the objective is −f (the maximize cases)
      auto set_grad = [&] {
        const std::vector<double> w = p.tensor.to_vector();
        std::vector<double> g = grad_of(w);
        for (double& v : g) v *= sign;
        p.tensor.set_grad(from_vector(g, {n}, f64));
        return tensor({sign * loss_of(w)}, {}, f64);
      };
      if (closure) {
        opt->step(set_grad);
      } else {
        set_grad();
        opt->step();
      }
      const std::vector<double> got = p.tensor.to_vector();
      for (std::size_t i = 0; i < got.size(); ++i) check_rel(got[i], want[s][i].get<double>(), 1e-300, name + " step " + std::to_string(s + 1));
    }
  }
}

std::unique_ptr<optim::LrSchedule> make_schedule(const std::string& name, double lr0, const json& o) {
  auto num = [&](const char* k, double d) { return o.contains(k) ? o[k].get<double>() : d; };
  if (name == "linear_defaults") return std::make_unique<optim::LinearLR>(lr0);
  if (name == "linear") return std::make_unique<optim::LinearLR>(lr0, num("start_factor", 0), num("end_factor", 0), int(num("total_iters", 0)));
  if (name == "multistep") return std::make_unique<optim::MultiStepLR>(lr0, o["milestones"].get<std::vector<int>>(), num("gamma", 0));
  if (name == "step") return std::make_unique<optim::StepLR>(lr0, int(num("step_size", 0)), num("gamma", 0));
  if (name == "exponential") return std::make_unique<optim::ExponentialLR>(lr0, num("gamma", 0));
  if (name == "constant") return std::make_unique<optim::ConstantLR>(lr0, num("factor", 0), int(num("total_iters", 0)));
  if (name == "cosine") return std::make_unique<optim::CosineAnnealingLR>(lr0, int(num("T_max", 0)), num("eta_min", 0));
  if (name.starts_with("onecycle")) {
    optim::OneCycleLROptions oc;
    oc.pct_start = num("pct_start", oc.pct_start);
    oc.anneal_strategy = o.value("anneal_strategy", oc.anneal_strategy);
    oc.div_factor = num("div_factor", oc.div_factor);
    oc.final_div_factor = num("final_div_factor", oc.final_div_factor);
    oc.three_phase = o.value("three_phase", false);
    return std::make_unique<optim::OneCycleLR>(lr0, std::int64_t(num("total_steps", 0)), oc);
  }
  if (name.starts_with("plateau")) {
    optim::ReduceLROnPlateauOptions po;
    po.mode = o.value("mode", po.mode);
    po.factor = num("factor", po.factor);
    po.patience = int(num("patience", po.patience));
    po.threshold = num("threshold", po.threshold);
    po.threshold_mode = o.value("threshold_mode", po.threshold_mode);
    po.cooldown = int(num("cooldown", po.cooldown));
    po.min_lr = num("min_lr", po.min_lr);
    return std::make_unique<optim::ReduceLROnPlateau>(lr0, po);
  }
  FAIL("unknown schedule " << name);
  return nullptr;
}

}  // namespace

TEST_CASE("optim reference: every optimizer option follows PyTorch's trajectory (float64, 60 steps, 1e-12)") {
  replay("optimizers", false);
}

TEST_CASE("optim reference: LBFGS with step(closure), with and without strong Wolfe, follows PyTorch's") {
  replay("lbfgs", true);
}

TEST_CASE("optim reference: schedules give PyTorch's learning rate at every step") {
  for (const auto& [name, c] : reference()["schedules"].items()) {
    CAPTURE(name);
    const double lr0 = c["lr0"];
    auto s = make_schedule(name, lr0, c["options"]);
    const auto& want = c["lr"];
    for (std::size_t k = 0; k < want.size(); ++k) {
      // relative to the schedule's scale: torch's recursive forms leave ~1e-17 where the closed form is 0
      check_rel(s->lr(), want[k].get<double>(), lr0 * 1e-3, name + " step " + std::to_string(k));
      if (c["metrics"].is_null()) s->step();
      else s->step(c["metrics"][k].get<double>());
    }
  }
  MESSAGE("worst relative error against PyTorch so far: " << worst);
}

TEST_CASE("optim reference: schedules' edges — cosine ends at η_min, OneCycleLR refuses a step past total_steps") {
  optim::CosineAnnealingLR cos(0.1, 4, 0.01);
  for (int k = 0; k < 4; ++k) cos.step();
  CHECK(cos.lr() == doctest::Approx(0.01).epsilon(1e-15));
  optim::OneCycleLR cycle(0.1, 10);
  CHECK(cycle.lr() == doctest::Approx(0.1 / 25));
  for (int k = 0; k < 10; ++k) cycle.step();
  CHECK_THROWS_WITH_AS(cycle.step(), "OneCycleLR: stepped 11 times, past total_steps 10", ValueError);
}

TEST_CASE("optim reference: bad options are refused with a ValueError naming them") {
  nn::Param p{"w", zeros({2}, f64).requires_grad(true), true};
  std::vector<nn::Param> ps{p};
  CHECK_THROWS_WITH_AS(optim::SGD(ps, {.lr = -0.1}), Contains("SGD: lr must be a finite number ≥ 0, got -0.1"), ValueError);
  CHECK_THROWS_WITH_AS(optim::Adam(ps, {.betas = {0.9, 1.0}}), "Adam: betas[1] must be in [0, 1), got 1", ValueError);
  CHECK_THROWS_WITH_AS(optim::AdamW(ps, {.betas = {-0.1, 0.9}}), "AdamW: betas[0] must be in [0, 1), got -0.1", ValueError);
  CHECK_THROWS_WITH_AS(optim::RMSprop(ps, {.alpha = 1.5}), "RMSprop: alpha must be in [0, 1), got 1.5", ValueError);
  CHECK_THROWS_WITH_AS(optim::Adagrad(ps, {.lr_decay = -1}), Contains("Adagrad: lr_decay must be a finite number ≥ 0"), ValueError);
  CHECK_THROWS_WITH_AS(optim::LBFGS(ps, {.history_size = 0}), "LBFGS: history_size must be ≥ 1, got 0", ValueError);
  CHECK_THROWS_WITH_AS(optim::LBFGS(ps, {.max_iter = 0}), "LBFGS: max_iter must be ≥ 1, got 0", ValueError);
  CHECK_THROWS_WITH_AS(optim::LBFGS(ps, {.line_search_fn = "armijo"}),
                       "LBFGS: line_search_fn is 'armijo'; expected \"\" (none) or \"strong_wolfe\"", ValueError);
  CHECK_THROWS_WITH_AS(optim::LBFGS(ps, {.lr = -1}), Contains("LBFGS: lr must be a finite number ≥ 0"), ValueError);
  optim::LBFGS lbfgs(ps);
  CHECK(lbfgs.options().max_eval == 25);  // max_iter · 5 / 4
  CHECK_THROWS_WITH_AS(lbfgs.step(), Contains("LBFGS.step: L-BFGS evaluates the loss several times per step; call step(closure)"),
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::LinearLR(0.1, 0.0), "LinearLR: start_factor must be in (0, 1], got 0", ValueError);
  CHECK_THROWS_WITH_AS(optim::MultiStepLR(0.1, {5, 3}), "MultiStepLR: milestones must be increasing steps ≥ 1; milestone 1 is 3", ValueError);
  CHECK_THROWS_WITH_AS(optim::OneCycleLR(0.1, 10, {.anneal_strategy = "exp"}),
                       "OneCycleLR: anneal_strategy is 'exp'; expected \"cos\" or \"linear\"", ValueError);
  CHECK_THROWS_WITH_AS(optim::OneCycleLR(0.1, 0), "OneCycleLR: total_steps must be ≥ 1, got 0", ValueError);
  CHECK_THROWS_WITH_AS(optim::ReduceLROnPlateau(0.1, {.mode = "up"}), "ReduceLROnPlateau: mode is 'up'; expected \"min\" or \"max\"", ValueError);
  CHECK_THROWS_WITH_AS(optim::ReduceLROnPlateau(0.1, {.factor = 1.0}), "ReduceLROnPlateau: factor must be in [0, 1), got 1", ValueError);
  CHECK_THROWS_WITH_AS(optim::ReduceLROnPlateau(0.1, {.threshold_mode = "pct"}),
                       "ReduceLROnPlateau: threshold_mode is 'pct'; expected \"rel\" or \"abs\"", ValueError);
}

TEST_CASE("optim reference: step(closure) on the other optimizers returns the closure's loss and steps once") {
  nn::Param p{"w", tensor({1.0, 2.0}, {2}, f64).requires_grad(true), true};
  optim::SGD opt({p}, {.lr = 0.5});
  Tensor loss = opt.step([&] {
    opt.zero_grad();
    Tensor l = sum(square(p.tensor));
    l.backward();
    return l;
  });
  CHECK(loss.item() == 5.0);
  CHECK(p.tensor.to_vector() == std::vector<double>{0.0, 0.0});  // w − 0.5 · 2w
  CHECK(opt.steps() == 1);
}

TEST_CASE("optim reference: the new buffers are state — amsgrad and centered RMSprop resume bit-identically") {
  auto run = [](auto make, bool resume) {
    nn::Param p{"w", tensor({1.0, -2.0, 0.5}, {3}, f64).requires_grad(true), true};
    auto opt = make(std::vector<nn::Param>{p});
    auto grad = [&](int s) { p.tensor.set_grad(tensor({0.5 * s - 1, 1.0 / (s + 1), -0.25 * s}, {3}, f64)); };
    for (int s = 0; s < 3; ++s) grad(s), opt.step();
    if (resume) {
      const auto state = opt.state();
      nn::Param q{"w", p.tensor.detach().clone().requires_grad(true), true};
      auto fresh = make(std::vector<nn::Param>{q});
      fresh.load_state(state);
      for (int s = 3; s < 6; ++s) q.tensor.set_grad(tensor({0.5 * s - 1, 1.0 / (s + 1), -0.25 * s}, {3}, f64)), fresh.step();
      return std::make_pair(q.tensor.to_vector(), state);
    }
    for (int s = 3; s < 6; ++s) grad(s), opt.step();
    return std::make_pair(p.tensor.to_vector(), opt.state());
  };
  auto adam = [](std::vector<nn::Param> ps) { return optim::Adam(ps, {.lr = 0.1, .amsgrad = true}); };
  auto rms = [](std::vector<nn::Param> ps) { return optim::RMSprop(ps, {.lr = 0.01, .momentum = 0.5, .centered = true}); };
  CHECK(run(adam, false).first == run(adam, true).first);
  CHECK(run(adam, true).second.count("max_exp_avg_sq.w") == 1);
  CHECK(run(rms, false).first == run(rms, true).first);
  CHECK(run(rms, true).second.count("grad_avg.w") == 1);
  CHECK(run(rms, true).second.count("momentum_buffer.w") == 1);
}

TEST_CASE("optim reference: LBFGS with a closure that runs backward solves least squares") {
  Generator gen(5);
  const Tensor a = randn({8, 3}, f64, gen), x_true = tensor({1.0, -2.0, 0.5}, {3, 1}, f64);
  const Tensor b = matmul(a, x_true);
  for (const std::string ls : {"", "strong_wolfe"}) {
    CAPTURE(ls);
    nn::Param x{"x", zeros({3, 1}, f64).requires_grad(true), true};
    optim::LBFGS opt({x}, {.line_search_fn = ls});
    Tensor first;
    for (int s = 0; s < 5; ++s) {
      Tensor loss = opt.step([&] {
        opt.zero_grad();
        Tensor l = sum(square(matmul(a, x.tensor) - b));
        l.backward();
        return l;
      });
      if (s == 0) first = loss;
    }
    CHECK(first.item() > 1);
    const auto got = x.tensor.to_vector();
    CHECK(got[0] == doctest::Approx(1.0).epsilon(1e-6));
    CHECK(got[1] == doctest::Approx(-2.0).epsilon(1e-6));
    CHECK(got[2] == doctest::Approx(0.5).epsilon(1e-6));
  }
}
