// ops/tensor_index.cpp: Tensor::operator[] and Tensor::index with torch::indexing's Slice, None,
// Ellipsis and one int64 or bool tensor — values, gradients (first and second, against central
// differences in float64) and bad indices. PyTorch's values and gradients are in
// tests/ops/torch_ops_reference_test.cpp (scripts/ops_torch_reference.py, Python's x[...]).
#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla::indexing;
using namespace nabla_test;
using doctest::Contains;

namespace {
Tensor ints(std::initializer_list<std::int64_t> v, Shape s) { return from_vector(std::span<const std::int64_t>(v.begin(), v.size()), s); }
}  // namespace

TEST_CASE("operator[] and index: values and shapes") {
  const Tensor x = arange(0, 24, 1, f64).reshape({2, 3, 4});
  CHECK(x[1].shape() == Shape{3, 4});
  CHECK(x[1].to_vector() == arange(12, 24, 1, f64).to_vector());
  CHECK(x[-1].to_vector() == x[1].to_vector());
  CHECK(x[0][2][-1].item() == 11);
  CHECK(x[0][2][-1].dim() == 0);
  CHECK(x.index({1, -1, 0}).item() == 20);
  CHECK(x.index({}).is_same(x));
  CHECK(x.index({Slice(), 1}).shape() == Shape{2, 4});
  CHECK(x.index({Slice(), 1}).to_vector() == std::vector<double>{4, 5, 6, 7, 16, 17, 18, 19});
  CHECK(x.index({Ellipsis, 1}).to_vector() == std::vector<double>{1, 5, 9, 13, 17, 21});
  CHECK(x.index({"...", 1}).to_vector() == x.index({Ellipsis, 1}).to_vector());
  CHECK(x.index({0, Slice(1, None), Slice(None, None, 3)}).to_vector() == std::vector<double>{4, 7, 8, 11});
  CHECK(x.index({0, Slice(-2)}).shape() == Shape{2, 4});
  CHECK(x.index({0, Slice(5, 1)}).shape() == Shape{0, 4});
  CHECK(x.index({None, 0, None}).shape() == Shape{1, 1, 3, 4});
  CHECK(x.index({Ellipsis, None}).shape() == Shape{2, 3, 4, 1});
  // One int64 tensor: its shape replaces the axis; negative entries count from the end; ints select
  // first, so the tensor's axes stay where it stands (PyTorch's rule, not NumPy's).
  CHECK(x.index({Slice(), Slice(), ints({3, -4}, {2})}).to_vector() == x.index({Ellipsis, ints({3, 0}, {2})}).to_vector());
  CHECK(x.index({ints({1, 0, 1, 1}, {2, 2})}).shape() == Shape{2, 2, 3, 4});
  CHECK(x.index({0, Slice(), ints({1, 3}, {2})}).shape() == Shape{3, 2});
  // One bool tensor: the true positions of the axes it covers, as one axis.
  const Tensor mask = ne(ints({1, 0, 1}, {3}), 0.0);
  CHECK(x.index({0, mask}).to_vector() == std::vector<double>{0, 1, 2, 3, 8, 9, 10, 11});
  const Tensor mask2 = gt(x.index({Ellipsis, 0}), 10.0);  // [2, 3]
  CHECK(x.index({mask2}).shape() == Shape{3, 4});
  CHECK(x.index({mask2, 1}).to_vector() == std::vector<double>{13, 17, 21});
  CHECK(x.index({ne(zeros({2}, i64), 0.0)}).shape() == Shape{0, 3, 4});
}

TEST_CASE("operator[] and index: gradients add up where indices repeat") {
  const Tensor x = zeros({3, 2}, f64).requires_grad(true);
  (sum(x[0]) + sum(x[-1]) * 2 + sum(x.index({0, 1})) + sum(x.index({ints({2, 2, 1}, {3})}))).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{1, 2, 1, 1, 4, 4});
}

TEST_CASE("operator[] and index: gradcheck and gradgradcheck") {
  Generator gen(37);
  const Tensor x = param({4, 3, 5}, gen);
  CHECK(check_grad([](const Tensor& t) { return t[2]; }, {x}));
  CHECK(check_grad([](const Tensor& t) { return t[-1][0]; }, {x}));
  CHECK(check_grad([](const Tensor& t) { return t.index({Slice(1, None, 2), None, -2, Ellipsis, Slice(None, 4)}); }, {x}));
  CHECK(check_grad([](const Tensor& t) { return t.index({Ellipsis, ints({4, -1, 0, 4}, {2, 2})}); }, {x}));
  CHECK(check_grad([](const Tensor& t) { return t.index({1, ne(ints({0, 1, 1}, {3}), 0.0), Slice(1, 3)}); }, {x}));
}

TEST_CASE("operator[] and index: bad indices are errors naming the op") {
  const Tensor x = zeros({3, 2}, f64);
  CHECK_THROWS_WITH_AS(x[3], "operator[]: index 3 is out of range for axis 0 of size 3 (tensor [3, 2])", ValueError);
  CHECK_THROWS_WITH_AS(x[-4], "operator[]: index -4 is out of range for axis 0 of size 3 (tensor [3, 2])", ValueError);
  CHECK_THROWS_WITH_AS(scalar(1.0)[0], "operator[]: cannot index a 0-d tensor (use item())", ShapeError);
  CHECK_THROWS_WITH_AS(x.index({0, 2}), "index: index 2 is out of range for axis 1 of size 2 (tensor [3, 2])", ValueError);
  CHECK_THROWS_WITH_AS(x.index({0, 0, 0}), "index: too many indices for a tensor of dimension 2 ([3, 2]; 3 axes named)", ShapeError);
  CHECK_THROWS_WITH_AS(x.index({Ellipsis, 0, Ellipsis}), "index: an index can only have a single ellipsis (\"...\")", ValueError);
  CHECK_THROWS_WITH_AS(x.index({Slice(0, 2, 0)}), "index: slice step must be greater than zero, got 0 (axis 0)", ValueError);
  CHECK_THROWS_WITH_AS(x.index({Slice(None, None, -1)}), "index: slice step must be greater than zero, got -1 (axis 0)", ValueError);
  CHECK_THROWS_WITH_AS(x.index({"..x"}), "index: a string index must be \"...\" (Ellipsis), got \"..x\"", ValueError);
  CHECK_THROWS_WITH_AS(x.index({ints({0}, {1}), ints({0}, {1})}), Contains("index: 2 tensor indices; nabla takes one"), ValueError);
  CHECK_THROWS_WITH_AS(x.index({ones({2}, f64)}), "index: tensor indices must be int64 or bool, got float64 [2]", ValueError);
  CHECK_THROWS_WITH_AS(x.index({Slice(), ints({1, 2}, {2})}), "index: index 2 is out of range for axis 1 of size 2 (tensor [3, 2])",
                       ValueError);
  CHECK_THROWS_WITH_AS(x.index({ne(zeros({2}, i64), 0.0)}),
                       "index: the bool mask [2] does not match the shape of the indexed tensor [3, 2] at axis 0", ShapeError);
  CHECK_THROWS_WITH_AS(x.index({Tensor{}}), "index: a tensor index is undefined", ValueError);
  CHECK_THROWS_WITH_AS(Tensor{}[0], Contains("operator[]"), Error);
}
