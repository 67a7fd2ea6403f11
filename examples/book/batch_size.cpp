// examples/book/batch_size.cpp — mini-batch size (book ch. 1 and 3): [784, 30, 10] (network2's
// cross-entropy, η = 0.5) trained for a fixed number of epochs at mini-batch sizes 1 … 1,000. Larger
// batches run an epoch faster (one matrix product per batch instead of one per example) but make
// fewer updates per epoch, so with η fixed the accuracy after the same epochs falls.
//   batch_size [--quick]    → docs/img/batch_size.png (Fashion-MNIST, 50,000 images, 3 epochs each)
#include "book.hpp"

using namespace nabla;

int main(int argc, char** argv) {
  CLI::App app{"time per epoch and accuracy against mini-batch size"};
  book::Options o;
  o.add_to(app);
  int epochs = 3;
  app.add_option("--epochs", epochs, "epochs per size")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    data::Split d = data::load_fashion_mnist();
    std::vector<std::int64_t> sizes{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
    if (o.quick) epochs = 1, d.train = d.train.slice(0, 1000), sizes = {1, 10, 100};
    set_num_threads(1);
    book::Series secs{"seconds per epoch", {}, {}, true}, acc{"validation accuracy", {}, {}, true};
    for (std::int64_t m : sizes) {
      Generator gen(0);
      nn::Sequential net{nn::Linear(784, 30, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen), nn::Sigmoid(), nn::Linear(30, 10, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen)};
      optim::SGD opt(net.parameters(), {.lr = 0.5});
      double total = 0;
      for (int epoch = 0; epoch < epochs; ++epoch) {
        total += book::train_epoch(net, opt, d.train, m, std::uint64_t(epoch), book::cross_entropy);
      }
      const double a = train::evaluate(net, d.validation, book::cross_entropy).accuracy;
      fmt::print("mini-batch {:>4}: {:.3f} s per epoch, validation accuracy {:.4f} after {} epochs\n", m,
                 total / epochs, a, epochs);
      secs.x.push_back(double(m));
      secs.y.push_back(total / epochs);
      acc.x.push_back(double(m));
      acc.y.push_back(a);
    }
    book::done(book::draw(o, "batch_size",
                          fmt::format("[784, 30, 10], η = 0.5, {} epochs on {} Fashion-MNIST images, 1 thread", epochs,
                                      d.train.size()),
                          {{"time per epoch", "mini-batch size", "seconds", {secs}, true, true},
                           {"accuracy after the same epochs", "mini-batch size", "accuracy", {acc}, true, false, "bottom center"}}),
               "batch_size");
  } catch (const Error& e) {
    fmt::print(stderr, "batch_size: {}\n", e.what());
    return 1;
  }
  return 0;
}
