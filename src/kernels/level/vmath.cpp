// src/kernels/level/vmath.cpp — e^x, sigmoid, tanh and Σ e^{x − m} on float32 runs, one vector at a
// time, for one level (simd.hpp); and the four arithmetic ops and the plain SGD update, whose
// baseline loops run a quarter of a vector (SSE2) at a time; the fused LSTM's step loops (lstm_rows.inc). The same arithmetic at every level: AVX2 and AVX-512 give the same
// bits (within 2 ulp of e^x; docs/design.md, "CPU levels").
#include "simd.hpp"

namespace nabla::kernels::NABLA_LEVEL {
namespace {
/// out[i] = f(in[i]) vector by vector, the tail masked; NaN in, NaN out.
template <class F>
inline void each(const float* in, float* out, i64 n, F f) {
  i64 i = 0;
  for (; i + V::W <= n; i += V::W) {
    const V::reg v = V::load(in + i);
    V::store(out + i, V::blend(f(v), v, V::is_nan(v)));
  }
  if (i < n) {
    const V::mask m = V::first(n - i);
    const V::reg v = V::load(in + i, m);
    V::store(out + i, V::blend(f(v), v, V::is_nan(v)), n - i);
  }
}
}  // namespace

void exp_floats(const float* in, float* out, i64 n) {
  each(in, out, n, [](V::reg v) { return exp_v(v); });
}

void sigmoid_floats(const float* in, float* out, i64 n) {
  each(in, out, n, [](V::reg v) {
    const V::reg one = V::set1(1.0f);
    return V::div(one, V::add(one, exp_v(V::sub(V::zero(), v))));
  });
}

void tanh_floats(const float* in, float* out, i64 n) {
  each(in, out, n, [](V::reg v) {
    const V::reg one = V::set1(1.0f), sign = V::set1(-0.0f);
    const V::reg a = V::and_not(sign, v);  // |x|
    // |x| ≥ 0.625: 1 − 2 / (e^{2|x|} + 1) (e^{2|x|} = inf gives 1); below, Cephes' odd polynomial
    // x + x z P(z), z = x², which keeps the digits that the difference from 1 would lose.
    const V::reg big = V::sub(one, V::div(V::set1(2.0f), V::add(exp_v(V::add(a, a)), one)));
    const V::reg z = V::mul(v, v);
    V::reg p = V::set1(-5.70498872745e-3f);
    p = V::fmadd(p, z, V::set1(2.06390887954e-2f));
    p = V::fmadd(p, z, V::set1(-5.37397155531e-2f));
    p = V::fmadd(p, z, V::set1(1.33314422036e-1f));
    p = V::fmadd(p, z, V::set1(-3.33332819422e-1f));
    const V::reg small = V::fmadd(V::mul(p, z), v, v);
    const V::reg t = V::bit_or(big, V::bit_and(sign, v));  // the sign of x back on
    return V::blend(t, small, V::lt(a, V::set1(0.625f)));
  });
}

float sum_exp(const float* p, i64 n, float m) {
  // Lane-wise sums, then the lanes in order: the order of the additions is fixed by n alone.
  V::reg acc = V::zero();
  const V::reg mv = V::set1(m);
  for (i64 i = 0; i < n; i += V::W) {
    const V::mask k = V::first(n - i);
    const V::reg v = V::load(p + i, k);
    const V::reg e = V::blend(exp_v(V::sub(v, mv)), v, V::is_nan(v));
    acc = V::add(acc, V::blend(V::zero(), e, k));
  }
  alignas(64) float lanes[V::W];
  V::store(lanes, acc);
  float total = 0;
  for (float l : lanes) total += l;
  return total;
}

namespace {
template <int kOp>
inline V::reg apply(V::reg a, V::reg b) {
  if constexpr (kOp == 0) return V::add(a, b);
  if constexpr (kOp == 1) return V::sub(a, b);
  if constexpr (kOp == 2) return V::mul(a, b);
  return V::div(a, b);
}

/// y = a op b with a or b (a_step or b_step 0) one repeated element.
template <int kOp>
void arith_loop(const float* a, i64 a_step, const float* b, i64 b_step, float* y, i64 n) {
  const V::reg a0 = V::set1(a[0]), b0 = V::set1(b[0]);
  i64 i = 0;
  for (; i + V::W <= n; i += V::W) {
    const V::reg va = a_step != 0 ? V::load(a + i) : a0, vb = b_step != 0 ? V::load(b + i) : b0;
    V::store(y + i, apply<kOp>(va, vb));
  }
  if (i < n) {
    const V::mask m = V::first(n - i);
    const V::reg va = a_step != 0 ? V::load(a + i, m) : a0, vb = b_step != 0 ? V::load(b + i, m) : b0;
    V::store(y + i, apply<kOp>(va, vb), n - i);
  }
}
}  // namespace

void arith(int op, const float* a, i64 a_step, const float* b, i64 b_step, float* y, i64 n) {
  if (n <= 0) return;
  switch (op) {
    case 0: return arith_loop<0>(a, a_step, b, b_step, y, n);
    case 1: return arith_loop<1>(a, a_step, b, b_step, y, n);
    case 2: return arith_loop<2>(a, a_step, b, b_step, y, n);
    default: return arith_loop<3>(a, a_step, b, b_step, y, n);
  }
}

void sgd(float* w, const float* g, i64 n, float keep, float step) {
  const V::reg k = V::set1(keep), s = V::set1(step);
  i64 i = 0;
  for (; i + V::W <= n; i += V::W) V::store(w + i, V::sub(V::mul(k, V::load(w + i)), V::mul(s, V::load(g + i))));
  if (i < n) {
    const V::mask m = V::first(n - i);
    V::store(w + i, V::sub(V::mul(k, V::load(w + i, m)), V::mul(s, V::load(g + i, m))), n - i);
  }
}

namespace {
inline void lstm_sigmoid(float* p, i64 n) { sigmoid_floats(p, p, n); }
inline void lstm_tanh(float* p, i64 n) { tanh_floats(p, p, n); }
#include "lstm_rows.inc"
}  // namespace

void lstm_forward_floats(const LstmStep<float>& s) { lstm_forward_rows(s); }
void lstm_backward_floats(const LstmStepGrad<float>& s) { lstm_backward_rows(s); }

}  // namespace nabla::kernels::NABLA_LEVEL
