// ops/losses_nll.cpp — torch.nn.functional's classification losses with options (nabla/losses.hpp):
// nll_loss with weight / ignore_index / reduction on inputs [N, C, d1, …], and cross_entropy (with
// label smoothing, and class-probability targets). Composed of differentiable ops: the picked
// log-probabilities are a gather, the class weights and the ignore mask constants, so the gradient
// (and create_graph) is the chain rule through log_softmax, gather and the products.
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "nabla/error.hpp"
#include "nabla/losses.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {
namespace {

/// The class axis's size of input [N, C, d1, …] ([C] unbatched), checked with its target.
std::int64_t check_classes(std::string_view loss, const Tensor& input, const Tensor& target) {
  check_defined(loss, {&input, &target});
  check_floating(loss, input);
  if (input.dim() == 0) {
    throw ShapeError(fmt::format("{}: input is 0-d; expected [N, C, d1, ...], [N, C] or [C] scores", loss));
  }
  const std::int64_t classes = input.dim() == 1 ? input.shape()[0] : input.shape()[1];
  if (classes == 0) throw ShapeError(fmt::format("{}: input {} has no classes; expected C > 0", loss, input.shape()));
  return classes;
}

/// The target shape class indices must have: input's without the class axis.
Shape index_target_shape(const Tensor& input) {
  Shape s;
  for (int i = 0; i < input.dim(); ++i) {
    if (i != (input.dim() == 1 ? 0 : 1)) s.push_back(input.shape()[i]);
  }
  return s;
}

void check_class_weight(std::string_view loss, const Tensor& w, const Tensor& input, std::int64_t classes) {
  if (!w.defined()) return;
  if (w.shape() != Shape{classes} || w.dtype() != input.dtype()) {
    throw ShapeError(fmt::format("{}: weight is {} {}; expected {} [{}], one weight per class of input {}", loss,
                                 w.dtype(), w.shape(), input.dtype(), classes, input.shape()));
  }
}

/// What the class indices select: for each of the M positions, a valid index (0 where ignored), its
/// weight (0 where ignored) and whether it is ignored; the sum of the weights is mean's denominator.
struct Picks {
  Tensor index;  // [M, 1] int64
  Tensor weight;  // [M], input's dtype
  Tensor ignored;  // target's shape, bool
  double total = 0;
};

Picks picks(std::string_view loss, const Tensor& input, const Tensor& target, const Tensor& weight,
            std::int64_t ignore_index, std::int64_t classes) {
  const Shape want = index_target_shape(input);
  if (target.dtype() != Dtype::i64 || target.shape() != want) {
    throw ShapeError(fmt::format("{}: target is {} {}; expected int64 class indices {} for input {}", loss,
                                 target.dtype(), target.shape(), want, input.shape()));
  }
  const std::int64_t m = target.numel();
  std::vector<double> w_class;
  if (weight.defined()) w_class = weight.to_vector();
  std::vector<std::int64_t> index(static_cast<std::size_t>(m));
  std::vector<double> w(static_cast<std::size_t>(m)), ignored(static_cast<std::size_t>(m));
  const std::int64_t* t = target.data<std::int64_t>();
  Picks p;
  for (std::int64_t i = 0; i < m; ++i) {
    const auto k = static_cast<std::size_t>(i);
    if (t[i] == ignore_index) {
      ignored[k] = 1;
      continue;
    }
    if (t[i] < 0 || t[i] >= classes) {
      throw ValueError(fmt::format("{}: target {} at {} is out of range for {} classes; expected a class in [0, {}) "
                                   "or ignore_index {}",
                                   loss, t[i], index_string(target.shape(), i), classes, classes, ignore_index));
    }
    index[k] = t[i];
    w[k] = weight.defined() ? w_class[static_cast<std::size_t>(t[i])] : 1.0;
    p.total += w[k];
  }
  p.index = from_vector(std::span<const std::int64_t>(index), Shape{m, 1});
  p.weight = from_vector(std::span<const double>(w), Shape{m}, input.dtype());
  p.ignored = from_vector(std::span<const double>(ignored), target.shape(), input.dtype()).to(b8);
  return p;
}

/// input [N, C, d1, …] as [M, C] rows (the class axis last), M = N·d1·…; [C] as [1, C].
Tensor rows(const Tensor& input, std::int64_t classes) {
  if (input.dim() == 1) return reshape(input, Shape{1, classes});
  if (input.dim() == 2) return input;
  std::vector<int> perm{0};
  for (int i = 2; i < input.dim(); ++i) perm.push_back(i);
  perm.push_back(1);
  return reshape(permute(input, perm), Shape{input.numel() / classes, classes});
}

/// [C] weight shaped to broadcast along input's class axis: [1, C, 1, …] ([C] for 1-d input).
Tensor along_classes(const Tensor& w, const Tensor& input, std::int64_t classes) {
  if (input.dim() == 1) return w;
  Shape s;
  for (int i = 0; i < input.dim(); ++i) s.push_back(i == 1 ? classes : 1);
  return reshape(w, s);
}

Tensor nll_impl(std::string_view loss, const Tensor& input, const Tensor& target, const NLLLossFuncOptions& opts,
                const Picks& p, std::int64_t classes) {
  const std::int64_t m = target.numel();
  const Tensor picked = reshape(gather(rows(input, classes), 1, p.index), Shape{m});
  const Tensor l = -(picked * p.weight);
  switch (opts.reduction) {
    case Reduction::none: return reshape(l, target.shape());
    case Reduction::sum: return sum(l);
    case Reduction::mean: return sum(l) / p.total;  // 0/0 = NaN when every target is ignored, as PyTorch
    default: return detail::reduce_loss(loss, l, opts.reduction);  // batchmean: its error
  }
}

void check_smoothing(double eps) {
  if (!(eps >= 0 && eps <= 1)) {
    throw ValueError(fmt::format("cross_entropy: label_smoothing is {}; expected a value in [0, 1]", eps));
  }
}

/// cross_entropy with class probabilities as the target.
Tensor cross_entropy_probabilities(const Tensor& input, const Tensor& target, const CrossEntropyFuncOptions& opts,
                                   std::int64_t classes) {
  constexpr std::string_view name = "cross_entropy";
  if (target.shape() != input.shape()) {
    throw ShapeError(fmt::format("cross_entropy: floating target {} does not match input {}; expected class "
                                 "probabilities of input's shape, or int64 class indices {}",
                                 target.shape(), input.shape(), index_target_shape(input)));
  }
  check_same_dtype(name, input, target);
  if (opts.ignore_index != -100) {
    throw ValueError("cross_entropy: ignore_index applies to class-index targets only; expected the default -100 "
                     "with class probabilities");
  }
  const int axis = input.dim() == 1 ? 0 : 1;
  const double eps = opts.label_smoothing;
  Tensor y = eps > 0 ? target * (1 - eps) + eps / static_cast<double>(classes) : target;
  Tensor prod = log_softmax(input, axis) * y;
  if (opts.weight.defined()) prod = prod * along_classes(opts.weight, input, classes);
  const Tensor per = -sum(prod, axis);
  switch (opts.reduction) {
    case Reduction::none: return per;
    case Reduction::sum: return sum(per);
    case Reduction::mean: return sum(per) / static_cast<double>(input.numel() / classes);
    default: return detail::reduce_loss(name, per, opts.reduction);
  }
}

}  // namespace

Tensor nll_loss(const Tensor& input, const Tensor& target, NLLLossFuncOptions opts) {
  const std::int64_t classes = check_classes("nll_loss", input, target);
  check_class_weight("nll_loss", opts.weight, input, classes);
  const Picks p = picks("nll_loss", input, target, opts.weight, opts.ignore_index, classes);
  return nll_impl("nll_loss", input, target, opts, p, classes);
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, CrossEntropyFuncOptions opts) {
  constexpr std::string_view name = "cross_entropy";
  const std::int64_t classes = check_classes(name, input, target);
  check_class_weight(name, opts.weight, input, classes);
  check_smoothing(opts.label_smoothing);
  if (opts.reduction == Reduction::batchmean) detail::reduce_loss(name, input, opts.reduction);  // its error
  if (target.dtype() == f32 || target.dtype() == f64) return cross_entropy_probabilities(input, target, opts, classes);
  const int axis = input.dim() == 1 ? 0 : 1;
  const Tensor lp = log_softmax(input, axis);
  const Picks p = picks(name, input, target, opts.weight, opts.ignore_index, classes);
  const NLLLossFuncOptions nll_opts{.weight = opts.weight, .ignore_index = opts.ignore_index, .reduction = opts.reduction};
  const Tensor nll = nll_impl(name, lp, target, nll_opts, p, classes);
  const double eps = opts.label_smoothing;
  if (eps == 0) return nll;
  // PyTorch's smoothing term: −Σ_c w_c log_softmax_c at each position, 0 where ignored; mean divides
  // by the same Σ w_y as nll's.
  Tensor prod = opts.weight.defined() ? lp * along_classes(opts.weight, input, classes) : lp;
  Tensor smooth = masked_fill(-sum(prod, axis), p.ignored, 0.0);
  switch (opts.reduction) {
    case Reduction::sum: smooth = sum(smooth); break;
    case Reduction::mean: smooth = sum(smooth) / p.total; break;
    default: break;
  }
  return nll * (1 - eps) + smooth * (eps / static_cast<double>(classes));
}

}  // namespace nabla
