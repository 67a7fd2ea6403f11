// examples/book/universality.cpp — book ch. 4, "a visual proof that neural nets can compute any
// function": one hidden layer of sigmoid neurons and a linear output, fitted to the chapter's
// f(x) = 0.2 + 0.4x² + 0.3x sin(15x) + 0.05 cos(50x) on [0, 1]. Each hidden neuron is started as a
// steep step at a random place in [0, 1] (the chapter's construction), then all weights are
// trained on the quadratic cost; more neurons follow f more closely.
//   universality [--quick]  → docs/img/universality.png
#include <algorithm>
#include <cmath>

#include "book.hpp"

using namespace nabla;

int main(int argc, char** argv) {
  CLI::App app{"one hidden layer approximating a 1-D function with growing width (book ch. 4)"};
  book::Options o;
  o.add_to(app);
  int steps = 20000;
  app.add_option("--steps", steps, "full-batch gradient steps per width")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (o.quick) steps = 200;
  auto f = [](double x) { return 0.2 + 0.4 * x * x + 0.3 * x * std::sin(15 * x) + 0.05 * std::cos(50 * x); };
  const std::int64_t points = 400;
  std::vector<double> xs, ys;
  for (std::int64_t i = 0; i < points; ++i) {
    xs.push_back(double(i) / double(points - 1));
    ys.push_back(f(xs.back()));
  }
  const Tensor x = from_vector(xs, {points, 1}, f64), y = from_vector(ys, {points, 1}, f64);

  std::vector<book::Series> fits{{"f(x)", xs, ys}};
  book::Series errors{"root mean square error", {}, {}, true};
  for (std::int64_t width : {2, 5, 20, 100}) {
    Generator gen{std::uint64_t(width)};
    nn::Linear hidden(1, width, {.weight = nn::Init::zeros, .bias = nn::Init::zeros, .dtype = f64}, gen);
    nn::Linear out(width, 1, {.weight = nn::Init::scaled_normal, .bias = nn::Init::zeros, .dtype = f64}, gen);
    {
      // Steps of steepness 40 at points s spread over [0, 1]: σ(40 (x − s)).
      NoGradGuard g;
      Tensor w = hidden.weight(), b = hidden.bias();
      const std::vector<double> s = uniform({width}, 0, 1, f64, gen).to_vector();
      for (std::int64_t j = 0; j < width; ++j) {
        w.set({j, 0}, 40.0);
        b.set({j}, -40.0 * s[j]);
      }
    }
    std::vector<nn::Param> params = hidden.parameters();
    for (auto& p : out.parameters()) params.push_back(p);
    // η shrinks for the widest layer, whose summed output moves fastest.
    optim::SGD opt(params, {.lr = 0.05 * std::min(1.0, 20.0 / double(width)), .momentum = 0.9, .nesterov = true});
    Tensor a;
    for (int step = 0; step <= steps; ++step) {
      a = out(sigmoid(hidden(x)));
      Tensor c = quadratic_cost(a, y);
      if (step == steps) break;
      opt.zero_grad();
      c.backward();
      opt.step();
    }
    const double rms = std::sqrt(2 * quadratic_cost(a, y).item());
    fmt::print("{:>3} hidden neurons: root mean square error {:.4f}\n", width, rms);
    fits.push_back({fmt::format("{} hidden neurons", width), xs, a.detach().to_vector()});
    errors.x.push_back(double(width));
    errors.y.push_back(rms);
  }
  book::done(book::draw(o, "universality", "one hidden layer of sigmoid neurons fitted to f(x) (quadratic cost)",
                        {{"f and the network's fits", "x", "f(x)", fits, false, false, "top left"},
                         {"error against width", "hidden neurons", "RMS error", {errors}, true, true}}),
             "universality");
  return 0;
}
