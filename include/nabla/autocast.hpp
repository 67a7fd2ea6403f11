// nabla/autocast.hpp — automatic mixed precision on the CPU: torch.autocast("cpu", dtype=torch.bfloat16).
//
//   { nabla::AutocastGuard autocast;            // bf16
//     Tensor loss = cost(net(x), y); }          // products in bf16, the rest in float32
//   loss.backward();                            // outside the guard, as PyTorch recommends
//
// While a guard lives on a thread, each op called there (through `apply`: built-in and custom ops
// alike) first casts its floating inputs by the op's list, as PyTorch's CPU autocast does:
//   bf16 list     matmul (and bmm, linear's product, einsum's products), conv2d (conv1d, conv_transpose
//                 built on it): float32 inputs become bf16; the product sums in float32 and its
//                 output is bf16.
//   widest list   add, sub, mul, div, neg, maximum, minimum, relu, clone and the movement ops (reshape,
//                 permute, transpose, slice, select, narrow, expand, flip, pad, cat, stack, split,
//                 squeeze, unsqueeze, flatten, where): with bf16 and float32 inputs together the bf16
//                 ones become float32; bf16 alone stays bf16.
//   float32       every other op — reductions, norms, softmax and log-softmax, costs and losses,
//                 pooling, the nonlinearities: bf16 inputs become float32.
// float64 inputs are never cast (as in PyTorch). The casts are ordinary `to()` calls, recorded like
// any op, so gradients flow back through them: a float32 parameter used by a bf16 product gets a
// float32 .grad, and optimizers run unchanged on float32 master weights. Inside an op (its forward,
// and the whole backward pass) autocast is off: an op's own inner ops run as written.
#pragma once

#include <string_view>

#include "nabla/tensor.hpp"

namespace nabla {

/// Turns autocast on (or, with enabled = false, off) on this thread for its lifetime, then restores
/// the previous state; nestable, like NoGradGuard. dtype must be bf16 (the one lower-precision float
/// nabla has); anything else is a ValueError.
class AutocastGuard {
 public:
  explicit AutocastGuard(Dtype dtype = bf16, bool enabled = true);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool previous_;
};

/// Whether autocast is on for this thread (torch.is_autocast_enabled()).
bool autocast_enabled();

/// Which list an op is on, by its name (the table above).
enum class AutocastList { lower, widest, float32 };
constexpr AutocastList autocast_list(std::string_view op) {
  constexpr std::string_view lower[] = {"matmul", "bmm", "baddbmm", "addmm", "linear", "conv2d", "conv1d",
                                        "conv_transpose2d", "einsum"};
  constexpr std::string_view widest[] = {"add", "sub", "mul", "div", "neg", "maximum", "minimum", "relu", "clone", "to",
                                         "reshape", "permute", "transpose", "slice", "select", "narrow", "expand",
                                         "flip", "pad", "cat", "stack", "split", "chunk", "squeeze", "unsqueeze",
                                         "flatten", "where", "contiguous", "gather_strided"};
  for (std::string_view n : lower) {
    if (n == op) return AutocastList::lower;
  }
  for (std::string_view n : widest) {
    if (n == op) return AutocastList::widest;
  }
  return AutocastList::float32;
}

}  // namespace nabla
