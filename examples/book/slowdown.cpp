// examples/book/slowdown.cpp — book ch. 3, "the learning slowdown": one sigmoid neuron, input 1,
// target 0, started badly wrong (w = 2, b = 2, output 0.98), trained with η = 0.15 under the
// quadratic cost and under the cross-entropy cost. With the quadratic cost the gradient carries
// σ′(z) ≈ 0.02 (eqs. 55–56) and learning crawls at first; cross-entropy's gradient is a − y (eq. 61).
//   slowdown [--quick]      → docs/img/slowdown.png
#include "book.hpp"

using namespace nabla;

int main(int argc, char** argv) {
  CLI::App app{"the learning slowdown of a saturated sigmoid neuron (book ch. 3)"};
  book::Options o;
  o.add_to(app);
  int epochs = 300;
  app.add_option("--epochs", epochs, "epochs")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (o.quick) epochs = 20;
  inspect::set_warnings(false);  // the quadratic + sigmoid pairing is the point here

  std::vector<book::Series> curves;
  for (const std::string cost_name : {"quadratic cost", "cross-entropy cost"}) {
    Tensor w = scalar(2.0, f64).requires_grad(true), b = scalar(2.0, f64).requires_grad(true);
    const Tensor x = tensor({1.0}, {1, 1}, f64), y = tensor({0.0}, {1, 1}, f64);
    optim::SGD opt({{"w", w, true}, {"b", b, false}}, {.lr = 0.15});
    book::Series s{cost_name, {}, {}};
    for (int epoch = 0; epoch <= epochs; ++epoch) {
      Tensor a = sigmoid(x * w + b);
      Tensor c = cost_name[0] == 'q' ? quadratic_cost(a, y) : binary_cross_entropy(a, y);
      s.x.push_back(epoch);
      s.y.push_back(c.item());
      opt.zero_grad();
      c.backward();
      opt.step();
    }
    fmt::print("{}: cost {:.4f} at epoch 0, {:.4f} at epoch {}\n", cost_name, s.y.front(), s.y.back(), epochs);
    curves.push_back(std::move(s));
  }
  book::done(book::draw(o, "slowdown", "one sigmoid neuron from w = 2, b = 2 (input 1, target 0, η = 0.15)",
                        {{"cost against epoch", "epoch", "cost", curves}}),
             "slowdown");
  return 0;
}
