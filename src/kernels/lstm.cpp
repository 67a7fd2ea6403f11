// src/kernels/lstm.cpp — the fused LSTM recurrence (nabla/kernels.hpp: lstm_forward, lstm_backward).
//
// Forward, per step t: one product h_{t−1} W_hhᵀ [N, 4H], then one pass over each row computing
// z = (xw + b_ih) + (hw + b_hh), the gates i, f, g, o = σ, σ, tanh, σ of z, c = f·c_{t−1} + i·g and
// h = o·tanh c — the composed cells' operations in their order and rounding (float32: the level's
// sigmoid and tanh loops, as kernels::sigmoid and tanh), so the two paths give the same bits.
// Backward, from t = T−1 down: one pass per row giving dz_t (i, f, g, o) and dc_{t−1}, and one product
// dh_{t−1} = dz_t W_hh; after the loop the recurrent weight gradient is ONE product over all steps,
// dW_hh = dzᵀ [4H, T·N] · h_prev [T·N, H] (K = T·N), and the bias gradient one column sum of dz.
#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "nabla/kernels.hpp"

#include "gemm.hpp"
#include "level/level.hpp"

namespace nabla::kernels {

namespace {

using i64 = std::int64_t;

// σ and tanh of n elements in place: float32 through the level's loops (the bits kernels::sigmoid
// and kernels::tanh give), double with the scalar formula kernels.cpp uses.
void sigmoid_n(float* p, i64 n) { level_kernels().sigmoid(p, p, n); }
void tanh_n(float* p, i64 n) { level_kernels().tanh(p, p, n); }
void sigmoid_n(double* p, i64 n) {
  for (i64 i = 0; i < n; ++i) p[i] = 1 / (1 + std::exp(-p[i]));
}
void tanh_n(double* p, i64 n) {
  for (i64 i = 0; i < n; ++i) p[i] = std::tanh(p[i]);
}

template <class T>
const T* ptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

template <class T>
LstmForward forward_impl(const Tensor& xw, const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, const Tensor& h0,
                         const Tensor& c0, bool keep) {
  const i64 T_ = xw.shape()[0], N = xw.shape()[1], G = xw.shape()[2], H = G / 4;
  LstmForward r;
  r.out = empty({T_, N, H}, xw.dtype());
  r.h_n = empty({N, H}, xw.dtype());
  r.c_n = empty({N, H}, xw.dtype());
  Tensor gates_buf = keep ? empty({T_, N, G}, xw.dtype()) : empty({N, G}, xw.dtype());
  Tensor cells_buf = keep ? empty({T_, N, H}, xw.dtype()) : empty({2, N, H}, xw.dtype());
  Tensor tanh_buf = keep ? empty({T_, N, H}, xw.dtype()) : empty({N, H}, xw.dtype());
  const T* x = xw.data<T>();
  const T* w = w_hh.data<T>();
  const T *bi = ptr<T>(b_ih), *bh = ptr<T>(b_hh);
  T* out = r.out.mutable_data<T>();
  T* gates = gates_buf.mutable_data<T>();
  T* cells = cells_buf.mutable_data<T>();
  T* tcs = tanh_buf.mutable_data<T>();
  const T* h_prev = ptr<T>(h0);
  const T* c_prev = ptr<T>(c0);
  for (i64 t = 0; t < T_; ++t) {
    T* z = keep ? gates + t * N * G : gates;
    T* c = keep ? cells + t * N * H : cells + (t % 2) * N * H;
    T* tc = keep ? tcs + t * N * H : tcs;
    T* h = out + t * N * H;
    if (h_prev != nullptr) blas_gemm<T>(false, true, N, G, H, h_prev, H, w, H, z, G);  // h W_hhᵀ
    const T* xt = x + t * N * G;
    for (i64 n = 0; n < N; ++n) {
      T* zr = z + n * G;
      const T* xr = xt + n * G;
      // (xw + b_ih) + (hw + b_hh), each part only where the composed cell has it.
      for (i64 j = 0; j < G; ++j) {
        T a = bi != nullptr ? xr[j] + bi[j] : xr[j];
        if (h_prev != nullptr) a = a + (bh != nullptr ? zr[j] + bh[j] : zr[j]);
        else if (bh != nullptr) a = a + bh[j];
        zr[j] = a;
      }
      sigmoid_n(zr, 2 * H);      // i, f
      tanh_n(zr + 2 * H, H);     // g
      sigmoid_n(zr + 3 * H, H);  // o
      T* cr = c + n * H;
      const T* zi = zr;
      const T* zf = zr + H;
      const T* zg = zr + 2 * H;
      if (c_prev != nullptr) {
        const T* cp = c_prev + n * H;
        for (i64 j = 0; j < H; ++j) cr[j] = zf[j] * cp[j] + zi[j] * zg[j];
      } else {
        for (i64 j = 0; j < H; ++j) cr[j] = zi[j] * zg[j];
      }
    }
    std::memcpy(tc, c, sizeof(T) * std::size_t(N * H));
    tanh_n(tc, N * H);
    for (i64 n = 0; n < N; ++n) {
      const T* zo = z + n * G + 3 * H;
      for (i64 j = 0; j < H; ++j) h[n * H + j] = zo[j] * tc[n * H + j];
    }
    h_prev = h;
    c_prev = c;
  }
  std::memcpy(r.h_n.mutable_data<T>(), h_prev, sizeof(T) * std::size_t(N * H));
  std::memcpy(r.c_n.mutable_data<T>(), c_prev, sizeof(T) * std::size_t(N * H));
  if (keep) {
    r.gates = gates_buf;
    r.cells = cells_buf;
    r.tanh_cells = tanh_buf;
  }
  return r;
}

template <class T>
LstmGrads backward_impl(const LstmBackwardArgs& a) {
  const i64 T_ = a.gates.shape()[0], N = a.gates.shape()[1], G = a.gates.shape()[2], H = G / 4;
  const Dtype dt = a.gates.dtype();
  LstmGrads r;
  r.dz = empty({T_, N, G}, dt);
  T* dz = r.dz.mutable_data<T>();
  Tensor dh_buf = zeros({N, H}, dt), dc_buf = zeros({N, H}, dt);
  T* dh = dh_buf.mutable_data<T>();  // dh_t: the output's gradient plus dz_{t+1} W_hh
  T* dc = dc_buf.mutable_data<T>();  // dc_t from step t + 1
  if (a.gy_hn.defined()) std::memcpy(dh, a.gy_hn.data<T>(), sizeof(T) * std::size_t(N * H));
  if (a.gy_cn.defined()) std::memcpy(dc, a.gy_cn.data<T>(), sizeof(T) * std::size_t(N * H));
  const T* gy = ptr<T>(a.gy_out);
  const T* gates = a.gates.data<T>();
  const T* cells = a.cells.data<T>();
  const T* tcs = a.tanh_cells.data<T>();
  const T* c0 = ptr<T>(a.c0);
  const T* w = a.w_hh.data<T>();
  for (i64 t = T_ - 1; t >= 0; --t) {
    const T* cp_all = t > 0 ? cells + (t - 1) * N * H : c0;
    for (i64 n = 0; n < N; ++n) {
      const T* act = gates + (t * N + n) * G;
      const T* ig = act;
      const T* fg = act + H;
      const T* gg = act + 2 * H;
      const T* og = act + 3 * H;
      const T* tc = tcs + (t * N + n) * H;
      const T* cp = cp_all != nullptr ? cp_all + n * H : nullptr;
      const T* gyr = gy != nullptr ? gy + (t * N + n) * H : nullptr;
      T* dhr = dh + n * H;
      T* dcr = dc + n * H;
      T* d = dz + (t * N + n) * G;
      for (i64 j = 0; j < H; ++j) {
        const T dhj = gyr != nullptr ? dhr[j] + gyr[j] : dhr[j];
        const T o = og[j], tcj = tc[j];
        const T dcc = dcr[j] + dhj * o * (1 - tcj * tcj);
        const T i = ig[j], f = fg[j], g = gg[j];
        d[j] = dcc * g * (i * (1 - i));
        d[H + j] = cp != nullptr ? dcc * cp[j] * (f * (1 - f)) : T(0);
        d[2 * H + j] = dcc * i * (1 - g * g);
        d[3 * H + j] = dhj * tcj * (o * (1 - o));
        dcr[j] = dcc * f;
      }
    }
    if (t > 0 || a.need_h0) blas_gemm<T>(false, false, N, H, G, dz + t * N * G, G, w, H, dh, H);  // dz_t W_hh
  }
  if (a.need_h0) r.dh0 = dh_buf;
  if (a.need_c0) r.dc0 = dc_buf;
  if (a.need_w_hh) {
    r.dw_hh = empty({G, H}, dt);
    T* dw = r.dw_hh.mutable_data<T>();
    const T* out = a.out.data<T>();
    if (a.h0.defined()) {  // h_prev = [h0; h_0 … h_{T−2}]: one product over all T·N rows
      Tensor prev = empty({T_ * N, H}, dt);
      T* p = prev.mutable_data<T>();
      std::memcpy(p, a.h0.data<T>(), sizeof(T) * std::size_t(N * H));
      std::memcpy(p + N * H, out, sizeof(T) * std::size_t((T_ - 1) * N * H));
      blas_gemm<T>(true, false, G, H, T_ * N, dz, G, p, H, dw, H);
    } else {  // h_{−1} = 0: steps 1 … T−1 alone, straight from the output
      blas_gemm<T>(true, false, G, H, (T_ - 1) * N, dz + N * G, G, out, H, dw, H);
    }
  }
  if (a.need_bias) {
    r.db = zeros({G}, dt);
    T* db = r.db.mutable_data<T>();
    for (i64 row = 0; row < T_ * N; ++row) {
      const T* d = dz + row * G;
      for (i64 j = 0; j < G; ++j) db[j] += d[j];
    }
  }
  return r;
}

void check_lstm(std::string_view what, const Tensor& xw, const Tensor& w_hh) {
  if (xw.dim() != 3 || xw.shape()[2] % 4 != 0 || w_hh.dim() != 2 || w_hh.shape()[0] != xw.shape()[2] ||
      w_hh.shape()[1] * 4 != w_hh.shape()[0] || xw.dtype() != w_hh.dtype() || !is_floating(xw.dtype())) {
    throw ShapeError(fmt::format("{}: need xw [T, N, 4H] and w_hh [4H, H] of one float dtype, got {} {} and {} {}", what,
                                 xw.dtype(), xw.shape(), w_hh.dtype(), w_hh.shape()));
  }
}

}  // namespace

LstmForward lstm_forward(const Tensor& xw, const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, const Tensor& h0,
                         const Tensor& c0, bool keep) {
  check_lstm("kernels::lstm_forward", xw, w_hh);
  if (xw.dtype() == Dtype::f32) return forward_impl<float>(xw, w_hh, b_ih, b_hh, h0, c0, keep);
  return forward_impl<double>(xw, w_hh, b_ih, b_hh, h0, c0, keep);
}

LstmGrads lstm_backward(const LstmBackwardArgs& a) {
  check_lstm("kernels::lstm_backward", a.gates, a.w_hh);
  if (a.gates.dtype() == Dtype::f32) return backward_impl<float>(a);
  return backward_impl<double>(a);
}

}  // namespace nabla::kernels
