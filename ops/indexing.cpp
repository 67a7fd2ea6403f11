// ops/indexing.cpp — ops that pick elements by index or mask, with PyTorch's names and rules:
//
//   index_select(x, axis, idx)   y = x with the slices idx[0], idx[1], … along axis (idx int64, 1-d)
//                                gx = zeros with each slice of gy added back at its index
//   gather(x, axis, idx)         y[i…] = x[i… with i_axis → idx[i…]]            (idx of x's rank)
//                                gx = zeros with gy scatter-added at the same places
//   scatter_add(x, axis, idx, s) y = x, then y[i… with i_axis → idx[i…]] += s[i…]
//                                gx = gy, gs = gy gathered at those places (0 where idx does not reach)
//   where(cond, a, b)            y = cond ? a : b, all three broadcast; ga, gb = gy where taken, summed back
//   masked_fill(x, mask, v)      y = mask ? v : x, mask broadcast to x; gx = gy where not masked
//
// Repeated indices add their gradients. Every index is checked before anything is read or
// written: one out of range is a ValueError naming the op, the axis, the index and the size.
#include <bit>
#include <cstdint>
#include <type_traits>

#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"
#include "backward_ops.hpp"

namespace nabla {
namespace ops {

namespace {
/// Checks that idx is int64 and every value is in [0, n) (the size of `axis`); names the first
/// bad one by its position in idx.
void check_indices(std::string_view op, const Tensor& idx, int axis, std::int64_t n) {
  if (idx.dtype() != i64) {
    throw ValueError(fmt::format("{}: indices must be int64, got {} {}", op, idx.dtype(), idx.shape()));
  }
  const std::int64_t* p = idx.data<std::int64_t>();
  for (std::int64_t k = 0, count = idx.numel(); k < count; ++k) {
    if (p[k] < 0 || p[k] >= n) {
      std::string at;
      std::int64_t rest = k;
      std::vector<std::int64_t> pos(static_cast<std::size_t>(idx.dim()));
      for (int d = idx.dim() - 1; d >= 0; --d) {
        pos[static_cast<std::size_t>(d)] = idx.shape()[d] == 0 ? 0 : rest % idx.shape()[d];
        rest = idx.shape()[d] == 0 ? 0 : rest / idx.shape()[d];
      }
      throw ValueError(fmt::format("{}: index {} is out of range for axis {} of size {} (at [{}] of the indices)", op, p[k],
                                   axis, n, fmt::join(pos, ", ")));
    }
  }
}

/// For gather and scatter_add: idx has x's rank and, off the axis, no larger extents than `bound`.
void check_index_shape(std::string_view op, const Tensor& idx, const Shape& bound, int axis, std::string_view what,
                       bool including_axis) {
  bool ok = idx.dim() == bound.rank();
  for (int d = 0; ok && d < idx.dim(); ++d) ok = (d == axis && !including_axis) || idx.shape()[d] <= bound[d];
  if (!ok) {
    throw ShapeError(fmt::format("{}: indices {} do not fit {} {}: need the same rank and no larger extent{}", op,
                                 idx.shape(), what, bound, including_axis ? "" : " off the axis"));
  }
}
}  // namespace

// The backward ops of index_select and gather: gy added into zeros of x's shape at the indices, one
// pass. Linear in gy; the derivative of each is its forward op again (index_select, gather).
struct IndexSelectGrad {
  static constexpr std::string_view name = "index_select_backward";
  static constexpr bool differentiable_backward = true;
  int axis;  // normalized
  Shape x_shape;
  Tensor forward(Context& ctx, const Tensor& gy, const Tensor& idx) const {
    ctx.save(idx);
    Tensor gx = zeros(x_shape, gy.dtype());
    kernels::index_add_axis(gx, axis, idx.reshape({-1}), gy);
    return gx;
  }
  Grads backward(Context& ctx, const Tensor& gg) const { return {index_select(gg, axis, ctx.saved(0)), Tensor{}}; }
};
struct GatherGrad {
  static constexpr std::string_view name = "gather_backward";
  static constexpr bool differentiable_backward = true;
  int axis;  // normalized
  Shape x_shape;
  Tensor forward(Context& ctx, const Tensor& gy, const Tensor& idx) const {
    ctx.save(idx);
    Tensor gx = zeros(x_shape, gy.dtype());
    kernels::scatter_add_axis(gx, axis, idx, gy);
    return gx;
  }
  Grads backward(Context& ctx, const Tensor& gg) const { return {gather(gg, axis, ctx.saved(0)), Tensor{}}; }
};

Tensor gather_backward(const Tensor& gy, const Shape& input_shape, int axis, const Tensor& index) {
  return apply(GatherGrad{axis, input_shape}, gy, index);
}

struct IndexSelect {
  static constexpr std::string_view name = "index_select";
  void trace(detail::TraceAttrs& a) const { a.ints("axis", {axis}); }
  static constexpr bool differentiable_backward = true;
  int axis = 0;
  Tensor forward(Context& ctx, const Tensor& x, const Tensor& idx) const {
    const int a = normalize_axis(name, axis, x.shape());
    if (idx.dim() > 1) throw ShapeError(fmt::format("index_select: indices must be 1-d, got {}", idx.shape()));
    check_indices(name, idx, a, x.shape()[a]);
    ctx.save(idx);
    return kernels::index_select_axis(x, a, idx.reshape({-1}));
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    const int a = normalize_axis(name, axis, ctx.input_shape(0));
    return {apply(IndexSelectGrad{a, ctx.input_shape(0)}, gy, ctx.saved(0)), Tensor{}};
  }
};

struct Gather {
  static constexpr std::string_view name = "gather";
  void trace(detail::TraceAttrs& a) const { a.ints("axis", {axis}); }
  static constexpr bool differentiable_backward = true;
  int axis = 0;
  Tensor forward(Context& ctx, const Tensor& x, const Tensor& idx) const {
    const int a = normalize_axis(name, axis, x.shape());
    check_index_shape(name, idx, x.shape(), a, "input", false);
    check_indices(name, idx, a, x.shape()[a]);
    ctx.save(idx);
    return kernels::gather_axis(x, a, idx);
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {gather_backward(gy, ctx.input_shape(0), normalize_axis(name, axis, ctx.input_shape(0)), ctx.saved(0)), Tensor{}};
  }
};

// scatter_add's backward op for src: gy read at the indices (idx's shape), padded with zeros out to
// src's shape (src may be larger than idx). Linear in gy; its derivative scatters gg's idx-shaped
// corner back at the indices (gather's backward op).
struct ScatterAddSrcGrad {
  static constexpr std::string_view name = "scatter_add_backward";
  static constexpr bool differentiable_backward = true;
  int axis;  // normalized
  Shape src_shape;
  Tensor forward(Context& ctx, const Tensor& gy, const Tensor& idx) const {
    ctx.save(idx);
    const Tensor taken = kernels::gather_axis(gy, axis, idx);  // idx's shape
    if (idx.shape() == src_shape) return taken;
    Tensor gsrc = zeros(src_shape, gy.dtype());
    kernels::Strided v = kernels::contiguous_layout(src_shape);
    v.shape = idx.shape();
    kernels::scatter_strided(taken, gsrc, v, false);
    return gsrc;
  }
  Grads backward(Context& ctx, const Tensor& gg) const {
    const Tensor& idx = ctx.saved(0);
    Tensor corner = gg;
    for (int d = 0; d < idx.dim(); ++d) {
      if (idx.shape()[d] != src_shape[d]) corner = narrow(corner, d, 0, idx.shape()[d]);
    }
    return {gather_backward(corner, ctx.input_shape(0), axis, idx), Tensor{}};
  }
};

struct ScatterAdd {
  static constexpr std::string_view name = "scatter_add";
  static constexpr bool differentiable_backward = true;
  int axis = 0;
  Tensor forward(Context& ctx, const Tensor& x, const Tensor& idx, const Tensor& src) const {
    check_floating(name, x);
    check_same_dtype(name, x, src);
    const int a = normalize_axis(name, axis, x.shape());
    check_index_shape(name, idx, src.shape(), a, "source", true);
    check_index_shape(name, idx, x.shape(), a, "input", false);
    check_indices(name, idx, a, x.shape()[a]);
    ctx.save(idx);
    Tensor y = x.clone();
    kernels::scatter_add_axis(y, a, idx, src);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    const Tensor& idx = ctx.saved(0);
    const int a = normalize_axis(name, axis, ctx.input_shape(0));
    const Tensor gsrc = ctx.needs_grad(2) ? apply(ScatterAddSrcGrad{a, ctx.input_shape(2)}, gy, idx) : Tensor{};
    return {ctx.needs_grad(0) ? gy : Tensor{}, Tensor{}, gsrc};
  }
};

namespace {
/// y = cond ? a : b elementwise, each operand first laid out over `out` (copied only where broadcast).
Tensor select_where(const Tensor& cond, const Tensor& a, const Tensor& b, const Shape& out) {
  auto spread = [&](const Tensor& t) {
    if (t.shape() == out) return t;
    kernels::Strided v;
    v.shape = out;
    const BroadcastStrides bs = broadcast_strides(t.shape(), out);
    for (int d = 0; d < out.rank(); ++d) v.strides[d] = bs.s[d];
    return kernels::gather_strided(t, v);
  };
  const Tensor c = spread(cond), ta = spread(a), tb = spread(b);
  Tensor y = empty(out, a.dtype());
  const bool* pc = c.data<bool>();
  dispatch_float(a.dtype(), "where", [&](auto tag) {
    using T = decltype(tag);
    const T* pa = ta.data<T>();
    const T* pb = tb.data<T>();
    T* py = y.mutable_data<T>();
    // A select by bit masks, not a branch: on a random mask a branch mispredicts half the time
    // (5 ns an element); this loop vectorizes and is exact for every value, NaN and inf included.
    using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    for (std::int64_t i = 0, n = out.numel(); i < n; ++i) {
      const U m = U(0) - U(pc[i]);
      py[i] = std::bit_cast<T>((std::bit_cast<U>(pa[i]) & m) | (std::bit_cast<U>(pb[i]) & ~m));
    }
  });
  return y;
}

void check_mask(std::string_view op, const Tensor& m) {
  if (m.dtype() != b8) {
    throw ValueError(fmt::format("{}: the condition must be a bool tensor (a comparison's result), got {} {}", op,
                                 m.dtype(), m.shape()));
  }
}
}  // namespace

struct Where {
  static constexpr std::string_view name = "where";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& cond, const Tensor& a, const Tensor& b) const {
    check_mask(name, cond);
    check_floating(name, a);
    check_same_dtype(name, a, b);
    const Shape out = broadcast_shape(broadcast_shape(cond.shape(), a.shape(), name), b.shape(), name);
    ctx.save(cond);
    return select_where(cond, a, b, out);
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    const Tensor& cond = ctx.saved(0);
    const Tensor zero = zeros({}, gy.dtype());
    return {Tensor{}, ctx.needs_grad(1) ? sum_to(where(cond, gy, zero), ctx.input_shape(1)) : Tensor{},
            ctx.needs_grad(2) ? sum_to(where(cond, zero, gy), ctx.input_shape(2)) : Tensor{}};
  }
};

struct MaskedFill {
  static constexpr std::string_view name = "masked_fill";
  void trace(detail::TraceAttrs& a) const { a.floats("value", {value}); }
  static constexpr bool differentiable_backward = true;
  double value = 0;
  Tensor forward(Context& ctx, const Tensor& x, const Tensor& mask) const {
    check_mask(name, mask);
    check_floating(name, x);
    if (broadcast_shape(x.shape(), mask.shape(), name) != x.shape()) {
      throw ShapeError(fmt::format("masked_fill: mask {} does not broadcast to the input {}", mask.shape(), x.shape()));
    }
    ctx.save(mask);
    return select_where(mask, full({}, value, x.dtype()), x, x.shape());
  }
  Grads backward(Context& ctx, const Tensor& gy) const { return {where(ctx.saved(0), zeros({}, gy.dtype()), gy), Tensor{}}; }
};

}  // namespace ops

Tensor index_select(const Tensor& x, int axis, const Tensor& index) { return apply(ops::IndexSelect{.axis = axis}, x, index); }
Tensor embedding(const Tensor& indices, const Tensor& weight) {
  check_defined("embedding", {&indices, &weight});
  if (weight.dim() != 2) throw ShapeError(fmt::format("embedding: weight is {}; expected [num_embeddings, dim]", weight.shape()));
  if (indices.dtype() != i64) throw ValueError(fmt::format("embedding: indices are {}; expected int64", indices.dtype()));
  if (indices.dim() == Shape::kMaxRank) {
    throw ShapeError(fmt::format("embedding: indices {} have {} axes; the output has one more, past the maximum rank of {}",
                                 indices.shape(), indices.dim(), Shape::kMaxRank));
  }
  check_indices("embedding", indices, weight.shape()[0]);
  Shape out = indices.shape();
  out.push_back(weight.shape()[1]);
  return index_select(weight, 0, indices.reshape({indices.numel()})).reshape(out);
}
Tensor gather(const Tensor& x, int axis, const Tensor& index) { return apply(ops::Gather{.axis = axis}, x, index); }
Tensor scatter_add(const Tensor& x, int axis, const Tensor& index, const Tensor& src) {
  return apply(ops::ScatterAdd{.axis = axis}, x, index, src);
}
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) { return apply(ops::Where{}, cond, a, b); }
Tensor where(const Tensor& cond, const Tensor& a, double b) { return where(cond, a, full({}, b, a.dtype())); }
Tensor where(const Tensor& cond, double a, const Tensor& b) { return where(cond, full({}, a, b.dtype()), b); }
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  return apply(ops::MaskedFill{.value = value}, x, mask);
}

}  // namespace nabla
