// data: float targets, the image transforms and the background Loader (nabla/data.hpp).
#include <atomic>
#include <chrono>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using doctest::Contains;

TEST_CASE("data: a dataset with float targets batches them with their examples") {
  Generator gen(1);
  const Tensor x = randn({10, 3}, f32, gen), y = randn({10, 2, 2}, f64, gen);
  data::Dataset d(x, y);
  CHECK(d.size() == 10);
  std::int64_t seen = 0;
  for (auto [bx, by] : d.batches(4, {.shuffle = true, .seed = 3})) {
    CHECK(by.dtype() == f64);
    CHECK(by.shape()[1] == 2);
    for (std::int64_t i = 0; i < bx.shape()[0]; ++i) {
      // Find the example and check that its target came with it.
      bool found = false;
      for (std::int64_t k = 0; k < 10 && !found; ++k) {
        if (bx.at({i, 0}) == x.at({k, 0}) && bx.at({i, 1}) == x.at({k, 1})) {
          found = true;
          CHECK(by.at({i, 1, 0}) == y.at({k, 1, 0}));
        }
      }
      CHECK(found);
    }
    seen += bx.shape()[0];
  }
  CHECK(seen == 10);
  CHECK_THROWS_WITH_AS(data::Dataset(x, randn({9, 2}, f32, gen)), Contains("do not match"), ShapeError);
  CHECK_THROWS_AS(data::Dataset(x, zeros({10, 2}, i64)), ShapeError);  // int64 targets must be labels [n]
}

TEST_CASE("data: normalize, random crop with padding and horizontal flip") {
  Generator gen(2);
  Tensor img = zeros({1, 2, 3, 3}, f32);
  for (int c = 0; c < 2; ++c)
    for (int r = 0; r < 3; ++r)
      for (int s = 0; s < 3; ++s) img.set({0, c, r, s}, 10 * c + 3 * r + s + 1);
  const std::vector<double> mean{1, 11}, sd{2, 4};
  const Tensor n = data::normalize(img, mean, sd);
  CHECK(n.at({0, 0, 0, 0}) == 0);
  CHECK(n.at({0, 1, 2, 2}) == doctest::Approx((19 - 11) / 4.0));
  CHECK_THROWS_WITH_AS(data::normalize(img, std::vector<double>{1, 2, 3}, sd), Contains("3 means"), ValueError);
  // A crop is the image shifted within its zero padding: every value kept is in the right place.
  for (int trial = 0; trial < 20; ++trial) {
    const Tensor c = data::random_crop(img, 1, gen);
    int dy = 9, dx = 9;  // find the shift from the first nonzero value of channel 0
    for (int r = 0; r < 3 && dy == 9; ++r)
      for (int s = 0; s < 3; ++s)
        if (c.at({0, 0, r, s}) != 0) {
          const int v = int(c.at({0, 0, r, s})) - 1;
          dy = v / 3 - r, dx = v % 3 - s;
          break;
        }
    REQUIRE(dy != 9);
    CHECK(std::abs(dy) <= 1);
    CHECK(std::abs(dx) <= 1);
    for (int ch = 0; ch < 2; ++ch)
      for (int r = 0; r < 3; ++r)
        for (int s = 0; s < 3; ++s) {
          const int sr = r + dy, ss = s + dx;
          const double want = sr >= 0 && sr < 3 && ss >= 0 && ss < 3 ? img.at({0, ch, sr, ss}) : 0;
          CHECK(c.at({0, ch, r, s}) == want);
        }
  }
  CHECK(nabla_test::max_abs_diff(data::random_crop(img, 0, gen), img) == 0);
  const Tensor f = data::random_horizontal_flip(img, gen, 1.0);
  CHECK(f.at({0, 1, 2, 0}) == img.at({0, 1, 2, 2}));
  CHECK(nabla_test::max_abs_diff(data::random_horizontal_flip(img, gen, 0.0), img) == 0);
  CHECK_THROWS_WITH_AS(data::random_crop(ones({2, 9}), 1, gen), Contains("expected float images [N, C, H, W]"), ShapeError);
}

TEST_CASE("data: the background Loader gives the same batches as the foreground one, and forwards errors") {
  Generator gen(3);
  data::Dataset d(uniform({37, 1, 4, 4}, 0, 1, f32, gen), nabla_test::labels(37, 10, gen));
  const data::Transform t = [](data::Batch b, Generator& g) {
    return data::Batch{data::random_horizontal_flip(data::random_crop(b.x, 1, g), g), b.y};
  };
  auto collect = [&](bool background) {
    data::Loader loader(d, 8, {.batches = {.shuffle = true, .seed = 5}, .transform = t, .transform_seed = 9, .background = background});
    CHECK(loader.size() == 5);
    std::vector<std::vector<double>> out;
    while (auto b = loader.next()) {
      out.push_back(b->x.to_vector());
      const auto y = b->y.to_vector();
      out.back().insert(out.back().end(), y.begin(), y.end());
    }
    CHECK_FALSE(loader.next().has_value());
    return out;
  };
  const auto fg = collect(false), bg = collect(true);
  REQUIRE(fg.size() == 5);
  CHECK(fg == bg);
  // A loader left before its end stops its thread (no hang, no leak: the sanitizer runs check it).
  { data::Loader early(d, 4, {.transform = t}); CHECK(early.next().has_value()); }
  // An error on the loader's thread reaches the caller.
  std::atomic<int> calls = 0;
  data::Loader failing(d, 8, {.transform = [&](data::Batch b, Generator&) {
    if (++calls == 3) throw ValueError("transform: batch 3 is bad");
    return b;
  }});
  CHECK(failing.next().has_value());
  CHECK(failing.next().has_value());
  CHECK_THROWS_WITH_AS(failing.next(), "transform: batch 3 is bad", ValueError);
  CHECK_THROWS_AS(data::Loader(d, 8, {.prefetch = 0}), ValueError);
}
