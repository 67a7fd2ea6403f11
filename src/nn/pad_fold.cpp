// src/nn/pad_fold.cpp — the padding layers (ReflectionPad2d and the others), Unfold / Fold, and the
// 1-d pooling layers' descriptions (nabla/nn_conv.hpp).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "nabla/error.hpp"
#include "nabla/nn_conv.hpp"

namespace nabla::nn {

PadNd::PadNd(std::string_view kind, int dims, std::vector<std::int64_t> padding, std::string_view mode, double value)
    : kind_(kind), mode_(mode), value_(value) {
  if (padding.size() == 1) padding.assign(static_cast<std::size_t>(2 * dims), padding[0]);
  if (padding.size() != static_cast<std::size_t>(2 * dims)) {
    throw ValueError(fmt::format("{}: padding must be one number or {} numbers, got [{}]", kind, 2 * dims, fmt::join(padding, ", ")));
  }
  for (std::int64_t p : padding) {
    if (p < 0) throw ValueError(fmt::format("{}: padding [{}] must not be negative", kind, fmt::join(padding, ", ")));
  }
  widths_ = std::move(padding);
}

std::string PadNd::describe() const {
  return mode_ == "constant" && value_ != 0 ? fmt::format("{}([{}], value={})", kind_, fmt::join(widths_, ", "), value_)
                                            : fmt::format("{}([{}])", kind_, fmt::join(widths_, ", "));
}

std::string Unfold::describe() const {
  const UnfoldOptions& o = opts_;
  return fmt::format("Unfold(kernel_size=({}, {}), dilation=({}, {}), padding=({}, {}), stride=({}, {}))", o.kernel_size.h,
                     o.kernel_size.w, o.dilation.h, o.dilation.w, o.padding.h, o.padding.w, o.stride.h, o.stride.w);
}

std::string Fold::describe() const {
  const FoldOptions& o = opts_;
  return fmt::format("Fold(output_size=({}, {}), kernel_size=({}, {}), dilation=({}, {}), padding=({}, {}), stride=({}, {}))",
                     o.output_size.h, o.output_size.w, o.kernel_size.h, o.kernel_size.w, o.dilation.h, o.dilation.w,
                     o.padding.h, o.padding.w, o.stride.h, o.stride.w);
}

std::string MaxPool1d::describe() const {
  return fmt::format("MaxPool1d(kernel_size={}, stride={}, padding={}, dilation={}, ceil_mode={})", opts_.kernel_size,
                     opts_.stride == 0 ? opts_.kernel_size : opts_.stride, opts_.padding, opts_.dilation, opts_.ceil_mode);
}

std::string AvgPool1d::describe() const {
  return fmt::format("AvgPool1d(kernel_size={}, stride={}, padding={}, ceil_mode={}, count_include_pad={})", opts_.kernel_size,
                     opts_.stride == 0 ? opts_.kernel_size : opts_.stride, opts_.padding, opts_.ceil_mode,
                     opts_.count_include_pad);
}

}  // namespace nabla::nn
