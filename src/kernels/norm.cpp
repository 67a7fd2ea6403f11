// src/kernels/norm.cpp — batch normalization over the channels of [N, C, …] in one kernel each way:
// per channel, the mean and biased variance (two passes), then y = a (x − μ) + β with
// a = γ / √(σ² + ε); backward in two passes (the sums, then dx = k₁ dy + k₂ (x − μ) + k₃; x − μ
// rather than x, so that a large mean does not cancel away the digits). Each channel is
// one thread's, so the bits do not depend on the thread count; the sums of each contiguous run of
// a channel are partial_sums in T (reduce.hpp), added into a double.
//
// Under autocast x may be bfloat16 with float32 γ, β (batch norm is on autocast's float32 list): each
// channel of x is widened into the thread's float32 buffer first (exactly), and dx rounded once to
// bfloat16 as it is written, so the bits are those of x.to(f32), the float32 kernel, then dx's cast
// — without the float32 copies of x and dx the size of the whole batch.
#include <cmath>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "../parallel.hpp"
#include "reduce.hpp"
#include "nabla/kernels.hpp"
#include "nabla/toolkit.hpp"

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

/// The runs of one channel of x as T: run n at base + n·stride — x's own memory when x holds T,
/// else (bfloat16 x, T = float) the runs widened into `buf`.
template <class T>
struct ChannelRuns {
  const T* base;
  std::int64_t stride;
  const T* operator[](std::int64_t n) const { return base + n * stride; }
};

template <class T>
ChannelRuns<T> channel_runs(const Tensor& x, const Layout& L, std::int64_t c, std::vector<T>& buf) {
  if (x.dtype() == (std::is_same_v<T, float> ? Dtype::f32 : Dtype::f64)) return {x.data<T>() + c * L.s, L.c * L.s};
  if constexpr (std::is_same_v<T, float>) {
    buf.resize(static_cast<std::size_t>(L.n * L.s));
    const bfloat16* px = x.data<bfloat16>();
    for (std::int64_t n = 0; n < L.n; ++n) bf16_to_float(px + (n * L.c + c) * L.s, buf.data() + n * L.s, L.s);
    return {buf.data(), L.s};
  }
  throw ValueError(fmt::format("batch_norm: input {} with float64 weight", dtype_name(x.dtype())));
}

/// x and the parameters' dtype T agree, or x is bfloat16 and T float32 (autocast).
void check_mixed(const Tensor& x, const Tensor& weight) {
  if (x.dtype() == weight.dtype() || (x.dtype() == Dtype::bf16 && weight.dtype() == Dtype::f32)) return;
  throw ValueError(fmt::format("batch_norm: input {} with {} weight; expected the same dtype (or a bf16 input with "
                               "f32 weight, under autocast)", dtype_name(x.dtype()), dtype_name(weight.dtype())));
}

}  // namespace

Tensor batch_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, Tensor& mean, Tensor& var) {
  check_mixed(x, weight);
  const Layout L = layout_of(x.shape());
  const Dtype dt = weight.dtype();
  Tensor y = empty(x.shape(), dt);
  mean = empty({L.c}, dt);
  var = empty({L.c}, dt);
  dispatch_float(dt, "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    const T* pw = weight.data<T>();
    const T* pb = bias.data<T>();
    T* py = y.mutable_data<T>();
    T* pm = mean.mutable_data<T>();
    T* pv = var.mutable_data<T>();
    const double count = double(L.n * L.s);
    detail::parallel_for(L.c, 1, [&](std::int64_t c0, std::int64_t c1) {
      static thread_local std::vector<T> buf;  // kept: a fresh one per call would be mapped and faulted in
      for (std::int64_t c = c0; c < c1; ++c) {
        const ChannelRuns<T> px = channel_runs(x, L, c, buf);
        double sum = 0;
        for (std::int64_t n = 0; n < L.n; ++n) {
          const T* p = px[n];
          sum += double(partial_sums<T>(L.s, [&](std::int64_t i) { return p[i]; }));
        }
        const T m = T(sum / count);
        double sq = 0;
        for (std::int64_t n = 0; n < L.n; ++n) {
          const T* p = px[n];
          sq += double(partial_sums<T>(L.s, [&](std::int64_t i) { return (p[i] - m) * (p[i] - m); }));
        }
        const T r = T(1.0 / std::sqrt(sq / count + eps));
        pv[c] = T(sq / count);
        const T a = pw[c] * r, b = pb[c];
        for (std::int64_t n = 0; n < L.n; ++n) {
          const T* p = px[n];
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
  check_mixed(x, weight);
  const Layout L = layout_of(x.shape());
  const Dtype dt = weight.dtype();
  if (dy.dtype() != dt) {
    throw ValueError(fmt::format("batch_norm_backward: output gradient {}; expected {}", dtype_name(dy.dtype()), dtype_name(dt)));
  }
  dx = empty(x.shape(), x.dtype());
  dweight = empty({L.c}, dt);
  dbias = empty({L.c}, dt);
  dispatch_float(dt, "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = dy.data<T>();
    const T* pw = weight.data<T>();
    const T* pm = mean.data<T>();
    const T* pv = var.data<T>();
    const bool same = x.dtype() == dt;  // else dx is bfloat16: each run computed in T, then rounded
    T* pdx = same ? dx.mutable_data<T>() : nullptr;
    bfloat16* pdx16 = same ? nullptr : dx.mutable_data<bfloat16>();  // taken here: mutable_data is not for the pool's threads
    T* pdw = dweight.mutable_data<T>();
    T* pdb = dbias.mutable_data<T>();
    const double count = double(L.n * L.s);
    detail::parallel_for(L.c, 1, [&](std::int64_t c0, std::int64_t c1) {
      static thread_local std::vector<T> buf;
      std::vector<T> run(same ? 0 : static_cast<std::size_t>(L.s));
      for (std::int64_t c = c0; c < c1; ++c) {
        const ChannelRuns<T> px = channel_runs(x, L, c, buf);
        const T m = pm[c], r = T(1.0 / std::sqrt(double(pv[c]) + eps));  // forward's r, the same rounding
        double sdy = 0, sdyd = 0;  // Σ dy and Σ dy (x − μ)
        for (std::int64_t n = 0; n < L.n; ++n) {
          const T* p = px[n];
          const T* g = pg + (n * L.c + c) * L.s;
          sdy += double(partial_sums<T>(L.s, [&](std::int64_t i) { return g[i]; }));
          sdyd += double(partial_sums<T>(L.s, [&](std::int64_t i) { return g[i] * (p[i] - m); }));
        }
        // dx = γ r (dy − Σdy/n − x̂ Σ(dy x̂)/n) with x̂ = (x − μ) r: k₁ dy + k₂ (x − μ) + k₃.
        const double k1 = double(pw[c]) * double(r);
        const double k2 = -k1 * double(r) * double(r) * sdyd / count;
        const double k3 = -k1 * sdy / count;
        const T a = T(k1), b = T(k2), e = T(k3);
        auto dx_run = [&](const T* __restrict p, const T* __restrict g, T* __restrict q) {
          for (std::int64_t i = 0; i < L.s; ++i) q[i] = a * g[i] + b * (p[i] - m) + e;
        };
        for (std::int64_t n = 0; n < L.n; ++n) {
          const T* g = pg + (n * L.c + c) * L.s;
          if (same) {
            dx_run(px[n], g, pdx + (n * L.c + c) * L.s);
          } else if constexpr (std::is_same_v<T, float>) {
            dx_run(px[n], g, run.data());
            float_to_bf16(run.data(), pdx16 + (n * L.c + c) * L.s, L.s);
          }
        }
        pdw[c] = T(sdyd * double(r));
        pdb[c] = T(sdy);
      }
    });
  });
}

}  // namespace nabla::kernels
