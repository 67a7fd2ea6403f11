// ops/join.cpp — splitting a tensor along an axis into several outputs: split (by one size or a
// list of sizes) and chunk (into n nearly equal pieces), as PyTorch's torch.split and torch.chunk.
//
//   split: y_k = x[…, o_k : o_k + s_k, …] along the axis, o_k = s_0 + … + s_{k−1}; Σ s_k = x.size(axis).
//   gx = the gys put back side by side along the axis, zeros where no gradient reached an output.
// One op with several outputs: each piece is its own tensor (a copy) with its own gradient slot.
// Saves nothing.
#include <algorithm>
#include <cstring>
#include <string>

#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {
namespace ops {

struct Split {
  static constexpr std::string_view name = "split";
  // Pieces of `count` along the axis, the last may be smaller (by_size); the given `sizes`; or
  // `count` chunks of ⌈n / count⌉ (fewer if n runs out, as torch.chunk).
  enum class By { size, sizes, chunks };
  By by = By::size;
  std::int64_t count = 0;
  std::vector<std::int64_t> sizes = {};
  int axis = 0;

  std::string_view op() const { return by == By::chunks ? "chunk" : name; }

  std::vector<std::int64_t> piece_sizes(const Shape& s, int a) const {
    const std::int64_t n = s[a];
    if (by == By::sizes) {
      std::int64_t total = 0;
      for (std::int64_t k : sizes) {
        if (k < 0) throw ValueError(fmt::format("split: sizes [{}] include a negative size", fmt::join(sizes, ", ")));
        total += k;
      }
      if (sizes.empty() || total != n) {
        throw ShapeError(fmt::format("split: sizes [{}] add up to {}, but axis {} of {} has {}", fmt::join(sizes, ", "),
                                     total, a, s, n));
      }
      return sizes;
    }
    if (count <= 0) {
      throw ValueError(fmt::format("{}: need a positive {}, got {}", op(),
                                   by == By::chunks ? "number of chunks" : "split size", count));
    }
    const std::int64_t step = by == By::chunks ? std::max<std::int64_t>(1, (n + count - 1) / count) : count;
    std::vector<std::int64_t> out;
    for (std::int64_t o = 0; o < n; o += step) out.push_back(std::min(step, n - o));
    if (out.empty()) out.push_back(0);  // an empty axis: one empty piece, as PyTorch
    return out;
  }

  std::vector<Tensor> forward(Context&, const Tensor& x) const {
    const int a = normalize_axis(op(), axis, x.shape());
    const AxisSplit sp = split_at(x.shape(), a);
    std::vector<Tensor> ys;
    std::int64_t offset = 0;
    for (std::int64_t k : piece_sizes(x.shape(), a)) {
      Shape s = x.shape();
      s[a] = k;
      Tensor y = empty(s, x.dtype());
      dispatch_all(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* px = x.data<T>();
        T* py = y.mutable_data<T>();
        for (std::int64_t o = 0; o < sp.outer; ++o) {
          std::memcpy(py + o * k * sp.inner, px + (o * sp.n + offset) * sp.inner, sizeof(T) * std::size_t(k * sp.inner));
        }
      });
      offset += k;
      ys.push_back(std::move(y));
    }
    return ys;
  }

  Grads backward(Context& ctx, const Grads& gys) const {
    const Shape& x_shape = ctx.input_shape(0);
    const int a = normalize_axis(name, axis, x_shape);
    const AxisSplit sp = split_at(x_shape, a);
    Tensor gx = zeros(x_shape, ctx.input_dtype(0));
    dispatch_float(gx.dtype(), name, [&](auto tag) {
      using T = decltype(tag);
      T* pg = gx.mutable_data<T>();
      std::int64_t offset = 0;
      const std::vector<std::int64_t> ks = piece_sizes(x_shape, a);
      for (std::size_t p = 0; p < ks.size(); ++p) {
        const std::int64_t k = ks[p];
        if (gys[p].defined()) {
          const T* py = gys[p].data<T>();
          for (std::int64_t o = 0; o < sp.outer; ++o) {
            std::memcpy(pg + (o * sp.n + offset) * sp.inner, py + o * k * sp.inner, sizeof(T) * std::size_t(k * sp.inner));
          }
        }
        offset += k;
      }
    });
    return {gx};
  }
};

}  // namespace ops

std::vector<Tensor> split(const Tensor& x, std::int64_t size, int axis) {
  return apply(ops::Split{.by = ops::Split::By::size, .count = size, .axis = axis}, x);
}
std::vector<Tensor> split(const Tensor& x, const std::vector<std::int64_t>& sizes, int axis) {
  return apply(ops::Split{.by = ops::Split::By::sizes, .sizes = sizes, .axis = axis}, x);
}
std::vector<Tensor> split(const Tensor& x, std::initializer_list<std::int64_t> sizes, int axis) {
  return split(x, std::vector<std::int64_t>(sizes), axis);
}
std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, int axis) {
  return apply(ops::Split{.by = ops::Split::By::chunks, .count = chunks, .axis = axis}, x);
}

}  // namespace nabla
