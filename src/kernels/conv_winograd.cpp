// src/kernels/conv_winograd.cpp — float32 3×3 stride-1 convolution as Winograd F(2×2, 3×3) (Lavin and
// Gray, 2016), forward and input gradient, and the rule that picks it (docs/design.md, "Winograd
// F(2×2, 3×3)", with the measurements). Each 2×2 block of outputs takes 16 products per channel pair
// instead of 36: the filters are transformed once (U = G g Gᵀ, [16, F, C]), then, over
// blocks of tile rows that stay in L2, the input tiles (V = Bᵀ d B, [16, C, tiles]; the level's loops),
// 16 products M[ξ] = U[ξ] · V[ξ] (the level's GEMM tiles, or the BLAS at generic level) and the output
// transform (Y = Aᵀ M A, with the bias; the level's loops). The input gradient of a stride-1 3×3
// convolution is the same computation on gy with the filters flipped and transposed, padded 2 − pad.
#include "conv_winograd.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>

#include "conv_tiled.hpp"
#include "gemm.hpp"
#include "level/level.hpp"
#include "../parallel.hpp"

namespace nabla::kernels {

namespace {
using i64 = std::int64_t;

Conv3x3Algorithm from_env() {
  const char* v = std::getenv("NABLA_CONV3X3");
  if (v == nullptr || *v == '\0' || std::string(v) == "automatic") return Conv3x3Algorithm::automatic;
  if (std::string(v) == "direct") return Conv3x3Algorithm::direct;
  if (std::string(v) == "winograd") return Conv3x3Algorithm::winograd;
  throw ValueError("conv2d: NABLA_CONV3X3 must be automatic, direct or winograd, got '" + std::string(v) + "'");
}

// -1: not read from the environment yet.
std::atomic<int> g_algorithm{-1};

/// Whether Winograd computes this convolution at all: float32 is the caller's test; 3×3, stride 1.
bool fits(const Shape& w_shape, const Window2d& win) {
  return win.kh == 3 && win.kw == 3 && win.stride == 1 && w_shape.rank() == 4 && w_shape[2] == 3 && w_shape[3] == 3;
}

/// The measured rule (docs/design.md, "Winograd F(2×2, 3×3)":
/// bench_winograd --sweep, one thread, AVX-512 level, CPU time, medians of 3 alternating rounds, over
/// N ∈ {1, 16, 64}, H = W ∈ {7, 14, 28, 56}, C ∈ {4 … 128}, F ∈ {C, C/2}). c channels are summed (C of
/// the forward, F of the input gradient), f produced, over n images of oh × ow outputs.
/// (Figures: the direct time over Winograd's.)
/// - Fewer than 16 summed channels: each product is too short to pay for the transforms for sure (C = 4,
///   8: 0.30–1.95×, often below 1; bn_cnn's first layer, C = 1: 0.28× forward).
/// - Fewer than about 3000 output pixels per call (N·Ho·Wo; batch 1 at 28 × 28, batch 16 at 7 × 7):
///   the filter transform (F·C·16 values a call) and the short blocks cost more than the products save
///   (0.13–1.39×, 0.4–0.6× typical).
/// - Forward on large planes with few channels (56 × 56, C = 16: 0.82–1.01× at batch 16 and 64, where
///   the direct tiles stream well): only from C = 32 there (1.03–1.64×).
/// - Input gradient on planes under 10 × 10 (7 × 7 at batch 64: 0.83–1.22×, the 2×2 tiles waste a
///   quarter of 7 × 7): direct.
/// Everywhere the rule picks Winograd the sweep measured 1.03–1.97× (forward, 48 shapes) and 1.06–2.93×
/// (input gradient, 39 shapes); it leaves some wins out (C = 8 up to 1.47×, C = 16 at 56 × 56) rather than
/// take a loss; bn_cnn's layers 2–4 at batch 64: 1.45–1.68× forward, 1.16–1.46× input gradient (at the
/// avx2 level 1.47–1.74× and 1.62–1.95×). At
/// generic level (products on OpenBLAS, transforms in baseline code) it was not measured to pay:
/// direct unless forced.
bool pays(i64 c, i64 f, i64 n, i64 oh, i64 ow, bool input_grad) {
  if (level_kernels().conv != ConvKind::tiles) return false;
  const i64 plane = oh * ow;
  if (c < 16 || f < 8 || n * plane < 3000) return false;
  return input_grad ? plane >= 100 : (c >= 32 || plane <= 1024);
}

bool chosen(i64 c, i64 f, i64 n, i64 oh, i64 ow, bool input_grad) {
  switch (conv3x3_algorithm()) {
    case Conv3x3Algorithm::direct: return false;
    case Conv3x3Algorithm::winograd: return true;
    case Conv3x3Algorithm::automatic: break;
  }
  return pays(c, f, n, oh, ow, input_grad);
}

/// U[ξ][o][i] = (G g Gᵀ)[ξ] for the 3×3 filter g = w[o][i] (or, transposed and flipped, w[i][o] turned
/// 180°), computed in double and rounded once: [16, out, in].
Tensor transform_filters(const Tensor& w, bool flip) {
  const i64 f = w.shape()[0], c = w.shape()[1];
  const i64 outs = flip ? c : f, ins = flip ? f : c;
  Tensor u = empty(Shape{16, outs, ins}, Dtype::f32);
  const float* pw = w.data<float>();
  float* pu = u.mutable_data<float>();
  for (i64 o = 0; o < outs; ++o) {
    for (i64 i = 0; i < ins; ++i) {
      double g[3][3];
      const float* src = pw + (flip ? i * c + o : o * c + i) * 9;
      for (int p = 0; p < 3; ++p) {
        for (int q = 0; q < 3; ++q) g[p][q] = flip ? src[(2 - p) * 3 + (2 - q)] : src[p * 3 + q];
      }
      double t[4][3];  // G g
      for (int q = 0; q < 3; ++q) {
        t[0][q] = g[0][q];
        t[1][q] = 0.5 * (g[0][q] + g[1][q] + g[2][q]);
        t[2][q] = 0.5 * (g[0][q] - g[1][q] + g[2][q]);
        t[3][q] = g[2][q];
      }
      for (int r = 0; r < 4; ++r) {  // (G g) Gᵀ
        const double s[4] = {t[r][0], 0.5 * (t[r][0] + t[r][1] + t[r][2]), 0.5 * (t[r][0] - t[r][1] + t[r][2]), t[r][2]};
        for (int k = 0; k < 4; ++k) pu[((r * 4 + k) * outs + o) * ins + i] = static_cast<float>(s[k]);
      }
    }
  }
  return u;
}

/// Tile rows per block, for tw1 tiles a row (junk included): at most about 96 tiles (V and M of 64 + 64
/// channels then about 0.8 MB, within a 1 MiB L2; measured on bn_cnn's layers, blocks of 32 to 1024 tiles:
/// 64–96 fastest), and of those counts the one that fills the GEMM tiles' columns (2 vectors wide) best.
i64 block_rows(i64 tw1, i64 rows, i64 lanes) {
  static const i64 forced = [] {
    const char* v = std::getenv("NABLA_WINOGRAD_BLOCK");  // tiles per block, for measurements only
    return v != nullptr ? std::atol(v) : 0L;
  }();
  if (forced > 0) return std::clamp<i64>(forced / tw1, 1, rows);
  const i64 most = std::clamp<i64>(96 / tw1, 1, rows), cols = 2 * std::max<i64>(lanes, 1);
  i64 best = 1;
  double fill = 0;
  for (i64 per = 1; per <= most; ++per) {
    const i64 nt = per * tw1;
    const double f = double(nt) / double((nt + cols - 1) / cols * cols);
    if (f >= fill - 1e-9) {
      best = per;
      fill = f;
    }
  }
  return best;
}

/// y [n, f, oh, ow] = bias + the convolution of x [n, c, h, w] (read at offset −pad) with the
/// transformed filters u [16, f, c].
Tensor run(const float* x, i64 n, i64 c, i64 h, i64 w, const Tensor& u, i64 f, const float* bias, i64 pad, i64 oh, i64 ow) {
  Tensor y = empty(Shape{n, f, oh, ow}, Dtype::f32);
  if (n == 0 || f == 0 || oh <= 0 || ow <= 0) return y;
  const LevelKernels& lk = level_kernels();
  const i64 th = (oh + 1) / 2, tw = (ow + 1) / 2, rows = n * th;
  const WinoDims d{n, c, h, w, f, oh, ow, pad, th, tw};
  const i64 per = block_rows(tw + 1, rows, lk.lanes), blocks = (rows + per - 1) / per, ld = per * (tw + 1);
  const bool tiles = lk.conv == ConvKind::tiles;
  Tensor packed;  // the 16 U[ξ] as the level's GEMM reads them, one after another
  i64 panel = 0;
  if (tiles && c > 0) {
    const i64 mr = lk.tiles.tile_rows;
    panel = (f + mr - 1) / mr * mr * c;
    packed = empty(Shape{16 * panel}, Dtype::f32);
    for (i64 k = 0; k < 16; ++k) {
      const Tensor one = pack_panels(u.data<float>() + k * f * c, f, c, c, 1, mr);
      std::copy(one.data<float>(), one.data<float>() + panel, packed.mutable_data<float>() + k * panel);
    }
  }
  const float* pu = u.data<float>();
  const float* pp = tiles && c > 0 ? packed.data<float>() : nullptr;
  float* py = y.mutable_data<float>();
  detail::parallel_for(blocks, 1, [&](i64 b0, i64 b1) {
    Tensor vt = empty(Shape{16 * std::max<i64>(c, 1) * ld}, Dtype::f32), mt = empty(Shape{16 * f * ld}, Dtype::f32);
    float* v = vt.mutable_data<float>();
    float* m = mt.mutable_data<float>();
    Tensor wt = empty(Shape{lk.winograd.work_floats(d, per)}, Dtype::f32);
    float* work = wt.mutable_data<float>();
    for (i64 b = b0; b < b1; ++b) {
      const i64 r0 = b * per, r1 = std::min(rows, r0 + per), nt = (r1 - r0) * (tw + 1);
      lk.winograd.input(x, v, ld, d, r0, r1, work);
      for (i64 k = 0; k < 16; ++k) {
        float* mk = m + k * f * ld;
        if (c == 0) {
          std::fill(mk, mk + f * ld, 0.0f);
        } else if (tiles) {
          lk.tiles.gemm(f, nt, c, pp + k * panel, v + k * c * ld, ld, mk, ld, nullptr);
        } else {
          blas_gemm<float>(false, false, f, nt, c, pu + k * f * c, c, v + k * c * ld, ld, mk, ld);
        }
      }
      lk.winograd.output(m, ld, py, bias, d, r0, r1, work);
    }
  });
  return y;
}
}  // namespace

Conv3x3Algorithm set_conv3x3_algorithm(Conv3x3Algorithm a) {
  const Conv3x3Algorithm before = conv3x3_algorithm();
  g_algorithm.store(static_cast<int>(a));
  return before;
}

Conv3x3Algorithm conv3x3_algorithm() {
  int a = g_algorithm.load();
  if (a < 0) {
    a = static_cast<int>(from_env());
    g_algorithm.store(a);
  }
  return static_cast<Conv3x3Algorithm>(a);
}

bool winograd_forward_chosen(const Shape& x_shape, const Shape& w_shape, const Window2d& win) {
  return fits(w_shape, win) && chosen(x_shape[1], w_shape[0], x_shape[0], win.out_h(x_shape[2]), win.out_w(x_shape[3]), false);
}

bool winograd_input_grad_chosen(const Shape& x_shape, const Shape& w_shape, const Window2d& win) {
  // gx [N, C, H, W] from gy [N, F, Ho, Wo]: F channels summed, C produced, an H × W output.
  return fits(w_shape, win) && chosen(w_shape[0], x_shape[1], x_shape[0], x_shape[2], x_shape[3], true);
}

bool conv_uses_winograd(const Shape& x_shape, const Shape& w_shape, const Window2d& win) {
  return x_shape.rank() == 4 && winograd_forward_chosen(x_shape, w_shape, win);
}

Tensor winograd_forward(const Tensor& x, const Tensor& w, const Tensor& bias, std::int64_t pad) {
  const Shape& s = x.shape();
  const i64 f = w.shape()[0];
  return run(x.data<float>(), s[0], s[1], s[2], s[3], transform_filters(w, false), f,
             bias.defined() ? bias.data<float>() : nullptr, pad, s[2] + 2 * pad - 2, s[3] + 2 * pad - 2);
}

Tensor winograd_input_grad(const Tensor& w, const Tensor& gy, const Shape& x_shape, std::int64_t pad) {
  const Shape& s = gy.shape();
  return run(gy.data<float>(), s[0], s[1], s[2], s[3], transform_filters(w, true), x_shape[1], nullptr, 2 - pad, x_shape[2],
             x_shape[3]);
}

}  // namespace nabla::kernels
