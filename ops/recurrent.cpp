// ops/recurrent.cpp — lstm_recurrence: one LSTM layer's recurrence over a whole sequence as one op, the
// fused path of nn::LSTM (PyTorch's _VF.lstm / the cuDNN and oneDNN LSTM).
//
//   (out, h_n, c_n) = lstm_recurrence(xw, w_hh, b_ih, b_hh, h0, c0)     xw = x W_ihᵀ  [T, N, 4H]
//
// Forward is kernels::lstm_forward: per step one product h W_hhᵀ and one fused pass computing the gates
// i, f, g, o, c and h (src/kernels/lstm.cpp), saving the activations, c and tanh c for backward.
// Backward is kernels::lstm_backward: the gradients of the pre-activations dz step by step, then the
// recurrent weight gradient as one product over all T·N rows, and the bias gradient one column sum of
// dz (given to both b_ih and b_hh). xw's gradient is dz itself, so the caller's x W_ihᵀ product gives
// W_ih's gradient as one product over all steps too.
//
// Gradients of gradients (create_graph): the rule is that of the fused attention — under create_graph
// (grad mode on in backward) the gradient is not taken from the kernel but computed with recorded ops
// from the saved, reconnected inputs: the composed cell (matmul, sigmoid, tanh, chunk) re-run step by
// step, then back-propagation through time written with recorded elementwise ops and matmul. Those
// ops differentiate themselves, so every order of gradient works (gradgradcheck: tests).
#include <array>

#include <fmt/format.h>

#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {
namespace ops {
namespace {

constexpr std::string_view kName = "lstm";

void check_inputs(const Tensor& xw, const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, const Tensor& h0,
                  const Tensor& c0) {
  check_floating(kName, xw);
  check_same_dtype(kName, xw, w_hh);
  if (xw.dim() != 3 || xw.shape()[2] % 4 != 0 || xw.shape()[0] == 0 || xw.shape()[1] == 0) {
    throw ShapeError(fmt::format("{}: xw is {}; expected [T, N, 4·H] with T, N, H positive", kName, xw.shape()));
  }
  const std::int64_t n = xw.shape()[1], g = xw.shape()[2], h = g / 4;
  if (h == 0 || w_hh.shape() != Shape{g, h}) {
    throw ShapeError(fmt::format("{}: w_hh is {}; expected [{}, {}] for xw {}", kName, w_hh.shape(), g, h, xw.shape()));
  }
  for (auto [what, t] : {std::pair{"b_ih", &b_ih}, std::pair{"b_hh", &b_hh}}) {
    if (!t->defined()) continue;
    check_same_dtype(kName, xw, *t);
    if (t->shape() != Shape{g}) throw ShapeError(fmt::format("{}: {} is {}; expected [{}]", kName, what, t->shape(), g));
  }
  for (auto [what, t] : {std::pair{"h0", &h0}, std::pair{"c0", &c0}}) {
    if (!t->defined()) continue;
    check_same_dtype(kName, xw, *t);
    if (t->shape() != Shape{n, h}) {
      throw ShapeError(fmt::format("{}: {} is {}; expected [{}, {}] for xw {}", kName, what, t->shape(), n, h, xw.shape()));
    }
  }
}

Tensor plus(const Tensor& a, const Tensor& b) { return !a.defined() ? b : b.defined() ? a + b : a; }

// The gradients under create_graph, in recorded ops (see the file's comment). gys: of out, h_n, c_n.
Grads composed_backward(const Context& ctx, const Grads& gys) {
  const Tensor &xw = ctx.saved(0), &w_hh = ctx.saved(1), &b_ih = ctx.saved(2), &b_hh = ctx.saved(3);
  const Tensor &h0 = ctx.saved(4), &c0 = ctx.saved(5);
  const std::int64_t steps = xw.shape()[0], n = xw.shape()[1], h = xw.shape()[2] / 4;
  const Dtype dt = xw.dtype();
  struct Step {
    Tensor i, f, g, o, c_prev, tc, h_prev;
  };
  std::vector<Step> st(static_cast<std::size_t>(steps));
  Tensor hp = h0, cp = c0;
  for (std::int64_t t = 0; t < steps; ++t) {  // the composed cell, as nn::LSTMCell computes it
    const Tensor z = plus(plus(select(xw, 0, t), b_ih), plus(hp.defined() ? matmul(hp, w_hh, {.trans_b = true}) : Tensor{}, b_hh));
    const std::vector<Tensor> q = chunk(z, 4, 1);
    Step& s = st[std::size_t(t)];
    s = {sigmoid(q[0]), sigmoid(q[1]), tanh(q[2]), sigmoid(q[3]), cp, Tensor{}, hp.defined() ? hp : zeros({n, h}, dt)};
    cp = plus(cp.defined() ? s.f * cp : Tensor{}, s.i * s.g);
    s.tc = tanh(cp);
    hp = s.o * s.tc;
  }
  Tensor dh = gys[1].defined() ? gys[1] : zeros({n, h}, dt);
  Tensor dc = gys[2].defined() ? gys[2] : zeros({n, h}, dt);
  std::vector<Tensor> dzs(static_cast<std::size_t>(steps));
  for (std::int64_t t = steps - 1; t >= 0; --t) {
    const Step& s = st[std::size_t(t)];
    if (gys[0].defined()) dh = dh + select(gys[0], 0, t);
    const Tensor dcc = dc + dh * s.o * (1.0 - s.tc * s.tc);
    const Tensor dzf = s.c_prev.defined() ? dcc * s.c_prev * (s.f * (1.0 - s.f)) : zeros({n, h}, dt);
    const Tensor dz = cat({dcc * s.g * (s.i * (1.0 - s.i)), dzf, dcc * s.i * (1.0 - s.g * s.g), dh * s.tc * (s.o * (1.0 - s.o))}, 1);
    dzs[std::size_t(t)] = dz;
    dc = dcc * s.f;
    dh = matmul(dz, w_hh);
  }
  const Tensor dz_all = stack(dzs, 0);
  Grads g(6);
  if (ctx.needs_grad(0)) g[0] = dz_all;
  if (ctx.needs_grad(1)) {
    std::vector<Tensor> prev;
    for (const Step& s : st) prev.push_back(s.h_prev);
    g[1] = matmul(dz_all.reshape({steps * n, 4 * h}), stack(prev, 0).reshape({steps * n, h}), {.trans_a = true});
  }
  if (ctx.needs_grad(2) || ctx.needs_grad(3)) {
    const Tensor db = sum(dz_all.reshape({steps * n, 4 * h}), 0);
    if (ctx.needs_grad(2)) g[2] = db;
    if (ctx.needs_grad(3)) g[3] = db;
  }
  if (ctx.needs_grad(4)) g[4] = dh;
  if (ctx.needs_grad(5)) g[5] = dc;
  return g;
}

struct LstmRecurrence {
  static constexpr std::string_view name = kName;
  static constexpr bool differentiable_backward = true;
  static constexpr std::uint32_t optional_inputs = (1U << 2) | (1U << 3) | (1U << 4) | (1U << 5);

  std::array<Tensor, 3> forward(Context& ctx, const Tensor& xw, const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh,
                                const Tensor& h0, const Tensor& c0) const {
    check_inputs(xw, w_hh, b_ih, b_hh, h0, c0);
    kernels::LstmForward f = kernels::lstm_forward(xw, w_hh, b_ih, b_hh, h0, c0, ctx.recording());
    ctx.save(xw, w_hh, b_ih, b_hh, h0, c0, f.out, f.gates, f.cells, f.tanh_cells);
    return {f.out, f.h_n, f.c_n};
  }

  Grads backward(Context& ctx, const Grads& gys) const {
    if (grad_enabled()) return composed_backward(ctx, gys);
    kernels::LstmBackwardArgs a{.gy_out = gys[0], .gy_hn = gys[1], .gy_cn = gys[2], .w_hh = ctx.saved(1),
                                .h0 = ctx.saved(4), .c0 = ctx.saved(5), .out = ctx.saved(6), .gates = ctx.saved(7),
                                .cells = ctx.saved(8), .tanh_cells = ctx.saved(9)};
    a.need_w_hh = ctx.needs_grad(1);
    a.need_bias = ctx.needs_grad(2) || ctx.needs_grad(3);
    a.need_h0 = ctx.needs_grad(4);
    a.need_c0 = ctx.needs_grad(5);
    kernels::LstmGrads r = kernels::lstm_backward(a);
    return {ctx.needs_grad(0) ? r.dz : Tensor{}, r.dw_hh,
            ctx.needs_grad(2) ? r.db : Tensor{}, ctx.needs_grad(3) ? r.db : Tensor{}, r.dh0, r.dc0};
  }
};

}  // namespace
}  // namespace ops

std::array<Tensor, 3> lstm_recurrence(const Tensor& xw, const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh,
                                      const Tensor& h0, const Tensor& c0) {
  check_defined(ops::kName, {&xw, &w_hh});
  return apply(ops::LstmRecurrence{}, xw, w_hh, b_ih, b_hh, h0, c0);
}

}  // namespace nabla
