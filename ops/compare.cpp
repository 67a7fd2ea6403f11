// ops/compare.cpp — comparisons and logic on masks: eq, ne, lt, le, gt, ge (and their operators)
// with broadcasting, returning bool tensors; logical_not, logical_and, logical_or (~, &, |).
// None is differentiable: a mask has no gradient (it is an input of where and masked_fill).
#include <cmath>

#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {
namespace {

/// out[i] = f(a[i'], b[i'']) with broadcasting, as bool; a and b share a dtype (any).
template <class F>
Tensor compare(std::string_view op, const Tensor& a, const Tensor& b, F f) {
  if (a.dtype() != b.dtype()) {
    throw ValueError(fmt::format("{}: dtypes differ: {} {} and {} {}; convert one with .to(dtype)", op, a.dtype(),
                                 a.shape(), b.dtype(), b.shape()));
  }
  const Shape out = broadcast_shape(a.shape(), b.shape(), op);
  Tensor y = empty(out, b8);
  bool* py = y.mutable_data<bool>();
  dispatch_all(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    const std::int64_t n = out.numel();
    if (a.shape() == out && b.shape() == out) {  // the common cases as plain loops, which vectorize
      for (std::int64_t i = 0; i < n; ++i) py[i] = f(pa[i], pb[i]);
      return;
    }
    if (a.shape() == out && b.numel() == 1) {
      const T vb = pb[0];
      for (std::int64_t i = 0; i < n; ++i) py[i] = f(pa[i], vb);
      return;
    }
    for_each_row(out, broadcast_strides(a.shape(), out), broadcast_strides(b.shape(), out),
                 [&](std::int64_t oa, std::int64_t ob, std::int64_t oy, std::int64_t sa, std::int64_t sb, std::int64_t n) {
                   for (std::int64_t i = 0; i < n; ++i) py[oy + i] = f(pa[oa + i * sa], pb[ob + i * sb]);
                 });
  });
  return y;
}

/// Whether c is a value of dtype d: a floating tensor compares with c in its own type (as torch
/// does with a Python number); an int64 or bool one only when c is an integer it can hold.
bool holds(Dtype d, double c) {
  if (is_floating(d)) return true;
  if (d == b8) return c == 0 || c == 1;
  constexpr double kTwo63 = 9223372036854775808.0;  // 2^63
  return c == std::trunc(c) && c >= -kTwo63 && c < kTwo63;
}

/// a compared with the number c: in a's dtype when c is one of its values, else (0.5, NaN, 1e19
/// against int64 labels) in float64, as PyTorch's type promotion does, never truncating c.
template <class F>
Tensor compare_number(std::string_view op, const Tensor& a, double c, F f) {
  if (holds(a.dtype(), c)) return compare(op, a, full({}, c, a.dtype()), f);
  return compare(op, a.to(f64), full({}, c, f64), f);
}

void check_bool(std::string_view op, const Tensor& t) {
  if (t.dtype() != b8) {
    throw ValueError(fmt::format("{}: expected a bool tensor (a mask), got {} {}", op, t.dtype(), t.shape()));
  }
}

}  // namespace

Tensor eq(const Tensor& a, const Tensor& b) { return compare("eq", a, b, [](auto x, auto y) { return x == y; }); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare("ne", a, b, [](auto x, auto y) { return x != y; }); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare("lt", a, b, [](auto x, auto y) { return x < y; }); }
Tensor le(const Tensor& a, const Tensor& b) { return compare("le", a, b, [](auto x, auto y) { return x <= y; }); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare("gt", a, b, [](auto x, auto y) { return x > y; }); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare("ge", a, b, [](auto x, auto y) { return x >= y; }); }
Tensor eq(const Tensor& a, double c) { return compare_number("eq", a, c, [](auto x, auto y) { return x == y; }); }
Tensor ne(const Tensor& a, double c) { return compare_number("ne", a, c, [](auto x, auto y) { return x != y; }); }
Tensor lt(const Tensor& a, double c) { return compare_number("lt", a, c, [](auto x, auto y) { return x < y; }); }
Tensor le(const Tensor& a, double c) { return compare_number("le", a, c, [](auto x, auto y) { return x <= y; }); }
Tensor gt(const Tensor& a, double c) { return compare_number("gt", a, c, [](auto x, auto y) { return x > y; }); }
Tensor ge(const Tensor& a, double c) { return compare_number("ge", a, c, [](auto x, auto y) { return x >= y; }); }

Tensor logical_not(const Tensor& a) {
  check_bool("logical_not", a);
  Tensor y = empty(a.shape(), b8);
  const bool* pa = a.data<bool>();
  bool* py = y.mutable_data<bool>();
  for (std::int64_t i = 0, n = a.numel(); i < n; ++i) py[i] = !pa[i];
  return y;
}
Tensor logical_and(const Tensor& a, const Tensor& b) {
  check_bool("logical_and", a);
  check_bool("logical_and", b);
  return compare("logical_and", a, b, [](auto x, auto y) { return x && y; });
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  check_bool("logical_or", a);
  check_bool("logical_or", b);
  return compare("logical_or", a, b, [](auto x, auto y) { return x || y; });
}

}  // namespace nabla
