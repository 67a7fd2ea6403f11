// nabla/nn_init.hpp — torch.nn.init: fill a parameter in place from a named distribution.
//
//   nn::init::kaiming_normal_(conv.weight(), 0, "fan_out", "relu");
//   nn::init::zeros_(conv.bias());
//
// Each function takes the tensor as a handle (a layer's weight() works), fills it without recording
// a graph (as torch.nn.init's functions run under no_grad) and returns the handle. Fans are
// PyTorch's: for a weight [n_out, n_in, k...] fan_in = n_in × k..., fan_out = n_out × k...; a
// tensor of fewer than two axes has no fan (an error, as in PyTorch). Strings are PyTorch's; an
// unknown one is a ValueError naming the function and the accepted values.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include "nabla/tensor.hpp"

namespace nabla::nn::init {

/// The recommended gain for a nonlinearity (torch.nn.init.calculate_gain): linear, conv1d, conv2d,
/// conv3d, conv_transpose1d/2d/3d, sigmoid → 1; tanh → 5/3; relu → √2; leaky_relu → √(2/(1 + slope²))
/// (slope `param`, 0.01 when not given); selu → 3/4.
double calculate_gain(std::string_view nonlinearity, std::optional<double> param = std::nullopt);

/// (fan_in, fan_out) of a weight of at least two axes (torch.nn.init._calculate_fan_in_and_fan_out).
std::pair<std::int64_t, std::int64_t> calculate_fan_in_and_fan_out(const Tensor& t);

/// U(a, b).
Tensor uniform_(Tensor t, double a = 0, double b = 1, Generator& gen = default_generator());
/// N(mean, std²).
Tensor normal_(Tensor t, double mean = 0, double std = 1, Generator& gen = default_generator());
Tensor constant_(Tensor t, double value);
Tensor zeros_(Tensor t);
Tensor ones_(Tensor t);
/// U(±gain·√(6/(fan_in + fan_out))) (Glorot & Bengio 2010).
Tensor xavier_uniform_(Tensor t, double gain = 1, Generator& gen = default_generator());
/// N(0, gain²·2/(fan_in + fan_out)).
Tensor xavier_normal_(Tensor t, double gain = 1, Generator& gen = default_generator());
/// U(±gain·√(3/fan)) with gain = calculate_gain(nonlinearity, a) and fan the `mode` ("fan_in" or
/// "fan_out") (He et al. 2015). PyTorch's Linear and Conv default is a = √5: U(±1/√fan_in).
Tensor kaiming_uniform_(Tensor t, double a = 0, std::string_view mode = "fan_in",
                        std::string_view nonlinearity = "leaky_relu", Generator& gen = default_generator());
/// N(0, (gain/√fan)²), gain and fan as kaiming_uniform_.
Tensor kaiming_normal_(Tensor t, double a = 0, std::string_view mode = "fan_in",
                       std::string_view nonlinearity = "leaky_relu", Generator& gen = default_generator());
/// A (semi-)orthogonal matrix times gain (Saxe et al. 2013): the tensor seen as [rows, rest]; its rows
/// (rows ≤ rest) or columns (rows > rest) orthonormal. From the QR factorization of a N(0, 1) matrix
/// with R's diagonal made positive, as PyTorch. At least two axes.
Tensor orthogonal_(Tensor t, double gain = 1, Generator& gen = default_generator());
/// N(mean, std²) truncated to [a, b] (values outside are redrawn); a < b and std > 0.
Tensor trunc_normal_(Tensor t, double mean = 0, double std = 1, double a = -2, double b = 2,
                     Generator& gen = default_generator());

}  // namespace nabla::nn::init
