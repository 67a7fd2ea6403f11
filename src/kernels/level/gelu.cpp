// src/kernels/level/gelu.cpp — float32 GELU and its derivative, one vector at a time, for one level
// (simd.hpp); the same arithmetic, and so the same bits, at avx2 and avx512 level.
//
// Exact GELU y = x Φ(x), Φ(x) = erfc(−x/√2)/2, with Φ itself approximated (never 1 + erf(x/√2),
// which cancels to nothing for x ≪ 0):
//   |x| < 0.75: Φ(x) = 1/2 + x P(x²), P of degree 6 (a minimax-style fit of (Φ(x) − 1/2)/x, relative
//     error 2·10⁻¹³);
//   |x| ≥ 0.75: Φ(−|x|) = e^{−x²/2} g(|x|), g(u) = q(1/(u + 2) − t_m) / (u + 2) with q of degree 10
//     (g is Mills' ratio over √(2π); fit relative error 5·10⁻¹⁰ on u in [0.75, 15]), and
//     Φ(|x|) = 1 − Φ(−|x|).
// x² is split exactly (x·x and its FMA remainder) so that e^{−x²/2} sees the exact argument; |x| is
// clamped to 15, past which e^{−x²/2} is 0 in float32. The derivative is Φ(x) + x φ(x),
// φ(x) = e^{−x²/2}/√(2π), from the same e^{−x²/2}; on the negative side both are products of it,
// and its two halves are multiplied in last, so that nothing goes subnormal before the result does.
//
// Tanh approximation y = x (1 + tanh u)/2 = x σ(2u), u = √(2/π) (x + 0.044715 x³): with
// e = e^{−2|u|} ≤ 1 and r = 1/(1 + e), σ(2u) = r for u ≥ 0 and e·r below (no cancellation in
// 1 + tanh u), and σ(2u) σ(−2u) = e r²; the derivative (1 + t)/2 + x (1 − t²) u′/2 =
// σ(2u) + 2x u′ σ(2u) σ(−2u).
//
// The coefficients: scripts/fit_gelu_poly.py. Accuracy against the value worked in double from the same
// float32 x (tests/ops/gelu_test.cpp holds it to 8 and 6 ulp; measured on 12 M points of ±15: 6.7 ulp
// forward and 5.2 ulp for the derivative of the exact form, 2.6 and 4.1 ulp for the tanh form), the
// derivatives in ulp of the larger of their two terms, which cancel near GELU's minimum at x ≈ −0.75,
// and the tanh form's negative tail times 1 + 2|u| (e^{2u} amplifies the float32 rounding of u). NaN in
// x gives NaN; ±inf give what the formulas give in double, as PyTorch's (inf, and NaN for −inf as
// −inf · 0; NaN derivatives); large finite x their limits.
#include "simd.hpp"

namespace nabla::kernels::NABLA_LEVEL {
namespace {
constexpr float kInvSqrt2Pi = 0.3989422804014327f;  // 1/√(2π)
constexpr float kSmall[] = {0.3989422804013523f,     -0.06649038005256025f,  0.009973556603839168f, -0.001187323889215863f,
                            0.000115412669980248f,  -9.386825976303963e-06f, 5.897561748517428e-07f};
constexpr float kTailMid = 0.21122994652406418f;
constexpr float kTail[] = {0.6218423528512425f,  1.2794033714004684f,  0.7287449416181144f, -2.219822509538519f,
                           -1.6001557983665444f, 8.155342515778605f,   -2.0098385898850384f, -31.844954204430078f,
                           56.962644801745085f,  72.45887785462779f,   -326.6070689274335f};

/// GELU (exact) of x, and with `deriv` also its derivative, lane by lane.
template <bool kDeriv>
inline V::reg gelu_erf(V::reg x, V::reg* d) {
  const V::reg sign = V::set1(-0.0f), one = V::set1(1.0f);
  const V::reg a = V::and_not(sign, x);
  const V::reg u = V::min(a, V::set1(15.0f));
  const V::reg hi = V::mul(u, u), lo = V::fmadd(u, u, V::sub(V::zero(), hi));
  // e^{−x²/2} = e4² (1 − lo/2), e4 = e^{−hi/4}: e4 stays normal (to |x| = 15), so that e^{−x²/2}, subnormal
  // past |x| = 13.2, is rounded there once, at the end, with the factor the result carries.
  const V::reg e4 = exp_v(V::mul(hi, V::set1(-0.25f)));
  const V::reg e4c = V::mul(e4, V::fnmadd(lo, V::set1(0.5f), one));
  const V::reg e = V::mul(e4c, e4);
  // |x| < 0.75
  const V::reg z = V::mul(x, x);
  V::reg p = V::set1(kSmall[6]);
  for (int i = 5; i >= 0; --i) p = V::fmadd(p, z, V::set1(kSmall[i]));
  const V::reg cdf_small = V::fmadd(x, p, V::set1(0.5f));
  // |x| ≥ 0.75: g(u)
  const V::reg s = V::add(u, V::set1(2.0f));
  const V::reg dt = V::sub(V::div(one, s), V::set1(kTailMid));
  V::reg q = V::set1(kTail[10]);
  for (int i = 9; i >= 0; --i) q = V::fmadd(q, dt, V::set1(kTail[i]));
  const V::reg g = V::div(q, s);
  const V::reg cdf_pos = V::fnmadd(e, g, one);  // Φ(|x|) = 1 − e g
  const V::mask small = V::lt(a, V::set1(0.75f)), neg = V::lt(x, V::zero());
  // y: x Φ small; e (x g) for x ≤ −0.75; x (1 − e g) for x ≥ 0.75.
  // On the negative side x is clamped with u (the product is 0 past −15 either way, but x e4 is not);
  // x = −inf gives NaN, as −inf · Φ(−inf) = −inf · 0.
  const V::reg xn = V::max(x, V::set1(-15.0f));
  const V::mask minus_inf = V::lt(x, V::set1(-3.4028234663852886e38f));
  const V::reg nan = V::set1(__builtin_nanf(""));
  V::reg y = V::blend(V::mul(x, cdf_pos), V::mul(V::mul(e4c, V::mul(xn, g)), e4), neg);
  y = V::blend(V::blend(y, V::mul(x, cdf_small), small), nan, minus_inf);
  if constexpr (kDeriv) {
    const V::reg ec = V::mul(e, V::set1(kInvSqrt2Pi));
    V::reg r = V::blend(V::fmadd(x, ec, cdf_pos), V::mul(V::mul(e4c, V::fmadd(xn, V::set1(kInvSqrt2Pi), g)), e4), neg);
    *d = V::blend(V::blend(r, V::fmadd(x, ec, cdf_small), small), nan, minus_inf);
  }
  return y;
}

/// GELU (tanh approximation) of x, and with `deriv` its derivative.
template <bool kDeriv>
inline V::reg gelu_tanh(V::reg x, V::reg* d) {
  const V::reg one = V::set1(1.0f), sign = V::set1(-0.0f);
  const V::reg k = V::set1(0.7978845608028654f), c = V::set1(0.044715f);
  const V::reg x2 = V::mul(x, x);
  const V::reg u = V::mul(V::mul(k, x), V::fmadd(c, x2, one));
  const V::reg e = exp_v(V::mul(V::set1(-2.0f), V::and_not(sign, u)));  // e^{−2|u|}
  const V::reg r = V::div(one, V::add(one, e));
  const V::reg below = V::mul(e, r);
  const V::reg s = V::blend(r, below, V::lt(u, V::zero()));  // σ(2u)
  if constexpr (kDeriv) {
    const V::reg du = V::mul(k, V::fmadd(V::set1(3 * 0.044715f), x2, one));
    *d = V::fmadd(V::mul(V::add(x, x), du), V::mul(below, r), s);
  }
  return V::mul(x, s);
}

template <bool kTanh>
inline V::reg forward(V::reg x) {
  V::reg unused;
  return kTanh ? gelu_tanh<false>(x, &unused) : gelu_erf<false>(x, &unused);
}

template <bool kTanh>
inline V::reg derivative(V::reg x) {
  V::reg d;
  if constexpr (kTanh) {
    // Past |x| = 20, e^{−2|u|} is 0 and the derivative 1 or 0: x clamped there, so that x³ and u′ stay
    // finite (2x u′ · 0, not inf · 0); ±inf itself gives NaN, as the formula does (and torch).
    const V::reg lim = V::set1(20.0f);
    gelu_tanh<true>(V::max(V::min(x, lim), V::sub(V::zero(), lim)), &d);
    d = V::blend(d, V::set1(__builtin_nanf("")), V::gt(V::and_not(V::set1(-0.0f), x), V::set1(3.4028234663852886e38f)));
  } else {
    gelu_erf<true>(x, &d);
  }
  return V::blend(d, x, V::is_nan(x));
}

template <bool kTanh>
void forward_loop(const float* in, float* out, i64 n) {
  i64 i = 0;
  for (; i + V::W <= n; i += V::W) {
    const V::reg v = V::load(in + i);
    V::store(out + i, V::blend(forward<kTanh>(v), v, V::is_nan(v)));
  }
  if (i < n) {
    const V::mask m = V::first(n - i);
    const V::reg v = V::load(in + i, m);
    V::store(out + i, V::blend(forward<kTanh>(v), v, V::is_nan(v)), n - i);
  }
}

template <bool kTanh>
void backward_loop(const float* gy, const float* x, float* gx, i64 n) {
  i64 i = 0;
  for (; i + V::W <= n; i += V::W) V::store(gx + i, V::mul(V::load(gy + i), derivative<kTanh>(V::load(x + i))));
  if (i < n) {
    const V::mask m = V::first(n - i);
    V::store(gx + i, V::mul(V::load(gy + i, m), derivative<kTanh>(V::load(x + i, m))), n - i);
  }
}
}  // namespace

void gelu_floats(const float* in, float* out, i64 n, bool tanh_approximation) {
  if (tanh_approximation) return forward_loop<true>(in, out, n);
  forward_loop<false>(in, out, n);
}

void gelu_backward_floats(const float* gy, const float* x, float* gx, i64 n, bool tanh_approximation) {
  if (tanh_approximation) return backward_loop<true>(gy, x, gx, n);
  backward_loop<false>(gy, x, gx, n);
}

}  // namespace nabla::kernels::NABLA_LEVEL
