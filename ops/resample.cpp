// ops/resample.cpp — torch.nn.functional.interpolate: nearest, nearest-exact, linear, bilinear,
// trilinear, bicubic and area resampling of the spatial axes of [N, C, L], [N, C, H, W] and
// [N, C, D, H, W].
//
// The modes are separable: each spatial axis is resampled in turn. Along an axis of n inputs and m
// outputs, output o reads input positions i_k(o) with weights λ_k(o) (nearest: one position, linear:
// two, cubic: four), computed exactly as PyTorch's CPU kernels do (UpSample.h), in the tensor's own
// float type:
//   scale = align_corners ? (n − 1)/(m − 1) (0 when m = 1) : 1/scale_factor if given, else n/m;
//   nearest:        i0 = min(⌊o · scale⌋, n − 1);   nearest-exact: i0 = min(⌊(o + ½) · scale⌋, n − 1);
//   linear:         s = align_corners ? o · scale : max(scale · (o + ½) − ½, 0), i0 = ⌊s⌋,
//                   i1 = i0 + (i0 < n − 1), λ1 = s − i0, λ0 = 1 − λ1; a copy when m = n.
//   cubic:          s as linear but not clamped at 0, i = min(⌊s⌋, n − 1), t = clamp(s − i, 0, 1);
//                   taps i − 1 … i + 2, each clamped to [0, n − 1], with Keys' cubic convolution
//                   weights for A = −0.75: W(t + 1), W(t), W(1 − t), W(2 − t), where
//                   W(x) = (A + 2)|x|³ − (A + 3)|x|² + 1 for |x| ≤ 1, A|x|³ − 5A|x|² + 8A|x| − 4A for 1 < |x| < 2.
// (The floors are taken in float, as PyTorch's floorf, also for float64 tensors.)
// So y = Σ_k λ_k · x[…, i_k, …]: index_select, a broadcast product with constant weights and a sum.
// "area" is adaptive average pooling (PyTorch calls adaptive_avg_pool{1,2,3}d): output o averages the
// inputs ⌊o·n/m⌋ … ⌈(o + 1)·n/m⌉ − 1, one product with a constant [n, m] averaging matrix per axis.
// The gradients are those ops' own (index_select's scatter-add, matmul's), differentiable again; the
// resampling needs no backward of its own.
#include <algorithm>
#include <cmath>

#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {

namespace {

enum class Mode { nearest, nearest_exact, linear, cubic, area };

/// Output o of an axis is Σ_k w[k][o] · x[idx[k][o]] (w empty: one tap of weight 1).
struct AxisMap {
  std::vector<std::vector<std::int64_t>> idx;
  std::vector<std::vector<double>> w;
};

/// Keys' cubic convolution kernel with PyTorch's A = −0.75 (UpSample.h: cubic_convolution1 for
/// |x| ≤ 1, cubic_convolution2 for 1 < |x| < 2), in PyTorch's order of operations.
template <class T>
T cubic1(T x) {
  constexpr T A = T(-0.75);
  return ((A + 2) * x - (A + 3)) * x * x + 1;
}
template <class T>
T cubic2(T x) {
  constexpr T A = T(-0.75);
  return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
}

template <class T>
AxisMap axis_map(Mode mode, std::int64_t n, std::int64_t m, bool align_corners, std::optional<double> scale_factor) {
  T scale;
  if (align_corners) {
    scale = m > 1 ? static_cast<T>(n - 1) / static_cast<T>(m - 1) : T(0);
  } else {
    scale = scale_factor && *scale_factor > 0 ? static_cast<T>(1.0 / *scale_factor) : static_cast<T>(n) / static_cast<T>(m);
  }
  const int taps = mode == Mode::linear ? 2 : mode == Mode::cubic ? 4 : 1;
  AxisMap a;
  a.idx.resize(static_cast<std::size_t>(taps));
  if (taps > 1) a.w.resize(static_cast<std::size_t>(taps));
  auto push = [&](std::size_t k, std::int64_t i, T w) {
    a.idx[k].push_back(i);
    if (!a.w.empty()) a.w[k].push_back(static_cast<double>(w));
  };
  // PyTorch's kernels take the floor in float (floorf) even for float64 tensors; so does this.
  auto floor_f = [](T v) { return static_cast<std::int64_t>(std::floor(static_cast<float>(v))); };
  for (std::int64_t o = 0; o < m; ++o) {
    if (mode == Mode::linear) {
      if (n == m) {  // PyTorch copies when the sizes agree, whatever the scale
        push(0, o, T(1)), push(1, o, T(0));
        continue;
      }
      T s = align_corners ? scale * static_cast<T>(o) : scale * (static_cast<T>(o) + T(0.5)) - T(0.5);
      if (!align_corners && s < 0) s = 0;
      const std::int64_t i0 = std::min(floor_f(s), n - 1);
      const std::int64_t i1 = i0 + (i0 < n - 1 ? 1 : 0);
      const T l1 = std::min(std::max(s - static_cast<T>(i0), T(0)), T(1));
      push(0, i0, T(1) - l1);
      push(1, i1, l1);
    } else if (mode == Mode::cubic) {
      // area_pixel_compute_source_index(cubic = true): no clamp at 0; guard_index_and_lambda.
      const T s = align_corners ? scale * static_cast<T>(o) : scale * (static_cast<T>(o) + T(0.5)) - T(0.5);
      const std::int64_t i = std::min(floor_f(s), n - 1);
      const T t = std::min(std::max(s - static_cast<T>(i), T(0)), T(1));
      const T w[4] = {cubic2(t + T(1)), cubic1(t), cubic1(T(1) - t), cubic2(T(2) - t)};
      for (std::size_t k = 0; k < 4; ++k) {
        push(k, std::clamp<std::int64_t>(i - 1 + static_cast<std::int64_t>(k), 0, n - 1), w[k]);
      }
    } else if (mode == Mode::nearest) {
      push(0, std::min(floor_f(scale * static_cast<T>(o)), n - 1), T(1));
    } else {
      T s = scale * (static_cast<T>(o) + T(0.5)) - T(0.5);
      if (s < 0) s = 0;
      push(0, std::min(floor_f(s + T(0.5)), n - 1), T(1));
    }
  }
  return a;
}

Tensor index_tensor(const std::vector<std::int64_t>& v) {
  return from_vector(std::span<const std::int64_t>(v), Shape{static_cast<std::int64_t>(v.size())});
}

/// x resampled along `axis` by the map: one index_select (nearest), or one per tap and their
/// weighted sum.
Tensor resample_axis(const Tensor& x, int axis, const AxisMap& a) {
  if (a.w.empty()) return index_select(x, axis, index_tensor(a.idx[0]));
  Shape ws{static_cast<std::int64_t>(a.w[0].size())};  // [m, 1, …]: broadcast along the axes after `axis`
  for (int d = axis + 1; d < x.dim(); ++d) ws.push_back(1);
  Tensor y;
  for (std::size_t k = 0; k < a.idx.size(); ++k) {
    const Tensor wk = from_vector(std::span<const double>(a.w[k]), ws, f64).to(x.dtype());
    const Tensor term = index_select(x, axis, index_tensor(a.idx[k])) * wk;
    y = k == 0 ? term : y + term;
  }
  return y;
}

/// x averaged along `axis` over PyTorch's adaptive windows of n inputs into m outputs: x (axis moved
/// last) times the [n, m] matrix with 1/|window o| in column o over its rows.
Tensor area_axis(const Tensor& x, int axis, std::int64_t m) {
  const std::int64_t n = x.shape()[axis];
  std::vector<double> w(static_cast<std::size_t>(n * m), 0.0);
  for (std::int64_t o = 0; o < m; ++o) {
    const std::int64_t start = (o * n) / m, end = ((o + 1) * n + m - 1) / m;  // floor and ceil
    for (std::int64_t i = start; i < end; ++i) {
      w[static_cast<std::size_t>(i * m + o)] = 1.0 / static_cast<double>(end - start);
    }
  }
  const Tensor wm = from_vector(std::span<const double>(w), Shape{n, m}, f64).to(x.dtype());
  const int last = x.dim() - 1;
  if (axis == last) return matmul(x, wm);
  return transpose(matmul(transpose(x, axis, last), wm), axis, last);
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
  } else if (o.mode == "area") {
    mode = Mode::area;
  } else if (o.mode == "linear" || o.mode == "bilinear" || o.mode == "trilinear" || o.mode == "bicubic") {
    mode = o.mode == "bicubic" ? Mode::cubic : Mode::linear;
    const int wants = o.mode == "linear" ? 1 : o.mode == "bilinear" || o.mode == "bicubic" ? 2 : 3;
    if (wants != spatial) {
      throw ShapeError(fmt::format("interpolate: mode \"{}\" needs a {}-d input, got {}", o.mode, wants + 2, x.shape()));
    }
  } else {
    throw ValueError(fmt::format("interpolate: mode must be \"nearest\", \"nearest-exact\", \"linear\", \"bilinear\", "
                                 "\"bicubic\", \"trilinear\" or \"area\", got \"{}\"", o.mode));
  }
  if (o.align_corners && mode != Mode::linear && mode != Mode::cubic) {
    throw ValueError(fmt::format("interpolate: align_corners can only be set with the linear modes and bicubic, not \"{}\"", o.mode));
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
    if (mode == Mode::area) {
      if (n != out[u]) y = area_axis(y, d + 2, out[u]);
      continue;
    }
    AxisMap a;
    dispatch_float(x.dtype(), op, [&](auto tag) { a = axis_map<decltype(tag)>(mode, n, out[u], align, scales[u]); });
    y = resample_axis(y, d + 2, a);
  }
  return y;
}

}  // namespace nabla
