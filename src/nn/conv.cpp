// src/nn/conv.cpp — the convolution layers on their base ConvNd, pooling, adaptive pooling and
// upsampling (nabla/nn_conv.hpp).
#include <fmt/format.h>

#include "nabla/nn_conv.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla::nn {

// ---- ConvNd: what every convolution layer does when made ------------------------------------------

ConvNd::ConvNd(const Spec& s, Generator& gen) : spec_(s) {
  const std::string_view kind = s.kind;
  if (s.in <= 0 || s.out <= 0 || s.kernel <= 0) {
    throw ValueError(fmt::format("{}: channels and kernel must be positive, got {}, {}, {}", kind, s.in, s.out, s.kernel));
  }
  if (s.transposed) {
    if (s.stride < 1 || s.padding < 0 || s.output_padding < 0 || s.output_padding >= s.stride) {
      throw ValueError(fmt::format("{}: need stride ≥ 1, padding ≥ 0 and 0 ≤ output_padding < stride, got {}, {}, {}", kind,
                                   s.stride, s.padding, s.output_padding));
    }
  } else if (s.stride < 1 || s.padding < 0 || s.dilation < 1 || s.groups < 1) {
    throw ValueError(fmt::format("{}: need stride ≥ 1, padding ≥ 0, dilation ≥ 1 and groups ≥ 1, got {}, {}, {}, {}", kind,
                                 s.stride, s.padding, s.dilation, s.groups));
  }
  check_int_arg(kind, "padding", s.padding, 0, kMaxNumel);
  check_int_arg(kind, "dilation", s.dilation, 1, kMaxNumel);
  if (s.in % s.groups != 0 || s.out % s.groups != 0) {
    throw ValueError(fmt::format("{}: {} in and {} out channels do not split into {} groups", kind, s.in, s.out, s.groups));
  }
  if (!is_floating(s.dtype)) throw ValueError(fmt::format("{}: dtype must be float32 or float64, got {}", kind, s.dtype));
  if (s.dims < 1 || s.dims > 3) throw ValueError(fmt::format("{}: {} spatial axes; a convolution layer has 1, 2 or 3", kind, s.dims));
  Shape shape = s.transposed ? Shape{s.in, s.out} : Shape{s.out, s.in / s.groups};
  for (int d = 0; d < s.dims; ++d) shape.push_back(s.kernel);
  // The weight (and so every fan below) within a tensor's limit, before anything is made.
  checked_bytes(kind, shape, s.dtype);
  const OpScope scope(kind);
  std::int64_t taps = 1;
  for (int d = 0; d < s.dims; ++d) taps *= s.kernel;
  // PyTorch's fan-in: in/groups × taps, of a transposed [C_in, C_out, k, k] weight C_out × taps.
  const std::int64_t fan_in = s.transposed ? s.out * taps : s.in / s.groups * taps;
  Tensor w = empty(shape, s.dtype);
  init_(w, s.weight, fan_in, s.transposed ? s.in * taps : s.out / s.groups * taps, gen);
  weight_ = register_parameter("weight", w, true);
  if (s.has_bias) {
    Tensor b = empty({s.out}, s.dtype);
    init_(b, s.bias, fan_in, s.transposed ? s.in * taps : s.out * taps, gen);
    bias_ = register_parameter("bias", b, false);
  }
}

void ConvNd::check_input(const Tensor& x) const {
  if (x.dim() != 2 + spec_.dims || x.shape()[1] != spec_.in) {
    constexpr const char* kSpatial[] = {"L", "H, W", "D, H, W"};
    throw ShapeError(fmt::format("{}: input is {}; expected [N, {}, {}]", describe(), x.shape(), spec_.in, kSpatial[spec_.dims - 1]));
  }
}

std::string ConvNd::describe() const {
  const Spec& s = spec_;
  std::string extra;
  if (s.stride != 1) extra += fmt::format(", stride {}", s.stride);
  if (s.padding != 0) extra += fmt::format(", padding {}", s.padding);
  if (s.dilation != 1) extra += fmt::format(", dilation {}", s.dilation);
  if (s.groups != 1) extra += fmt::format(", groups {}", s.groups);
  if (s.output_padding != 0) extra += fmt::format(", output_padding {}", s.output_padding);
  return fmt::format("{}({}, {}, {}{})", s.kind, s.in, s.out, s.kernel, extra);
}

// ---- the convolution layers -----------------------------------------------------------------------

Conv1d::Conv1d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, Conv1dOptions o, Generator& gen)
    : ConvNd({.kind = "Conv1d", .dims = 1, .transposed = false, .in = in_channels, .out = out_channels, .kernel = kernel,
              .stride = o.stride, .padding = o.padding, .dilation = o.dilation, .groups = o.groups, .weight = o.weight,
              .bias = o.bias, .has_bias = o.has_bias, .dtype = o.dtype},
             gen) {}

Tensor Conv1d::forward(const Tensor& x) {
  check_input(x);
  const Spec& s = spec();
  return conv1d(x, weight_, bias_, {.stride = s.stride, .padding = s.padding, .dilation = s.dilation, .groups = s.groups});
}

Conv2d::Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, Conv2dOptions o, Generator& gen)
    : ConvNd({.kind = "Conv2d", .dims = 2, .transposed = false, .in = in_channels, .out = out_channels, .kernel = kernel,
              .stride = o.stride, .padding = o.padding, .dilation = o.dilation, .groups = o.groups, .weight = o.weight,
              .bias = o.bias, .has_bias = o.has_bias, .dtype = o.dtype},
             gen) {}

Tensor Conv2d::forward(const Tensor& x) {
  check_input(x);
  const Spec& s = spec();
  return conv2d(x, weight_, bias_, {.stride = s.stride, .padding = s.padding, .dilation = s.dilation, .groups = s.groups});
}

ConvTranspose2d::ConvTranspose2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel,
                                 ConvTranspose2dOptions o, Generator& gen)
    : ConvNd({.kind = "ConvTranspose2d", .dims = 2, .transposed = true, .in = in_channels, .out = out_channels,
              .kernel = kernel, .stride = o.stride, .padding = o.padding, .output_padding = o.output_padding,
              .weight = o.weight, .bias = o.bias, .has_bias = o.has_bias, .dtype = o.dtype},
             gen) {}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  check_input(x);
  const Spec& s = spec();
  return conv_transpose2d(x, weight_, bias_, {.stride = s.stride, .padding = s.padding, .output_padding = s.output_padding});
}

// ---- pooling ------------------------------------------------------------------------------------------

Tensor MaxPool2d::forward(const Tensor& x) { return opts_ ? max_pool2d(x, *opts_) : max_pool2d(x, kernel_, stride_); }
std::string MaxPool2d::describe() const {
  if (!opts_) return fmt::format("MaxPool2d({})", kernel_);
  const MaxPool2dOptions& o = *opts_;
  return fmt::format("MaxPool2d(kernel_size=({}, {}), stride=({}, {}), padding=({}, {}), dilation=({}, {}), ceil_mode={})",
                     o.kernel_size.h, o.kernel_size.w, o.stride.h, o.stride.w, o.padding.h, o.padding.w, o.dilation.h,
                     o.dilation.w, o.ceil_mode);
}
Tensor AvgPool2d::forward(const Tensor& x) { return opts_ ? avg_pool2d(x, *opts_) : avg_pool2d(x, kernel_, stride_); }
std::string AvgPool2d::describe() const {
  if (!opts_) return fmt::format("AvgPool2d({})", kernel_);
  const AvgPool2dOptions& o = *opts_;
  return fmt::format("AvgPool2d(kernel_size=({}, {}), stride=({}, {}), padding=({}, {}), ceil_mode={}, count_include_pad={})",
                     o.kernel_size.h, o.kernel_size.w, o.stride.h, o.stride.w, o.padding.h, o.padding.w, o.ceil_mode,
                     o.count_include_pad);
}
Tensor L2Pool2d::forward(const Tensor& x) { return l2_pool2d(x, kernel_, stride_); }
std::string L2Pool2d::describe() const { return fmt::format("L2Pool2d({})", kernel_); }

// ---- adaptive pooling and upsampling -------------------------------------------------------------------

AdaptiveAvgPool2d::AdaptiveAvgPool2d(std::int64_t out_h, std::int64_t out_w) : out_h_(out_h), out_w_(out_w > 0 ? out_w : out_h) {
  if (out_h < 1 || out_w < 0) throw ValueError(fmt::format("AdaptiveAvgPool2d: output size {}×{} must be positive", out_h, out_w));
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  if (x.dim() != 4) throw ShapeError(fmt::format("{}: input is {}; expected [N, C, H, W]", describe(), x.shape()));
  return adaptive_avg_pool2d(x, out_h_, out_w_);
}

std::string AdaptiveAvgPool2d::describe() const { return fmt::format("AdaptiveAvgPool2d({}, {})", out_h_, out_w_); }

Upsample::Upsample(UpsampleOptions opts) : opts_(opts) {
  const bool by_scale = opts.scale_factor > 0 && opts.out_h == 0 && opts.out_w == 0;
  const bool by_size = opts.scale_factor == 0 && opts.out_h > 0 && opts.out_w > 0;
  if (!by_scale && !by_size) {
    throw ValueError(fmt::format("Upsample: give a positive scale_factor or a positive out_h and out_w, not both; got {}, {}×{}",
                                 opts.scale_factor, opts.out_h, opts.out_w));
  }
  if (by_scale) check_int_arg("Upsample", "scale_factor", opts.scale_factor, 1, kMaxNumel);
  if (opts.mode != "nearest" && opts.mode != "nearest-exact" && opts.mode != "bilinear") {
    throw ValueError(fmt::format("Upsample: mode must be \"nearest\", \"nearest-exact\" or \"bilinear\" for [N, C, H, W] input, got \"{}\"",
                                 opts.mode));
  }
  if (opts.align_corners && opts.mode != "bilinear") {
    throw ValueError(fmt::format("Upsample: align_corners can only be set with mode \"bilinear\", not \"{}\"", opts.mode));
  }
}

Tensor Upsample::forward(const Tensor& x) {
  if (x.dim() != 4) throw ShapeError(fmt::format("{}: input is {}; expected [N, C, H, W]", describe(), x.shape()));
  if (opts_.mode != "nearest") {
    InterpolateFuncOptions o{.mode = opts_.mode, .align_corners = opts_.align_corners};
    if (opts_.scale_factor > 0) {
      o.scale_factor = {static_cast<double>(opts_.scale_factor)};
    } else {
      o.size = {opts_.out_h, opts_.out_w};
    }
    return interpolate(x, o);
  }
  if (opts_.scale_factor > 0) {
    const std::string what = describe();
    return upsample_nearest2d(x, checked_mul(what, "the output height", x.shape()[2], opts_.scale_factor),
                              checked_mul(what, "the output width", x.shape()[3], opts_.scale_factor));
  }
  return upsample_nearest2d(x, opts_.out_h, opts_.out_w);
}

std::string Upsample::describe() const {
  const std::string mode = opts_.mode == "nearest" ? "" : fmt::format(", {}", opts_.mode);
  return opts_.scale_factor > 0 ? fmt::format("Upsample(scale {}{})", opts_.scale_factor, mode)
                                : fmt::format("Upsample({}×{}{})", opts_.out_h, opts_.out_w, mode);
}

}  // namespace nabla::nn
