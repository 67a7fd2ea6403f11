// examples/book/vanishing.cpp — book ch. 5, "the vanishing gradient problem": the speed of
// learning ‖∂C/∂b^l‖ of each layer of a [784, 30, 30, 30, 10] network over training, measured by
// nabla::inspect::learning_speed every epoch. With sigmoid hidden layers the early layers learn
// far more slowly than the later ones (each backward step multiplies by w σ′(z), σ′ ≤ 1/4); with
// ReLU the speeds stay within a small factor of each other.
//   vanishing [--quick]     → docs/img/vanishing_sigmoid.png, docs/img/vanishing_relu.png
#include "book.hpp"

using namespace nabla;

/// ‖∂C/∂b^l‖ of every layer against epoch (log scale) and, where there are any, the saturated and
/// dead fractions: the monitor's data in <data>/<name>.dat, drawn into <figures>/<name>.png.
/// Returns whether a PNG was drawn (false without gnuplot).
bool draw(const book::Options& o, const inspect::LearningMonitor& monitor, const std::string& name, const std::string& title) {
  namespace fs = std::filesystem;
  const std::string dat = (fs::path(o.data) / (name + ".dat")).string(), png = (fs::path(o.figures) / (name + ".png")).string();
  const inspect::LearningPlotData d = monitor.write_plot_data(dat);
  if (d.layers.empty()) return false;
  auto plot_all = [&](int column) {
    std::string s = "plot ";
    for (std::size_t i = 0; i < d.layers.size(); ++i) {
      s += fmt::format("{}{} index {} using 1:{} with lines lw 2 title 'layer {}'", i ? ", " : "", book::quote(dat), i, column, d.layers[i]);
    }
    return s + "\n";
  };
  const bool second = d.saturated || d.dead;
  std::string gp = fmt::format("set terminal pngcairo size {},450 font 'sans,10'\nset output {}\nset grid\nset xlabel 'epoch'\n",
                               second ? 1200 : 700, book::quote(png));
  if (second) gp += fmt::format("set multiplot layout 1,2 title {}\nset title 'speed of learning ‖∂C/∂b^l‖'\n", book::quote(title));
  else gp += fmt::format("set title {}\n", book::quote(title + ": speed of learning ‖∂C/∂b^l‖"));
  gp += "set logscale y\nset key top right\n" + plot_all(2);
  if (second) {
    gp += fmt::format("unset logscale y\nset yrange [0:1]\nset title 'fraction of units {}{}{}'\n",
                      d.saturated ? "saturated (σ′ < threshold)" : "", d.saturated && d.dead ? " / " : "",
                      d.dead ? "dead (ReLU never active on the batch)" : "");
    gp += plot_all(d.saturated ? 3 : 4) + "unset multiplot\n";
  }
  return nabla_run::gnuplot(fs::path(o.data) / (name + ".gp"), gp);
}

int main(int argc, char** argv) {
  CLI::App app{"speed of learning per layer, sigmoid against ReLU (book ch. 5)"};
  book::Options o;
  o.add_to(app);
  int epochs = 200;
  app.add_option("--epochs", epochs, "epochs")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    data::Split d = data::load_fashion_mnist();
    d.train = d.train.slice(0, 1000);  // as the book: 1,000 training images, mini-batch 10
    if (o.quick) epochs = 3;
    const auto [x_all, y_all] = *d.train.batches(1000).begin();
    std::filesystem::create_directories(o.data);
    for (const std::string act : {"sigmoid", "relu"}) {
      Generator gen(0);
      auto activation = [&]() -> std::shared_ptr<nn::Module> {
        if (act == "sigmoid") return std::make_shared<nn::Sigmoid>();
        return std::make_shared<nn::ReLU>();
      };
      const nn::Init init = act == "relu" ? nn::Init::he_normal : nn::Init::scaled_normal;
      nn::Sequential net;
      std::int64_t n_in = 784;
      for (int l = 0; l < 3; ++l) {
        net.push_back(std::make_shared<nn::Linear>(n_in, 30, nn::LinearOptions{.weight = init, .bias = nn::Init::standard_normal}, gen));
        net.push_back(activation());
        n_in = 30;
      }
      net.push_back(std::make_shared<nn::Linear>(30, 10, nn::LinearOptions{.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen));
      optim::SGD opt(net.parameters(), {.lr = 0.1});
      inspect::LearningMonitor monitor((std::filesystem::path(o.data) / ("vanishing_" + act + ".csv")).string());
      for (int epoch = 0; epoch <= epochs; ++epoch) {
        const Tensor y1 = one_hot(y_all, 10);
        const auto speeds = inspect::learning_speed(net, x_all, y1, inspect::Cost::cross_entropy);
        monitor.record(std::int64_t(epoch) * 100, epoch, speeds);
        if (epoch == 0 || epoch == epochs) {
          fmt::print("{} epoch {:>3}: ‖∂C/∂b^l‖ =", act, epoch);
          for (const auto& s : speeds) fmt::print(" {:.3e}", s.bias_grad_norm);
          fmt::print("\n");
        }
        if (epoch < epochs) book::train_epoch(net, opt, d.train, 10, std::uint64_t(epoch), book::cross_entropy);
      }
      const std::string png = (std::filesystem::path(o.figures) / ("vanishing_" + act + ".png")).string();
      std::filesystem::create_directories(o.figures);
      if (draw(o, monitor, "vanishing_" + act, fmt::format("[784, 30, 30, 30, 10], {} hidden layers, 1,000 images, η = 0.1", act))) {
        fmt::print("wrote {}\n", png);
      } else {
        fmt::print("gnuplot is not installed: numbers in {}, no figure\n", monitor.path());
      }
      const train::Evaluation test = train::evaluate(net, d.test, book::cross_entropy);
      fmt::print("{}: test accuracy {:.4f}\n", act, test.accuracy);
    }
  } catch (const Error& e) {
    fmt::print(stderr, "vanishing: {}\n", e.what());
    return 1;
  }
  return 0;
}
