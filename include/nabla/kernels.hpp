// nabla/kernels.hpp — the compute kernels behind the built-in ops: GEMM through OpenBLAS, axis
// reductions, row-wise softmax, sigmoid, convolution and pooling on NCHW tensors. Public so that a
// custom op can call what a built-in calls. They validate little: an op checks its inputs in
// forward (nabla/toolkit.hpp) before it calls them. What would otherwise read or write out of
// bounds is checked (an axis past the rank, GEMM operands whose shapes do not fit, a dtype the
// kernel lacks), a nabla::Error naming the kernel. Each returns a new tensor unless it says
// otherwise; floating inputs share one dtype.
#pragma once

#include <cstdint>

#include "nabla/tensor.hpp"
#include "nabla/toolkit.hpp"

namespace nabla::kernels {

// ---- elementwise and reductions (src/kernels/kernels.cpp) -----------------------------------------

// Each kernel runs at every CPU level (nabla/cpu.hpp) with the same bits: float32 through the loops of
// the level cpu_info() chose (vectors of 8 or 16 at avx2 and avx512 level), everything else, and every
// float32 at generic level, through the portable loops. Which level runs is never the caller's concern.

/// y = 1 / (1 + e^−x). float32 at avx2 and avx512 level: a vector at a time, e^−x from a degree-5
/// polynomial after range reduction (Cephes' expf, within 2 ulp of the exact value), the same bits at
/// both levels; NaN stays NaN. Otherwise std::exp element by element.
Tensor sigmoid(const Tensor& x);
/// tanh x; float32 at avx2 and avx512 level a vector at a time: 1 − 2/(e^{2|x|} + 1) with the sign of x from
/// |x| = 0.625 on (the e^x below), Cephes' odd polynomial under it; NaN stays NaN. Otherwise std::tanh.
Tensor tanh(const Tensor& x);
/// GELU as torch.nn.functional.gelu: x Φ(x) = x (1 + erf(x/√2))/2, or with `tanh_approximation`
/// x (1 + tanh(√(2/π) (x + 0.044715 x³)))/2. float64 element by element with std::erf / std::tanh, as
/// written. float32 through the level's loop: at avx2 and avx512 level a vector at a time, Φ from its own
/// polynomials (erfc-based, so x ≪ 0 keeps its digits) and the tanh form as x σ(2u), within a few ulp of
/// the value worked in double (see src/kernels/level/gelu.cpp), the same bits at both levels; at generic
/// level worked in double and rounded once. NaN stays NaN.
Tensor gelu(const Tensor& x, bool tanh_approximation);
/// GELU's backward, gy ⊙ GELU′(x) for gy of x's shape and dtype: GELU′ = Φ(x) + x φ(x), or for the tanh
/// form (1 + t)/2 + x (1 − t²) u′/2 with t = tanh u; float32 through the level's loop as gelu.
Tensor gelu_backward(const Tensor& gy, const Tensor& x, bool tanh_approximation);
/// e^x; float32 at avx2 and avx512 level a vector at a time with the same polynomial (within 2 ulp),
/// else std::exp.
Tensor exp(const Tensor& x);
/// bfloat16 ↔ float32, n elements: to bfloat16 rounded to nearest even (NaN → 0x7fc0, as c10::BFloat16),
/// back exactly; vectorized at each level, the same bits at all.
void float_to_bf16(const float* in, bfloat16* out, std::int64_t n);
void bf16_to_float(const bfloat16* in, float* out, std::int64_t n);
/// a + b, a − b, a ⊙ b, a / b of one floating dtype, broadcast to `out` (their broadcast shape). Each
/// result is one rounded operation at every level; float32 operands that both have shape `out`, or one
/// of a single element, run a vector at a time at avx2 and avx512 level.
Tensor add(const Tensor& a, const Tensor& b, const Shape& out);
Tensor sub(const Tensor& a, const Tensor& b, const Shape& out);
Tensor mul(const Tensor& a, const Tensor& b, const Shape& out);
Tensor div(const Tensor& a, const Tensor& b, const Shape& out);
/// The plain SGD step in place: w[i] = keep·w[i] − step·g[i] for i < n, two products and a difference,
/// each rounded (no FMA), so that every level gives the same bits.
void sgd_step(float* w, const float* g, std::int64_t n, float keep, float step);
void sgd_step(double* w, const double* g, std::int64_t n, double keep, double step);

/// Sums x over the axes that broadcasting stretched from `shape` (which broadcasts to x.shape()).
Tensor sum_to(const Tensor& x, const Shape& shape);
/// Sum along a normalized axis, into `out_shape` (the reduced shape, with or without keepdim); an
/// axis outside [0, rank) or an out_shape of another size is a ValueError / ShapeError.
Tensor sum_axis(const Tensor& x, int axis, const Shape& out_shape);
Tensor max_axis(const Tensor& x, int axis, const Shape& out_shape);
/// int64 indices of the first maximum along axis.
Tensor argmax_axis(const Tensor& x, int axis, const Shape& out_shape);
/// Scatters gy (reduced shape) to the first maximum of each slice of x along axis.
Tensor max_axis_backward(const Tensor& x, const Tensor& gy, int axis);
/// Repeats g (shape with axis reduced to 1 or removed) along axis to x_shape.
Tensor expand_axis(const Tensor& g, int axis, const Shape& x_shape);

// Along one (normalized) axis (src/kernels/axis.cpp); results keep the axis as size 1.
/// The first largest (or smallest) value of each line, NaN winning; with `indices`, where (int64).
Tensor extreme_axis(const Tensor& x, int axis, bool largest, Tensor* indices = nullptr);
/// log Σ e^x of each line, the line's maximum subtracted first.
Tensor logsumexp_axis(const Tensor& x, int axis);
/// Softmax or log-softmax along any axis (x's shape).
Tensor softmax_axis(const Tensor& x, int axis, bool log);
/// Π of each line, and its gradient gy · Π_{j≠k} x_j by prefix and suffix products (exact with zeros).
Tensor prod_axis(const Tensor& x, int axis);
Tensor prod_axis_backward(const Tensor& x, const Tensor& gy, int axis);
/// Running sums along the axis, from the end when `reverse` (x's shape).
Tensor cumsum_axis(const Tensor& x, int axis, bool reverse);
/// The first k of each line in sorted order (stable; NaN as the largest), and their int64 indices.
void sort_axis(const Tensor& x, int axis, bool descending, std::int64_t k, Tensor& values, Tensor& indices);

/// Softmax and log-softmax over each row of the last axis, with the row max subtracted.
Tensor softmax_rows(const Tensor& x);
Tensor log_softmax_rows(const Tensor& x);

/// Sum of all elements as double (accumulated in double).
double sum_all(const Tensor& x);
/// Σ x² over all elements (see partial_sums in src/kernels/reduce.hpp for the rounding).
double squared_norm(const Tensor& x);

// ---- batch normalization (src/kernels/norm.cpp) ----------------------------------------------------

/// Training-mode batch normalization of x [N, C, …] per channel: the batch mean μ and biased
/// variance σ² ([C] each, into `mean` and `var`), and y = γ (x − μ)/√(σ² + ε) + β with weight γ
/// and bias β [C]. x may be bf16 with float32 γ and β (autocast): y, μ and σ² are then float32, the
/// bits of the float32 kernel on x.to(f32).
Tensor batch_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, Tensor& mean, Tensor& var);
/// Its gradients for dy (x's shape, γ's dtype): dx (x's dtype: a bf16 x's dx is the float32 one rounded
/// once), dweight = Σ dy x̂, dbias = Σ dy, from forward's mean and var.
void batch_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& var, double eps,
                         const Tensor& dy, Tensor& dx, Tensor& dweight, Tensor& dbias);

// ---- strided copies: the movement and indexing ops (src/kernels/movement.cpp) ---------------------

/// A view of a contiguous tensor's elements: element idx (of `shape`) is at
/// offset + Σ_d idx_d · strides[d] of the base. Strides may be 0 (broadcast) or negative (flip).
struct Strided {
  Shape shape;
  std::int64_t strides[Shape::kMaxRank]{};
  std::int64_t offset = 0;
};
/// The row-major layout of a contiguous tensor of shape s; a shape no tensor may have (checked_bytes) is a
/// ShapeError naming the op being applied.
Strided contiguous_layout(const Shape& s);
/// A new contiguous tensor of v.shape holding x's elements as v lays them out (any dtype).
Tensor gather_strided(const Tensor& x, const Strided& v);
/// Writes src (contiguous, of v.shape) into dst at the places v names: assigned, or added when
/// `add` (then places may repeat). Any dtype; dst's version is bumped.
void scatter_strided(const Tensor& src, Tensor& dst, const Strided& v, bool add);
/// Along `axis` of x ([outer, n, inner]), the slices idx[k] in order: [outer, len(idx), inner]
/// reshaped to x's shape with the axis replaced; indices already checked.
Tensor index_select_axis(const Tensor& x, int axis, const Tensor& idx);
/// dst[…, idx[k], …] += src[…, k, …] along `axis`: the adjoint of index_select_axis.
void index_add_axis(Tensor& dst, int axis, const Tensor& idx, const Tensor& src);
/// out[i…] = x[i… with i_axis replaced by idx[i…]] for idx of x's rank (torch.gather), and its
/// adjoint dst[i… with i_axis replaced by idx[i…]] += src[i…] (torch.scatter_add_); checked indices.
Tensor gather_axis(const Tensor& x, int axis, const Tensor& idx);
void scatter_add_axis(Tensor& dst, int axis, const Tensor& idx, const Tensor& src);

// ---- matrix products (src/kernels/blas.cpp) --------------------------------------------------------

/// C = op(A) · op(B) for 2-d a and b through cblas_{s,d}gemm. a and b 2-d, of one floating
/// dtype, with op(A)'s columns as many as op(B)'s rows, else a ShapeError or ValueError naming
/// kernels::gemm. A dimension past the BLAS's 32-bit integers is split over several calls.
/// bf16 a and b: the products summed in float32 (at level avx512bf16 with vdpbf16ps, elsewhere both
/// widened to float32 and sgemm), each element of C rounded once to bf16, as PyTorch's bf16 matmul.
Tensor gemm(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b);
/// The batched product of a [..., M, K] and b [..., K, N] (each after its transpose flag on the
/// last two axes), batch axes broadcast to `batch`: one GEMM per batch entry into one output
/// [batch..., M, N], no per-entry allocation. Inner dimensions checked as gemm's.
Tensor gemm_batched(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, const Shape& batch);

// ---- attention (src/kernels/attention.cpp) ----------------------------------------------------------

/// What fused attention is asked for besides its tensors.
struct AttentionArgs {
  Shape batch;         // the leading axes of q, k, v (and the mask) broadcast together
  double scale = 1.0;  // the scores are q kᵀ · scale
  bool causal = false; // key j takes part in row i only when j ≤ i
};
/// Fused scaled dot-product attention (FlashAttention-2's blocked online softmax): q [..., L, E],
/// k [..., S, E], v [..., S, Ev], their leading axes broadcasting to args.batch; mask undefined, bool
/// (false drops the key) or of q's dtype (added to the scores), broadcastable to [batch..., L, S].
/// Returns softmax(q kᵀ · scale + mask) v as [batch..., L, Ev] without ever holding the [L, S]
/// scores; `lse` receives [batch..., L], each row's log Σ e^score, +inf for a row where every score
/// is −inf (its output row is 0). Runs over nabla's threads, one block of 64 rows of one batch entry each.
Tensor attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, const AttentionArgs& args,
                         Tensor& lse);
/// The gradients of attention_forward for gout [batch..., L, Ev], from its out and lse (the scores are
/// recomputed block by block): gq [batch..., L, E], gk [batch..., S, E], gv [batch..., S, Ev], at the
/// broadcast batch shape (sum them to broadcast inputs' shapes). One batch entry per task, or, with
/// fewer entries than threads, one key block and then one query block per task; the same bits either way.
void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, const AttentionArgs& args,
                        const Tensor& out, const Tensor& lse, const Tensor& gout, Tensor& gq, Tensor& gk, Tensor& gv);

// ---- the LSTM recurrence (src/kernels/lstm.cpp) ----------------------------------------------------

/// What lstm_forward returns: the output h_t of every step [T, N, H], the last h and c [N, H], and
/// with `keep` what lstm_backward reads: the gate activations i, f, g, o [T, N, 4H], c_t and tanh c_t
/// [T, N, H] (undefined without keep).
struct LstmForward {
  Tensor out, h_n, c_n;
  Tensor gates, cells, tanh_cells;
};
/// One LSTM layer over a sequence given its input projection xw = x W_ihᵀ [T, N, 4H] (no bias), the
/// recurrent weights w_hh [4H, H], the biases b_ih, b_hh [4H] and the initial h0, c0 [N, H] (each may
/// be undefined: no bias, zero state): per step one product h W_hhᵀ and one fused pass for
/// z = (xw + b_ih) + (h W_hhᵀ + b_hh), i, f, g, o = σ(z_i), σ(z_f), tanh(z_g), σ(z_o),
/// c = f c_prev + i g, h = o tanh c (PyTorch's gate order), in the composed cells' rounding.
LstmForward lstm_forward(const Tensor& xw, const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, const Tensor& h0,
                         const Tensor& c0, bool keep);
/// lstm_backward's inputs: the gradients of out, h_n, c_n (each may be undefined), what forward kept,
/// and which gradients are wanted.
struct LstmBackwardArgs {
  Tensor gy_out, gy_hn, gy_cn;
  Tensor w_hh, h0, c0;               // as given to forward (h0, c0 may be undefined)
  Tensor out, gates, cells, tanh_cells;  // from lstm_forward with keep
  bool need_w_hh = true, need_bias = true, need_h0 = false, need_c0 = false;
};
/// The gradients: dz of the pre-activations (also that of xw) [T, N, 4H]; dw_hh [4H, H] as one product
/// dzᵀ h_prev over all T·N rows; db [4H], the column sums of dz (the gradient of b_ih and of b_hh);
/// dh0, dc0 [N, H]. Those not asked for are undefined.
struct LstmGrads {
  Tensor dz, dw_hh, db, dh0, dc0;
};
LstmGrads lstm_backward(const LstmBackwardArgs& args);

// ---- convolution (src/kernels/conv.cpp, conv_tiled.cpp) ----------------------------------------------------------

/// The geometry of a 2-d window sliding over an H×W plane.
struct Window2d {
  std::int64_t kh, kw, stride, padding;
  std::int64_t out_h(std::int64_t h) const { return (h + 2 * padding - kh) / stride + 1; }
  std::int64_t out_w(std::int64_t w) const { return (w + 2 * padding - kw) / stride + 1; }
};

/// What a convolution's forward returns: y [N, F, Ho, Wo], and what its backward reads for the weight
/// gradient (the kernel's choice — the im2col columns, x itself, or x padded; undefined when not kept).
struct ConvForward {
  Tensor y;
  Tensor saved;
};
/// y = conv(x, w) + bias for x [N, C, H, W], w [F, C, kh, kw], bias [F] or undefined; `keep`: a weight
/// gradient will be asked for, so keep what it reads. float32 at avx2 and avx512 level runs nabla's own
/// GEMM tiles image by image, straight from and to NCHW; otherwise im2col + OpenBLAS a few images at a
/// time (without `keep` streamed: the whole cols matrix never exists).
ConvForward conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Window2d& win, bool keep);
/// The gradients of conv2d_forward for gy [N, F, Ho, Wo], into those of gx, gw, gb not null: gx needs
/// w; gw needs `saved` (from a forward with keep); gb = gy summed over all axes but 1.
void conv2d_backward(const Tensor& gy, const Tensor& w, const Tensor& saved, const Shape& x_shape, const Shape& w_shape,
                     const Window2d& win, Tensor* gx, Tensor* gw, Tensor* gb);
/// gx alone, from the weights and gy (the transposed convolution of gy).
Tensor conv2d_input_grad(const Tensor& w, const Tensor& gy, const Shape& x_shape, const Window2d& win);

/// Which algorithm runs the forward and the input gradient of a float32 3×3 convolution of stride 1
/// (per group, any padding): `automatic`, the measured rule (src/kernels/conv_winograd.cpp, docs/design.md
/// "Winograd F(2×2, 3×3)"); `direct` (im2col + GEMM, or the level's tiles) or `winograd` (F(2×2, 3×3))
/// forced, for tests and benchmarks. The environment
/// variable NABLA_CONV3X3 (`automatic`, `direct` or `winograd`), read on first use, sets the initial choice.
enum class Conv3x3Algorithm { automatic, direct, winograd };
/// Sets the choice for the whole process (not thread-safe against convolutions running); returns the one before.
Conv3x3Algorithm set_conv3x3_algorithm(Conv3x3Algorithm a);
/// The choice now in force.
Conv3x3Algorithm conv3x3_algorithm();
/// Whether a float32 convolution with x [N, C, H, W], w [F, C, kh, kw] and `win` runs its forward as
/// Winograd F(2×2, 3×3) under the choice in force (the input gradient asks with gy's shape and the
/// transposed weights' [C, F, 3, 3]).
bool conv_uses_winograd(const Shape& x_shape, const Shape& w_shape, const Window2d& win);

/// cols [C·kh·kw, N·Ho·Wo]: row (c, p, q), column (n, i, j) holds x[n, c, i·s + p − pad, j·s + q − pad]
/// (0 outside the image). One GEMM with the [F, C·kh·kw] weights then convolves the whole batch.
Tensor im2col(const Tensor& x, const Window2d& w);
/// [N, F, P] → [F, N·P]; with `sums`, also y summed over all but axis 1 ([F], the bias gradient),
/// in the same pass.
Tensor unfold_batch(const Tensor& y, Tensor* sums = nullptr);
/// y [N, F, …] summed over all axes but 1 ([F]: a convolution's bias gradient).
Tensor plane_sums(const Tensor& y);

// ---- pooling (src/kernels/pool.cpp) ----------------------------------------------------------------

/// Max over each window; `argmax` receives, per output element, the flat index in its H×W plane
/// of the first largest input. With `argmax` null (nothing will differentiate it) the indices may be
/// skipped.
Tensor max_pool2d(const Tensor& x, const Window2d& w, Tensor* argmax);
Tensor max_pool2d_backward(const Tensor& gy, const Tensor& argmax, const Shape& x_shape, const Window2d& w);
/// Mean over each window (no padding).
Tensor avg_pool2d(const Tensor& x, const Window2d& w);
Tensor avg_pool2d_backward(const Tensor& gy, const Shape& x_shape, const Window2d& w);
/// √(Σ x²) over each window, and its gradient x / y (taken as 0 where y = 0).
Tensor l2_pool2d(const Tensor& x, const Window2d& w);
Tensor l2_pool2d_backward(const Tensor& gy, const Tensor& x, const Tensor& y, const Window2d& w);


// ---- pooling with PyTorch's options (src/kernels/pool_window.cpp) -------------------------------------

/// A pooling window with padding, dilation and the output size decided by the op (ceil_mode):
/// output (i, j) covers rows i·sh − ph + p·dh (p < kh) and likewise columns.
struct PoolWindow2d {
  std::int64_t kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
};
/// Max over each window, padding ignored (−∞); `argmax` receives the flat index in the H×W plane of
/// the first largest element (a NaN wins, the last one), as PyTorch's CPU kernel.
Tensor max_pool2d(const Tensor& x, const PoolWindow2d& w, Tensor& argmax);
/// gx = zeros of x_shape with each gy element added at its argmax (any window).
Tensor max_pool2d_backward(const Tensor& gy, const Tensor& argmax, const Shape& x_shape);
/// Average pooling's divisor: the window's size within input + padding (count_include_pad) or within
/// the input only, or `divisor_override` when it is > 0 (PyTorch's avg_pool2d). Dilation is 1.
struct AvgPoolArgs {
  PoolWindow2d win;
  bool count_include_pad = true;
  std::int64_t divisor_override = 0;
};
Tensor avg_pool2d(const Tensor& x, const AvgPoolArgs& a);
/// Its adjoint: each gy element divided by its window's divisor and added over the window.
Tensor avg_pool2d_backward(const Tensor& gy, const Shape& x_shape, const AvgPoolArgs& a);

/// torch's unfold (im2col) of x [N, C, H, W] → [N, C·kh·kw, oh·ow] with the window `w` (zeros outside),
/// and its adjoint fold (col2im) of cols [N, C·kh·kw, oh·ow] into zeros of x_shape, overlaps added.
Tensor unfold_windows(const Tensor& x, const PoolWindow2d& w);
Tensor fold_windows(const Tensor& cols, const Shape& x_shape, const PoolWindow2d& w);

}  // namespace nabla::kernels

namespace nabla::detail {
/// For tests of the splitting: the largest dimension or leading dimension one BLAS call is given
/// (default and maximum 2^31 − 1, a 32-bit blasint); returns the previous limit. Process-wide
/// (src/kernels/blas.cpp).
std::int64_t set_blas_int_limit(std::int64_t limit);
}  // namespace nabla::detail

