// src/kernels/conv_tiled.hpp — float32 convolution on the level's tiles (internal; conv.cpp calls these
// where level_kernels().conv is ConvKind::tiles).
#pragma once

#include "nabla/kernels.hpp"

namespace nabla::kernels {

/// A [m, k] (element (i, kk) at a[i·rs + kk·cs]) packed as ⌈m / mr⌉ panels, k-major (panel element
/// (r, kk) at kk·mr + r; rows past m zero), one after another into out (⌈m / mr⌉·k·mr floats): what
/// ConvTiles::gemm reads, a's row panels or (given Bᵀ: rs and cs swapped) b's column panels.
void pack_panels(const float* a, std::int64_t m, std::int64_t k, std::int64_t rs, std::int64_t cs, std::int64_t mr, float* out);
/// The same into a new tensor.
Tensor pack_panels(const float* a, std::int64_t m, std::int64_t k, std::int64_t rs, std::int64_t cs, std::int64_t mr);
/// x [N, C, H, W] with p zeros around each plane: [N, C, H + 2p, W + 2p].
Tensor pad_planes(const Tensor& x, std::int64_t p);

/// y = conv(x, w) + bias; with `kept`, keeps there what tiled_weight_grad reads (unless tiled_reads_x):
/// for stride 1 with padding p, x with p zeros around each plane [N, C, H + 2p, W + 2p] (the
/// convolution then runs on it without padding); for other strides, each image's im2col block,
/// [N, C·kh·kw, Ho·Wo].
Tensor tiled_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Window2d& win, Tensor* kept);
/// Whether tiled_weight_grad reads x itself (stride 1, no padding: im2col done implicitly).
bool tiled_reads_x(const Window2d& win);
/// gx = col2im(Wᵀ · gy[n]) image by image, gy [N, F, Ho, Wo] read in place (stride 1 with padding:
/// the gradient of the padded input, gathered without padding, then cropped).
Tensor tiled_input_grad(const Tensor& w, const Tensor& gy, const Shape& x_shape, const Window2d& win);
/// gw = Σ_n gy[n] · cols[n]ᵀ, reshaped to `w_shape`, where src is x when tiled_reads_x(win), else what
/// tiled_forward kept; with `bias_grad`, also gy summed over all axes but 1 there.
Tensor tiled_weight_grad(const Tensor& gy, const Tensor& src, const Shape& x_shape, const Shape& w_shape,
                         const Window2d& win, Tensor* bias_grad);

}  // namespace nabla::kernels
