// Tensor conveniences for libtorch users: operator<<, item<T>(), all/any.
#include <sstream>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

using namespace nabla;
using doctest::Contains;

TEST_CASE("Tensor: operator<< prints as to_string; item<T>() converts the single value") {
  const Tensor t = tensor({1, 2, 3, 4}, {2, 2});
  std::ostringstream os;
  os << t;
  CHECK(os.str() == to_string(t));
  CHECK(tensor({2.5}, {1}).item<float>() == 2.5f);
  CHECK(tensor({2.5}, {}, f64).item<double>() == 2.5);
  CHECK(full({}, 7, i64).item<std::int64_t>() == 7);
  CHECK((full({1}, 3.0) > 2.0).item<bool>());
  CHECK_THROWS_AS(t.item<float>(), Error);
}

TEST_CASE("all and any: whole tensor and along a dim, any dtype; bool results") {
  const Tensor x = tensor({1, 0, 2, 3, 4, 5}, {2, 3});
  CHECK(all(x).dtype() == b8);
  CHECK_FALSE(all(x).item<bool>());
  CHECK(any(x).item<bool>());
  CHECK(all(x, 1).to_vector<bool>() == std::vector<bool>{false, true});
  CHECK(all(x, 0).to_vector<bool>() == std::vector<bool>{true, false, true});
  CHECK(any(zeros({2, 3}), -1).to_vector<bool>() == std::vector<bool>{false, false});
  CHECK(all(x, 0, true).shape() == Shape{1, 3});
  CHECK(all(x > 0.5, 1).to_vector<bool>() == std::vector<bool>{false, true});
  CHECK(any(full({3}, 0, i64)).item<bool>() == false);
  CHECK(all(zeros({0})).item<bool>());  // empty: all true, any false (as PyTorch)
  CHECK_FALSE(any(zeros({0})).item<bool>());
  CHECK_THROWS_WITH_AS(all(x, 2), Contains("all: dim 2 out of range for a tensor of shape [2, 3]"), ValueError);
}
