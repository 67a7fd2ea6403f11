// examples/book/eta.cpp — book ch. 3, "how to choose η": the training cost of network2's
// [784, 30, 10] network (cross-entropy, λ = 5.0, mini-batch 10) for η = 0.025, 0.25 and 2.5. The
// smallest learns slowly, the largest overshoots and oscillates; the book picks the middle.
//   eta [--quick]           → docs/img/eta.png (Fashion-MNIST, 50,000 training images, 30 epochs)
#include "book.hpp"

using namespace nabla;

int main(int argc, char** argv) {
  CLI::App app{"training cost for three learning rates (book ch. 3)"};
  book::Options o;
  o.add_to(app);
  int epochs = 30;
  app.add_option("--epochs", epochs, "epochs")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    data::Split d = data::load_fashion_mnist();
    if (o.quick) epochs = 2, d.train = d.train.slice(0, 1000);
    const std::int64_t n = d.train.size();
    const double lambda = 5.0;
    std::vector<book::Series> curves;
    for (double eta : {0.025, 0.25, 2.5}) {
      Generator gen(0);
      nn::Sequential net{nn::Linear(784, 30, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen), nn::Sigmoid(), nn::Linear(30, 10, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen)};
      optim::SGD opt(net.parameters(), {.lr = eta, .l2 = lambda, .n = n});
      book::Series s{fmt::format("η = {}", eta), {}, {}};
      for (int epoch = 0; epoch < epochs; ++epoch) {
        book::train_epoch(net, opt, d.train, 10, std::uint64_t(epoch), book::cross_entropy);
        const double c = book::total_cost(net, train::evaluate(net, d.train, book::cross_entropy).cost, lambda, n);
        s.x.push_back(epoch + 1);
        s.y.push_back(c);
      }
      fmt::print("η = {}: training cost {:.4f} after epoch 1, {:.4f} after epoch {}\n", eta, s.y.front(), s.y.back(), epochs);
      curves.push_back(std::move(s));
    }
    book::done(book::draw(o, "eta", "[784, 30, 10], cross-entropy, λ = 5.0, mini-batch 10, Fashion-MNIST",
                          {{"training cost (with the L2 term)", "epoch", "cost", curves, false, true}}),
               "eta");
  } catch (const Error& e) {
    fmt::print(stderr, "eta: {}\n", e.what());
    return 1;
  }
  return 0;
}
