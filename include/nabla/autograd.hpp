// nabla/autograd.hpp — gradients as values: grad() (torch::autograd::grad), for gradients that are
// to be used, or differentiated again, without touching any tensor's .grad.
//
//   Tensor y = sum(x * x * x);
//   auto [g] = grad({y}, {x}, {}, {.create_graph = true});   // g = 3x², itself in the graph
//   auto [h] = grad({sum(g)}, {x});                           // h = 6x
#pragma once

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

}  // namespace nabla
