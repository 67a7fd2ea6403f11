// src/kernels/norm.cpp — batch normalization over the channels of [N, C, …] in one kernel each way:
// per channel, the mean and biased variance (two passes), then y = a (x − μ) + β with
// a = γ / √(σ² + ε); backward in two passes (the sums, then dx = k₁ dy + k₂ (x − μ) + k₃; x − μ
// rather than x, so that a large mean does not cancel away the digits). Each channel is
// one thread's, so the bits do not depend on the thread count; the sums of each contiguous run of
// a channel are partial_sums in T (reduce.hpp), added into a double.
#include <cmath>

#include "../parallel.hpp"
#include "reduce.hpp"
#include "nabla/kernels.hpp"

namespace nabla::kernels {

namespace {

struct Layout {
  std::int64_t n, c, s;  // x seen as [n, c, s]
};

Layout layout_of(const Shape& shape) {
  Layout l{shape[0], shape[1], 1};
  for (int k = 2; k < shape.rank(); ++k) l.s *= shape[k];
  return l;
}

}  // namespace

Tensor batch_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, Tensor& mean, Tensor& var) {
  const Layout L = layout_of(x.shape());
  Tensor y = empty(x.shape(), x.dtype());
  mean = empty({L.c}, x.dtype());
  var = empty({L.c}, x.dtype());
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* pw = weight.data<T>();
    const T* pb = bias.data<T>();
    T* py = y.mutable_data<T>();
    T* pm = mean.mutable_data<T>();
    T* pv = var.mutable_data<T>();
    const double count = double(L.n * L.s);
    detail::parallel_for(L.c, 1, [&](std::int64_t c0, std::int64_t c1) {
      for (std::int64_t c = c0; c < c1; ++c) {
        double sum = 0;
        for (std::int64_t n = 0; n < L.n; ++n) {
          const T* p = px + (n * L.c + c) * L.s;
          sum += double(partial_sums<T>(L.s, [&](std::int64_t i) { return p[i]; }));
        }
        const T m = T(sum / count);
        double sq = 0;
        for (std::int64_t n = 0; n < L.n; ++n) {
          const T* p = px + (n * L.c + c) * L.s;
          sq += double(partial_sums<T>(L.s, [&](std::int64_t i) { return (p[i] - m) * (p[i] - m); }));
        }
        const T r = T(1.0 / std::sqrt(sq / count + eps));
        pv[c] = T(sq / count);
        const T a = pw[c] * r, b = pb[c];
        for (std::int64_t n = 0; n < L.n; ++n) {
          const T* p = px + (n * L.c + c) * L.s;
          T* q = py + (n * L.c + c) * L.s;
          for (std::int64_t i = 0; i < L.s; ++i) q[i] = a * (p[i] - m) + b;
        }
        pm[c] = m;
      }
    });
  });
  return y;
}

void batch_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& var, double eps,
                         const Tensor& dy, Tensor& dx, Tensor& dweight, Tensor& dbias) {
  const Layout L = layout_of(x.shape());
  dx = empty(x.shape(), x.dtype());
  dweight = empty({L.c}, x.dtype());
  dbias = empty({L.c}, x.dtype());
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* pg = dy.data<T>();
    const T* pw = weight.data<T>();
    const T* pm = mean.data<T>();
    const T* pv = var.data<T>();
    T* pdx = dx.mutable_data<T>();
    T* pdw = dweight.mutable_data<T>();
    T* pdb = dbias.mutable_data<T>();
    const double count = double(L.n * L.s);
    detail::parallel_for(L.c, 1, [&](std::int64_t c0, std::int64_t c1) {
      for (std::int64_t c = c0; c < c1; ++c) {
        const T m = pm[c], r = T(1.0 / std::sqrt(double(pv[c]) + eps));  // forward's r, the same rounding
        double sdy = 0, sdyd = 0;  // Σ dy and Σ dy (x − μ)
        for (std::int64_t n = 0; n < L.n; ++n) {
          const T* p = px + (n * L.c + c) * L.s;
          const T* g = pg + (n * L.c + c) * L.s;
          sdy += double(partial_sums<T>(L.s, [&](std::int64_t i) { return g[i]; }));
          sdyd += double(partial_sums<T>(L.s, [&](std::int64_t i) { return g[i] * (p[i] - m); }));
        }
        // dx = γ r (dy − Σdy/n − x̂ Σ(dy x̂)/n) with x̂ = (x − μ) r: k₁ dy + k₂ (x − μ) + k₃.
        const double k1 = double(pw[c]) * double(r);
        const double k2 = -k1 * double(r) * double(r) * sdyd / count;
        const double k3 = -k1 * sdy / count;
        const T a = T(k1), b = T(k2), e = T(k3);
        for (std::int64_t n = 0; n < L.n; ++n) {
          const T* p = px + (n * L.c + c) * L.s;
          const T* g = pg + (n * L.c + c) * L.s;
          T* q = pdx + (n * L.c + c) * L.s;
          for (std::int64_t i = 0; i < L.s; ++i) q[i] = a * g[i] + b * (p[i] - m) + e;
        }
        pdw[c] = T(sdyd * double(r));
        pdb[c] = T(sdy);
      }
    });
  });
}

}  // namespace nabla::kernels
