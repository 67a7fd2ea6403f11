// nabla/ops.hpp — every built-in op. Each is differentiable unless it says otherwise, and each is
// written with the op API of nabla/op.hpp (see ops/ for the sources).
//
// Binary elementwise ops broadcast as NumPy does: shapes are aligned at the right, and a
// dimension of 1 (or a missing one) stretches to match. Their gradients are reduced back to each
// input's shape by sum_to. Inputs of one op must share a dtype (f32 or f64).
#pragma once

#include <array>
#include <initializer_list>
#include <string_view>
#include <limits>
#include <optional>
#include <vector>

#include "nabla/tensor.hpp"

namespace nabla {

// ---- broadcasting (ops/elementwise.cpp; broadcast_shape is in nabla/toolkit.hpp) -------------------
/// Sums x over the dimensions that broadcasting stretched, giving a tensor of `shape`.
/// The one place where gradients of broadcast inputs are reduced.
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- elementwise arithmetic, broadcasting (ops/elementwise.cpp) ---------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);  // Hadamard product ⊙
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double c);
Tensor mul(const Tensor& a, double c);
/// c − a and c / a.
Tensor rsub(const Tensor& a, double c);
Tensor rdiv(const Tensor& a, double c);
Tensor neg(const Tensor& a);
/// The larger and the smaller of a and b elementwise (broadcasting). At a tie each gets half the
/// gradient, as PyTorch.
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, double c) { return add(a, c); }
inline Tensor operator+(double c, const Tensor& a) { return add(a, c); }
inline Tensor operator-(const Tensor& a, double c) { return add(a, -c); }
inline Tensor operator-(double c, const Tensor& a) { return rsub(a, c); }
inline Tensor operator*(const Tensor& a, double c) { return mul(a, c); }
inline Tensor operator*(double c, const Tensor& a) { return mul(a, c); }
inline Tensor operator/(const Tensor& a, double c) { return mul(a, 1.0 / c); }
inline Tensor operator/(double c, const Tensor& a) { return rdiv(a, c); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

// ---- elementwise math (ops/math.cpp) --------------------------------------------------------------
Tensor exp(const Tensor& x);
/// Natural log; log(0) is −inf, as in IEEE arithmetic.
Tensor log(const Tensor& x);
Tensor square(const Tensor& x);
Tensor sqrt(const Tensor& x);
/// |x|; its gradient at exactly 0 is taken as 0.
Tensor abs(const Tensor& x);
/// x^p for a scalar exponent p.
Tensor pow(const Tensor& x, double p);
/// ln(1 + x) and e^x − 1, exact for small x.
Tensor log1p(const Tensor& x);
Tensor expm1(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
/// −1, 0 or 1 (NaN stays NaN); its gradient is 0.
Tensor sign(const Tensor& x);
/// 1/x and 1/√x.
Tensor reciprocal(const Tensor& x);
Tensor rsqrt(const Tensor& x);
/// The error function; its gradient is (2/√π) e^(−x²).
Tensor erf(const Tensor& x);
/// min(max(x, lo), hi) (lo > hi gives hi); gradient 1 where lo ≤ x ≤ hi, the ends included, else 0.
/// A NaN bound makes every element NaN (gradient 0), as torch.clamp; NaN in x stays NaN.
Tensor clamp(const Tensor& x, double lo, double hi);
Tensor clamp_min(const Tensor& x, double lo);
Tensor clamp_max(const Tensor& x, double hi);

// ---- reductions (ops/reductions.cpp) -------------------------------------------------------------
/// Sum of all elements, as a 0-d tensor.
Tensor sum(const Tensor& x);
/// Sum along one axis (negative counts from the end); keepdim leaves it as size 1.
Tensor sum(const Tensor& x, int axis, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, int axis, bool keepdim = false);
/// Largest value along an axis; its gradient goes to the first largest element.
Tensor max(const Tensor& x, int axis, bool keepdim = false);
/// Index of the first largest value along an axis, as int64 (not differentiable).
Tensor argmax(const Tensor& x, int axis);

// ---- more reductions (ops/reductions_more.cpp, ops/sort.cpp) — PyTorch's names ------------------------
// `axes`: several axes, negative allowed; an empty list means all of them.
/// Sum and mean over several axes.
Tensor sum(const Tensor& x, const std::vector<int>& axes, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int>& axes, bool keepdim = false);
/// The largest / smallest values over axes; tied extremes share the gradient evenly (torch.amax).
Tensor amax(const Tensor& x, const std::vector<int>& axes = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const std::vector<int>& axes = {}, bool keepdim = false);
/// Values and their int64 indices: what torch.max(x, dim) and torch.sort return.
struct ValuesIndices {
  Tensor values;
  Tensor indices;
};
/// The largest / smallest value along an axis and where it is (the first, on ties; NaN wins);
/// the gradient goes to that element. torch.max(x, dim) and torch.min(x, dim).
ValuesIndices max_with_indices(const Tensor& x, int axis, bool keepdim = false);
ValuesIndices min_with_indices(const Tensor& x, int axis, bool keepdim = false);
/// The smallest value along an axis (its gradient to the first smallest), and its index.
Tensor min(const Tensor& x, int axis, bool keepdim = false);
Tensor argmin(const Tensor& x, int axis);
/// log Σ e^x over axes, computed with the maximum subtracted (finite for inputs of any size).
Tensor logsumexp(const Tensor& x, const std::vector<int>& axes, bool keepdim = false);
/// Σ (x − mean)² / (n − correction) over axes (correction 1: the unbiased estimate; finite, else a
/// ValueError), and its root
/// (call it as nabla::std: unqualified, `std` names the namespace).
Tensor var(const Tensor& x, const std::vector<int>& axes = {}, double correction = 1, bool keepdim = false);
Tensor std(const Tensor& x, const std::vector<int>& axes = {}, double correction = 1, bool keepdim = false);
/// The p-norm over axes: p = 1, 2, infinity or any p > 0 (torch.linalg.vector_norm). The 2-norm's
/// gradient at x = 0 is taken as 0.
Tensor norm(const Tensor& x, double p = 2, const std::vector<int>& axes = {}, bool keepdim = false);
/// The product of all elements (0-d), or along an axis; the gradient is exact with zeros.
Tensor prod(const Tensor& x);
Tensor prod(const Tensor& x, int axis, bool keepdim = false);
/// Running sums along an axis.
Tensor cumsum(const Tensor& x, int axis);
/// x sorted along an axis (stable; NaN last ascending) and the int64 indices of the order. The
/// values are differentiable, the indices not.
ValuesIndices sort(const Tensor& x, int axis = -1, bool descending = false);
Tensor argsort(const Tensor& x, int axis = -1, bool descending = false);
/// The k largest (or smallest) values along an axis in order, and their indices.
ValuesIndices topk(const Tensor& x, std::int64_t k, int axis = -1, bool largest = true);

// ---- shape (ops/shape.cpp) --------------------------------------------------------------------------
/// A view with a new shape (see Tensor::reshape).
Tensor reshape(const Tensor& x, const Shape& shape);
/// The transpose of a 2-d tensor, as a copy. To multiply by a transpose, prefer matmul's flags.
Tensor transpose(const Tensor& x);

// ---- movement (ops/movement.cpp) — each a copy (nabla's tensors are contiguous), differentiable ------
// Axes may be negative (counted from the end); an axis out of range is a ValueError naming the op.
/// y's axis k is x's axis dims[k] (torch.permute).
Tensor permute(const Tensor& x, const std::vector<int>& dims);
/// x with axes d0 and d1 swapped, any rank (torch.transpose).
Tensor transpose(const Tensor& x, int d0, int d1);
/// x[…, start:stop:step, …] along `axis`, with Python's rules: negative start/stop count from the
/// end, both are clamped to the axis (an empty result is fine), step ≥ 1.
Tensor slice(const Tensor& x, int axis, std::int64_t start, std::int64_t stop = std::numeric_limits<std::int64_t>::max(),
             std::int64_t step = 1);
/// x[…, start:start+length, …] along `axis`; the range must lie inside it (torch.narrow).
Tensor narrow(const Tensor& x, int axis, std::int64_t start, std::int64_t length);
/// x[…, index, …] with `axis` removed; a negative index counts from the end (torch.select).
Tensor select(const Tensor& x, int axis, std::int64_t index);
/// x without its size-1 axes, or without `axis` if it has size 1 (otherwise x); views.
Tensor squeeze(const Tensor& x);
Tensor squeeze(const Tensor& x, int axis);
/// x with a new size-1 axis at `axis` (−1: last; in [−rank − 1, rank]); a view.
Tensor unsqueeze(const Tensor& x, int axis);
/// x broadcast to `shape` (−1 keeps an axis, new axes may lead): torch.expand / broadcast_to. A copy.
Tensor expand(const Tensor& x, const Shape& shape);
/// x reversed along each of `axes`.
Tensor flip(const Tensor& x, const std::vector<int>& axes);
/// Constant padding: widths as torch.nn.functional.pad, (before, after) pairs from the last axis back.
Tensor pad(const Tensor& x, const std::vector<std::int64_t>& widths, double value = 0);
/// x itself: every nabla tensor is contiguous (kept for code written against PyTorch).
Tensor contiguous(const Tensor& x);

// ---- comparisons and masks (ops/compare.cpp) — bool results, not differentiable -----------------------
/// a == b, a != b, a < b, a <= b, a > b, a >= b elementwise with broadcasting, as bool tensors; a and
/// b share a dtype (any, int64 labels included).
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
/// The same against a number: in a's dtype when c is one of its values (any c for float32 and
/// float64), otherwise in float64, as PyTorch promotes: lt(labels, 0.5) is labels ≤ 0, NaN compares
/// false (ne true), 1e19 is above every int64.
Tensor eq(const Tensor& a, double c);
Tensor ne(const Tensor& a, double c);
Tensor lt(const Tensor& a, double c);
Tensor le(const Tensor& a, double c);
Tensor gt(const Tensor& a, double c);
Tensor ge(const Tensor& a, double c);
/// Logic on bool tensors: not, and, or (broadcasting).
Tensor logical_not(const Tensor& a);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
inline Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
inline Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
inline Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
inline Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
inline Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
inline Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
inline Tensor operator==(const Tensor& a, double c) { return eq(a, c); }
inline Tensor operator!=(const Tensor& a, double c) { return ne(a, c); }
inline Tensor operator<(const Tensor& a, double c) { return lt(a, c); }
inline Tensor operator<=(const Tensor& a, double c) { return le(a, c); }
inline Tensor operator>(const Tensor& a, double c) { return gt(a, c); }
inline Tensor operator>=(const Tensor& a, double c) { return ge(a, c); }
inline Tensor operator~(const Tensor& a) { return logical_not(a); }
inline Tensor operator&(const Tensor& a, const Tensor& b) { return logical_and(a, b); }
inline Tensor operator|(const Tensor& a, const Tensor& b) { return logical_or(a, b); }

// ---- indexing (ops/indexing.cpp) — indices int64; each checked, repeated ones add their gradients ---------
/// The slices index[0], index[1], … of x along `axis` (index 1-d).
Tensor index_select(const Tensor& x, int axis, const Tensor& index);
/// The rows weight[indices[i…]] of a table weight [num, dim]: indices of any shape → [..., dim]
/// (torch.nn.functional.embedding); repeated indices add up their gradients.
Tensor embedding(const Tensor& indices, const Tensor& weight);
/// y[i…] = x[i… with i_axis replaced by index[i…]]; index has x's rank (torch.gather).
Tensor gather(const Tensor& x, int axis, const Tensor& index);
/// x with src[i…] added at [i… with i_axis replaced by index[i…]] (torch.scatter_add, out of place).
Tensor scatter_add(const Tensor& x, int axis, const Tensor& index, const Tensor& src);
/// cond ? a : b elementwise, all three broadcast; cond a bool tensor. Differentiable in a and b.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, double b);
Tensor where(const Tensor& cond, double a, const Tensor& b);
/// x with `value` where mask (bool, broadcast to x) is true.
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

// ---- joining and splitting (ops/join.cpp); split and chunk are ops with several outputs --------------
/// The tensors side by side along `axis`; all other axes must agree, and the dtypes (torch.cat).
Tensor cat(const std::vector<Tensor>& tensors, int axis = 0);
/// Tensors of one shape joined along a new axis `axis` (torch.stack).
Tensor stack(const std::vector<Tensor>& tensors, int axis = 0);
/// Pieces of `size` along `axis` (negative counts from the end); the last may be smaller
/// (torch.split). split(x, {2, 3}, 1): pieces of the given sizes, which must add up to the axis.
std::vector<Tensor> split(const Tensor& x, std::int64_t size, int axis = 0);
std::vector<Tensor> split(const Tensor& x, std::initializer_list<std::int64_t> sizes, int axis = 0);
std::vector<Tensor> split(const Tensor& x, const std::vector<std::int64_t>& sizes, int axis = 0);
/// `chunks` pieces of ⌈n / chunks⌉ along `axis`, fewer when the axis runs out (torch.chunk).
std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, int axis = 0);

// ---- matrix product (ops/matmul.cpp) ----------------------------------------------------------------
struct MatmulOptions {
  bool trans_a = false;  // use aᵀ (a is read transposed, never copied)
  bool trans_b = false;  // use bᵀ
};
/// The matrix product with PyTorch's rules (torch.matmul): 2-d · 2-d through one GEMM
/// (matmul(x, w, {.trans_b = true}) is x wᵀ, nothing transposed in memory); 1-d · 1-d is dot; a 1-d
/// operand is a row (first) or column (second) vector, removed from the result; otherwise a batched
/// product of [..., M, K] · [..., K, N] with the batch axes broadcast (the flags apply to the last two).
Tensor matmul(const Tensor& a, const Tensor& b, MatmulOptions opts = {});
/// Batched product of two 3-d tensors with one batch size.
Tensor bmm(const Tensor& a, const Tensor& b);
/// Σ a_i b_i for two 1-d tensors of one length (0-d), and the outer product a_i b_j.
Tensor dot(const Tensor& a, const Tensor& b);
Tensor outer(const Tensor& a, const Tensor& b);
/// Einstein summation of two operands, e.g. einsum("bij,bjk->bik", a, b) (torch.einsum): labels
/// are letters; shared labels not in the output are summed over, labels of one operand not in the
/// output are summed first; without "->" the output is the labels seen once, in alphabetical order.
/// Computed with one batched matmul. No "..." and no label repeated within an operand.
Tensor einsum(std::string_view equation, const Tensor& a, const Tensor& b);

// ---- activations (ops/activations.cpp) ----------------------------------------------------------------
/// σ(x) = 1 / (1 + e^−x) (book eq. 3).
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
/// max(0, x); gradient 0 at x = 0. NaN stays NaN, with gradient 1 there (as torch.relu).
Tensor relu(const Tensor& x);
/// x for x > 0, slope · x otherwise.
Tensor leaky_relu(const Tensor& x, double slope = 0.01);
/// ln(1 + e^{βx}) / β, or x where βx > threshold (torch.nn.functional.softplus). β finite and ≠ 0,
/// threshold not NaN, else a ValueError.
Tensor softplus(const Tensor& x, double beta = 1, double threshold = 20);
/// x Φ(x) ("none", exact, with erf) or its tanh approximation ("tanh"), as torch's gelu.
Tensor gelu(const Tensor& x, std::string_view approximate = "none");
/// x σ(x) (swish).
Tensor silu(const Tensor& x);
/// x for x > 0, α (e^x − 1) otherwise.
Tensor elu(const Tensor& x, double alpha = 1);

// ---- softmax (ops/softmax.cpp) -------------------------------------------------------------------------
/// e^{x_j} / Σ_k e^{x_k} along the last axis (book eq. 78), computed with the row max subtracted.
Tensor softmax(const Tensor& x);
/// log softmax(x) along the last axis, stable for inputs of any magnitude.
Tensor log_softmax(const Tensor& x);
/// The same along any axis.
Tensor softmax(const Tensor& x, int axis);
Tensor log_softmax(const Tensor& x, int axis);

// ---- costs (ops/costs.cpp) — each the mean over the batch (first axis), the book's 1/n --------------
/// 1/(2n) Σ_x ||y − a||² (book eq. 6). a and y of the same shape.
Tensor quadratic_cost(const Tensor& a, const Tensor& y);
/// −1/n Σ_x Σ_j [y ln a + (1 − y) ln(1 − a)] on probabilities a (book eq. 63). Every a and y must
/// be in [0, 1] (NaN is not): otherwise a ValueError naming the element, as PyTorch's BCELoss.
Tensor binary_cross_entropy(const Tensor& a, const Tensor& y);
/// The same cost on logits z, a = σ(z), computed stably: gradient (σ(z) − y)/n. The target is not
/// checked, as PyTorch's BCEWithLogitsLoss does not: a y outside [0, 1] gives the formula's value
/// max(z, 0) − z y + ln(1 + e^−|z|), which is no longer a cross-entropy and may be negative.
Tensor binary_cross_entropy_with_logits(const Tensor& z, const Tensor& y);
/// −1/n Σ_x log_probs[x, label_x] (book eq. 80); labels int64 of shape [n].
Tensor nll_loss(const Tensor& log_probs, const Tensor& labels);
/// nll_loss(log_softmax(z), labels) fused: stable, and its gradient is exactly (a − y)/n with
/// a = softmax(z) and y one-hot (book eq. 81–84).
Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& labels);

// ---- convolution and pooling, NCHW (ops/conv.cpp, ops/pooling.cpp) — book ch. 6 --------------------
/// The options of the functional convolutions (torch.nn.functional's Conv2dFuncOptions); the layers'
/// options, with initializers and dtype, are nn::Conv2dOptions and the others (nabla/nn_conv.hpp).
struct Conv2dFuncOptions {
  std::int64_t stride = 1;
  std::int64_t padding = 0;   // zeros added on each side
  std::int64_t dilation = 1;  // spacing between kernel taps
  std::int64_t groups = 1;    // channels in `groups` independent groups (groups = C: depthwise)
};
/// x [N, C, H, W] ⊛ w [F, C/groups, kh, kw] + b [F] → [N, F, Ho, Wo],
/// Ho = (H + 2·padding − dilation·(kh − 1) − 1)/stride + 1 (torch.nn.functional.conv2d).
/// b may be an undefined Tensor{} (no bias). Computed as im2col + one GEMM over the batch (nabla's
/// own tiles at avx2 and avx512 level, nabla/cpu.hpp); dilation and groups are composed of that dense convolution (a kernel
/// with zeros between its taps; one convolution per group, joined), so they cost more than dense.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, Conv2dFuncOptions opts = {});
/// x [N, C, L] ⊛ w [F, C/groups, k] + b [F] → [N, F, Lo], the same options along L (torch's conv1d).
using Conv1dFuncOptions = Conv2dFuncOptions;
Tensor conv1d(const Tensor& x, const Tensor& w, const Tensor& b, Conv1dFuncOptions opts = {});
struct ConvTranspose2dFuncOptions {
  std::int64_t stride = 1;
  std::int64_t padding = 0;         // removed from each side of the output
  std::int64_t output_padding = 0;  // added to one side of the output, < stride
};
/// The transposed convolution (the adjoint of conv2d, torch.nn.functional.conv_transpose2d):
/// x [N, C, H, W], w [C, F, kh, kw] (PyTorch's layout), b [F] or Tensor{} → [N, F, Ho, Wo],
/// Ho = (H − 1)·stride − 2·padding + kh + output_padding.
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b, ConvTranspose2dFuncOptions opts = {});
/// The largest value of each kernel×kernel window (stride defaults to kernel); its gradient goes
/// to that element (the first one, on ties). A NaN in a window is its result (as torch's).
Tensor max_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride = 0);
/// The mean of each window.
Tensor avg_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride = 0);
/// The book's L2 pooling: √(Σ x²) over each window; its gradient is 0 where a window is all zero.
Tensor l2_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride = 0);
/// Average pooling to an out_h × out_w grid with PyTorch's adaptive windows (rows
/// ⌊i·H/out_h⌋ to ⌈(i + 1)·H/out_h⌉, likewise columns): adaptive_avg_pool2d(x, 1, 1) is global
/// average pooling (torch.nn.functional.adaptive_avg_pool2d).
Tensor adaptive_avg_pool2d(const Tensor& x, std::int64_t out_h, std::int64_t out_w);
/// Nearest-neighbour resampling of x [N, C, H, W] to [N, C, out_h, out_w]: output row i reads
/// input row ⌊i·H/out_h⌋ (torch.nn.functional.interpolate, mode "nearest"); gradients of rows
/// read several times add up.
Tensor upsample_nearest2d(const Tensor& x, std::int64_t out_h, std::int64_t out_w);
/// [N, ...] → [N, product of the rest], a view.
Tensor flatten(const Tensor& x);

// ---- PyTorch's pooling options, resampling, im2col and padding modes ---------------------------------
// (ops/pooling.cpp, ops/pooling_options.cpp, ops/resample.cpp, ops/fold.cpp, ops/padding.cpp)
/// One size per spatial axis, or one number for both: PyTorch's int-or-tuple arguments
/// (`.kernel_size = 3` or `.kernel_size = {3, 2}`, height first).
struct Size2 {
  std::int64_t h = 0, w = 0;
  constexpr Size2() = default;
  constexpr Size2(std::int64_t v) : h(v), w(v) {}  // NOLINT: implicit, as PyTorch's int for a pair
  constexpr Size2(std::int64_t h_, std::int64_t w_) : h(h_), w(w_) {}
  friend constexpr bool operator==(const Size2&, const Size2&) = default;
};
/// torch.nn.functional.max_pool2d's options. Padding (at most half the kernel) adds −∞ on each side;
/// Ho = ⌊(H + 2·padding − dilation·(k − 1) − 1 + (ceil_mode ? stride − 1 : 0)) / stride⌋ + 1, one less
/// when ceil_mode would start the last window past the input and the left padding (PyTorch's rule).
struct MaxPool2dFuncOptions {
  Size2 kernel_size;
  Size2 stride = 0;  // 0: kernel_size (PyTorch's None)
  Size2 padding = 0;
  Size2 dilation = 1;
  bool ceil_mode = false;
};
/// Max pooling of x [N, C, H, W] or [C, H, W] with PyTorch's options; the gradient goes to each
/// window's largest element (the first on ties; a NaN wins). Without padding, dilation or a changed
/// ceil_mode size, the same kernels as max_pool2d(x, kernel, stride).
Tensor max_pool2d(const Tensor& x, const MaxPool2dFuncOptions& opts);
/// The same and the int64 indices of each window's maximum, flat in its H×W plane (return_indices=True).
ValuesIndices max_pool2d_with_indices(const Tensor& x, const MaxPool2dFuncOptions& opts);
/// torch.nn.functional.avg_pool2d's options: zero padding (at most half the kernel), ceil_mode as
/// max_pool2d; each window's sum is divided by divisor_override if given, else by its size counting
/// the padding (count_include_pad) or only the input elements.
struct AvgPool2dFuncOptions {
  Size2 kernel_size;
  Size2 stride = 0;  // 0: kernel_size
  Size2 padding = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;
  std::optional<std::int64_t> divisor_override = std::nullopt;
};
Tensor avg_pool2d(const Tensor& x, const AvgPool2dFuncOptions& opts);
/// The 1-d forms over x [N, C, L] or [C, L] (torch.nn.functional.max_pool1d / avg_pool1d).
struct MaxPool1dFuncOptions {
  std::int64_t kernel_size = 0;
  std::int64_t stride = 0;  // 0: kernel_size
  std::int64_t padding = 0;
  std::int64_t dilation = 1;
  bool ceil_mode = false;
};
Tensor max_pool1d(const Tensor& x, const MaxPool1dFuncOptions& opts);
struct AvgPool1dFuncOptions {
  std::int64_t kernel_size = 0;
  std::int64_t stride = 0;  // 0: kernel_size
  std::int64_t padding = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;
};
Tensor avg_pool1d(const Tensor& x, const AvgPool1dFuncOptions& opts);

/// torch.nn.functional.interpolate's options. Exactly one of size and scale_factor: one number for
/// every spatial axis or one per axis. With scale_factor the output is ⌊in · factor⌋ and the sampling
/// uses 1/factor (unless recompute_scale_factor), as PyTorch does.
struct InterpolateFuncOptions {
  std::vector<std::int64_t> size = {};
  std::vector<double> scale_factor = {};
  /// "nearest" (source ⌊i · scale⌋), "nearest-exact" (⌊(i + ½) · scale⌋), "linear" (3-d input),
  /// "bilinear" (4-d), "bicubic" (4-d; Keys' cubic convolution with A = −0.75, edges replicated, as
  /// PyTorch's: may overshoot the input's range), "trilinear" (5-d), "area" (adaptive average pooling
  /// to the output size, any of the three ranks).
  std::string_view mode = "nearest";
  std::optional<bool> align_corners = std::nullopt;  // linear modes and bicubic only; default false
  std::optional<bool> recompute_scale_factor = std::nullopt;
};
/// Resamples the spatial axes of x [N, C, L], [N, C, H, W] or [N, C, D, H, W]
/// (torch.nn.functional.interpolate). Linear in x; gradients of inputs read several times add up.
Tensor interpolate(const Tensor& x, const InterpolateFuncOptions& opts);

/// torch.nn.functional.unfold's options (im2col).
struct UnfoldFuncOptions {
  Size2 kernel_size;
  Size2 dilation = 1;
  Size2 padding = 0;
  Size2 stride = 1;
};
/// x [N, C, H, W] (or [C, H, W]) → [N, C·kh·kw, L]: column l holds the kh×kw block at sliding
/// position l (row-major over the Ho×Wo positions), row (c, p, q) tap (p, q) of channel c; zeros
/// outside the input. Its gradient is fold.
Tensor unfold(const Tensor& x, const UnfoldFuncOptions& opts);
/// torch.nn.functional.fold's options (col2im).
struct FoldFuncOptions {
  Size2 output_size;
  Size2 kernel_size;
  Size2 dilation = 1;
  Size2 padding = 0;
  Size2 stride = 1;
};
/// The adjoint of unfold: x [N, C·kh·kw, L] (or [C·kh·kw, L]) → [N, C, H, W] = output_size, each
/// block added back where unfold took it (overlaps sum). Its gradient is unfold.
Tensor fold(const Tensor& x, const FoldFuncOptions& opts);

/// torch.nn.functional.pad with a mode: "constant" (value; as pad(x, widths, value)), "reflect"
/// (mirrored without repeating the edge; each width < that axis's size), "replicate" (the edge
/// repeated), "circular" (wrapped around; width ≤ size). The non-constant modes pad the last 1, 2 or 3
/// axes (widths of 2, 4 or 6) of a tensor with at most one or two more axes (N, C), as PyTorch;
/// widths must not be negative, and value must be 0.
Tensor pad(const Tensor& x, const std::vector<std::int64_t>& widths, std::string_view mode, double value = 0);

// ---- normalization (ops/normalization.cpp) — composed of the ops above, so differentiable to any order -----
// Each normalizes to x̂ = (x − μ) / √(σ² + eps) with the biased variance σ², then y = weight · x̂ + bias
// (both optional: pass Tensor{}).
/// Per channel of x [N, C, …] (torch.nn.functional.batch_norm). Training (or no running statistics):
/// μ, σ² over the batch and the spatial axes, and running_mean / running_var ([C], x's dtype, both or
/// neither) updated in place to (1 − momentum)·running + momentum·batch, the variance unbiased;
/// more than one value per channel is needed. Evaluation: the running statistics. weight, bias [C].
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);
/// Over the trailing axes `normalized_shape` of x; weight and bias of that shape (torch's layer_norm).
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps = 1e-5);
/// Per sample over `groups` groups of x [N, C, …]'s channels and the spatial axes; weight, bias [C].
Tensor group_norm(const Tensor& x, std::int64_t groups, const Tensor& weight, const Tensor& bias, double eps = 1e-5);

// ---- attention (ops/attention.cpp) — torch.nn.functional.scaled_dot_product_attention ------------------
// softmax(q kᵀ · scale + mask) v for query [..., L, E], key [..., S, E], value [..., S, Ev] → [..., L, Ev].
// The leading axes (batch, heads, …; none at all for 2-d inputs) broadcast as matmul's. attn_mask is
// bool (true: the key takes part, PyTorch's meaning) or of the query's dtype (added to the scores, −inf
// drops a key), broadcastable to [..., L, S]; is_causal lets row i see keys j ≤ i (top-left aligned,
// as PyTorch, also when L ≠ S); giving both is a ValueError, as in PyTorch. scale defaults to 1/√E.
// dropout_p ∈ [0, 1) zeroes attention weights with that probability (drawn from `gen`) and scales the
// rest by 1/(1 − p) — always, as the functional form in PyTorch does; a module passes 0 in eval mode.
// A row whose keys are all masked gives output 0 and gradient 0, as PyTorch 2.x on every backend
// (its math path's safe softmax), not NaN. Bad shapes, dtypes or arguments are errors naming
// scaled_dot_product_attention and the shapes.
//
// Two implementations, as PyTorch's SDPA backends:
//  - fused (the default): FlashAttention-2's blocked online softmax (kernels::attention_forward):
//    the [L, S] scores never exist for the whole batch, only a [64, 128] block per thread; it saves the
//    output and one log-sum-exp per row, and its backward recomputes the scores block by block. Under
//    create_graph its backward records the math path's ops instead, so it is differentiable to any
//    order with one derivative formula. Not used (the default falls back to math) when dropout_p > 0 or
//    a float mask requires grad.
//  - math: composed of matmul, masked_fill and softmax, differentiable to any order; it holds
//    [..., L, S] scores and weights.
enum class SdpaBackend { automatic, math, fused };
/// The attention above, by the default choice of backend.
Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const Tensor& attn_mask = {}, double dropout_p = 0, bool is_causal = false,
                                   std::optional<double> scale = std::nullopt, Generator& gen = default_generator());
/// The same with the backend named (torch.nn.attention.sdpa_kernel): fused with dropout_p > 0 or with a
/// float mask that requires grad is a ValueError.
Tensor scaled_dot_product_attention(SdpaBackend backend, const Tensor& query, const Tensor& key, const Tensor& value,
                                   const Tensor& attn_mask = {}, double dropout_p = 0, bool is_causal = false,
                                   std::optional<double> scale = std::nullopt, Generator& gen = default_generator());

// ---- labels (src/labels.cpp) -------------------------------------------------------------------------------
/// One-hot rows [n, classes] from int64 labels [n] (not differentiable).
Tensor one_hot(const Tensor& labels, std::int64_t classes, Dtype dtype = f32);
/// The fraction of rows of scores [n, classes] whose largest entry is at the row's label; a label
/// outside [0, classes) is a ValueError naming it and its row, as the costs give.
double accuracy(const Tensor& scores, const Tensor& labels);
/// Plurality vote of several models' scores, each [n, classes]: per row, the class most models
/// rank first; a tie goes to the tied class with the largest summed score. int64 [n].
Tensor vote(const std::vector<Tensor>& scores);

// ---- the LSTM recurrence (ops/recurrent.cpp) — the fused path of nn::LSTM ----------------------------
/// One LSTM layer over a sequence, given its input projection for all steps xw = x W_ihᵀ [T, N, 4H]
/// (without bias), w_hh [4H, H], b_ih and b_hh [4H] and the initial h0, c0 [N, H] (any of the last four
/// may be undefined: no bias, zero state). Gates i, f, g, o as torch.nn.LSTM. Returns the h of every
/// step [T, N, H] and the last h and c [N, H]. One fused pass per step; backward gives W_hh's gradient
/// as one product over all steps and xw's as the pre-activation gradients; any order of gradient.
std::array<Tensor, 3> lstm_recurrence(const Tensor& xw, const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh,
                                      const Tensor& h0, const Tensor& c0);

}  // namespace nabla
