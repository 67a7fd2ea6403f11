// nabla/gradcheck.hpp — checks any differentiable function of tensors against central finite
// differences in float64.
//
//   CHECK(gradcheck([](const Tensor& a, const Tensor& b) { return a * b; }, {x, y}));
//   CHECK(gradcheck(Swish{.beta = 1.5}, {x}));          // an op struct, run through apply()
//
// Inputs that require grad are perturbed one element at a time by ±eps; they must be float64.
// Inputs that do not require grad are held constant. For every output element i and input element
// j the analytic Jacobian entry (from backward) must satisfy |analytic − numeric| ≤ atol + rtol ·
// |numeric|. The result converts to bool; on failure its message names the output element, input,
// element index and both values, e.g.
//   gradcheck: d out[0] / d in[1] differs at [2, 3]: analytic 0.4131, numeric 0.4189 (atol 1e-07, rtol 1e-05)
// A function or op with several outputs (a std::vector or std::array of tensors) has every float64
// output checked, each from its own backward; failures name the output ("d out1[0, 2] / d in[0]").
// int64 outputs (indices) have no gradient and are skipped.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "nabla/op.hpp"
#include "nabla/tensor.hpp"

namespace nabla {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-7;
  double rtol = 1e-5;
};

struct GradcheckResult {
  bool ok = true;
  std::string message;        // empty when ok
  std::int64_t entries = 0;   // Jacobian entries compared
  double max_abs_error = 0;   // largest |analytic − numeric| seen
  explicit operator bool() const { return ok; }
};
/// "gradcheck: ok (28 entries, max |error| 3.1e-10)" or the failure message.
std::string to_string(const GradcheckResult& r);
std::ostream& operator<<(std::ostream& os, const GradcheckResult& r);

using TensorFunction = std::function<Tensor(const std::vector<Tensor>&)>;
using TensorsFunction = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

/// The check itself, on a function of a vector of tensors.
GradcheckResult gradcheck_vector(const TensorFunction& f, const std::vector<Tensor>& inputs,
                                 GradcheckOptions opts = {});
/// The same for a function with several outputs: each float64 output checked in turn.
GradcheckResult gradcheck_outputs(const TensorsFunction& f, const std::vector<Tensor>& inputs,
                                  GradcheckOptions opts = {});

namespace detail {
template <std::size_t I>
using TensorArg = const Tensor&;

/// Whether F takes exactly sizeof...(I) tensors: as a callable, or as an op struct's forward.
template <class F, std::size_t... I>
constexpr bool takes_tensors(std::index_sequence<I...>) {
  return std::invocable<const F&, TensorArg<I>...> ||
         requires(const F& f, Context& c, TensorArg<I>... xs) { f.forward(c, xs...); };
}

template <class F>
constexpr std::size_t tensor_arity() {
  if constexpr (takes_tensors<F>(std::make_index_sequence<1>{})) return 1;
  else if constexpr (takes_tensors<F>(std::make_index_sequence<2>{})) return 2;
  else if constexpr (takes_tensors<F>(std::make_index_sequence<3>{})) return 3;
  else if constexpr (takes_tensors<F>(std::make_index_sequence<4>{})) return 4;
  else return 0;
}

/// A Tensor, std::vector<Tensor> or std::array<Tensor, N> as a vector of tensors.
template <class R>
std::vector<Tensor> as_vector(R r) {
  if constexpr (std::same_as<R, Tensor>) return {std::move(r)};
  else return std::vector<Tensor>(r.begin(), r.end());
}

template <class F, std::size_t... I>
TensorsFunction bind_inputs(F f, std::index_sequence<I...>) {
  return [f](const std::vector<Tensor>& xs) -> std::vector<Tensor> {
    if constexpr (requires(Context& c) { f.forward(c, xs[I]...); }) {
      return as_vector(apply(f, xs[I]...));
    } else {
      return as_vector(f(xs[I]...));
    }
  };
}
}  // namespace detail

/// Checks f — a callable taking 1 to 4 tensors, or an op struct, with one output or several — at `inputs`.
template <class F>
GradcheckResult gradcheck(F f, const std::vector<Tensor>& inputs, GradcheckOptions opts = {}) {
  constexpr std::size_t n = detail::tensor_arity<F>();
  static_assert(n > 0, "gradcheck: f must take 1 to 4 tensors (use gradcheck_vector for more)");
  if (inputs.size() != n) {
    throw ValueError(fmt::format("gradcheck: the function takes {} tensors, {} inputs were given",
                                 n, inputs.size()));
  }
  return gradcheck_outputs(detail::bind_inputs(f, std::make_index_sequence<n>{}), inputs, opts);
}

/// Second derivatives (torch.autograd.gradgradcheck): with random float64 vectors v_k, one per
/// float64 output k (drawn from `seed`), the vector–Jacobian products
///   g_i(x, v) = Σ_k v_kᵀ ∂out_k/∂x_i,  computed by grad(..., {.create_graph = true}),
/// are gradchecked as functions of the inputs and of the v_k: their backward (the second
/// derivatives) against central differences of the analytic first derivatives. The failure
/// message is gradcheck's, prefixed "gradgradcheck:"; "d out[j] / d in[i]" there means d g_j / d
/// (input i), the v_k counting as inputs after the function's own. An op whose backward is not
/// differentiable fails with the GraphError naming it.
GradcheckResult gradgradcheck_outputs(const TensorsFunction& f, const std::vector<Tensor>& inputs, GradcheckOptions opts = {},
                                      std::uint64_t seed = 0);

/// gradgradcheck of f — a callable taking 1 to 4 tensors, or an op struct — at `inputs`.
template <class F>
GradcheckResult gradgradcheck(F f, const std::vector<Tensor>& inputs, GradcheckOptions opts = {}) {
  constexpr std::size_t n = detail::tensor_arity<F>();
  static_assert(n > 0, "gradgradcheck: f must take 1 to 4 tensors (use gradgradcheck_outputs for more)");
  if (inputs.size() != n) {
    throw ValueError(fmt::format("gradgradcheck: the function takes {} tensors, {} inputs were given", n, inputs.size()));
  }
  return gradgradcheck_outputs(detail::bind_inputs(f, std::make_index_sequence<n>{}), inputs, opts);
}

}  // namespace nabla

template <>
struct fmt::formatter<nabla::GradcheckResult> : fmt::formatter<std::string_view> {
  auto format(const nabla::GradcheckResult& r, fmt::format_context& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(), "{}", nabla::to_string(r));
  }
};
