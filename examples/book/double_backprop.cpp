// examples/book/double_backprop.cpp — double backpropagation (Drucker & LeCun, 1992): training with
// a penalty on how fast the cost changes with the input,
//   C_total = C + β · (1/n) Σ_x ‖∂C_x/∂x‖²,
// whose gradient needs the derivative of a gradient (grad with create_graph, then backward through
// it). A [784, 100, 10] sigmoid network with softmax cross-entropy is trained on Fashion-MNIST for
// each β; per epoch it records the validation accuracy and, on the test images, the mean norm of
// the input gradient ‖∂C_x/∂x‖. The model of each β is the epoch with the best validation accuracy;
// its test accuracy is measured once, on the 10,000 test images.
//   double_backprop [--quick]      → docs/img/double_backprop.png
#include <cmath>

#include "book.hpp"

using namespace nabla;

namespace {

/// Mean over the examples of ‖∂C_x/∂x‖, the cost of each example alone (the batch mean's gradient
/// row times the batch size).
double input_gradient_norm(nn::Module& net, const data::Dataset& d) {
  double total = 0;
  for (auto [x, y] : d.batches(1000)) {
    const Tensor xr = x.detach().requires_grad(true);
    const Tensor g = grad({softmax_cross_entropy(net(xr), y)}, {xr})[0];
    const auto rows = sqrt(sum(g * g, {1})).to_vector();
    for (double r : rows) total += r * double(x.shape()[0]);
  }
  return total / double(d.size());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"double backpropagation: a penalty on the input gradient of the cost"};
  book::Options o;
  o.add_to(app);
  int epochs = 10;
  app.add_option("--epochs", epochs, "epochs per β")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    data::Split d = data::load_fashion_mnist();  // 50,000 / 10,000 validation / 10,000 test
    if (o.quick) epochs = 1, d.train = d.train.slice(0, 500), d.validation = d.validation.slice(0, 200), d.test = d.test.slice(0, 200);
    std::vector<book::Series> norms, accuracies;
    std::string table;
    for (double beta : {0.0, 0.1, 1.0, 10.0}) {
      Generator gen(0);
      nn::Sequential net{nn::Linear(784, 100, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen), nn::Sigmoid(), nn::Linear(100, 10, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen)};
      optim::SGD opt(net.parameters(), {.lr = 0.1});
      const std::string label = beta == 0 ? "β = 0 (plain)" : fmt::format("β = {}", beta);
      book::Series norm{label, {}, {}, true}, acc{label, {}, {}, true};
      double best_val = -1, best_test = 0, best_norm = 0, seconds = 0;
      int best_epoch = 0;
      for (int epoch = 0; epoch < epochs; ++epoch) {
        const auto t0 = std::chrono::steady_clock::now();
        for (auto [x, y] : d.train.batches(10, {.shuffle = true, .seed = std::uint64_t(epoch)})) {
          const Tensor xr = x.detach().requires_grad(beta > 0);
          Tensor c = softmax_cross_entropy(net(xr), y);
          if (beta > 0) {
            const Tensor g = grad({c}, {xr}, {}, {.create_graph = true})[0];  // ∂C/∂x, itself a graph
            const double n = double(x.shape()[0]);
            c = c + sum(g * g) * (beta * n);  // (1/n) Σ ‖∂C_x/∂x‖² with ∂C_x/∂x = n ∂C/∂x
          }
          opt.zero_grad();
          c.backward();
          opt.step();
        }
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double val = train::evaluate(net, d.validation, softmax_cross_entropy).accuracy;
        const double gn = input_gradient_norm(net, d.test);
        norm.x.push_back(epoch + 1), norm.y.push_back(gn);
        acc.x.push_back(epoch + 1), acc.y.push_back(val);
        if (val > best_val) {  // the model is chosen by validation accuracy alone
          best_val = val, best_epoch = epoch + 1, best_norm = gn;
          best_test = train::evaluate(net, d.test, softmax_cross_entropy).accuracy;
        }
      }
      table += fmt::format("| {} | {} | {:.4f} | {:.4f} | {:.3f} | {:.1f} |\n", label, best_epoch, best_val, best_test, best_norm,
                           seconds / epochs);
      fmt::print("{}: best validation accuracy {:.4f} at epoch {}; there test accuracy {:.4f}, mean ‖∂C/∂x‖ on the test images "
                 "{:.3f}; {:.1f} s per epoch\n",
                 label, best_val, best_epoch, best_test, best_norm, seconds / epochs);
      norms.push_back(std::move(norm));
      accuracies.push_back(std::move(acc));
    }
    fmt::print("\n| β | chosen epoch | validation accuracy | test accuracy | mean ‖∂C/∂x‖ (test) | s / epoch |\n"
               "|---|---|---|---|---|---|\n{}",
               table);
    book::done(book::draw(o, "double_backprop", "double backpropagation: [784, 100, 10], Fashion-MNIST, mini-batch 10, η = 0.1",
                          {{"mean input-gradient norm on the test images", "epoch", "‖∂C/∂x‖", norms, false, true, "top right"},
                           {"validation accuracy", "epoch", "accuracy", accuracies, false, false, "bottom right"}}),
               "double_backprop");
  } catch (const Error& e) {
    fmt::print(stderr, "double_backprop: {}\n", e.what());
    return 1;
  }
  return 0;
}
