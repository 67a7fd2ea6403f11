// nabla/toolkit.hpp — what an op is written with, built-in or user-defined: the checks that give
// nabla's standard error messages, one way to dispatch on dtype, and the elementwise and
// broadcasting loops. Every op in ops/ uses these and nothing internal, so a custom op can do
// whatever a built-in does (docs/custom-ops.md). The compute kernels the built-ins call (GEMM,
// convolution, pooling, axis reductions) are public too: nabla/kernels.hpp.
//
// The idiom: check in forward, naming the op; then loop. A loop dispatches on the dtype itself,
// so a parameter is cast inside the lambda, not by a dispatch around the loop:
//   check_floating(name, x);
//   return map(x, [c](auto v) { using T = decltype(v); return v + T(c); });
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "nabla/tensor.hpp"

namespace nabla {

// ---- checks: each throws a nabla::Error whose message names `op` -----------------------------------

/// "op: input 1 is an undefined tensor" (ValueError) for the first of `inputs` that is undefined:
/// for a composite, which looks at its inputs before the ops it calls would (`apply` checks these).
inline void check_defined(std::string_view op, std::initializer_list<const Tensor*> inputs);
/// "op: expected a float32 or float64 tensor, got int64 [3]" (ValueError) unless t is f32 or f64.
void check_floating(std::string_view op, const Tensor& t);
/// The same, also taking bf16: for the ops that accept bfloat16 (docs/design.md, "bfloat16 and autocast").
void check_floating_or_bf16(std::string_view op, const Tensor& t);
/// "op: dtypes differ: float32 [2] and float64 [2]; convert one with .to(dtype)" (ValueError).
inline void check_same_dtype(std::string_view op, const Tensor& a, const Tensor& b);
/// "op: expected a 2-d tensor (what), got [2, 3, 4]" (ShapeError) unless t has `rank` dimensions;
/// `what` describes the expected layout ("[N, C, H, W]") and may be empty.
void check_rank(std::string_view op, const Tensor& t, int rank, std::string_view what = {});
/// axis in [−rank, rank) as an index in [0, rank); otherwise "op: axis 3 is out of range for a
/// tensor of shape [2, 3]" (ValueError). For ops that insert an axis, pass rank + 1.
int normalize_axis(std::string_view op, int axis, const Shape& shape);
int normalize_axis(std::string_view op, int axis, int rank, const Shape& shape);
/// "op: shapes differ: [4096] and [2]; expected one shape" (ShapeError) unless a and b have one
/// shape, and check_same_dtype's error unless one dtype: what zip and zip3 need.
void check_same_operands(std::string_view op, const Tensor& a, const Tensor& b);
/// "op: [4096] does not broadcast to [2]" (ShapeError) unless t broadcasts to `out` (rank at most
/// out's, each axis out's or 1): what broadcast_zip needs of each operand.
void check_broadcasts_to(std::string_view op, const Tensor& t, const Shape& out);

/// Refuses an int64 tensor of indices with an entry outside [0, n), naming the entry's position:
/// "op: index 9 at [1, 1] of int64 [2, 2] is out of range [0, 5)" (ValueError); `noun` says what
/// an entry is ("index", "label").
void check_indices(std::string_view op, const Tensor& indices, std::int64_t n, std::string_view noun = "index");
/// "[1, 1]": the position of element `flat` of a row-major tensor of shape s, for messages.
std::string index_string(const Shape& s, std::int64_t flat);

namespace detail {
[[noreturn, gnu::cold]] void throw_undefined_input(std::string_view op, std::size_t i);
[[noreturn, gnu::cold]] void throw_dtypes_differ(std::string_view op, const Tensor& a, const Tensor& b);
}  // namespace detail

// Inline: every op runs these, and the common case is one compare each.
inline void check_defined(std::string_view op, std::initializer_list<const Tensor*> inputs) {
  std::size_t i = 0;
  for (const Tensor* t : inputs) {
    if (!t->defined()) [[unlikely]] detail::throw_undefined_input(op, i);
    ++i;
  }
}

inline void check_same_dtype(std::string_view op, const Tensor& a, const Tensor& b) {
  check_defined(op, {&a, &b});
  if (a.dtype() != b.dtype()) [[unlikely]] detail::throw_dtypes_differ(op, a, b);
}

// ---- sizes and integer arguments: one check for each, so that no op computes a size that wraps ----------
// Sizes, strides, paddings, dilations, counts and indices from the caller are checked with
// check_int_arg before any arithmetic; sizes computed from them with checked_add / checked_mul; the
// shape of a tensor about to be made with checked_bytes (make_tensor runs it on every allocation,
// an op runs it itself to refuse an output shape before any work).

/// The bytes of a tensor of `shape` and `dtype`: "op: negative dimension in shape [2, -1]", "op: shape
/// [4611686018427387904] has 4611686018427387904 elements, more than a tensor may hold (2^40)" or
/// "op: shape [...]: the number of elements does not fit in 64 bits" (ShapeError) otherwise. An empty
/// shape's other dimensions are held to the same limit ("op: shape [0, 2^62, 2^62] is empty, but its other
/// dimensions hold more than a tensor may (2^40 elements)"), so no product of dimensions of a tensor wraps.
std::size_t checked_bytes(std::string_view op, const Shape& shape, Dtype dtype);
/// value if lo ≤ value ≤ hi; otherwise "op: name must be in [lo, hi], got value" (ValueError; "must
/// be ≥ lo" when hi is INT64_MAX). For sizes, hi = kMaxNumel: no axis can be longer.
std::int64_t check_int_arg(std::string_view op, std::string_view name, std::int64_t value, std::int64_t lo,
                           std::int64_t hi = INT64_MAX);
/// a + b and a · b, or "op: what = a + b does not fit in 64 bits" (ShapeError), for sizes computed from
/// arguments (an output extent, an offset).
std::int64_t checked_add(std::string_view op, std::string_view what, std::int64_t a, std::int64_t b);
std::int64_t checked_mul(std::string_view op, std::string_view what, std::int64_t a, std::int64_t b);
/// "op: the function `name` is empty" (ValueError) for an empty std::function (or a null pointer)
/// passed in, instead of std::bad_function_call when it is called.
template <class F>
void check_callable(std::string_view op, std::string_view name, const F& f) {
  if (!f) throw ValueError(fmt::format("{}: the function `{}` is empty", op, name));
}

// ---- dtype dispatch ---------------------------------------------------------------------------------

/// Calls f(T{}) with T = float or double for dtype d and returns what f returns; int64 is the
/// ValueError of check_floating, naming `op`. For loops over raw data that map/zip do not cover.
template <class F>
decltype(auto) dispatch_float(Dtype d, std::string_view op, F&& f) {
  if (d == Dtype::f32) return f(float{});
  if (d == Dtype::f64) return f(double{});
  throw ValueError(fmt::format("{}: expected a float32 or float64 tensor, got {}", op, dtype_name(d)));
}

/// The same for every dtype: T = float, double, std::int64_t, bool or bfloat16. For ops that move
/// elements without arithmetic (copies, slices, gathers); bfloat16 reads as float and stores rounded.
template <class F>
decltype(auto) dispatch_all(Dtype d, F&& f) {
  if (d == Dtype::f32) return f(float{});
  if (d == Dtype::f64) return f(double{});
  if (d == Dtype::b8) return f(bool{});
  if (d == Dtype::bf16) return f(bfloat16{});
  return f(std::int64_t{});
}

// ---- elementwise loops (plain contiguous loops the compiler vectorizes) -----------------------------
// Each makes a new tensor of the first input's dtype; inputs must be floating (check first). bf16
// inputs (for ops that take them: check_floating_or_bf16) are computed in float32, each result
// rounded once to bf16, as PyTorch's CPU kernels do.

namespace detail {
/// A bf16 tensor widened to a new float32 one (exact), and a float32 one rounded to bf16; not recorded.
Tensor widen_bf16(const Tensor& t);
Tensor narrow_to_bf16(const Tensor& t);
}  // namespace detail

/// y[i] = f(x[i]); same shape and dtype as x.
template <class F>
Tensor map(const Tensor& x, F f) {
  if (x.dtype() == Dtype::bf16) return detail::narrow_to_bf16(map(detail::widen_bf16(x), f));
  Tensor y = empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), "map", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.mutable_data<T>();
    const std::int64_t n = x.numel();
    for (std::int64_t i = 0; i < n; ++i) py[i] = f(px[i]);
  });
  return y;
}

/// y[i] = f(a[i], b[i]) for a and b of one shape and dtype (else a ShapeError or ValueError naming zip).
template <class F>
Tensor zip(const Tensor& a, const Tensor& b, F f) {
  check_same_operands("zip", a, b);
  if (a.dtype() == Dtype::bf16) return detail::narrow_to_bf16(zip(detail::widen_bf16(a), detail::widen_bf16(b), f));
  Tensor y = empty(a.shape(), a.dtype());
  dispatch_float(a.dtype(), "zip", [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* py = y.mutable_data<T>();
    const std::int64_t n = a.numel();
    for (std::int64_t i = 0; i < n; ++i) py[i] = f(pa[i], pb[i]);
  });
  return y;
}

/// y[i] = f(a[i], b[i], c[i]) for tensors of one shape and dtype (checked, as zip).
template <class F>
Tensor zip3(const Tensor& a, const Tensor& b, const Tensor& c, F f) {
  check_same_operands("zip3", a, b);
  check_same_operands("zip3", a, c);
  if (a.dtype() == Dtype::bf16) {
    return detail::narrow_to_bf16(zip3(detail::widen_bf16(a), detail::widen_bf16(b), detail::widen_bf16(c), f));
  }
  Tensor y = empty(a.shape(), a.dtype());
  dispatch_float(a.dtype(), "zip3", [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    const T* pc = c.data<T>();
    T* py = y.mutable_data<T>();
    const std::int64_t n = a.numel();
    for (std::int64_t i = 0; i < n; ++i) py[i] = f(pa[i], pb[i], pc[i]);
  });
  return y;
}

// ---- broadcasting loops -----------------------------------------------------------------------------

/// The shape two shapes broadcast to (aligned at the right; a 1 or a missing axis stretches); a
/// ShapeError naming `op` if they do not.
Shape broadcast_shape(const Shape& a, const Shape& b, std::string_view op);

/// Strides (in elements) of `shape` seen from an output of shape `out` (rank ≥ shape's rank):
/// 0 on the axes that broadcasting stretches or adds.
struct BroadcastStrides {
  std::int64_t s[Shape::kMaxRank]{};
};
BroadcastStrides broadcast_strides(const Shape& shape, const Shape& out);

/// Calls body(offset_a, offset_b, offset_out, inner_stride_a, inner_stride_b, inner_n) for each
/// innermost row of a broadcast over `out`.
template <class Body>
void for_each_row(const Shape& out, const BroadcastStrides& sa, const BroadcastStrides& sb, Body body) {
  const int r = out.rank();
  if (r == 0) {
    body(0, 0, 0, 0, 0, 1);
    return;
  }
  const std::int64_t inner = out[r - 1];
  const std::int64_t rows = inner == 0 ? 0 : out.numel() / inner;
  std::int64_t idx[Shape::kMaxRank]{};
  std::int64_t oa = 0, ob = 0;
  for (std::int64_t row = 0; row < rows; ++row) {
    body(oa, ob, row * inner, sa.s[r - 1], sb.s[r - 1], inner);
    for (int d = r - 2; d >= 0; --d) {  // advance the multi-index over the outer axes
      ++idx[d];
      oa += sa.s[d];
      ob += sb.s[d];
      if (idx[d] < out[d]) break;
      oa -= sa.s[d] * out[d];
      ob -= sb.s[d] * out[d];
      idx[d] = 0;
    }
  }
}

/// y = f(a, b) elementwise with broadcasting to shape `out` (from broadcast_shape); a and b share
/// a floating dtype. Each must broadcast to `out` and the dtypes agree, else a ShapeError or
/// ValueError naming broadcast_zip.
template <class F>
Tensor broadcast_zip(const Tensor& a, const Tensor& b, const Shape& out, F f) {
  check_same_dtype("broadcast_zip", a, b);
  check_broadcasts_to("broadcast_zip", a, out);
  check_broadcasts_to("broadcast_zip", b, out);
  if (a.dtype() == Dtype::bf16) {
    return detail::narrow_to_bf16(broadcast_zip(detail::widen_bf16(a), detail::widen_bf16(b), out, f));
  }
  Tensor y = empty(out, a.dtype());
  dispatch_float(a.dtype(), "broadcast", [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* py = y.mutable_data<T>();
    if (a.shape() == out && b.shape() == out) {
      for (std::int64_t i = 0, n = out.numel(); i < n; ++i) py[i] = f(pa[i], pb[i]);
      return;
    }
    if (b.numel() == 1 && a.shape() == out) {
      const T vb = pb[0];
      for (std::int64_t i = 0, n = out.numel(); i < n; ++i) py[i] = f(pa[i], vb);
      return;
    }
    for_each_row(out, broadcast_strides(a.shape(), out), broadcast_strides(b.shape(), out),
                 [&](std::int64_t oa, std::int64_t ob, std::int64_t oy, std::int64_t sa, std::int64_t sb,
                     std::int64_t n) {
                   const T* ra = pa + oa;
                   const T* rb = pb + ob;
                   T* ry = py + oy;
                   if (sa == 1 && sb == 1) {
                     for (std::int64_t i = 0; i < n; ++i) ry[i] = f(ra[i], rb[i]);
                   } else if (sa == 1) {
                     const T vb = rb[0];
                     for (std::int64_t i = 0; i < n; ++i) ry[i] = f(ra[i], vb);
                   } else if (sb == 1) {
                     const T va = ra[0];
                     for (std::int64_t i = 0; i < n; ++i) ry[i] = f(va, rb[i]);
                   } else {
                     const T v = f(ra[0], rb[0]);
                     for (std::int64_t i = 0; i < n; ++i) ry[i] = v;
                   }
                 });
  });
  return y;
}

// ---- axes -------------------------------------------------------------------------------------------

/// A shape seen as [outer, n, inner] around one (normalized) axis: element (o, k, i) is at
/// (o · n + k) · inner + i.
struct AxisSplit {
  std::int64_t outer, n, inner;
};
/// axis must be in [0, s.rank()), else a ValueError naming split_at.
AxisSplit split_at(const Shape& s, int axis);
/// s without `axis`, or with it as 1 when keepdim.
Shape reduced_shape(const Shape& s, int axis, bool keepdim);

// ---- views ------------------------------------------------------------------------------------------

/// A tensor sharing x's storage and version counter under another shape of the same numel, not
/// recorded: the forward of a view op (reshape) returns it. A ShapeError if the numels differ.
Tensor view(const Tensor& x, const Shape& shape);

}  // namespace nabla
