// nabla/detail/graph.hpp — internal, not part of nabla's API: may change in any release.
//
// The parts of Context and Node that only the engine touches (where a saved tensor sits in the
// graph, the backward walk's scratch space), and the two questions `apply` asks on every call (is a
// hook on; does an op's pairing advice still watch). They are here, not in src/, only because
// nabla/op.hpp's classes and templates need them complete. Op authors read nabla/op.hpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "nabla/tensor.hpp"

namespace nabla {

class Node;

namespace detail {

struct Access;  // what apply() reaches inside Context and Node (nabla/detail/apply.hpp)
struct Engine;  // the backward walk (src/autograd.cpp)

/// The inspection hooks (nabla/profile.hpp, nabla/inspect.hpp) active on this thread, as bits
/// (src/inspect/hooks.hpp); apply and the backward walk take the plain path while they are 0.
unsigned hooks();
/// The bit of hooks() that an AutocastGuard sets (nabla/autocast.hpp): apply casts the inputs first.
inline constexpr unsigned kAutocastHookBit = 16;
/// Clears the autocast bit for its lifetime (inside an op, and in the backward walk).
class AutocastOff {
 public:
  AutocastOff();
  ~AutocastOff();
  AutocastOff(const AutocastOff&) = delete;
  AutocastOff& operator=(const AutocastOff&) = delete;

 private:
  bool was_;
};

/// Where a saved tensor sits in the graph, to reconnect it under create_graph: an input that is a
/// leaf (weakly held: the graph never keeps a leaf, and so its .grad, alive), an input made by
/// another node, or output `own_output` of this op.
struct SavedLink {
  Tensor tensor;              // a detached alias
  std::uint64_t version = 0;  // of its storage when saved
  std::weak_ptr<TensorImpl> leaf;
  std::shared_ptr<Node> fn;
  std::uint32_t output_nr = 0;
  std::int32_t own_output = -1;
};

/// A tensor hook on a node's output (Tensor::register_hook on a non-leaf), by output and id.
struct PreHook {
  std::uint32_t output_nr;
  std::size_t id;
  std::function<Tensor(const Tensor&)> fn;
};

/// A node's scratch space for the backward walk (src/autograd.cpp), and its tensor hooks.
struct NodeWalk {
  std::vector<PreHook> pre_hooks;
  std::uint64_t walk_id = 0;
  // The walk that holds this node now (0: none). A walk claims each node it reaches before
  // touching the scratch fields and gives it back once the node has run, so a second walk reaching
  // it meanwhile (a backward from a hook, another thread) is refused instead of corrupting them.
  std::atomic<std::uint64_t> busy{0};
  std::int64_t pending = 0;
  std::int64_t run_index = 0;
  // The gradient summed so far for each output (the first apart: most ops have one output).
  Tensor grad_buffer;
  std::vector<Tensor> more_grad_buffers;
  Tensor& buffer(std::uint32_t k) { return k == 0 ? grad_buffer : more_grad_buffers[k - 1]; }
};

}  // namespace detail

namespace inspect::detail {
// Whether the pairing advice of nabla/inspect.hpp watches op `name` (the costs), and whether any
// advice is still to be given (src/inspect/advice.cpp).
constexpr bool advised(std::string_view name) {
  return name == "quadratic_cost" || name == "binary_cross_entropy" || name == "binary_cross_entropy_with_logits" ||
         name == "nll_loss" || name == "softmax_cross_entropy";
}
bool warn_pending_any();
}  // namespace inspect::detail

}  // namespace nabla
