// optim: SGD, momentum, Nesterov, L2/L1, clipping — each update against values computed by hand;
// schedules; early stopping.
#include <cmath>
#include <numbers>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

using namespace nabla;
using doctest::Approx;

namespace {
/// One parameter w with a given gradient.
nn::Param param(std::vector<double> w, std::vector<double> g, bool decay = true) {
  Tensor t = from_vector(w, {static_cast<std::int64_t>(w.size())}, f64).requires_grad(true);
  t.set_grad(from_vector(g, {static_cast<std::int64_t>(g.size())}, f64));
  return {"w", t, decay};
}

void check_values(const Tensor& t, std::vector<double> expected) {
  const auto v = t.to_vector();
  REQUIRE(v.size() == expected.size());
  for (std::size_t i = 0; i < v.size(); ++i) CHECK(v[i] == Approx(expected[i]).epsilon(1e-12));
}
}  // namespace

TEST_CASE("optim: plain SGD is w → w − η ∇C") {
  auto p = param({1, 2}, {0.5, -1});
  optim::SGD opt({p}, {.lr = 0.1});
  opt.step();
  check_values(p.tensor, {1 - 0.05, 2 + 0.1});
  CHECK(opt.steps() == 1);
  CHECK(opt.grad_norm() == Approx(std::sqrt(1.25)));
}

TEST_CASE("optim: L2 is the book's w → (1 − ηλ/n) w − η ∂C0/∂w, and skips biases") {
  auto w = param({1, -2}, {0.5, 0.25});
  auto b = param({1, -2}, {0.5, 0.25}, false);
  optim::SGD opt({w, b}, {.lr = 0.5, .l2 = 5.0, .n = 100});
  opt.step();
  const double f = 1 - 0.5 * 5.0 / 100;
  check_values(w.tensor, {f * 1 - 0.5 * 0.5, f * -2 - 0.5 * 0.25});
  check_values(b.tensor, {1 - 0.5 * 0.5, -2 - 0.5 * 0.25});
}

TEST_CASE("optim: L1 is w → w − (ηλ/n) sgn(w) − η ∂C0/∂w") {
  auto w = param({1, -2, 0}, {0.5, 0.25, 1});
  optim::SGD opt({w}, {.lr = 0.5, .l1 = 4.0, .n = 10});
  opt.step();
  const double s = 0.5 * 4.0 / 10;
  check_values(w.tensor, {1 - s - 0.25, -2 + s - 0.125, 0 - 0.5});
}

TEST_CASE("optim: momentum is v → μv − η∇C, w → w + v (two steps by hand)") {
  auto w = param({1}, {2});
  optim::SGD opt({w}, {.lr = 0.1, .momentum = 0.9});
  opt.step();  // v1 = −0.2, w1 = 0.8
  check_values(w.tensor, {0.8});
  w.tensor.set_grad(from_vector(std::vector<double>{1}, {1}, f64));
  opt.step();  // v2 = 0.9 · −0.2 − 0.1 · 1 = −0.28, w2 = 0.52
  check_values(w.tensor, {0.52});
}

TEST_CASE("optim: Nesterov is v → μv − η∇C, w → w + μv − η∇C (two steps by hand)") {
  auto w = param({1}, {2});
  optim::SGD opt({w}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  opt.step();  // v1 = −0.2, w1 = 1 + 0.9 · −0.2 − 0.2 = 0.62
  check_values(w.tensor, {0.62});
  w.tensor.set_grad(from_vector(std::vector<double>{1}, {1}, f64));
  opt.step();  // v2 = −0.28, w2 = 0.62 + 0.9 · −0.28 − 0.1 = 0.268
  check_values(w.tensor, {0.268});
}

TEST_CASE("optim: gradient clipping rescales the joint norm") {
  auto a = param({0}, {3});
  auto b = param({0}, {4});
  optim::SGD opt({a, b}, {.lr = 1.0, .clip_norm = 1.0});
  opt.step();
  check_values(a.tensor, {-0.6});
  check_values(b.tensor, {-0.8});
  CHECK(opt.grad_norm() == Approx(5.0));
}

TEST_CASE("optim: a parameter without a gradient is left alone; zero_grad forgets gradients") {
  auto a = param({1}, {1});
  a.tensor.zero_grad();
  optim::SGD opt({a}, {.lr = 1.0});
  opt.step();
  check_values(a.tensor, {1});
}

TEST_CASE("optim: bad options are errors") {
  auto p = param({1}, {1});
  CHECK_THROWS_WITH_AS(optim::SGD({p}, {.lr = 0.1, .nesterov = true}), "SGD: nesterov needs momentum > 0", ValueError);
  CHECK_THROWS_WITH_AS(optim::SGD({p}, {.lr = 0.1, .l2 = 5}), "SGD: l2 and l1 need n, the training-set size of the book's λ/n",
                       ValueError);
  CHECK_THROWS_AS(optim::SGD({p}, {.lr = -1}), ValueError);
  CHECK_THROWS_AS(optim::SGD({p}, {.lr = 0.1, .momentum = 1.0}), ValueError);
}

TEST_CASE("optim: state round-trips; a mismatched state is rejected") {
  auto w = param({1, 2}, {1, 1});
  optim::SGD opt({w}, {.lr = 0.1, .momentum = 0.5});
  opt.step();
  auto w2 = param({1, 2}, {1, 1});
  optim::SGD opt2({w2}, {.lr = 0.1, .momentum = 0.5});
  opt2.load_state(opt.state());
  CHECK(opt2.steps() == 1);
  CHECK(opt2.state().at("velocity.w").to_vector() == opt.state().at("velocity.w").to_vector());
  auto w3 = param({1, 2, 3}, {1, 1, 1});
  optim::SGD opt3({w3}, {.lr = 0.1, .momentum = 0.5});
  CHECK_THROWS_WITH_AS(opt3.load_state(opt.state()),
                       "SGD.load_state: 'velocity.w' is float64 [2], expected float64 [3]", ValueError);
}

TEST_CASE("optim: schedules give the learning rate of each epoch") {
  optim::StepLR step(1.0, 2, 0.5);
  std::vector<double> got;
  for (int e = 0; e < 5; ++e, step.epoch_end(NAN)) got.push_back(step.lr());
  CHECK(got == std::vector<double>{1, 1, 0.5, 0.5, 0.25});

  optim::CosineAnnealingLR cosine(1.0, 4, 0.1);  // 5 epochs, the last at η_min
  CHECK(cosine.lr() == Approx(1.0));
  for (int e = 0; e < 2; ++e) cosine.epoch_end(NAN);
  CHECK(cosine.lr() == Approx(0.55));
  for (int e = 0; e < 2; ++e) cosine.epoch_end(NAN);
  CHECK(cosine.lr() == Approx(0.1));

  optim::ConstantLR constant(0.5, 1.0, 0);
  constant.epoch_end(0.9);
  CHECK(constant.lr() == 0.5);
}

TEST_CASE("optim: linear warmup rises to the next schedule's η, then hands over; with Adam as with SGD") {
  optim::LinearWarmup warm(std::make_unique<optim::StepLR>(1.0, 2, 0.5), 4, 0.2);
  std::vector<double> got;
  for (int e = 0; e < 8; ++e, warm.epoch_end(NAN)) got.push_back(warm.lr());
  const std::vector<double> expected{0.2, 0.4, 0.6, 0.8, 1, 1, 0.5, 0.5};
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(expected[i]));
  // The book's rule after a warmup sees only the metrics after it, and still stops training.
  optim::LinearWarmup halve(std::make_unique<optim::HalveOnPlateau>(1.0, 1, 2.0), 1);
  halve.epoch_end(0.9);  // the warmup epoch's metric is not the rule's
  CHECK(halve.lr() == 1.0);
  halve.epoch_end(0.5);  // the rule's first epoch: its best
  halve.epoch_end(0.4);  // no improvement: halve to η₀/2, which is the stop
  CHECK(halve.lr() == 0.5);
  CHECK(halve.should_stop());
  // Every optimizer takes the schedule's η through set_lr, groups keeping their ratios.
  Tensor w = ones({2}, f64).requires_grad(true), b = ones({2}, f64).requires_grad(true);
  optim::Adam adam(std::vector<optim::ParamGroup>{{{{"w", w}}, 1.0, 0.0}, {{{"b", b}}, 0.5, 0.0}}, {.lr = 1.0});
  optim::LinearWarmup sched(std::make_unique<optim::ConstantLR>(1e-2, 1.0, 0), 2, 0.5);
  adam.set_lr(sched.lr());
  CHECK(adam.lr() == Approx(5e-3));
  CHECK(adam.group_lr(1) == Approx(2.5e-3));
  CHECK_THROWS_AS(optim::LinearWarmup(nullptr, 2), ValueError);
  CHECK_THROWS_AS(optim::LinearWarmup(std::make_unique<optim::ConstantLR>(1.0, 1.0, 0), 0), ValueError);
}

TEST_CASE("optim: the book's rule halves η after `patience` epochs without improvement and stops at η₀/128") {
  optim::HalveOnPlateau rule(1.0, 2);
  rule.epoch_end(0.5);   // best
  rule.epoch_end(0.6);   // best
  rule.epoch_end(0.6);   // no improvement (1)
  CHECK(rule.lr() == 1.0);
  rule.epoch_end(0.55);  // no improvement (2): halve
  CHECK(rule.lr() == 0.5);
  rule.epoch_end(0.7);   // best again
  CHECK(rule.lr() == 0.5);
  int epochs = 0;
  while (!rule.should_stop() && epochs < 100) {
    rule.epoch_end(0.1);
    ++epochs;
  }
  CHECK(rule.lr() == Approx(1.0 / 128));
  CHECK(epochs == 12);  // six more halvings, two epochs each
}

TEST_CASE("optim: early stopping stops after `patience` epochs without improvement and restores the best") {
  nn::Linear fc(2, 1);
  optim::EarlyStopping stop(2);
  CHECK(stop.observe(0.5, fc));
  const auto best = fc.weight().to_vector();
  {
    NoGradGuard g;
    fc.weight().detach().fill_(7);
  }
  CHECK_FALSE(stop.observe(0.4, fc));
  CHECK_FALSE(stop.should_stop());
  CHECK_FALSE(stop.observe(0.5, fc));  // equal is not better
  CHECK(stop.should_stop());
  CHECK(stop.best_epoch() == 0);
  stop.restore_best(fc);
  CHECK(fc.weight().to_vector() == best);
}

TEST_CASE("optim: the step count is read as the int64 it is, in [0, 2^62]") {
  auto w = param({1, 2}, {1, 1});
  optim::SGD opt({w}, {.lr = 0.1, .momentum = 0.5});
  std::map<std::string, Tensor> state = opt.state();
  const std::int64_t most = std::int64_t(1) << 62, negative = -1;
  state["steps"] = from_vector(std::span<const std::int64_t>(&most, 1), Shape{});
  opt.load_state(state);
  CHECK(opt.steps() == most);  // exactly, not through double
  CHECK(opt.state().at("steps").to_vector<std::int64_t>() == std::vector<std::int64_t>{most});
  state["steps"] = from_vector(std::span<const std::int64_t>(&negative, 1), Shape{});
  CHECK_THROWS_WITH_AS(opt.load_state(state), "SGD.load_state: 'steps' is -1; expected a count of steps in [0, 2^62]", ValueError);
}

TEST_CASE("optim: SGD's weight_decay (torch's λ₂) is the book's l2 over n, bit for bit; giving both is an error") {
  auto w1 = param({1, -2, 0.5}, {0.5, 0.25, -1});
  auto w2 = param({1, -2, 0.5}, {0.5, 0.25, -1});
  optim::SGD torch_form({w1}, {.lr = 0.5, .momentum = 0.9, .weight_decay = 5.0 / 100});
  optim::SGD book_form({w2}, {.lr = 0.5, .momentum = 0.9, .l2 = 5.0, .n = 100});
  for (int s = 0; s < 3; ++s) {
    torch_form.step();
    book_form.step();
  }
  CHECK(w1.tensor.to_vector() == w2.tensor.to_vector());
  CHECK(book_form.group_weight_decay(0) == 0);  // the book's term is SGD's own, on weights only
  // A bias (no decay): the book's l2 leaves it alone, torch's weight_decay decays it.
  auto b1 = param({1, -2}, {0.5, 0.25}, false);
  auto b2 = param({1, -2}, {0.5, 0.25}, false);
  optim::SGD torch_bias({b1}, {.lr = 0.5, .weight_decay = 0.1});
  optim::SGD book_bias({b2}, {.lr = 0.5, .l2 = 5.0, .n = 50});
  torch_bias.step();
  book_bias.step();
  check_values(b1.tensor, {1 - 0.5 * (0.5 + 0.1 * 1), -2 - 0.5 * (0.25 + 0.1 * -2)});
  check_values(b2.tensor, {1 - 0.5 * 0.5, -2 - 0.5 * 0.25});
  auto p = param({1}, {1});
  CHECK_THROWS_WITH_AS(optim::SGD({p}, {.lr = 0.1, .weight_decay = 0.1, .l2 = 5, .n = 10}),
                       "SGD: weight_decay 0.1 and the book's l2 5 (over n) are the same term; give one", ValueError);
}

TEST_CASE("optim: SGD's dampening is torch's, b → μb + (1 − d) g after an undamped first step (two steps by hand)") {
  auto w = param({1}, {2});
  optim::SGD opt({w}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
  opt.step();  // torch: b1 = g = 2, w1 = 1 − 0.1 · 2 = 0.8
  check_values(w.tensor, {0.8});
  w.tensor.set_grad(from_vector(std::vector<double>{1}, {1}, f64));
  opt.step();  // b2 = 0.9 · 2 + 0.5 · 1 = 2.3, w2 = 0.8 − 0.23 = 0.57
  check_values(w.tensor, {0.57});
  auto p = param({1}, {1});
  CHECK_THROWS_WITH_AS(optim::SGD({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}),
                       "SGD: nesterov needs dampening 0 (as torch.optim.SGD)", ValueError);
  CHECK_THROWS_WITH_AS(optim::SGD({p}, {.lr = 0.1, .dampening = 2}), "SGD: dampening must be in [0, 1], got 2", ValueError);
}

TEST_CASE("optim: the schedules with torch.optim.lr_scheduler's names give its learning rates") {
  auto run = [](optim::LrSchedule& s, int epochs) {
    std::vector<double> got;
    for (int e = 0; e < epochs; ++e, s.epoch_end(NAN)) got.push_back(s.lr());
    return got;
  };
  optim::StepLR step(1.0, 2);  // gamma 0.1 by default, as torch's
  const std::vector<double> steps = run(step, 5);
  CHECK(steps[1] == 1.0);
  CHECK(steps[2] == Approx(0.1));
  CHECK(steps[4] == Approx(0.01));
  optim::ExponentialLR exponential(2.0, 0.5);
  CHECK(run(exponential, 4) == std::vector<double>{2, 1, 0.5, 0.25});
  // CosineAnnealingLR: η_min at epoch T_max, then rising again (torch's closed form).
  optim::CosineAnnealingLR cosine(1.0, 10, 0.0);
  const std::vector<double> cos = run(cosine, 21);
  for (int e = 0; e <= 20; ++e) CHECK(cos[std::size_t(e)] == Approx((1 + std::cos(std::numbers::pi * e / 10)) / 2));
  CHECK(cos[10] == Approx(0.0));
  CHECK(cos[20] == Approx(1.0));
  // ConstantLR: torch's defaults, η₀/3 for 5 epochs.
  optim::ConstantLR constant(0.9);
  const std::vector<double> c = run(constant, 7);
  CHECK(c[0] == Approx(0.3));
  CHECK(c[4] == Approx(0.3));
  CHECK(c[5] == 0.9);
  CHECK_THROWS_WITH_AS(optim::CosineAnnealingLR(1.0, 0), "CosineAnnealingLR: need T_max > 0 and 0 ≤ eta_min ≤ lr0, got 0 and 0",
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::ExponentialLR(1.0, 1.5), "ExponentialLR: need gamma in (0, 1], got 1.5", ValueError);
  CHECK_THROWS_AS(optim::ConstantLR(1.0, 0.0), ValueError);
}
