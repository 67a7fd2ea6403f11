// ops/movement.cpp — ops that move elements without arithmetic, with PyTorch's names: permute,
// transpose of any two axes, slice / narrow / select, squeeze / unsqueeze, expand, flip, pad,
// contiguous.
//
// nabla's tensors are contiguous, so each op returns a copy: one strided gather
// (kernels::gather_strided) over a view of x — permuted strides, a step, a negative stride, a zero
// stride — and its gradient is the matching scatter into zeros of x's shape, or the inverse
// movement. (Why copies rather than strided views: docs/design.md, "Movement ops".) squeeze and
// unsqueeze are reshapes, so views.
#include <algorithm>
#include <limits>

#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {
namespace ops {

namespace {
/// The permutation `dims` of x's axes, normalized; a ValueError naming op unless it is one.
std::vector<int> checked_permutation(std::string_view op, const std::vector<int>& dims, const Shape& s) {
  if (static_cast<int>(dims.size()) != s.rank()) {
    throw ValueError(fmt::format("{}: got {} axes [{}] for a tensor of shape {}; need one per axis", op, dims.size(),
                                 fmt::join(dims, ", "), s));
  }
  std::vector<int> p;
  std::vector<bool> seen(dims.size(), false);
  for (int d : dims) {
    const int a = normalize_axis(op, d, s);
    if (seen[static_cast<std::size_t>(a)]) {
      throw ValueError(fmt::format("{}: axis {} appears twice in [{}]", op, a, fmt::join(dims, ", ")));
    }
    seen[static_cast<std::size_t>(a)] = true;
    p.push_back(a);
  }
  return p;
}

Tensor permuted(const Tensor& x, const std::vector<int>& p) {
  const kernels::Strided base = kernels::contiguous_layout(x.shape());
  kernels::Strided v;
  for (std::size_t i = 0; i < p.size(); ++i) {
    v.shape.push_back(x.shape()[p[i]]);
    v.strides[i] = base.strides[p[i]];
  }
  return kernels::gather_strided(x, v);
}
}  // namespace

// A strided window of a tensor of shape `whole`: gather_window reads it out (x → window),
// scatter_window writes a window into zeros of `whole`. Each is the other's adjoint, so each one's
// backward is the other: the backward of slice and pad, differentiable to any order.
struct ScatterWindow;
struct GatherWindow {
  static constexpr std::string_view name = "gather_window";
  static constexpr bool differentiable_backward = true;
  kernels::Strided view;
  Shape whole;
  Tensor forward(Context&, const Tensor& x) const { return kernels::gather_strided(x, view); }
  Grads backward(Context&, const Tensor& gy) const;
};
struct ScatterWindow {
  static constexpr std::string_view name = "scatter_window";
  static constexpr bool differentiable_backward = true;
  kernels::Strided view;
  Shape whole;
  Tensor forward(Context&, const Tensor& w) const {
    Tensor x = zeros(whole, w.dtype());
    kernels::scatter_strided(w, x, view, false);
    return x;
  }
  Grads backward(Context&, const Tensor& gx) const { return {apply(GatherWindow{view, whole}, gx)}; }
};
inline Grads GatherWindow::backward(Context&, const Tensor& gy) const { return {apply(ScatterWindow{view, whole}, gy)}; }

// permute: y[i_0, …] = x[i_{p⁻¹(0)}, …], i.e. y's axis k is x's axis dims[k]. gx = gy permuted back.
struct Permute {
  static constexpr std::string_view name = "permute";
  void trace(detail::TraceAttrs& a) const { a.ints("dims", {dims.begin(), dims.end()}); }
  static constexpr bool differentiable_backward = true;
  std::vector<int> dims = {};
  Tensor forward(Context&, const Tensor& x) const { return permuted(x, checked_permutation(name, dims, x.shape())); }
  Grads backward(Context& ctx, const Tensor& gy) const {
    const std::vector<int> p = checked_permutation(name, dims, ctx.input_shape(0));
    std::vector<int> inverse(p.size());
    for (std::size_t i = 0; i < p.size(); ++i) inverse[static_cast<std::size_t>(p[i])] = static_cast<int>(i);
    return {apply(Permute{inverse}, gy)};  // the inverse permutation, an op: recorded under create_graph
  }
};

// transpose: swaps axes d0 and d1 (any rank). gx = gy with the same two axes swapped.
struct TransposeAxes {
  static constexpr std::string_view name = "transpose";
  void trace(detail::TraceAttrs& a) const { a.ints("dims", {d0, d1}); }
  static constexpr bool differentiable_backward = true;
  int d0 = 0, d1 = 1;
  std::vector<int> swap(const Shape& s) const {
    const int a = normalize_axis(name, d0, s), b = normalize_axis(name, d1, s);
    std::vector<int> p(static_cast<std::size_t>(s.rank()));
    for (int i = 0; i < s.rank(); ++i) p[static_cast<std::size_t>(i)] = i;
    std::swap(p[static_cast<std::size_t>(a)], p[static_cast<std::size_t>(b)]);
    return p;
  }
  Tensor forward(Context&, const Tensor& x) const { return permuted(x, swap(x.shape())); }
  Grads backward(Context&, const Tensor& gy) const { return {apply(*this, gy)}; }  // the same swap
};

// slice: y = x[…, start:stop:step, …] along `axis`, Python's rules (negative start and stop count
// from the end, both clamped to the axis); narrow(x, axis, start, length) is the same with a range
// that must lie inside the axis; select(x, axis, i) takes one index and drops the axis.
// gx = zeros of x's shape with gy written back where it came from.
struct Slice {
  static constexpr std::string_view name = "slice";
  void trace(detail::TraceAttrs& a) const { a.ints("axis", {axis}); a.ints("start", {start}); a.ints("stop", {stop}); a.ints("step", {step}); }
  static constexpr bool differentiable_backward = true;
  std::string_view op = name;  // "slice", "narrow" or "select", for errors
  int axis = 0;
  std::int64_t start = 0, stop = std::numeric_limits<std::int64_t>::max(), step = 1;
  bool drop_axis = false;  // select

  kernels::Strided view(const Shape& s) const {
    const int a = normalize_axis(op, axis, s);
    const std::int64_t n = s[a];
    if (step <= 0) throw ValueError(fmt::format("{}: step must be positive, got {}", op, step));
    std::int64_t b = start < 0 ? start + n : start, e = stop < 0 ? stop + n : stop;
    if (op != name) {  // narrow and select: the range must lie inside the axis
      if (b < 0 || b >= n + (op == "narrow" ? 1 : 0) || e > n || e < b) {
        if (op == "select") {
          throw ValueError(fmt::format("select: index {} is out of range for axis {} of size {}", start, a, n));
        }
        throw ValueError(fmt::format("narrow: start {} and length {} do not fit axis {} of size {}", start, stop - start,
                                     a, n));
      }
    }
    b = std::clamp<std::int64_t>(b, 0, n);
    e = std::clamp<std::int64_t>(e, b, n);
    kernels::Strided v = kernels::contiguous_layout(s);
    v.offset = b * v.strides[a];
    v.shape[a] = e > b ? (e - b - 1) / step + 1 : 0;  // ⌈(e − b) / step⌉ without overflow for a huge step
    // A step reaching past the axis takes one element, whose stride is never used (and step · stride
    // could wrap); otherwise step < n and step · stride stays within the tensor (≤ 2^40 elements).
    if (v.shape[a] > 1) v.strides[a] *= step;
    if (drop_axis) {
      kernels::Strided w;
      w.offset = v.offset;
      for (int d = 0, k = 0; d < s.rank(); ++d) {
        if (d == a) continue;
        w.shape.push_back(v.shape[d]);
        w.strides[k++] = v.strides[d];
      }
      return w;
    }
    return v;
  }
  Tensor forward(Context&, const Tensor& x) const { return kernels::gather_strided(x, view(x.shape())); }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {apply(ScatterWindow{view(ctx.input_shape(0)), ctx.input_shape(0)}, gy)};
  }
};

// expand: x broadcast to `shape` (−1 keeps an axis; new axes may lead), as torch.expand / broadcast_to.
// A copy. gx = sum_to(gy, x's shape).
struct Expand {
  static constexpr std::string_view name = "expand";
  static constexpr bool differentiable_backward = true;
  Shape shape;
  Tensor forward(Context&, const Tensor& x) const {
    const Shape& s = x.shape();
    if (shape.rank() < s.rank()) {
      throw ShapeError(fmt::format("expand: {} has more axes than the target {}", s, shape));
    }
    const kernels::Strided base = kernels::contiguous_layout(s);
    kernels::Strided v;
    const int lead = shape.rank() - s.rank();
    for (int d = 0; d < shape.rank(); ++d) {
      const std::int64_t have = d < lead ? 1 : s[d - lead];
      std::int64_t want = shape[d];
      if (want == -1 && d >= lead) want = have;
      if (want < 0 || (have != want && have != 1)) {
        throw ShapeError(fmt::format("expand: {} cannot expand to {}: axis {} has {}, not 1 or {}", s, shape, d, have, want));
      }
      v.shape.push_back(want);
      v.strides[d] = d < lead || (have == 1 && want != 1) ? 0 : base.strides[d - lead];
    }
    return kernels::gather_strided(x, v);
  }
  Grads backward(Context& ctx, const Tensor& gy) const { return {sum_to(gy, ctx.input_shape(0))}; }
};

// flip: x reversed along each of `axes`. gx = gy flipped along the same axes.
struct Flip {
  static constexpr std::string_view name = "flip";
  static constexpr bool differentiable_backward = true;
  std::vector<int> axes = {};
  Tensor flipped(const Tensor& x) const {
    kernels::Strided v = kernels::contiguous_layout(x.shape());
    std::vector<bool> seen(static_cast<std::size_t>(x.dim()), false);
    for (int ax : axes) {
      const int a = normalize_axis(name, ax, x.shape());
      if (seen[static_cast<std::size_t>(a)]) {
        throw ValueError(fmt::format("flip: axis {} appears twice in [{}]", a, fmt::join(axes, ", ")));
      }
      seen[static_cast<std::size_t>(a)] = true;
      if (x.shape()[a] == 0) continue;
      v.offset += (x.shape()[a] - 1) * v.strides[a];
      v.strides[a] = -v.strides[a];
    }
    return kernels::gather_strided(x, v);
  }
  Tensor forward(Context&, const Tensor& x) const { return flipped(x); }
  Grads backward(Context&, const Tensor& gy) const { return {apply(*this, gy)}; }  // flipped back
};

// pad: constant padding, widths as torch.nn.functional.pad: (before, after) pairs from the last
// axis backwards. y = value outside, x inside. gx = the inside of gy.
struct Pad {
  static constexpr std::string_view name = "pad";
  void trace(detail::TraceAttrs& a) const { a.ints("widths", widths); a.floats("value", {value}); }
  static constexpr bool differentiable_backward = true;
  std::vector<std::int64_t> widths = {};
  double value = 0;
  kernels::Strided inside(const Shape& x_shape, Shape& out) const {
    if (widths.size() % 2 != 0 || static_cast<int>(widths.size()) > 2 * x_shape.rank()) {
      throw ValueError(fmt::format("pad: widths [{}] must be (before, after) pairs for at most the {} axes of {}",
                                   fmt::join(widths, ", "), x_shape.rank(), x_shape));
    }
    out = x_shape;
    std::int64_t offset_idx[Shape::kMaxRank]{};
    for (std::size_t k = 0; k < widths.size() / 2; ++k) {
      const int a = x_shape.rank() - 1 - static_cast<int>(k);
      const std::int64_t before = widths[2 * k], after = widths[2 * k + 1];
      if (before < 0 || after < 0) {
        throw ValueError(fmt::format("pad: widths [{}] must not be negative", fmt::join(widths, ", ")));
      }
      check_int_arg(name, "a width", std::max(before, after), 0, kMaxNumel);  // so the sum below cannot wrap
      out[a] = x_shape[a] + before + after;
      offset_idx[a] = before;
    }
    kernels::Strided v = kernels::contiguous_layout(out);
    v.shape = x_shape;
    for (int d = 0; d < out.rank(); ++d) v.offset += offset_idx[d] * v.strides[d];
    return v;
  }
  Tensor forward(Context&, const Tensor& x) const {
    Shape out;
    const kernels::Strided v = inside(x.shape(), out);
    Tensor y = full(out, value, x.dtype());
    kernels::scatter_strided(x, y, v, false);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    Shape out;
    const kernels::Strided v = inside(ctx.input_shape(0), out);
    return {apply(GatherWindow{v, out}, gy)};
  }
};

}  // namespace ops

Tensor permute(const Tensor& x, const std::vector<int>& dims) { return apply(ops::Permute{.dims = dims}, x); }
Tensor transpose(const Tensor& x, int d0, int d1) { return apply(ops::TransposeAxes{.d0 = d0, .d1 = d1}, x); }
Tensor slice(const Tensor& x, int axis, std::int64_t start, std::int64_t stop, std::int64_t step) {
  return apply(ops::Slice{.axis = axis, .start = start, .stop = stop, .step = step}, x);
}
Tensor narrow(const Tensor& x, int axis, std::int64_t start, std::int64_t length) {
  if (length < 0) throw ValueError(fmt::format("narrow: length must not be negative, got {}", length));
  const int a = normalize_axis("narrow", axis, x.shape());
  const std::int64_t n = x.size(a);
  // torch.narrow wraps a negative start once: start must lie in [−n, n]; then start + length ≤ n.
  if (start < -n || start > n) {
    throw ValueError(fmt::format("narrow: start {} is out of range for axis {} of size {} (need −{} ≤ start ≤ {})", start,
                                 a, n, n, n));
  }
  const std::int64_t b = start < 0 ? start + n : start;
  if (length > n - b) {
    throw ValueError(fmt::format("narrow: start {} and length {} do not fit axis {} of size {}", start, length, a, n));
  }
  return apply(ops::Slice{.op = "narrow", .axis = axis, .start = b, .stop = b + length}, x);
}
Tensor select(const Tensor& x, int axis, std::int64_t index) {
  const std::int64_t n = x.dim() > 0 ? x.size(normalize_axis("select", axis, x.shape())) : 0;
  const std::int64_t i = index < 0 ? index + n : index;
  if (i < 0 || i >= n) {
    throw ValueError(fmt::format("select: index {} is out of range for axis {} of size {}", index,
                                 normalize_axis("select", axis, x.shape()), n));
  }
  return apply(ops::Slice{.op = "select", .axis = axis, .start = i, .stop = i + 1, .drop_axis = true}, x);
}
Tensor expand(const Tensor& x, const Shape& shape) { return apply(ops::Expand{.shape = shape}, x); }
Tensor flip(const Tensor& x, const std::vector<int>& axes) { return apply(ops::Flip{.axes = axes}, x); }
Tensor pad(const Tensor& x, const std::vector<std::int64_t>& widths, double value) {
  return apply(ops::Pad{.widths = widths, .value = value}, x);
}
Tensor contiguous(const Tensor& x) { return x; }

Tensor squeeze(const Tensor& x) {
  Shape s;
  for (std::int64_t d : x.shape()) {
    if (d != 1) s.push_back(d);
  }
  return x.reshape(s);
}
Tensor squeeze(const Tensor& x, int axis) {
  const int a = normalize_axis("squeeze", axis, x.shape());
  if (x.shape()[a] != 1) return x;  // as torch.squeeze: only a size-1 axis goes
  return x.reshape(reduced_shape(x.shape(), a, false));
}
Tensor unsqueeze(const Tensor& x, int axis) {
  if (x.dim() == Shape::kMaxRank) {
    throw ShapeError(fmt::format("unsqueeze: tensor {} is already of the maximum rank {}; cannot add an axis", x.shape(),
                                 Shape::kMaxRank));
  }
  const int a = normalize_axis("unsqueeze", axis, x.dim() + 1, x.shape());
  Shape s;
  for (int d = 0; d <= x.dim(); ++d) {
    if (d == a) s.push_back(1);
    if (d < x.dim()) s.push_back(x.shape()[d]);
  }
  return x.reshape(s);
}

}  // namespace nabla
