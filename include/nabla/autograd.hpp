// nabla/autograd.hpp — gradients as values: grad() (torch::autograd::grad), for gradients that are
// to be used, or differentiated again, without touching any tensor's .grad.
//
//   Tensor y = sum(x * x * x);
//   auto [g] = grad({y}, {x}, {}, {.create_graph = true});   // g = 3x², itself in the graph
//   auto [h] = grad({sum(g)}, {x});                           // h = 6x
#pragma once

#include <functional>
#include <vector>

#include "nabla/tensor.hpp"

namespace nabla {

struct GradOptions {
  /// Keep the saved tensors of the graph after this pass (implied by create_graph).
  bool retain_graph = false;
  /// Record the backward pass as a graph, so that the returned gradients can be differentiated.
  bool create_graph = false;
  /// An input the outputs do not depend on gets an undefined Tensor instead of a GraphError.
  bool allow_unused = false;
};

/// d outputs / d inputs: for each input, the sum over outputs r of the vector–Jacobian product of
/// grad_outputs[r] (ones for a one-element output, when grad_outputs is empty) with output r.
/// Inputs may be leaves or tensors computed in the graph; only the part of the graph between the
/// outputs and the inputs runs, and no .grad is changed.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, GradOptions opts = {});

/// Functions of derivatives, as torch.autograd.functional: f is evaluated at fresh leaf copies of
/// the inputs (the caller's tensors and graphs are not touched), every result is detached unless
/// `create_graph`, in which case the inputs are used as they are (they must require grad) and the
/// results can be differentiated again.
namespace autograd {

/// A function of several tensors with one tensor result.
using Function = std::function<Tensor(const std::vector<Tensor>&)>;

struct Result {
  Tensor output;                // f(inputs)
  std::vector<Tensor> values;   // one per input: the product asked for
};

/// vᵀ ∂f/∂x_i for each input: v has f's output shape.
Result vjp(const Function& f, const std::vector<Tensor>& inputs, const Tensor& v, bool create_graph = false);
/// Σ_i ∂f/∂x_i t_i (one tensor of f's output shape, in `values[0]`): the Jacobian times the tangents
/// t (one per input, each of its input's shape), by the double-vjp trick — the vjp with a dummy
/// cotangent u is linear in u, and its vjp with t is J t.
Result jvp(const Function& f, const std::vector<Tensor>& inputs, const std::vector<Tensor>& tangents, bool create_graph = false);
/// H v for a scalar f: the Hessian of f times v (one v per input, of its shape), by double
/// backward: ∇_x (∇f · v). Costs about two backward passes, never forms H.
Result hvp(const Function& f, const std::vector<Tensor>& inputs, const std::vector<Tensor>& v, bool create_graph = false);
/// The Jacobian of f at x: shape f(x).shape + x.shape, one backward per output element (for small
/// outputs).
Tensor jacobian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x);
/// The Hessian of a scalar f at x: shape x.shape + x.shape, one double backward per element of x
/// (for small inputs).
Tensor hessian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x);

}  // namespace autograd

}  // namespace nabla
