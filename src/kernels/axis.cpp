// src/kernels/axis.cpp — loops along one axis of a tensor seen as [outer, n, inner]: extremes with
// their indices, log-sum-exp, softmax on any axis, products and their exact gradient, cumulative
// sums, sorting. Results keep the axis (size 1, or k for sorting) unless they say otherwise.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <type_traits>
#include <vector>

#include "nabla/kernels.hpp"
#include "vexp.hpp"

namespace nabla::kernels {

namespace {
Shape with_axis(const Shape& s, int axis, std::int64_t n) {
  Shape out = s;
  out[axis] = n;
  return out;
}

/// Calls f(base pointer offset, stride) for each of the outer · inner lines along the axis.
template <class F>
void for_each_line(const AxisSplit& sp, F f) {
  for (std::int64_t o = 0; o < sp.outer; ++o) {
    for (std::int64_t i = 0; i < sp.inner; ++i) f(o * sp.n * sp.inner + i, o * sp.inner + i);
  }
}
}  // namespace

Tensor extreme_axis(const Tensor& x, int axis, bool largest, Tensor* indices) {
  const AxisSplit sp = split_at(x.shape(), axis);
  const Shape out = with_axis(x.shape(), axis, 1);
  Tensor y = empty(out, x.dtype());
  if (indices != nullptr) *indices = empty(out, i64);
  std::int64_t* pi = indices != nullptr ? indices->mutable_data<std::int64_t>() : nullptr;
  dispatch_float(x.dtype(), largest ? "max" : "min", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.mutable_data<T>();
    for_each_line(sp, [&](std::int64_t base, std::int64_t line) {
      std::int64_t best = 0;
      T best_v = px[base];
      for (std::int64_t k = 1; k < sp.n; ++k) {
        const T v = px[base + k * sp.inner];
        // The first extreme; a NaN wins over any number (as PyTorch's max and min).
        if ((largest ? v > best_v : v < best_v) || (std::isnan(v) && !std::isnan(best_v))) {
          best_v = v;
          best = k;
        }
      }
      py[line] = best_v;
      if (pi != nullptr) pi[line] = best;
    });
  });
  return y;
}

Tensor logsumexp_axis(const Tensor& x, int axis) {
  const AxisSplit sp = split_at(x.shape(), axis);
  Tensor y = empty(with_axis(x.shape(), axis, 1), x.dtype());
  dispatch_float(x.dtype(), "logsumexp", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.mutable_data<T>();
    for_each_line(sp, [&](std::int64_t base, std::int64_t line) {
      T m = -std::numeric_limits<T>::infinity();
      for (std::int64_t k = 0; k < sp.n; ++k) m = std::max(m, px[base + k * sp.inner]);
      if (!std::isfinite(m)) m = 0;  // all −inf, or an inf/NaN: the arithmetic below says so
      T total = 0;
      if constexpr (std::is_same_v<T, float>) {
        total = sum_exp(px + base, sp.n, sp.inner, m);
      } else {
        for (std::int64_t k = 0; k < sp.n; ++k) total += std::exp(px[base + k * sp.inner] - m);
      }
      py[line] = m + std::log(total);
    });
  });
  return y;
}

Tensor softmax_axis(const Tensor& x, int axis, bool log) {
  const AxisSplit sp = split_at(x.shape(), axis);
  // An empty input has an empty result: no line sums to compute (an empty axis would still give
  // outer · inner of them, up to 2^40, for nothing).
  if (x.numel() == 0) return empty(x.shape(), x.dtype());
  if (sp.inner == 1) return log ? log_softmax_rows(x) : softmax_rows(x);
  // Along an inner axis: the lines are strided, so each pass walks inner elements side by side.
  const Tensor lse = logsumexp_axis(x, axis);
  Tensor y = empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), log ? "log_softmax" : "softmax", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* pl = lse.data<T>();
    T* py = y.mutable_data<T>();
    for (std::int64_t o = 0; o < sp.outer; ++o) {
      for (std::int64_t k = 0; k < sp.n; ++k) {
        const T* row = px + (o * sp.n + k) * sp.inner;
        const T* l = pl + o * sp.inner;
        T* out = py + (o * sp.n + k) * sp.inner;
        if (log) {
          for (std::int64_t i = 0; i < sp.inner; ++i) out[i] = row[i] - l[i];
        } else {
          for (std::int64_t i = 0; i < sp.inner; ++i) out[i] = std::exp(row[i] - l[i]);
        }
      }
    }
  });
  return y;
}

Tensor prod_axis(const Tensor& x, int axis) {
  const AxisSplit sp = split_at(x.shape(), axis);
  Tensor y = empty(with_axis(x.shape(), axis, 1), x.dtype());
  dispatch_float(x.dtype(), "prod", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.mutable_data<T>();
    for_each_line(sp, [&](std::int64_t base, std::int64_t line) {
      T p = 1;
      for (std::int64_t k = 0; k < sp.n; ++k) p *= px[base + k * sp.inner];
      py[line] = p;
    });
  });
  return y;
}

Tensor prod_axis_backward(const Tensor& x, const Tensor& gy, int axis) {
  // ∂/∂x_k Π_j x_j = Π_{j<k} x_j · Π_{j>k} x_j: prefix times suffix products, exact with zeros.
  const AxisSplit sp = split_at(x.shape(), axis);
  Tensor gx = empty(x.shape(), x.dtype());
  if (x.numel() == 0) return gx;  // no line: no scratch of n + 1 products (n up to 2^40 when empty)
  dispatch_float(x.dtype(), "prod", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* pg = gy.data<T>();
    T* po = gx.mutable_data<T>();
    std::vector<T> suffix(static_cast<std::size_t>(sp.n) + 1);
    for_each_line(sp, [&](std::int64_t base, std::int64_t line) {
      suffix[static_cast<std::size_t>(sp.n)] = 1;
      for (std::int64_t k = sp.n - 1; k >= 0; --k) {
        suffix[static_cast<std::size_t>(k)] = suffix[static_cast<std::size_t>(k + 1)] * px[base + k * sp.inner];
      }
      T prefix = 1;
      for (std::int64_t k = 0; k < sp.n; ++k) {
        po[base + k * sp.inner] = pg[line] * prefix * suffix[static_cast<std::size_t>(k + 1)];
        prefix *= px[base + k * sp.inner];
      }
    });
  });
  return gx;
}

Tensor cumsum_axis(const Tensor& x, int axis, bool reverse) {
  const AxisSplit sp = split_at(x.shape(), axis);
  Tensor y = empty(x.shape(), x.dtype());
  if (x.numel() == 0) return y;  // an empty axis still has outer · inner lines (up to 2^40), each with nothing
  dispatch_float(x.dtype(), "cumsum", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.mutable_data<T>();
    for_each_line(sp, [&](std::int64_t base, std::int64_t) {
      T s = 0;
      for (std::int64_t j = 0; j < sp.n; ++j) {
        const std::int64_t k = reverse ? sp.n - 1 - j : j;
        s += px[base + k * sp.inner];
        py[base + k * sp.inner] = s;
      }
    });
  });
  return y;
}

void sort_axis(const Tensor& x, int axis, bool descending, std::int64_t k, Tensor& values, Tensor& indices) {
  const AxisSplit sp = split_at(x.shape(), axis);
  const AxisSplit so{sp.outer, k, sp.inner};
  values = empty(with_axis(x.shape(), axis, k), x.dtype());
  indices = empty(with_axis(x.shape(), axis, k), i64);
  // No lines to sort: return before the scratch of one line (n indices, up to 2^40 of an empty input).
  if (x.numel() == 0) return;
  std::int64_t* pi = indices.mutable_data<std::int64_t>();
  dispatch_float(x.dtype(), "sort", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* pv = values.mutable_data<T>();
    std::vector<std::int64_t> order(static_cast<std::size_t>(sp.n));
    for (std::int64_t o = 0; o < sp.outer; ++o) {
      for (std::int64_t i = 0; i < sp.inner; ++i) {
        const T* line = px + o * sp.n * sp.inner + i;
        // NaN sorts as the largest value, as in PyTorch; equal values keep their order (stable).
        auto less = [&](std::int64_t a, std::int64_t b) {
          const T va = line[a * sp.inner], vb = line[b * sp.inner];
          if (std::isnan(va) || std::isnan(vb)) return !std::isnan(va) && std::isnan(vb);
          return va < vb;
        };
        std::iota(order.begin(), order.end(), 0);
        if (descending) {
          std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return less(b, a); });
        } else {
          std::stable_sort(order.begin(), order.end(), less);
        }
        for (std::int64_t j = 0; j < k; ++j) {
          const std::int64_t at = o * so.n * so.inner + j * so.inner + i;
          pv[at] = line[order[static_cast<std::size_t>(j)] * sp.inner];
          pi[at] = order[static_cast<std::size_t>(j)];
        }
      }
    }
  });
}

}  // namespace nabla::kernels
