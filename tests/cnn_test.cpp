// CNN pieces outside the ops: Conv2d and pooling modules, augmentation, ensemble votes.
#include <cmath>
#include <set>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;

TEST_CASE("cnn: Conv2d, pooling and Flatten modules compose into network3's shapes") {
  Generator gen(121);
  nn::Sequential net{nn::Reshape({1, 28, 28}), nn::Conv2d(1, 20, 5, {}, gen), nn::MaxPool2d(2), nn::ReLU(),
                     nn::Conv2d(20, 40, 5, {}, gen), nn::MaxPool2d(2), nn::ReLU(), nn::Flatten(),
                     nn::Linear(640, 100, {}, gen), nn::ReLU(), nn::Linear(100, 10, {}, gen)};
  Tensor y = net(randn({3, 784}, f32, gen));
  CHECK(y.shape() == Shape{3, 10});
  CHECK(net.describe() == "Sequential(Reshape([1, 28, 28]), Conv2d(1, 20, 5), MaxPool2d(2), ReLU, Conv2d(20, 40, 5), "
                          "MaxPool2d(2), ReLU, Flatten, Linear(640, 100), ReLU, Linear(100, 10))");
  auto& conv = dynamic_cast<nn::Conv2d&>(net[4]);
  CHECK(conv.weight().shape() == Shape{40, 20, 5, 5});
  const auto w = conv.weight().to_vector();
  double s2 = 0;
  for (double v : w) s2 += v * v / double(w.size());
  CHECK(std::sqrt(s2) == doctest::Approx(1 / std::sqrt(20.0 * 25)).epsilon(0.05));  // N(0, 1/n_in), n_in = C·k²
  CHECK(nn::AvgPool2d(2)(ones({1, 1, 4, 4})).shape() == Shape{1, 1, 2, 2});
  CHECK(nn::L2Pool2d(2)(ones({1, 1, 4, 4})).at({0, 0, 0, 0}) == 2);
}

TEST_CASE("cnn: augmentation shifts by one pixel or flips, reproducibly") {
  // A 3×3 image with a single bright pixel in the centre.
  Tensor img = zeros({1, 9});
  img.set({0, 4}, 1);
  std::set<std::int64_t> positions;
  Generator gen(5);
  for (int i = 0; i < 100; ++i) {
    const auto v = data::augment(img, 3, 3, {}, gen).to_vector();
    REQUIRE(std::count(v.begin(), v.end(), 1.0) == 1);
    positions.insert(std::find(v.begin(), v.end(), 1.0) - v.begin());
  }
  CHECK(positions == std::set<std::int64_t>{1, 3, 4, 5, 7});  // centre, up, left, right, down
  Tensor row = tensor({1, 2, 3}, {1, 3});
  Generator g2(1);
  std::set<std::vector<double>> flips;
  for (int i = 0; i < 50; ++i) flips.insert(data::augment(row, 1, 3, {.shift = false, .flip = true}, g2).to_vector());
  CHECK(flips == std::set<std::vector<double>>{{1, 2, 3}, {3, 2, 1}});
  Generator a(9), b(9);
  Tensor many = uniform({20, 9}, 0, 1, f32, a);
  Generator c(3), d(3);
  CHECK(data::augment(many, 3, 3, {.flip = true}, c).to_vector() == data::augment(many, 3, 3, {.flip = true}, d).to_vector());
  CHECK_THROWS_AS(data::augment(ones({2, 10}), 3, 3, {}, a), ShapeError);
}

TEST_CASE("cnn: an ensemble votes by plurality, ties going to the larger summed score") {
  Tensor m1 = tensor({0.9, 0.1, 0.0, 0.2, 0.7, 0.1}, {2, 3});
  Tensor m2 = tensor({0.6, 0.3, 0.1, 0.1, 0.2, 0.7}, {2, 3});
  Tensor m3 = tensor({0.1, 0.8, 0.1, 0.3, 0.3, 0.4}, {2, 3});
  CHECK(vote({m1, m2, m3}).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 2});
  CHECK(vote({m1, m3}).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1});  // row 0: tie 1–1, 0 has 1.0 vs 0.9
  CHECK_THROWS_AS(vote({}), ValueError);
  CHECK_THROWS_AS(vote({m1, ones({3, 3})}), ShapeError);
}
