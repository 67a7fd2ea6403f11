// ops/resample.cpp — torch.nn.functional.interpolate: nearest, nearest-exact, linear, bilinear and
// trilinear resampling of the spatial axes of [N, C, L], [N, C, H, W] and [N, C, D, H, W].
//
// The modes are separable: each spatial axis is resampled in turn. Along an axis of n inputs and m
// outputs, output o reads input positions i0(o), i1(o) with weights λ0(o), λ1(o) (nearest: one
// position), computed exactly as PyTorch's CPU kernels do (UpSample.h), in the tensor's own float type:
//   scale = align_corners ? (n − 1)/(m − 1) (0 when m = 1) : 1/scale_factor if given, else n/m;
//   nearest:        i0 = min(⌊o · scale⌋, n − 1);   nearest-exact: i0 = min(⌊(o + ½) · scale⌋, n − 1);
//   linear:         s = align_corners ? o · scale : max(scale · (o + ½) − ½, 0), i0 = ⌊s⌋,
//                   i1 = i0 + (i0 < n − 1), λ1 = s − i0, λ0 = 1 − λ1; a copy when m = n.
// (The floors are taken in float, as PyTorch's floorf, also for float64 tensors.)
// So y = λ0 · x[…, i0, …] + λ1 · x[…, i1, …]: index_select, a broadcast product with constant weights
// and a sum. Its gradient is those ops' own (index_select's scatter-add), differentiable again; the
// resampling needs no backward of its own.
#include <cmath>

#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {

namespace {

enum class Mode { nearest, nearest_exact, linear };

struct AxisMap {
  std::vector<std::int64_t> i0, i1;
  std::vector<double> l0, l1;
};

template <class T>
AxisMap axis_map(Mode mode, std::int64_t n, std::int64_t m, bool align_corners, std::optional<double> scale_factor) {
  T scale;
  if (align_corners) {
    scale = m > 1 ? static_cast<T>(n - 1) / static_cast<T>(m - 1) : T(0);
  } else {
    scale = scale_factor && *scale_factor > 0 ? static_cast<T>(1.0 / *scale_factor) : static_cast<T>(n) / static_cast<T>(m);
  }
  AxisMap a;
  // PyTorch's kernels take the floor in float (floorf) even for float64 tensors; so does this.
  auto floor_f = [](T v) { return static_cast<std::int64_t>(std::floor(static_cast<float>(v))); };
  for (std::int64_t o = 0; o < m; ++o) {
    if (mode == Mode::linear) {
      if (n == m) {  // PyTorch copies when the sizes agree, whatever the scale
        a.i0.push_back(o), a.i1.push_back(o), a.l0.push_back(1), a.l1.push_back(0);
        continue;
      }
      T s = align_corners ? scale * static_cast<T>(o) : scale * (static_cast<T>(o) + T(0.5)) - T(0.5);
      if (!align_corners && s < 0) s = 0;
      const std::int64_t i0 = std::min(floor_f(s), n - 1);
      const std::int64_t i1 = i0 + (i0 < n - 1 ? 1 : 0);
      const T l1 = std::min(std::max(s - static_cast<T>(i0), T(0)), T(1));
      a.i0.push_back(i0);
      a.i1.push_back(i1);
      a.l0.push_back(static_cast<double>(T(1) - l1));
      a.l1.push_back(static_cast<double>(l1));
    } else if (mode == Mode::nearest) {
      a.i0.push_back(std::min(floor_f(scale * static_cast<T>(o)), n - 1));
    } else {
      T s = scale * (static_cast<T>(o) + T(0.5)) - T(0.5);
      if (s < 0) s = 0;
      a.i0.push_back(std::min(floor_f(s + T(0.5)), n - 1));
    }
  }
  return a;
}

Tensor index_tensor(const std::vector<std::int64_t>& v) {
  return from_vector(std::span<const std::int64_t>(v), Shape{static_cast<std::int64_t>(v.size())});
}

/// x resampled along `axis` by the map: one index_select (nearest), or two and their weighted sum.
Tensor resample_axis(const Tensor& x, int axis, const AxisMap& a) {
  const Tensor y0 = index_select(x, axis, index_tensor(a.i0));
  if (a.i1.empty()) return y0;
  Shape ws{static_cast<std::int64_t>(a.l0.size())};  // [m, 1, …]: broadcast along the axes after `axis`
  for (int d = axis + 1; d < x.dim(); ++d) ws.push_back(1);
  const Tensor w0 = from_vector(std::span<const double>(a.l0), ws, f64).to(x.dtype());
  const Tensor w1 = from_vector(std::span<const double>(a.l1), ws, f64).to(x.dtype());
  return y0 * w0 + index_select(x, axis, index_tensor(a.i1)) * w1;
}

}  // namespace

Tensor interpolate(const Tensor& x, const InterpolateFuncOptions& o) {
  constexpr std::string_view op = "interpolate";
  check_defined(op, {&x});
  check_floating(op, x);
  if (x.dim() < 3 || x.dim() > 5) {
    throw ShapeError(fmt::format("interpolate: expected input [N, C, L], [N, C, H, W] or [N, C, D, H, W], got {}", x.shape()));
  }
  const int spatial = x.dim() - 2;
  Mode mode;
  if (o.mode == "nearest") {
    mode = Mode::nearest;
  } else if (o.mode == "nearest-exact") {
    mode = Mode::nearest_exact;
  } else if (o.mode == "linear" || o.mode == "bilinear" || o.mode == "trilinear") {
    mode = Mode::linear;
    const int wants = o.mode == "linear" ? 1 : o.mode == "bilinear" ? 2 : 3;
    if (wants != spatial) {
      throw ShapeError(fmt::format("interpolate: mode \"{}\" needs a {}-d input, got {}", o.mode, wants + 2, x.shape()));
    }
  } else {
    throw ValueError(fmt::format("interpolate: mode must be \"nearest\", \"nearest-exact\", \"linear\", \"bilinear\" or "
                                 "\"trilinear\", got \"{}\"", o.mode));
  }
  if (o.align_corners && mode != Mode::linear) {
    throw ValueError(fmt::format("interpolate: align_corners can only be set with the linear modes, not \"{}\"", o.mode));
  }
  const bool align = o.align_corners.value_or(false);
  const bool has_size = !o.size.empty(), has_scale = !o.scale_factor.empty();
  if (has_size == has_scale) {
    throw ValueError("interpolate: give exactly one of size and scale_factor");
  }
  auto per_axis = [&](auto const& v, std::string_view what) {
    if (v.size() != 1 && v.size() != static_cast<std::size_t>(spatial)) {
      throw ValueError(fmt::format("interpolate: {} has {} entries; input {} has {} spatial axes (give 1 or {})", what,
                                   v.size(), x.shape(), spatial, spatial));
    }
  };
  std::vector<std::int64_t> out(static_cast<std::size_t>(spatial));
  std::vector<std::optional<double>> scales(static_cast<std::size_t>(spatial));
  for (int d = 0; d < spatial; ++d) {
    const auto u = static_cast<std::size_t>(d);
    const std::int64_t n = x.shape()[d + 2];
    if (n == 0) throw ValueError(fmt::format("interpolate: input {} has an empty spatial axis; there is nothing to sample", x.shape()));
    if (has_size) {
      per_axis(o.size, "size");
      out[u] = check_int_arg(op, "size", o.size[o.size.size() == 1 ? 0 : u], 1, kMaxNumel);
    } else {
      per_axis(o.scale_factor, "scale_factor");
      const double f = o.scale_factor[o.scale_factor.size() == 1 ? 0 : u];
      if (!(f > 0) || !std::isfinite(f)) throw ValueError(fmt::format("interpolate: scale_factor must be positive and finite, got {}", f));
      const double size = std::floor(static_cast<double>(n) * f);
      if (!(size >= 1) || size > static_cast<double>(kMaxNumel)) {
        throw ValueError(fmt::format("interpolate: scale_factor {} gives an output size of {} for an axis of {}; it must be in [1, {}]",
                                     f, size, n, kMaxNumel));
      }
      out[u] = static_cast<std::int64_t>(size);
      if (!o.recompute_scale_factor.value_or(false)) scales[u] = f;
    }
  }
  Shape out_shape = x.shape();
  for (int d = 0; d < spatial; ++d) out_shape[d + 2] = out[static_cast<std::size_t>(d)];
  checked_bytes(op, out_shape, x.dtype());
  const OpScope scope(op);
  Tensor y = x;
  for (int d = 0; d < spatial; ++d) {
    const auto u = static_cast<std::size_t>(d);
    const std::int64_t n = x.shape()[d + 2];
    if (mode == Mode::linear && n == out[u]) continue;  // PyTorch copies when the sizes agree
    AxisMap a;
    dispatch_float(x.dtype(), op, [&](auto tag) { a = axis_map<decltype(tag)>(mode, n, out[u], align, scales[u]); });
    y = resample_axis(y, d + 2, a);
  }
  return y;
}

}  // namespace nabla
