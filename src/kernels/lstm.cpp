// src/kernels/lstm.cpp — the fused LSTM recurrence (nabla/kernels.hpp: lstm_forward, lstm_backward).
//
// Forward, per step t: one product h_{t−1} W_hhᵀ [N, 4H], then one pass over each row computing
// z = (xw + b_ih) + (hw + b_hh), the gates i, f, g, o = σ, σ, tanh, σ of z, c = f·c_{t−1} + i·g and
// h = o·tanh c — the composed cells' elementwise operations in their order and rounding (the loops of
// level/lstm_rows.inc; float32 with the level's σ and tanh, as kernels::sigmoid and tanh). The
// products' sums may run in another order than the composed cells' BLAS calls.
// Backward, from t = T−1 down: one pass per row giving dz_t (i, f, g, o) and dc_{t−1}, and one product
// dh_{t−1} = dz_t W_hh; after the loop the recurrent weight gradient is ONE product over all steps,
// dW_hh = dzᵀ [4H, T·N] · h_prev [T·N, H] (K = T·N), and the bias gradient one column sum of dz.
// The per-step products (StepProduct) pack W_hh once per sequence for the level's GEMM tiles.
#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "nabla/kernels.hpp"

#include "conv_tiled.hpp"
#include "gemm.hpp"
#include "level/level.hpp"
#include "../parallel.hpp"

namespace nabla::kernels {

namespace {

using i64 = std::int64_t;

// The step loops (level/lstm_rows.inc): float32 through the level's table, float64 here with the
// scalar σ and tanh of kernels.cpp.
void lstm_sigmoid(double* p, i64 n) {
  for (i64 i = 0; i < n; ++i) p[i] = 1 / (1 + std::exp(-p[i]));
}
void lstm_tanh(double* p, i64 n) {
  for (i64 i = 0; i < n; ++i) p[i] = std::tanh(p[i]);
}
#include "level/lstm_rows.inc"

void step_forward(const LstmStep<float>& s) { level_kernels().lstm_forward_rows(s); }
void step_forward(const LstmStep<double>& s) { lstm_forward_rows(s); }
void step_backward(const LstmStepGrad<float>& s) { level_kernels().lstm_backward_rows(s); }
void step_backward(const LstmStepGrad<double>& s) { lstm_backward_rows(s); }

/// The per-step product c [m, n] = a [m, k] (rows lda apart) · op(b) [k, n] of the recurrence, with
/// op(b) fixed over the sequence. float32 at levels with the convolution's GEMM tiles: op(b) packed
/// ONCE into column panels of the tile width (BLAS packs it again at every call: for W_hh [4H, H]
/// that copy is as many loads as the product's own), a packed into row panels per call, then the
/// tiles, one column panel per task. Elsewhere (double, or the generic level) blas_gemm. Each element
/// of c is one tile's sum over k in order, so the bits do not depend on the thread count.
template <class T>
class StepProduct {
 public:
  /// op(b) element (kk, j) at b[kk·rs + j·cs]; `calls`: how many products will use it (packing
  /// once pays from two on).
  StepProduct(const T* b, i64 k, i64 n, i64 rs, i64 cs, i64 calls) : b_(b), k_(k), n_(n), rs_(rs), cs_(cs) {
    if constexpr (std::is_same_v<T, float>) {
      const LevelKernels& lk = level_kernels();
      if (lk.conv != ConvKind::tiles || calls < 2) return;
      tiles_ = &lk.tiles;
      nr_ = lk.tiles.tile_cols;
      bp_.resize(std::size_t((n + nr_ - 1) / nr_ * k * nr_));
      pack_panels(b, n, k, cs, rs, nr_, bp_.data());  // op(b)'s column panels: op(b)ᵀ's row panels
    }
  }

  void operator()(const T* a, i64 lda, i64 m, T* c, i64 ldc) {
    if constexpr (std::is_same_v<T, float>) {
      if (tiles_ != nullptr) {
        const i64 mr = tiles_->tile_rows;
        ap_.resize(std::size_t((m + mr - 1) / mr * k_ * mr));
        pack_panels(a, m, k_, lda, 1, mr, ap_.data());
        const i64 col_panels = (n_ + nr_ - 1) / nr_;
        const auto one = [&](i64 p) {
          tiles_->gemm(m, std::min(nr_, n_ - p * nr_), k_, ap_.data(), bp_.data() + p * k_ * nr_, nr_, c + p * nr_, ldc, nullptr);
        };
        if (detail::thread_count() <= 1 || m * n_ * k_ < (i64(1) << 21)) {
          for (i64 p = 0; p < col_panels; ++p) one(p);
        } else {
          detail::parallel_for(col_panels, 1, [&](i64 p0, i64 p1) {
            for (i64 p = p0; p < p1; ++p) one(p);
          });
        }
        return;
      }
    }
    // op(b) = b (rs = n, cs = 1) or bᵀ (rs = 1, cs = k) as stored.
    const bool trans_b = cs_ != 1;
    blas_gemm<T>(false, trans_b, m, n_, k_, a, lda, b_, trans_b ? cs_ : rs_, c, ldc);
  }

 private:
  const T* b_;
  i64 k_, n_, rs_, cs_;
  const ConvTiles* tiles_ = nullptr;
  i64 nr_ = 0;
  std::vector<float> bp_, ap_;
};

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
  StepProduct<T> hw(w, H, G, 1, H, h_prev != nullptr ? T_ : T_ - 1);  // h W_hhᵀ
  for (i64 t = 0; t < T_; ++t) {
    T* z = keep ? gates + t * N * G : gates;
    T* c = keep ? cells + t * N * H : cells + (t % 2) * N * H;
    T* tc = keep ? tcs + t * N * H : tcs;
    T* h = out + t * N * H;
    if (h_prev != nullptr) hw(h_prev, H, N, z, G);
    step_forward(LstmStep<T>{.n = N, .h = H, .z = z, .xw = x + t * N * G, .b_ih = bi, .b_hh = bh, .has_hw = h_prev != nullptr,
                             .c_prev = c_prev, .c = c, .tc = tc, .h_out = h});
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
  StepProduct<T> zw(a.w_hh.data<T>(), G, H, H, 1, a.need_h0 ? T_ : T_ - 1);  // dz_t W_hh
  for (i64 t = T_ - 1; t >= 0; --t) {
    step_backward(LstmStepGrad<T>{.n = N, .h = H, .act = gates + t * N * G, .tc = tcs + t * N * H,
                                  .c_prev = t > 0 ? cells + (t - 1) * N * H : c0, .dh = dh,
                                  .gy = gy != nullptr ? gy + t * N * H : nullptr, .dc = dc, .d = dz + t * N * G});
    if (t > 0 || a.need_h0) zw(dz + t * N * G, G, N, dh, H);
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
