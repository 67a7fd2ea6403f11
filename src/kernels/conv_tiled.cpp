// src/kernels/conv_tiled.cpp — float32 convolution with nabla's own GEMM tiles, image by image,
// straight from and to NCHW (docs/design.md, "Convolution and pooling"): the tensors, threads and
// packing here, the vector loops of the level cpu_info() chose in level/conv.cpp (LevelKernels::tiles).
// conv.cpp calls it at the levels whose ConvKind is tiles.
#include "conv_tiled.hpp"

#include <algorithm>

#include "im2col.hpp"
#include "level/level.hpp"
#include "../parallel.hpp"

namespace nabla::kernels {

namespace {
ConvDims conv_dims(const Dims& d, const Window2d& win) {
  return {d.n, d.c, d.h, d.w, d.oh, d.ow, win.kh, win.kw, win.stride, win.padding};
}

/// The inside of each padded plane of g [N, C, H + 2p, W + 2p]: [N, C, H, W].
Tensor crop_planes(const Tensor& g, std::int64_t p) {
  const Shape& s = g.shape();
  const std::int64_t ph = s[2], pw = s[3], h = ph - 2 * p, w = pw - 2 * p;
  Tensor out = empty(Shape{s[0], s[1], h, w}, Dtype::f32);
  const float* pg = g.data<float>();
  float* po = out.mutable_data<float>();
  detail::parallel_for(s[0] * s[1], 16, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t plane = b; plane < e; ++plane) {
      for (std::int64_t i = 0; i < h; ++i) {
        const float* src = pg + plane * ph * pw + (i + p) * pw + p;
        std::copy(src, src + w, po + plane * h * w + i * w);
      }
    }
  });
  return out;
}

Window2d unpadded(Window2d win) {
  win.padding = 0;
  return win;
}
}  // namespace

Tensor pack_panels(const float* a, std::int64_t m, std::int64_t k, std::int64_t rs, std::int64_t cs, std::int64_t mr) {
  Tensor packed = empty(Shape{(m + mr - 1) / mr * k * mr}, Dtype::f32);
  pack_panels(a, m, k, rs, cs, mr, packed.mutable_data<float>());
  return packed;
}

void pack_panels(const float* a, std::int64_t m, std::int64_t k, std::int64_t rs, std::int64_t cs, std::int64_t mr, float* out) {
  const std::int64_t panels = (m + mr - 1) / mr;
  for (std::int64_t p = 0; p < panels; ++p) {
    const float* ap = a + p * mr * rs;
    const std::int64_t rows = std::min(mr, m - p * mr);
    float* op = out + p * k * mr;
    for (std::int64_t kk = 0; kk < k; ++kk) {
      for (std::int64_t r = 0; r < mr; ++r) op[kk * mr + r] = r < rows ? ap[r * rs + kk * cs] : 0.0f;
    }
  }
}

Tensor pad_planes(const Tensor& x, std::int64_t p) {
  const Shape& s = x.shape();
  const std::int64_t h = s[2], w = s[3], ph = h + 2 * p, pw = w + 2 * p;
  Tensor out = empty(Shape{s[0], s[1], ph, pw}, Dtype::f32);
  const float* px = x.data<float>();
  float* po = out.mutable_data<float>();
  detail::parallel_for(s[0] * s[1], 16, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t plane = b; plane < e; ++plane) {
      float* dst = po + plane * ph * pw;
      const float* src = px + plane * h * w;
      std::fill(dst, dst + p * pw, 0.0f);
      for (std::int64_t i = 0; i < h; ++i) {
        float* row = dst + (i + p) * pw;
        std::fill(row, row + p, 0.0f);
        std::copy(src + i * w, src + (i + 1) * w, row + p);
        std::fill(row + p + w, row + pw, 0.0f);
      }
      std::fill(dst + (h + p) * pw, dst + ph * pw, 0.0f);
    }
  });
  return out;
}

Tensor tiled_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Window2d& win, Tensor* cols) {
  if (win.stride == 1 && win.padding > 0) {  // the padded input, convolved without padding, is what backward reads
    Tensor xp = pad_planes(x, win.padding);
    Tensor y = tiled_forward(xp, w, bias, unpadded(win), nullptr);
    if (cols != nullptr) *cols = std::move(xp);
    return y;
  }
  const ConvTiles& lk = level_kernels().tiles;
  const Dims d = dims_of(x.shape(), win);
  const ConvDims cd = conv_dims(d, win);
  const std::int64_t f = w.shape()[0], k = d.c * win.kh * win.kw, plane = d.oh * d.ow, image = d.c * d.h * d.w;
  Tensor y = empty(Shape{d.n, f, d.oh, d.ow}, Dtype::f32);
  const Tensor packed = pack_panels(w.data<float>(), f, k, k, 1, lk.tile_rows);
  // Each image's columns [k, P]: kept image after image in *cols when asked for, else a scratch
  // block per thread.
  float* pcols = nullptr;
  if (cols != nullptr) {
    *cols = empty(Shape{d.n, k, plane}, Dtype::f32);
    pcols = cols->mutable_data<float>();
  }
  const float* pb = bias.defined() ? bias.data<float>() : nullptr;
  const float* px = x.data<float>();
  const float* pw = packed.data<float>();
  float* py = y.mutable_data<float>();
  detail::parallel_for(d.n, 1, [&](std::int64_t n0, std::int64_t n1) {
    Tensor scratch;
    if (pcols == nullptr) scratch = empty(Shape{k, plane}, Dtype::f32);
    for (std::int64_t n = n0; n < n1; ++n) {
      float* cn = pcols != nullptr ? pcols + n * k * plane : scratch.mutable_data<float>();
      if (win.stride == 1 && win.padding == 0) {
        lk.im2col_s1(px + n * image, cn, plane, cd);
      } else {
        im2col_range(px, n, n + 1, cn, plane, d, win);
      }
      lk.gemm(f, plane, k, pw, cn, plane, py + n * f * plane, plane, pb);
    }
  });
  return y;
}

Tensor tiled_input_grad(const Tensor& w, const Tensor& gy, const Shape& x_shape, const Window2d& win) {
  const ConvTiles& lk = level_kernels().tiles;
  if (win.stride == 1 && win.padding > 0 && win.kw <= lk.max_taps) {  // the gather of col2im_s1, then a crop
    const std::int64_t p = win.padding;
    const Shape padded{x_shape[0], x_shape[1], x_shape[2] + 2 * p, x_shape[3] + 2 * p};
    return crop_planes(tiled_input_grad(w, gy, padded, unpadded(win)), p);
  }
  const Dims d = dims_of(x_shape, win);
  const ConvDims cd = conv_dims(d, win);
  const std::int64_t f = w.shape()[0], k = d.c * win.kh * win.kw, plane = d.oh * d.ow, image = d.c * d.h * d.w;
  Tensor gx = empty(x_shape, Dtype::f32);
  const Tensor packed = pack_panels(w.data<float>(), k, f, 1, k, lk.tile_rows);  // Wᵀ [k, f]
  float* px = gx.mutable_data<float>();
  const float* pw = packed.data<float>();
  const float* pg = gy.data<float>();
  detail::parallel_for(d.n, 1, [&](std::int64_t n0, std::int64_t n1) {
    Tensor block = empty(Shape{k, plane}, Dtype::f32);
    float* pblk = block.mutable_data<float>();
    for (std::int64_t n = n0; n < n1; ++n) {
      // Wᵀ · G_n [k, P], with G_n = gy[n] read in place, then summed back into image n.
      lk.gemm(k, plane, f, pw, pg + n * f * plane, plane, pblk, plane, nullptr);
      if (win.stride == 1 && win.padding == 0 && win.kw <= lk.max_taps) {
        lk.col2im_s1(pblk, px + n * image, cd);
      } else {
        std::fill(px + n * image, px + (n + 1) * image, 0.0f);
        col2im_range(pblk, plane, n, n + 1, px, d, win);
      }
    }
  });
  return gx;
}

bool tiled_reads_x(const Window2d& win) { return win.stride == 1 && win.padding == 0; }

Tensor tiled_weight_grad(const Tensor& gy, const Tensor& src, const Shape& x_shape, const Shape& w_shape,
                         const Window2d& win, Tensor* bias_grad) {
  const ConvTiles& lk = level_kernels().tiles;
  const std::int64_t n = gy.shape()[0], f = gy.shape()[1], oh = gy.shape()[2], ow = gy.shape()[3], plane = oh * ow;
  const std::int64_t k = x_shape[1] * win.kh * win.kw;
  Tensor gw = zeros(Shape{f, k}, Dtype::f32);
  // gw [f, k] = Σ_i G_i · cols_iᵀ with vectors along f: the gradient is transposed once (it is small,
  // [N, P, f]) and each panel of rows of cols is read once, in place, for nv vectors of filters at a
  // time. G transposed to [N, P, ldg], ldg: f rounded up to whole tiles of lanes·nv (the tiles read
  // whole tiles), the lanes past f zero.
  const std::int64_t lanes = level_kernels().lanes;
  // at least one vector: no filters (f = 0) must not make the tile width 0 and divide by it
  const std::int64_t nv = std::max<std::int64_t>(1, std::min((f + lanes - 1) / lanes, lk.max_vectors)), ldg = (f + lanes * nv - 1) / (lanes * nv) * (lanes * nv);
  Tensor gt = empty(Shape{n * plane, ldg}, Dtype::f32);  // every lane is written below
  const float* pg = gy.data<float>();
  float* pt = gt.mutable_data<float>();
  detail::parallel_for(n, 4, [&](std::int64_t i0, std::int64_t i1) {
    for (std::int64_t i = i0; i < i1; ++i) lk.transpose(pg + i * f * plane, pt + i * plane * ldg, f, plane, ldg);
  });
  if (bias_grad != nullptr) *bias_grad = plane_sums(gy);
  if (k > 0 && n > 0 && f > 0) {
    // Stride 1 reads x, or the padded x forward kept, in place.
    const bool implicit = win.stride == 1;
    const std::int64_t h = x_shape[2] + 2 * win.padding, w = x_shape[3] + 2 * win.padding;
    const ColsView a{src.data<float>(), implicit ? x_shape[1] * h * w : k * plane, implicit ? w : ow, implicit, plane, win.kh,
                     win.kw, h, w};
    float* pw = gw.mutable_data<float>();
    // Panels are made equal (K = 25 in 13 + 12, not 24 + 1), as a tile's work is its full rows anyway.
    const std::int64_t mr = lk.wgrad_rows[nv], panels = (k + mr - 1) / mr, per = (k + panels - 1) / panels;
    detail::parallel_for(panels, 1, [&](std::int64_t p0, std::int64_t p1) {
      for (std::int64_t k0 = p0 * per; k0 < std::min(k, p1 * per); k0 += per) {
        lk.wgrad(nv, n, oh, ow, a, k0, std::min(per, k - k0), pt, ldg, pw + k0, k, f);
      }
    });
  }
  return gw.reshape(w_shape);
}

}  // namespace nabla::kernels
