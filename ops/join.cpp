// ops/join.cpp — joining tensors along an axis (cat, stack) and splitting one into several outputs
// (split by one size or a list of sizes, chunk into n nearly equal pieces), as PyTorch's torch.cat,
// torch.stack, torch.split and torch.chunk.
//
//   cat: y = [x_0, x_1, …] side by side along the axis; every other axis must agree.
//   gx_k = the slice of gy where x_k went.
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
  void trace(detail::TraceAttrs& a) const { a.ints("axis", {axis}); }
  static constexpr bool differentiable_backward = true;
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
        if (__builtin_add_overflow(total, k, &total)) {  // then they cannot add up to the axis either
          throw ShapeError(fmt::format("split: sizes [{}] add up to more than 2^63, but axis {} of {} has {}",
                                       fmt::join(sizes, ", "), a, s, n));
        }
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
    const std::int64_t step = by == By::chunks ? std::max<std::int64_t>(1, n == 0 ? 0 : (n - 1) / count + 1) : count;
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
    // The pieces joined again by cat (zeros where none flowed): one copy in the plain backward,
    // recorded under create_graph (cat's own backward slices them apart).
    std::vector<Tensor> pieces;
    for (const std::int64_t k : piece_sizes(x_shape, a)) {
      Shape s = x_shape;
      s[a] = k;
      pieces.push_back(gys[pieces.size()].defined() ? gys[pieces.size()] : zeros(s, ctx.input_dtype(0)));
    }
    return {cat(pieces, a)};
  }
};

// cat: a run-time number of inputs, one gradient each.
struct Cat {
  static constexpr std::string_view name = "cat";
  void trace(detail::TraceAttrs& a) const { a.ints("axis", {axis}); }
  static constexpr bool differentiable_backward = true;
  int axis = 0;
  Tensor forward(Context&, const std::vector<Tensor>& xs) const {
    if (xs.empty()) throw ValueError("cat: no tensors to join");
    const Tensor& x0 = xs[0];
    if (x0.dim() == 0) throw ShapeError("cat: tensor 0 is 0-d; cat joins along an axis (use stack for scalars)");
    const int a = normalize_axis(name, axis, x0.shape());
    Shape out = x0.shape();
    out[a] = 0;
    for (std::size_t k = 0; k < xs.size(); ++k) {
      const Tensor& x = xs[k];
      if (x.dtype() != x0.dtype()) {
        throw ValueError(fmt::format("cat: tensor {} is {}, tensor 0 is {}; convert one with .to(dtype)", k, x.dtype(),
                                     x0.dtype()));
      }
      bool fits = x.dim() == x0.dim();
      for (int d = 0; fits && d < x.dim(); ++d) fits = d == a || x.shape()[d] == x0.shape()[d];
      if (!fits) {
        throw ShapeError(fmt::format("cat: tensor {} is {}, tensor 0 is {}; all but axis {} must match", k, x.shape(),
                                     x0.shape(), a));
      }
      out[a] += x.shape()[a];
    }
    Tensor y = empty(out, x0.dtype());
    const AxisSplit so = split_at(out, a);
    dispatch_all(y.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* py = y.mutable_data<T>();
      std::int64_t offset = 0;
      for (const Tensor& x : xs) {
        const std::int64_t k = x.shape()[a], block = k * so.inner;
        const T* px = x.data<T>();
        for (std::int64_t o = 0; o < so.outer; ++o) {
          std::memcpy(py + (o * so.n + offset) * so.inner, px + o * block, sizeof(T) * std::size_t(block));
        }
        offset += k;
      }
    });
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    const int a = normalize_axis(name, axis, gy.shape());
    Grads gxs;
    std::int64_t offset = 0;
    for (std::size_t k = 0; k < ctx.node_inputs(); ++k) {
      const std::int64_t n = ctx.input_shape(k)[a];
      gxs.push_back(ctx.needs_grad(k) ? slice(gy, a, offset, offset + n) : Tensor{});
      offset += n;
    }
    return gxs;
  }
};

}  // namespace ops

Tensor cat(const std::vector<Tensor>& tensors, int axis) { return nabla::apply(ops::Cat{.axis = axis}, tensors); }

Tensor stack(const std::vector<Tensor>& tensors, int axis) {
  if (tensors.empty()) throw ValueError("stack: no tensors to stack");
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    if (!tensors[k].defined()) throw ValueError(fmt::format("stack: tensor {} is an undefined tensor", k));
  }
  for (std::size_t k = 1; k < tensors.size(); ++k) {
    if (tensors[k].shape() != tensors[0].shape()) {
      throw ShapeError(fmt::format("stack: tensor {} is {}, tensor 0 is {}; all must have one shape", k,
                                   tensors[k].shape(), tensors[0].shape()));
    }
  }
  for (std::size_t k = 1; k < tensors.size(); ++k) {
    if (tensors[k].dtype() != tensors[0].dtype()) {
      throw ValueError(fmt::format("stack: tensor {} is {} {}, tensor 0 is {} {}; all must have one dtype", k,
                                   tensors[k].dtype(), tensors[k].shape(), tensors[0].dtype(), tensors[0].shape()));
    }
  }
  if (tensors[0].dim() == Shape::kMaxRank) {
    throw ShapeError(fmt::format("stack: the tensors are {}, already of the maximum rank {}; stacking adds an axis",
                                 tensors[0].shape(), Shape::kMaxRank));
  }
  const int a = normalize_axis("stack", axis, tensors[0].dim() + 1, tensors[0].shape());
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (const Tensor& t : tensors) parts.push_back(unsqueeze(t, a));
  return cat(parts, a);
}

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
