// nabla/nn_conv.hpp — convolution and pooling layers, with libtorch's names and PyTorch's
// semantics: Conv1d, Conv2d, ConvTranspose2d on one base (ConvNd), and max, average, the book's L2,
// adaptive average pooling and nearest upsampling. (The ops they call: nabla/ops.hpp.)
//
//   nn::Sequential net{nn::Conv2d(1, 20, 5, {}, gen), nn::MaxPool2d(2), nn::ReLU(),     // network3.py
//                      nn::Conv2d(20, 40, 5, {.stride = 1, .padding = 0}, gen), nn::MaxPool2d(2), ...};
//
// Each layer checks its options when made and its input's shape when called; errors name the layer
// ("Conv1d: need stride ≥ 1, …", "Conv2d(1, 20, 5): input is …").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <array>
#include <optional>
#include <vector>

#include "nabla/nn_module.hpp"
#include "nabla/ops.hpp"
#include "nabla/tensor.hpp"

namespace nabla::nn {

/// What the convolution layers share: the checks of their sizes and options, the weight and bias
/// with their initial values, the input check and the description. A new convolution layer is an
/// options struct, a constructor that fills a Spec, and a forward that calls its op.
class ConvNd : public Module {
 public:
  std::string describe() const override;
  const Tensor& weight() const { return weight_; }
  /// Undefined when the layer has no bias.
  const Tensor& bias() const { return bias_; }
  std::int64_t in_channels() const { return spec_.in; }
  std::int64_t out_channels() const { return spec_.out; }
  std::int64_t kernel_size() const { return spec_.kernel; }

 protected:
  /// A layer's sizes and options, as its constructor checks them.
  struct Spec {
    std::string_view kind;  // "Conv2d": names the layer in errors and describe()
    int dims;               // spatial axes, 1 to 3: a square kernel of kernel^dims taps
    bool transposed;        // weight [in, out, k…] (PyTorch's layout) instead of [out, in/groups, k…]
    std::int64_t in, out, kernel;
    std::int64_t stride = 1, padding = 0, dilation = 1, groups = 1, output_padding = 0;
    Init weight, bias;
    bool has_bias;
    Dtype dtype;
  };
  /// Checks the spec (positive sizes; stride ≥ 1, padding ≥ 0, dilation ≥ 1, groups dividing both
  /// channel counts, 0 ≤ output_padding < stride; a float dtype; the weight within a tensor's
  /// limit) — a ValueError or ShapeError naming the layer — then registers "weight" and "bias",
  /// drawn with fan-in in/groups × kernel^dims (out × kernel^dims when transposed).
  ConvNd(const Spec& spec, Generator& gen);
  /// x of shape [N, in, L], [N, in, H, W] or [N, in, D, H, W] (dims 1, 2, 3), else a ShapeError naming the layer.
  void check_input(const Tensor& x) const;
  const Spec& spec() const { return spec_; }
  Tensor weight_, bias_;

 private:
  Spec spec_;
};

struct Conv1dOptions {
  std::int64_t stride = 1;
  std::int64_t padding = 0;
  std::int64_t dilation = 1;
  std::int64_t groups = 1;            // in and out channels both multiples of it
  Init weight = Init::uniform_fan_in;  // PyTorch's U(±1/√n_in), n_in = in_channels / groups × kernel
  Init bias = Init::uniform_fan_in;
  bool has_bias = true;
  Dtype dtype = f32;
};

/// 1-d convolution over [N, C, L] (torch.nn.Conv1d): weight [F, C/groups, k], bias [F].
class Conv1d : public ConvNd {
 public:
  Conv1d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, Conv1dOptions opts = {},
         Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
};

struct Conv2dOptions {
  std::int64_t stride = 1;
  std::int64_t padding = 0;
  std::int64_t dilation = 1;
  std::int64_t groups = 1;            // in and out channels both multiples of it
  Init weight = Init::uniform_fan_in;  // PyTorch's U(±1/√n_in), n_in = in_channels / groups × kernel area
  Init bias = Init::uniform_fan_in;    // (the book's ch. 6 network: scaled_normal, standard_normal)
  bool has_bias = true;
  Dtype dtype = f32;
};

/// 2-d convolution of [N, C, H, W] inputs with `out_channels` filters of kernel×kernel (book ch. 6);
/// weight [F, C/groups, k, k], bias [F]. Dilation and groups as torch.nn.Conv2d (see nabla::conv2d).
class Conv2d : public ConvNd {
 public:
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, Conv2dOptions opts = {},
         Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
};

struct ConvTranspose2dOptions {
  std::int64_t stride = 1;
  std::int64_t padding = 0;
  std::int64_t output_padding = 0;
  Init weight = Init::uniform_fan_in;  // as Conv2d's, with fan-in out_channels × kernel area (PyTorch's)
  Init bias = Init::uniform_fan_in;
  bool has_bias = true;
  Dtype dtype = f32;
};

/// The transposed convolution (a decoder's upsampling step), as torch.nn.ConvTranspose2d: input
/// [N, C_in, H, W] → [N, C_out, (H − 1)·stride − 2·padding + k + output_padding, …]; weight
/// [C_in, C_out, k, k] (PyTorch's layout), bias [C_out].
class ConvTranspose2d : public ConvNd {
 public:
  ConvTranspose2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel,
                  ConvTranspose2dOptions opts = {}, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
};

/// Pooling over kernel×kernel windows (stride = kernel unless given): max, mean, or the book's L2.
/// With options (torch.nn.MaxPool2d's padding, dilation, ceil_mode; non-square windows):
/// `nn::MaxPool2d({.kernel_size = 3, .stride = 2, .padding = 1})`.
using MaxPool2dOptions = MaxPool2dFuncOptions;
using AvgPool2dOptions = AvgPool2dFuncOptions;
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(std::int64_t kernel, std::int64_t stride = 0) : kernel_(kernel), stride_(stride) {}
  explicit MaxPool2d(const MaxPool2dOptions& opts) : kernel_(opts.kernel_size.h), stride_(opts.stride.h), opts_(opts) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  std::int64_t kernel_, stride_;
  std::optional<MaxPool2dOptions> opts_;
};
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(std::int64_t kernel, std::int64_t stride = 0) : kernel_(kernel), stride_(stride) {}
  explicit AvgPool2d(const AvgPool2dOptions& opts) : kernel_(opts.kernel_size.h), stride_(opts.stride.h), opts_(opts) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  std::int64_t kernel_, stride_;
  std::optional<AvgPool2dOptions> opts_;
};
/// torch.nn.MaxPool1d and AvgPool1d over [N, C, L] or [C, L].
using MaxPool1dOptions = MaxPool1dFuncOptions;
using AvgPool1dOptions = AvgPool1dFuncOptions;
class MaxPool1d : public Module {
 public:
  explicit MaxPool1d(std::int64_t kernel, std::int64_t stride = 0) : opts_{.kernel_size = kernel, .stride = stride} {}
  explicit MaxPool1d(const MaxPool1dOptions& opts) : opts_(opts) {}
  Tensor forward(const Tensor& x) override { return max_pool1d(x, opts_); }
  std::string describe() const override;

 private:
  MaxPool1dOptions opts_;
};
class AvgPool1d : public Module {
 public:
  explicit AvgPool1d(std::int64_t kernel, std::int64_t stride = 0) : opts_{.kernel_size = kernel, .stride = stride} {}
  explicit AvgPool1d(const AvgPool1dOptions& opts) : opts_(opts) {}
  Tensor forward(const Tensor& x) override { return avg_pool1d(x, opts_); }
  std::string describe() const override;

 private:
  AvgPool1dOptions opts_;
};
class L2Pool2d : public Module {
 public:
  explicit L2Pool2d(std::int64_t kernel, std::int64_t stride = 0) : kernel_(kernel), stride_(stride) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  std::int64_t kernel_, stride_;
};

/// Average pooling to a fixed out_h × out_w grid (torch.nn.AdaptiveAvgPool2d); (1, 1) is global
/// average pooling. Input [N, C, H, W].
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(std::int64_t out_h, std::int64_t out_w = 0);  // out_w 0: square
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  std::int64_t out_h_, out_w_;
};

struct UpsampleOptions {
  std::int64_t scale_factor = 0;     // an integer factor for both axes, or
  std::int64_t out_h = 0, out_w = 0;  // a fixed output size
  std::string mode = "nearest";       // or "nearest-exact", "bilinear" (interpolate's modes for 4-d input)
  std::optional<bool> align_corners = std::nullopt;  // bilinear only
};

/// Upsampling of [N, C, H, W] (torch.nn.Upsample): by an integer scale factor or to a fixed size
/// (exactly one of the two), nearest by default, else through interpolate with `mode`. (For
/// non-integer factors or other ranks, call interpolate.)
class Upsample : public Module {
 public:
  explicit Upsample(UpsampleOptions opts);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  UpsampleOptions opts_;
};

/// torch.nn.Unfold and Fold: unfold / fold with the options of nabla/ops.hpp.
using UnfoldOptions = UnfoldFuncOptions;
using FoldOptions = FoldFuncOptions;
class Unfold : public Module {
 public:
  explicit Unfold(const UnfoldOptions& opts) : opts_(opts) {}
  Tensor forward(const Tensor& x) override { return unfold(x, opts_); }
  std::string describe() const override;

 private:
  UnfoldOptions opts_;
};
class Fold : public Module {
 public:
  explicit Fold(const FoldOptions& opts) : opts_(opts) {}
  Tensor forward(const Tensor& x) override { return fold(x, opts_); }
  std::string describe() const override;

 private:
  FoldOptions opts_;
};

/// Padding layers (torch.nn.ReflectionPad2d and the others): pad(x, widths, mode, value) over the last
/// one (…1d) or two (…2d) axes. One number pads every side; otherwise (left, right) or
/// (left, right, top, bottom), PyTorch's order.
class PadNd : public Module {
 public:
  Tensor forward(const Tensor& x) override { return pad(x, widths_, mode_, value_); }
  std::string describe() const override;
  const std::vector<std::int64_t>& padding() const { return widths_; }

 protected:
  PadNd(std::string_view kind, int dims, std::vector<std::int64_t> padding, std::string_view mode, double value = 0);

 private:
  std::string kind_, mode_;
  std::vector<std::int64_t> widths_;
  double value_;
};
class ReflectionPad1d : public PadNd {
 public:
  explicit ReflectionPad1d(std::int64_t p) : PadNd("ReflectionPad1d", 1, {p}, "reflect") {}
  explicit ReflectionPad1d(std::array<std::int64_t, 2> p) : PadNd("ReflectionPad1d", 1, {p.begin(), p.end()}, "reflect") {}
};
class ReflectionPad2d : public PadNd {
 public:
  explicit ReflectionPad2d(std::int64_t p) : PadNd("ReflectionPad2d", 2, {p}, "reflect") {}
  explicit ReflectionPad2d(std::array<std::int64_t, 4> p) : PadNd("ReflectionPad2d", 2, {p.begin(), p.end()}, "reflect") {}
};
class ReplicationPad1d : public PadNd {
 public:
  explicit ReplicationPad1d(std::int64_t p) : PadNd("ReplicationPad1d", 1, {p}, "replicate") {}
  explicit ReplicationPad1d(std::array<std::int64_t, 2> p) : PadNd("ReplicationPad1d", 1, {p.begin(), p.end()}, "replicate") {}
};
class ReplicationPad2d : public PadNd {
 public:
  explicit ReplicationPad2d(std::int64_t p) : PadNd("ReplicationPad2d", 2, {p}, "replicate") {}
  explicit ReplicationPad2d(std::array<std::int64_t, 4> p) : PadNd("ReplicationPad2d", 2, {p.begin(), p.end()}, "replicate") {}
};
class CircularPad1d : public PadNd {
 public:
  explicit CircularPad1d(std::int64_t p) : PadNd("CircularPad1d", 1, {p}, "circular") {}
  explicit CircularPad1d(std::array<std::int64_t, 2> p) : PadNd("CircularPad1d", 1, {p.begin(), p.end()}, "circular") {}
};
class CircularPad2d : public PadNd {
 public:
  explicit CircularPad2d(std::int64_t p) : PadNd("CircularPad2d", 2, {p}, "circular") {}
  explicit CircularPad2d(std::array<std::int64_t, 4> p) : PadNd("CircularPad2d", 2, {p.begin(), p.end()}, "circular") {}
};
class ZeroPad1d : public PadNd {
 public:
  explicit ZeroPad1d(std::int64_t p) : PadNd("ZeroPad1d", 1, {p}, "constant") {}
  explicit ZeroPad1d(std::array<std::int64_t, 2> p) : PadNd("ZeroPad1d", 1, {p.begin(), p.end()}, "constant") {}
};
class ZeroPad2d : public PadNd {
 public:
  explicit ZeroPad2d(std::int64_t p) : PadNd("ZeroPad2d", 2, {p}, "constant") {}
  explicit ZeroPad2d(std::array<std::int64_t, 4> p) : PadNd("ZeroPad2d", 2, {p.begin(), p.end()}, "constant") {}
};
class ConstantPad1d : public PadNd {
 public:
  ConstantPad1d(std::int64_t p, double value) : PadNd("ConstantPad1d", 1, {p}, "constant", value) {}
  ConstantPad1d(std::array<std::int64_t, 2> p, double value) : PadNd("ConstantPad1d", 1, {p.begin(), p.end()}, "constant", value) {}
};
class ConstantPad2d : public PadNd {
 public:
  ConstantPad2d(std::int64_t p, double value) : PadNd("ConstantPad2d", 2, {p}, "constant", value) {}
  ConstantPad2d(std::array<std::int64_t, 4> p, double value) : PadNd("ConstantPad2d", 2, {p.begin(), p.end()}, "constant", value) {}
};

}  // namespace nabla::nn
