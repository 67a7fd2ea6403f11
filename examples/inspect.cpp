// examples/inspect.cpp — nabla::inspect on network2's [784, 30, 10] network and ten real images:
// BP1–BP4 in closed form against autodiff, the learning speed of each layer, a picture of the
// recorded graph, and anomaly mode finding the op that first made a NaN.
//   inspect                         → prints the reports, writes docs/img/graph_network2.svg
//   inspect --graph out/graph.dot   DOT text instead (no Graphviz needed)
#include <cmath>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nabla/nabla.hpp>

using namespace nabla;

int main(int argc, char** argv) {
  CLI::App app{"BP1–BP4 live, learning speed, graph picture and anomaly mode on network2"};
  std::string graph = "docs/img/graph_network2.svg";
  app.add_option("--graph", graph, "where to write the graph (.svg or .png: rendered with Graphviz; else DOT text)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    data::Split d = data::load_fashion_mnist();
    auto [x, labels] = *d.train.batches(10).begin();
    x = x.to(f64);
    Generator gen(0);
    nn::Sequential net{nn::Linear(784, 30, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal, .dtype = f64}, gen), nn::Sigmoid(), nn::Linear(30, 10, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal, .dtype = f64}, gen),
                       nn::Sigmoid()};
    const Tensor y = one_hot(labels, 10, f64);

    // 1. Are autodiff's gradients exactly the book's δ's?
    fmt::print("{}\n", inspect::bp_check(net, x, y, inspect::Cost::cross_entropy).to_string());

    // 2. How fast is each layer learning, and how many sigmoid units are saturated?
    for (const auto& s : inspect::learning_speed(net, x, y, inspect::Cost::cross_entropy)) {
      fmt::print("{:<34} ‖δ‖ {:.3e}  ‖∂C/∂b‖ {:.3e}  ‖∂C/∂w‖ {:.3e}  saturated {:.1f} %\n", s.name, s.delta_norm,
                 s.bias_grad_norm, s.weight_grad_norm, 100 * s.saturated);
    }

    // 3. The recorded graph of one step, with the gradient norm at every op.
    {
      inspect::AnomalyGuard record_modules;  // also records which module made each op
      Tensor cost = binary_cross_entropy(net(x), y);
      inspect::GradNormGuard norms;
      cost.backward();
      inspect::write_dot(cost, graph);
      fmt::print("\nwrote {}\n", graph);
    }

    // 4. Anomaly mode: a NaN planted in one weight is caught at the first op it reaches.
    {
      NoGradGuard g;
      Tensor w = dynamic_cast<nn::Linear&>(net[2]).weight();
      w.set({3, 7}, std::nan(""));
    }
    inspect::AnomalyGuard guard;
    try {
      (void)binary_cross_entropy(net(x), y);
    } catch (const NumericError& e) {
      fmt::print("\nanomaly mode caught it:\n  {}\n", e.what());
    }
  } catch (const Error& e) {
    fmt::print(stderr, "inspect: {}\n", e.what());
    return 1;
  }
  return 0;
}
