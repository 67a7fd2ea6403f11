// ops/padding.cpp — torch.nn.functional.pad's non-constant modes: reflect, replicate, circular.
//
// Each padded axis is a fixed map from output positions to input positions (o − before, reflected,
// clamped or wrapped into [0, n)), so the padding is index_select along each padded axis in turn:
// y = x[…, src(o), …]. Its gradient is index_select's, the scatter-add of gy at the same sources
// (inputs read several times get the sum), and that is differentiable again: composed of one op whose
// derivatives are written once, the padding needs no backward of its own.
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {

namespace {
enum class PadMode { reflect, replicate, circular };

/// The source index of each output position along an axis of size n padded by (before, after).
Tensor pad_sources(PadMode mode, std::int64_t n, std::int64_t before, std::int64_t after) {
  const std::int64_t out = n + before + after;
  Tensor v = empty({out}, i64);
  std::int64_t* pv = v.mutable_data<std::int64_t>();
  for (std::int64_t o = 0; o < out; ++o) {
    std::int64_t i = o - before;
    switch (mode) {
      case PadMode::reflect:
        i = i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i;
        break;
      case PadMode::replicate:
        i = std::clamp<std::int64_t>(i, 0, n - 1);
        break;
      case PadMode::circular:
        i = ((i % n) + n) % n;
        break;
    }
    pv[o] = i;
  }
  return v;
}
}  // namespace

Tensor pad(const Tensor& x, const std::vector<std::int64_t>& widths, std::string_view mode, double value) {
  if (mode == "constant") return pad(x, widths, value);
  constexpr std::string_view op = "pad";
  PadMode m;
  if (mode == "reflect") {
    m = PadMode::reflect;
  } else if (mode == "replicate") {
    m = PadMode::replicate;
  } else if (mode == "circular") {
    m = PadMode::circular;
  } else {
    throw ValueError(fmt::format("pad: mode must be \"constant\", \"reflect\", \"replicate\" or \"circular\", got \"{}\"", mode));
  }
  check_defined(op, {&x});
  check_floating(op, x);
  if (value != 0) {
    throw ValueError(fmt::format("pad: mode \"{}\" takes no value, got {}", mode, value));
  }
  const std::size_t k = widths.size();
  const int rank = x.dim();
  if (!((k == 2 && (rank == 2 || rank == 3)) || (k == 4 && (rank == 3 || rank == 4)) || (k == 6 && (rank == 4 || rank == 5)))) {
    throw ValueError(fmt::format(
        "pad: mode \"{}\" pads the last 1, 2 or 3 axes of a tensor with one or two more (widths of 2 with 2-d or 3-d "
        "input, 4 with 3-d or 4-d, 6 with 4-d or 5-d), as PyTorch; got widths [{}] for input {}",
        mode, fmt::join(widths, ", "), x.shape()));
  }
  for (std::int64_t w : widths) {
    if (w < 0) throw ValueError(fmt::format("pad: widths [{}] must not be negative in mode \"{}\"", fmt::join(widths, ", "), mode));
  }
  const OpScope scope(op);
  Tensor y = x;
  for (std::size_t j = 0; j < k / 2; ++j) {
    const int axis = rank - 1 - static_cast<int>(j);
    const std::int64_t n = x.shape()[axis], before = widths[2 * j], after = widths[2 * j + 1];
    if (n == 0) {
      throw ValueError(fmt::format("pad: mode \"{}\" cannot pad axis {} of input {}: it is empty", mode, axis, x.shape()));
    }
    if (m == PadMode::reflect && (before >= n || after >= n)) {
      throw ValueError(fmt::format("pad: mode \"reflect\" needs each width below the size of its axis; got ({}, {}) for axis {} "
                                   "of size {} in input {}",
                                   before, after, axis, n, x.shape()));
    }
    if (m == PadMode::circular && (before > n || after > n)) {
      throw ValueError(fmt::format("pad: mode \"circular\" needs each width at most the size of its axis (it wraps around "
                                   "once); got ({}, {}) for axis {} of size {} in input {}",
                                   before, after, axis, n, x.shape()));
    }
    check_int_arg(op, "a width", std::max(before, after), 0, kMaxNumel);
    if (before == 0 && after == 0) continue;
    y = index_select(y, axis, pad_sources(m, n, before, after));
  }
  return y;
}

}  // namespace nabla
