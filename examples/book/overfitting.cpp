// examples/book/overfitting.cpp — book ch. 3, "overfitting and regularization": [784, 30, 10]
// trained on only 1,000 images for 400 epochs, without and with L2 regularization (λ = 0.1).
// Unregularized, the training cost keeps falling while test accuracy stalls and slips: the network
// memorizes its 1,000 images; L2 keeps the weights small and the test accuracy higher.
//   overfitting [--quick]   → docs/img/overfitting.png (Fashion-MNIST)
#include "book.hpp"

using namespace nabla;

int main(int argc, char** argv) {
  CLI::App app{"overfitting on 1,000 images, with and without L2 (book ch. 3)"};
  book::Options o;
  o.add_to(app);
  int epochs = 400;
  app.add_option("--epochs", epochs, "epochs")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    data::Split d = data::load_fashion_mnist();
    d.train = d.train.slice(0, 1000);
    if (o.quick) epochs = 5, d.test = d.test.slice(0, 500);
    const std::int64_t n = d.train.size();
    std::vector<book::Series> cost_curves, acc_curves;
    for (double lambda : {0.0, 0.1}) {
      Generator gen(0);
      nn::Sequential net{nn::Linear(784, 30, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen), nn::Sigmoid(), nn::Linear(30, 10, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen)};
      optim::SGD opt(net.parameters(), {.lr = 0.5, .l2 = lambda, .n = n});
      const std::string label = lambda > 0 ? "L2, λ = 0.1" : "no regularization";
      book::Series c{label, {}, {}}, a{label, {}, {}};
      for (int epoch = 0; epoch < epochs; ++epoch) {
        book::train_epoch(net, opt, d.train, 10, std::uint64_t(epoch), book::cross_entropy);
        c.x.push_back(epoch + 1);
        c.y.push_back(book::total_cost(net, train::evaluate(net, d.train, book::cross_entropy).cost, lambda, n));
        a.x.push_back(epoch + 1);
        a.y.push_back(train::evaluate(net, d.test, book::cross_entropy).accuracy);
      }
      fmt::print("{}: training cost {:.4f}, test accuracy {:.4f} (best {:.4f}) after {} epochs\n", label, c.y.back(),
                 a.y.back(), *std::max_element(a.y.begin(), a.y.end()), epochs);
      cost_curves.push_back(std::move(c));
      acc_curves.push_back(std::move(a));
    }
    book::done(book::draw(o, "overfitting", "[784, 30, 10] on 1,000 training images, η = 0.5, Fashion-MNIST",
                          {{"cost on the 1,000 training images", "epoch", "cost", cost_curves},
                           {"accuracy on the 10,000 test images", "epoch", "accuracy", acc_curves}}),
               "overfitting");
  } catch (const Error& e) {
    fmt::print(stderr, "overfitting: {}\n", e.what());
    return 1;
  }
  return 0;
}
