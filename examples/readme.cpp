#include <nabla/nabla.hpp>
using namespace nabla;

int main() {                                   // the book's network.py, on Fashion-MNIST
  data::Split data = data::load_fashion_mnist();            // 50,000 / 10,000 / 10,000
  Generator gen(0);
  nn::Sequential net{nn::Linear(784, 30, {.weight = nn::Init::standard_normal, .bias = nn::Init::standard_normal}, gen), nn::Sigmoid(),
                     nn::Linear(30, 10, {.weight = nn::Init::standard_normal, .bias = nn::Init::standard_normal}, gen), nn::Sigmoid()};
  optim::SGD opt(net.parameters(), {.lr = 3.0});
  for (int epoch = 0; epoch < 30; ++epoch) {
    for (auto [x, y] : data.train.batches(10, {.shuffle = true, .seed = std::uint64_t(epoch)})) {
      Tensor cost = quadratic_cost(net(x), one_hot(y, 10));  // 1/(2n) Σ ||y − a||²  (eq. 6)
      opt.zero_grad(); cost.backward(); opt.step();           // BP1–BP4 by autodiff; w → w − η∇C
    }
    NoGradGuard no_grad;
    fmt::print("epoch {}: test accuracy {:.4f}\n", epoch, accuracy(net(data.test.x()), data.test.y()));
  }
}
