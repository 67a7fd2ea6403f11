// nabla/inspect.hpp: BP1–BP4 against autodiff, learning speed, anomaly mode, DOT export, advice.
#include <cmath>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;
using inspect::Cost;

namespace {

// A random float64 network: `depth` Linear layers, `hidden` activation between them, and the
// output layer the cost asks for ("sigmoid", "logits", "softmax", or the hidden activation).
nn::Sequential make_net(int depth, const std::string& hidden, const std::string& output, Generator& gen) {
  nn::Sequential net;
  std::vector<std::int64_t> widths{5};
  for (int l = 0; l < depth - 1; ++l) widths.push_back(3 + (l * 2 + depth) % 4);
  widths.push_back(4);
  auto activation = [](const std::string& a) -> std::shared_ptr<nn::Module> {
    if (a == "sigmoid") return std::make_shared<nn::Sigmoid>();
    if (a == "tanh") return std::make_shared<nn::Tanh>();
    if (a == "relu") return std::make_shared<nn::ReLU>();
    if (a == "leaky") return std::make_shared<nn::LeakyReLU>(0.1);
    if (a == "softmax") return std::make_shared<nn::Softmax>();
    return nullptr;
  };
  for (int l = 0; l < depth; ++l) {
    net.push_back(std::make_shared<nn::Linear>(widths[l], widths[l + 1],
                                               nn::LinearOptions{.weight = nn::Init::standard_normal, .dtype = f64}, gen));
    auto a = activation(l + 1 < depth ? hidden : output);
    if (a) net.push_back(a);
  }
  return net;
}

Tensor targets(Cost cost, std::int64_t n, Generator& gen) {
  if (cost == Cost::log_likelihood) return labels(n, 4, gen);
  if (cost == Cost::cross_entropy) return uniform({n, 4}, 0, 1, f64, gen);  // soft targets in [0, 1]
  return uniform({n, 4}, -1, 1, f64, gen);
}

// A sigmoid whose backward forgets the σ′ factor: the gradient a test corrupts on purpose.
struct WrongSigmoid {
  static constexpr std::string_view name = "wrong_sigmoid";
  Tensor forward(Context&, const Tensor& x) const { return sigmoid(x); }
  Grads backward(Context&, const Tensor& gy) const { return {gy}; }
};
struct WrongSigmoidModule : nn::Sigmoid {
  Tensor forward(const Tensor& x) override { return apply(WrongSigmoid{}, x); }
};

}  // namespace

TEST_CASE("bp_check: BP1–BP4 in closed form equal autodiff to 1e-10 on random networks of every kind") {
  Generator gen(11);
  int nets = 0;
  double worst = 0;
  const std::vector<std::string> hiddens{"sigmoid", "tanh", "relu", "leaky"};
  struct Kind {
    Cost cost;
    std::string output;
  };
  const std::vector<Kind> kinds{{Cost::quadratic, "sigmoid"}, {Cost::quadratic, "tanh"},        {Cost::quadratic, "none"},
                                {Cost::cross_entropy, "sigmoid"}, {Cost::cross_entropy, "none"}, {Cost::log_likelihood, "none"},
                                {Cost::log_likelihood, "softmax"}};
  for (int depth = 1; depth <= 4; ++depth) {
    for (const std::string& h : hiddens) {
      for (const Kind& k : kinds) {
        nn::Sequential net = make_net(depth, h, k.output, gen);
        Tensor x = randn({6, 5}, f64, gen);
        Tensor y = targets(k.cost, 6, gen);
        inspect::BpReport r = inspect::bp_check(net, x, y, k.cost);
        INFO(r.to_string());
        REQUIRE(r.layers.size() == std::size_t(depth));
        CHECK(r.worst_relative() < 1e-10);
        worst = std::max(worst, r.worst_relative());
        ++nets;
      }
    }
  }
  MESSAGE("bp_check over " << nets << " networks: worst relative difference " << worst);
}

TEST_CASE("bp_check: a corrupted gradient is flagged in its layer and below, not above") {
  Generator gen(5);
  nn::Sequential net;
  net.push_back(std::make_shared<nn::Linear>(5, 4, nn::LinearOptions{.dtype = f64}, gen));
  net.push_back(std::make_shared<nn::Sigmoid>());
  net.push_back(std::make_shared<nn::Linear>(4, 3, nn::LinearOptions{.dtype = f64}, gen));
  net.push_back(std::make_shared<WrongSigmoidModule>());  // layer 2's σ′ is missing from autodiff
  net.push_back(std::make_shared<nn::Linear>(3, 4, nn::LinearOptions{.dtype = f64}, gen));
  net.push_back(std::make_shared<nn::Sigmoid>());
  Tensor x = randn({6, 5}, f64, gen);
  Tensor y = uniform({6, 4}, 0, 1, f64, gen);
  inspect::BpReport r = inspect::bp_check(net, x, y, Cost::quadratic);
  INFO(r.to_string());
  REQUIRE(r.layers.size() == 3);
  CHECK(r.layers[2].delta_rel < 1e-12);  // the output layer is still right
  CHECK(r.layers[2].weight_rel < 1e-12);
  CHECK(r.layers[1].delta_rel > 0.1);    // δ² = (w³ᵀ δ³) ⊙ σ′(z²): the factor autodiff dropped
  CHECK(r.layers[1].weight_rel > 0.1);
  CHECK(r.layers[0].bias_rel > 0.01);    // and everything it feeds through BP2
  CHECK(r.worst_relative() > 0.1);
  CHECK(r.to_string().find("layer 2: Linear(4, 3) → Sigmoid") != std::string::npos);
}

TEST_CASE("bp_check: leaves the parameters' gradients alone, and refuses layers it cannot express") {
  Generator gen(2);
  nn::Sequential net = make_net(2, "tanh", "sigmoid", gen);
  Tensor x = randn({3, 5}, f64, gen), y = uniform({3, 4}, 0, 1, f64, gen);
  quadratic_cost(net(x), y).backward();
  const auto& w0 = dynamic_cast<nn::Linear&>(net[0]).weight();
  const std::vector<double> before = w0.grad().to_vector();
  const Tensor w2 = dynamic_cast<nn::Linear&>(net[2]).weight();
  w2.zero_grad();
  (void)inspect::bp_check(net, x, y, Cost::quadratic);
  CHECK(w0.grad().to_vector() == before);
  CHECK_FALSE(w2.grad().defined());

  nn::Sequential with_dropout;
  with_dropout.push_back(std::make_shared<nn::Linear>(5, 4, nn::LinearOptions{.dtype = f64}, gen));
  with_dropout.push_back(std::make_shared<nn::Dropout>(0.5));
  CHECK_THROWS_WITH_AS(inspect::bp_check(with_dropout, x, uniform({3, 4}, 0, 1, f64, gen), Cost::quadratic),
                       doctest::Contains("module 1 (Dropout(0.5)) is not a Linear layer or an elementwise activation"),
                       ValueError);
  nn::Sequential tanh_out = make_net(1, "tanh", "tanh", gen);
  CHECK_THROWS_WITH_AS(inspect::bp_check(tanh_out, x, y, Cost::cross_entropy),
                       doctest::Contains("the cross-entropy cost needs a sigmoid output layer"), ValueError);
  CHECK_THROWS_AS(inspect::bp_check(tanh_out, randn({3, 7}, f64, gen), y, Cost::quadratic), ShapeError);
}

TEST_CASE("learning_speed: per-layer norms, saturated sigmoid units and dead ReLU units") {
  Generator gen(8);
  nn::Sequential net = make_net(3, "sigmoid", "sigmoid", gen);
  Tensor x = randn({7, 5}, f64, gen), y = uniform({7, 4}, 0, 1, f64, gen);
  auto speeds = inspect::learning_speed(net, x, y, Cost::quadratic);
  REQUIRE(speeds.size() == 3);
  // ‖∂C/∂b^l‖ is the norm of the bias gradient autodiff gives.
  quadratic_cost(net(x), y).backward();
  for (std::size_t l = 0; l < 3; ++l) {
    const Tensor b = dynamic_cast<nn::Linear&>(net[2 * l]).bias();
    CHECK(speeds[l].bias_grad_norm == doctest::Approx(inspect::detail::l2_norm(b.grad())).epsilon(1e-12));
    CHECK(speeds[l].saturated >= 0);
    CHECK(std::isnan(speeds[l].dead));
  }
  // Huge weights saturate every sigmoid unit of the first layer; a very negative bias kills every ReLU.
  {
    NoGradGuard g;
    Tensor w0 = dynamic_cast<nn::Linear&>(net[0]).weight();
    w0.mul_(1e4);
  }
  CHECK(inspect::learning_speed(net, x, y, Cost::quadratic)[0].saturated > 0.95);
  nn::Sequential relu_net = make_net(2, "relu", "none", gen);
  {
    NoGradGuard g;
    Tensor b0 = dynamic_cast<nn::Linear&>(relu_net[0]).bias();
    b0.fill_(-100);
  }
  auto r = inspect::learning_speed(relu_net, x, labels(7, 4, gen), Cost::log_likelihood);
  CHECK(r[0].dead == 1.0);
  CHECK(r[0].bias_grad_norm == 0.0);
  CHECK(std::isnan(r[0].saturated));
}

namespace {
struct Sqrt : nn::Module {
  Tensor forward(const Tensor& x) override { return sqrt(x); }
  std::string describe() const override { return "Sqrt"; }
};
}  // namespace

TEST_CASE("anomaly mode: the first op to make a NaN or infinity is named, with its module") {
  Generator gen(4);
  nn::Sequential net;
  net.push_back(std::make_shared<nn::Linear>(3, 4, nn::LinearOptions{.dtype = f64}, gen));
  net.push_back(std::make_shared<nn::Tanh>());
  net.push_back(std::make_shared<Sqrt>());  // tanh < 0 somewhere → NaN
  Tensor x = randn({5, 3}, f64, gen);
  // Without the guard the NaN flows on silently.
  CHECK(std::isnan(sum(net(x)).item()));
  {
    inspect::AnomalyGuard guard;
    CHECK_THROWS_WITH_AS(net(x), doctest::Contains("anomaly: sqrt forward produced NaN"), NumericError);
    CHECK_THROWS_WITH_AS(net(x), doctest::Contains("inputs [5, 4] float64 (finite)"), NumericError);
    CHECK_THROWS_WITH_AS(net(x), doctest::Contains("recorded in Sequential › [2] Sqrt"), NumericError);
  }
  // Backward: sqrt at exactly 0 is finite forward, infinite backward.
  Tensor z = zeros({2, 2}, f64).requires_grad(true);
  Tensor w = ones({2, 2}, f64).requires_grad(true);
  Tensor c = sum(sqrt(z * w));
  {
    inspect::AnomalyGuard guard;
    Tensor c2 = sum(sqrt(z * w));
    CHECK_THROWS_WITH_AS(c2.backward(), doctest::Contains("anomaly: sqrt backward produced infinity"), NumericError);
  }
  CHECK_NOTHROW(c.backward());  // the guard is gone: no check
  CHECK(std::isinf(z.grad().to_vector()[0]));
  CHECK_FALSE(inspect::detail::anomaly_active());
}

TEST_CASE("to_dot: a small graph gives exactly the expected DOT text") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, f64);
  Tensor w = tensor({1, 0, 0, 1, 1, 1}, {3, 2}, f64).requires_grad(true);
  Tensor b = tensor({0.5, -0.5}, {2}, f64).requires_grad(true);
  Tensor c = sum(sigmoid(matmul(x, w) + b));
  {
    inspect::GradNormGuard g;
    c.backward();
  }
  // By hand: z = xw + b = [[4.5, 4.5], [10.5, 10.5]]; the gradient at the add is σ′(z), rows
  // 0.010866 and 2.75e-5, norm 0.015367; b's is its column sums (norm 0.015406); w's is xᵀσ′(z),
  // rows 0.010976, 0.021870, 0.032763 twice each (norm 0.057828).
  const std::string expected =
      "digraph nabla {\n"
      "  rankdir=BT;\n"
      "  node [fontname=\"Helvetica\", fontsize=10];\n"
      "  out [shape=ellipse, style=bold, label=\"output\\n[] float64\"];\n"
      "  n0 [shape=box, label=\"sum\\n[] float64\\n‖∇‖ = 1\"];\n"
      "  n1 [shape=box, label=\"sigmoid\\n[2, 2] float64\\n‖∇‖ = 2\"];\n"
      "  n2 [shape=box, label=\"add\\n[2, 2] float64\\n‖∇‖ = 0.01537\"];\n"
      "  l0 [shape=ellipse, label=\"[2] float64\\n‖∇‖ = 0.01541\"];\n"
      "  n3 [shape=box, label=\"matmul\\n[2, 2] float64\\n‖∇‖ = 0.01537\"];\n"
      "  l1 [shape=ellipse, label=\"[3, 2] float64\\n‖∇‖ = 0.05783\"];\n"
      "  n0 -> out;\n"
      "  n1 -> n0;\n"
      "  n2 -> n1;\n"
      "  n3 -> n2;\n"
      "  l0 -> n2;\n"
      "  l1 -> n3;\n"
      "}\n";
  CHECK(inspect::to_dot(c) == expected);
}

TEST_CASE("to_dot: repeated layers collapse, and a depth limit cuts long graphs") {
  Generator gen(1);
  Tensor h = randn({2, 3}, f64, gen).requires_grad(true);
  Tensor w = randn({3, 3}, f64, gen).requires_grad(true);
  Tensor a = h;
  for (int i = 0; i < 50; ++i) a = tanh(matmul(a, w));
  Tensor c = sum(a);
  const std::string full = inspect::to_dot(c, {.max_depth = 1000, .collapse_repeats = false});
  const std::string collapsed = inspect::to_dot(c);
  auto count = [](const std::string& s, const std::string& what) {
    std::size_t k = 0;
    for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++k;
    return k;
  };
  CHECK(count(full, "label=\"tanh") == 50);
  CHECK(count(collapsed, "label=\"tanh") == 1);
  CHECK(collapsed.find("× 50") != std::string::npos);
  const std::string cut = inspect::to_dot(c, {.max_depth = 5, .collapse_repeats = false});
  CHECK(count(cut, "shape=box") == 6);
  CHECK(cut.find("… (deeper than 5)") != std::string::npos);
}

TEST_CASE("pairing advice: one warning per kind, citing the book, and none when turned off") {
  std::vector<std::string> got;
  inspect::set_warning_handler([&](std::string_view m) { got.emplace_back(m); });
  inspect::reset_warnings();
  Generator gen(3);
  Tensor z = randn({4, 3}, f64, gen).requires_grad(true);
  Tensor y = one_hot(labels(4, 3, gen), 3, f64);
  (void)quadratic_cost(sigmoid(z), y);
  (void)quadratic_cost(sigmoid(z), y);
  REQUIRE(got.size() == 1);
  CHECK(got[0].find("learn slowly (book ch. 3, eqs. 55–56)") != std::string::npos);
  (void)quadratic_cost(z, y);  // no sigmoid: nothing to say
  (void)softmax_cross_entropy(softmax(z), labels(4, 3, gen));
  REQUIRE(got.size() == 2);
  CHECK(got[1].find("softmax_cross_entropy expects logits z, but its input is the output of softmax") != std::string::npos);
  (void)nll_loss(z, labels(4, 3, gen));  // raw scores, some above 0
  REQUIRE(got.size() == 3);
  CHECK(got[2].find("nll_loss expects log-probabilities") != std::string::npos);
  (void)nll_loss(log_softmax(z), labels(4, 3, gen));  // the right pairing never warns
  CHECK(got.size() == 3);

  inspect::reset_warnings();
  inspect::set_warnings(false);
  (void)quadratic_cost(sigmoid(z), y);
  CHECK(got.size() == 3);
  inspect::set_warnings(true);
  inspect::set_warning_handler(nullptr);
}

TEST_CASE("write_dot: renders SVG with Graphviz, or writes the DOT text") {
  TempDir dir;
  Tensor w = ones({2, 2}, f64).requires_grad(true);
  Tensor c = sum(tanh(w));
  inspect::write_dot(c, (dir.path / "g.dot").string());
  CHECK(std::filesystem::file_size(dir.path / "g.dot") > 50);
  if (std::system("command -v dot > /dev/null 2>&1") == 0) {
    inspect::write_dot(c, (dir.path / "g.svg").string());
    CHECK(std::filesystem::file_size(dir.path / "g.svg") > 200);
    CHECK_FALSE(std::filesystem::exists(dir.path / "g.svg.dot"));
  } else {
    MESSAGE("Graphviz dot not installed: SVG rendering not exercised");
  }
}
