// src/kernels/level/level.hpp — the table of one instruction-set level's kernels (internal; nabla/cpu.hpp
// says how a level is chosen). The kernels of each level are compiled from the same files of this
// folder with that level's target flags (CMakeLists.txt: x86-64-v3 for avx2, x86-64-v4 for avx512),
// into namespace nabla::kernels::<level>. This header is all they share with the rest of the library:
// plain structs and raw pointers, no inline function, so no function compiled for one level can be
// the copy the linker keeps for another, or for the baseline code (tests: level_symbols).
#pragma once

#include <cstdint>

namespace nabla::kernels {

/// A convolution's geometry: x [n, c, h, w], window kh × kw, output oh × ow.
struct ConvDims {
  std::int64_t n, c, h, w, oh, ow, kh, kw, stride, padding;
};

/// The im2col matrix as the weight gradient reads it: element (row k, image i, output pixel (y, x))
/// at base[i·image + off(k) + y·row + x], off(k) = k·plane from kept columns [N, K, Ho·Wo]; for
/// stride 1 without padding (implicit, from x itself: row (c, p, q) starts at x[i, c, p, q]),
/// off(k) = (c·h + p)·w + q.
struct ColsView {
  const float* base;
  std::int64_t image, row;
  bool implicit;
  std::int64_t plane, kh, kw, h, w;
};

/// The loops of the float32 convolution on nabla's own tiles (conv_tiled.cpp drives them image by image).
struct ConvTiles {
  /// Rows of a packed panel of A: element (r, k) of the panel at packed[k·tile_rows + r].
  std::int64_t tile_rows;
  /// Columns of one tile (two vectors): gemm walks n in steps of it.
  std::int64_t tile_cols;
  /// c [m, n] (rows ldc apart) = bias + packed A [m, k] · B [k, n] (rows ldb apart; bias may be null).
  void (*gemm)(std::int64_t m, std::int64_t n, std::int64_t k, const float* packed, const float* b, std::int64_t ldb,
               float* c, std::int64_t ldc, const float* bias);
  /// The im2col columns [c·kh·kw, oh·ow] (rows ld apart) of one image, stride 1, no padding.
  void (*im2col_s1)(const float* image, float* cols, std::int64_t ld, const ConvDims& d);
  /// Widest window (kw) col2im_s1 takes.
  std::int64_t max_taps;
  /// The image summed back from its columns [c·kh·kw, oh·ow], stride 1, no padding: every element
  /// of the image written once.
  void (*col2im_s1)(const float* cols, float* image, const ConvDims& d);
  /// gt [plane, ldg] = g [f, plane]ᵀ, the lanes from f to ldg (a multiple of lanes) zero.
  void (*transpose)(const float* g, float* gt, std::int64_t f, std::int64_t plane, std::int64_t ldg);
  /// Most vectors of filters one weight-gradient tile holds, and wgrad_rows[nv]: rows of cols it
  /// takes with nv vectors (1 ≤ nv ≤ max_vectors).
  std::int64_t max_vectors;
  const std::int64_t* wgrad_rows;  // [max_vectors + 1]
  /// gw[f][k0 + r] (rows ldw apart) for r < rows, f < fcount = Σ_i Σ_pixels cols(k0 + r) · gt_i[pixel][f],
  /// over all n images (gt_i at gt + i·oh·ow·ldg, pixels ldg apart; ldg a multiple of lanes·nv), in
  /// tiles of lanes·nv filters.
  void (*wgrad)(std::int64_t nv, std::int64_t n, std::int64_t oh, std::int64_t ow, const ColsView& a, std::int64_t k0,
                std::int64_t rows, const float* gt, std::int64_t ldg, float* gw, std::int64_t ldw, std::int64_t fcount);
};

/// A 3×3, stride-1 convolution run as Winograd F(2×2, 3×3) (conv_winograd.cpp): x [n, c, h, w] read
/// at offset −pad (pad may be negative: the input gradient's), output [n, f, oh, ow] in th × tw tiles
/// of 2×2 per image; tile row `row` is (image row / th, ty row % th).
struct WinoDims {
  std::int64_t n, c, h, w, f, oh, ow, pad, th, tw;
};

/// The transforms of Winograd F(2×2, 3×3) over tile rows r0 ≤ row < r1 (level/winograd_loops.inc): tile
/// t = (row − r0)·(tw + 1) + tx of the block, tx ≤ tw (tx = tw: a junk tile that keeps the loops' offsets
/// fixed; its values are finite and never reach y). `work`: work_floats(d, r1 − r0) floats of scratch.
struct WinogradLoops {
  std::int64_t (*work_floats)(const WinoDims& d, std::int64_t rows);
  /// v[(ξ·c + ch)·ldv + t] = (Bᵀ d B)[ξ], ξ = 4i + j, for the 4×4 input tile d of channel ch (0 outside x).
  void (*input)(const float* x, float* v, std::int64_t ldv, const WinoDims& d, std::int64_t r0, std::int64_t r1,
                float* work);
  /// y[image, f, 2ty + i, 2tx + j] (those inside oh × ow) = bias[f] + (Aᵀ m A)[i][j], m[ξ] at
  /// m[(ξ·f_count + f)·ldm + t]; bias may be null.
  void (*output)(const float* m, std::int64_t ldm, float* y, const float* bias, const WinoDims& d, std::int64_t r0,
                 std::int64_t r1, float* work);
};

/// One step of the fused LSTM's pointwise work over n rows of h units (level/lstm_rows.inc; lstm.cpp).
/// Forward: z [n, 4h] (h W_hhᵀ in when has_hw) becomes the activations i, f, g, o of
/// (xw + b_ih) + (hw + b_hh); c, tc = tanh c and h_out [n, h] are written. Biases and c_prev may be null.
template <class T>
struct LstmStep {
  std::int64_t n, h;
  T* z;
  const T *xw, *b_ih, *b_hh;
  bool has_hw;
  const T* c_prev;
  T *c, *tc, *h_out;
};
/// Backward: d [n, 4h] = dz_t from the activations act [n, 4h], tc and c_prev [n, h] (null: zero),
/// dh [n, h] plus gy [n, h] (null: none) and dc, which becomes dc_{t−1}.
template <class T>
struct LstmStepGrad {
  std::int64_t n, h;
  const T *act, *tc, *c_prev, *dh, *gy;
  T *dc, *d;
};

/// How a level runs float32 convolution (conv.cpp): im2col and the BLAS over the whole batch, or
/// nabla's own tiles image by image with the level's ConvTiles.
enum class ConvKind { blas, tiles };

/// c [m, n] (rows ldc apart, float32) = op(a) · op(b) for row-major bfloat16 (raw bits) a and b:
/// op(a) [m, k], op(b) [k, n], lda and ldb the row strides as stored; the sums in float32. m, n ≥ 1.
using GemmBf16 = void (*)(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                          const std::uint16_t* a, std::int64_t lda, const std::uint16_t* b, std::int64_t ldb, float* c,
                          std::int64_t ldc);

/// gemm_bf16 with the stored rows of b found by offset, not stride: stored row r of b (row r of op(b)
/// for trans_b false, r < k; column r of op(b) for trans_b true, r < n) starts at b + b_rows[r], and
/// rows may overlap (a convolution's shifted views of one padded image). With `accumulate`, c += the
/// product (the partial sums added into c block of k by block, as the blocks past the first are).
using GemmBf16Rows = void (*)(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                              const std::uint16_t* a, std::int64_t lda, const std::uint16_t* b, const std::int64_t* b_rows,
                              float* c, std::int64_t ldc, bool accumulate);

/// c [m, n] = a [m, 2·pairs] · B for bfloat16 a (raw bits, rows lda apart), B given by pairs of rows:
/// rows 2p and 2p+1 of B are the 32-bit words b + offs[p] + j, j < n, word j holding B[2p][j] in its
/// low half and B[2p+1][j] in its high half — as vdpbf16ps reads them, so they are read in place, with
/// nothing packed (a convolution's padded image with its channels interleaved by pairs, each tap an
/// offset). The kernel may read up to 63 words past b + offs[p] + n; the caller's buffer holds them
/// (they reach no element of c). m, n, pairs ≥ 1.
using GemmBf16Pairs = void (*)(std::int64_t m, std::int64_t n, std::int64_t pairs, const std::uint16_t* a, std::int64_t lda,
                               const std::uint32_t* b, const std::int64_t* offs, float* c, std::int64_t ldc);

namespace generic {
/// The generic level's bfloat16 GEMM (blas.cpp): both operands widened to float32 (exactly), then sgemm.
/// Levels without AVX512-BF16 (avx2, avx512) put it in their table too.
void gemm_bf16(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const std::uint16_t* a,
               std::int64_t lda, const std::uint16_t* b, std::int64_t ldb, float* c, std::int64_t ldc);
/// Its form with b's rows by offset: those rows gathered into a contiguous copy, then gemm_bf16.
void gemm_bf16_rows(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const std::uint16_t* a,
                    std::int64_t lda, const std::uint16_t* b, const std::int64_t* b_rows, float* c, std::int64_t ldc,
                    bool accumulate);
/// Its form with b by pairs of rows: the rows unpacked into a contiguous copy, then gemm_bf16.
void gemm_bf16_pairs(std::int64_t m, std::int64_t n, std::int64_t pairs, const std::uint16_t* a, std::int64_t lda,
                     const std::uint32_t* b, const std::int64_t* offs, float* c, std::int64_t ldc);
/// The plain loop of LevelKernels::to_bf16_rows (generic.cpp), for the levels without AVX-512.
void to_bf16_rows(const float* in, std::int64_t ld_in, std::uint16_t* out, std::int64_t rows, std::int64_t cols,
                  const float* add);
}  // namespace generic

/// One level's kernels. Every level fills every entry, by name (designated initializers): the
/// generic level with the portable loops (generic.cpp), the others from this folder (table.cpp).
struct LevelKernels {
  const char* name;
  std::int64_t lanes;  ///< floats per vector (1 at generic level)
  // Elementwise float32, n elements, NaN in NaN out (in and out may be the same).
  void (*exp)(const float* in, float* out, std::int64_t n);
  void (*sigmoid)(const float* in, float* out, std::int64_t n);
  void (*tanh)(const float* in, float* out, std::int64_t n);
  /// GELU, out[i] = x Φ(x) of x = in[i] (with tanh_approximation: x (1 + tanh(√(2/π)(x + 0.044715 x³)))/2),
  /// and its backward gx[i] = gy[i] · GELU′(x[i]); within a few ulp of the value worked in double
  /// (level/gelu.cpp; the tanh form's negative tail within the rounding of its argument). NaN in x gives NaN.
  void (*gelu)(const float* in, float* out, std::int64_t n, bool tanh_approximation);
  void (*gelu_backward)(const float* gy, const float* x, float* gx, std::int64_t n, bool tanh_approximation);
  /// Σ_{i<n} e^{p[i] − m}.
  float (*sum_exp)(const float* p, std::int64_t n, float m);
  /// y[i] = a[i] op b[i] for op 0–3: +, −, ×, ÷; a_step or b_step 0 repeats that operand's element 0.
  /// Each result rounded once, as the scalar loop rounds it.
  void (*arith)(int op, const float* a, std::int64_t a_step, const float* b, std::int64_t b_step, float* y, std::int64_t n);
  /// w[i] = keep·w[i] − step·g[i] (two products and a difference, each rounded: no FMA).
  void (*sgd)(float* w, const float* g, std::int64_t n, float keep, float step);
  /// The 2×2 / stride-2 max-pool of one plane [h, w] (h·w < 2³⁰): out [h/2, w/2] and each window's
  /// argmax, a flat index into the plane (none where arg is null).
  void (*max_pool_2x2)(const float* in, float* out, std::int64_t* arg, std::int64_t h, std::int64_t w);
  /// Its gradient: every element of gx [h, w] written once.
  void (*max_pool_2x2_backward)(const float* g, const std::int64_t* arg, float* gx, std::int64_t h, std::int64_t w);
  /// float32 → bfloat16 bits (round to nearest even, NaN → 0x7fc0) and back (exact), n elements;
  /// the same bits at every level.
  void (*to_bf16)(const float* in, std::uint16_t* out, std::int64_t n);
  void (*from_bf16)(const std::uint16_t* in, float* out, std::int64_t n);
  /// to_bf16 of `rows` rows of `cols` floats, ld_in apart, into out [rows, cols], each value plus
  /// *add first where add is given (the sum rounded to float32, then to bfloat16); the same bits.
  void (*to_bf16_rows)(const float* in, std::int64_t ld_in, std::uint16_t* out, std::int64_t rows, std::int64_t cols,
                       const float* add);
  /// The bfloat16 GEMM: AVX512-BF16's vdpbf16ps at level avx512bf16, generic::gemm_bf16 elsewhere.
  /// Sums differ between the two in the float32 rounding of the partial sums only.
  GemmBf16 gemm_bf16;
  GemmBf16Rows gemm_bf16_rows;
  GemmBf16Pairs gemm_bf16_pairs;
  /// One step of the fused LSTM's pointwise work, forward and backward (the loops of level/lstm_rows.inc).
  void (*lstm_forward_rows)(const LstmStep<float>& s);
  void (*lstm_backward_rows)(const LstmStepGrad<float>& s);
  /// Float32 convolution: ConvKind::tiles with `tiles` filled, or ConvKind::blas (then no tiles).
  ConvKind conv;
  ConvTiles tiles;
  /// Winograd F(2×2, 3×3)'s transforms (every level, generic included; its products run on `tiles`
  /// or, at generic level, the BLAS).
  WinogradLoops winograd;
};

/// The kernels of the level cpu_info() chose: a complete table at every level. Internal to
/// src/kernels/, whose functions dispatch through it. Throws as cpu_info() does.
const LevelKernels& level_kernels();

}  // namespace nabla::kernels
