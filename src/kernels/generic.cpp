// src/kernels/generic.cpp — the generic level's table (level/level.hpp): the portable loops, compiled
// for baseline x86-64 (or any CPU), the level every build has and the one each other level must match
// bit for bit. Its convolution is im2col + the BLAS (conv.cpp); its 2×2 max-pool loops are pool.cpp's.
#include <cmath>

#include "level/level.hpp"
#include "nabla/bfloat16.hpp"

namespace nabla::kernels::generic {

// pool.cpp: the loops that also serve float64.
void max_pool_2x2(const float* in, float* out, std::int64_t* arg, std::int64_t h, std::int64_t w);
void max_pool_2x2_backward(const float* g, const std::int64_t* arg, float* gx, std::int64_t h, std::int64_t w);

namespace {
using i64 = std::int64_t;

void exp_floats(const float* in, float* out, i64 n) {
  for (i64 i = 0; i < n; ++i) out[i] = std::exp(in[i]);
}

void sigmoid_floats(const float* in, float* out, i64 n) {
  for (i64 i = 0; i < n; ++i) out[i] = 1 / (1 + std::exp(-in[i]));
}

void tanh_floats(const float* in, float* out, i64 n) {
  for (i64 i = 0; i < n; ++i) out[i] = std::tanh(in[i]);
}

// GELU worked in double and rounded once (within an ulp of the exact value): Φ(x) = erfc(−x/√2)/2,
// and the tanh form as x σ(2u), neither cancelling for x ≪ 0.
constexpr double kInvSqrt2 = 0.70710678118654752440, kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kTanhK = 0.79788456080286535588, kTanhC = 0.044715;  // √(2/π)

void gelu_floats(const float* in, float* out, i64 n, bool tanh_approximation) {
  for (i64 i = 0; i < n; ++i) {
    const double x = in[i];
    if (tanh_approximation) {
      const double u = kTanhK * (x + kTanhC * x * x * x);
      out[i] = static_cast<float>(x / (1 + std::exp(-2 * u)));
    } else {
      out[i] = static_cast<float>(x * 0.5 * std::erfc(-x * kInvSqrt2));
    }
  }
}

void gelu_backward_floats(const float* gy, const float* x, float* gx, i64 n, bool tanh_approximation) {
  for (i64 i = 0; i < n; ++i) {
    const double v = x[i];
    double d;
    if (tanh_approximation) {  // σ(2u) + 2x u′ σ(2u) σ(−2u)
      const double u = kTanhK * (v + kTanhC * v * v * v), du = kTanhK * (1 + 3 * kTanhC * v * v);
      const double s = 1 / (1 + std::exp(-2 * u)), sn = 1 / (1 + std::exp(2 * u));
      d = s + 2 * v * du * s * sn;
    } else {
      d = 0.5 * std::erfc(-v * kInvSqrt2) + v * std::exp(-v * v / 2) * kInvSqrt2Pi;
    }
    gx[i] = static_cast<float>(gy[i] * d);
  }
}

float sum_exp(const float* p, i64 n, float m) {
  float total = 0;
  for (i64 i = 0; i < n; ++i) total += std::exp(p[i] - m);
  return total;
}

template <int kOp>
void arith_loop(const float* a, i64 a_step, const float* b, i64 b_step, float* y, i64 n) {
  for (i64 i = 0; i < n; ++i) {
    const float x = a[i * a_step], z = b[i * b_step];
    if constexpr (kOp == 0) y[i] = x + z;
    if constexpr (kOp == 1) y[i] = x - z;
    if constexpr (kOp == 2) y[i] = x * z;
    if constexpr (kOp == 3) y[i] = x / z;
  }
}

void arith(int op, const float* a, i64 a_step, const float* b, i64 b_step, float* y, i64 n) {
  switch (op) {
    case 0: return arith_loop<0>(a, a_step, b, b_step, y, n);
    case 1: return arith_loop<1>(a, a_step, b, b_step, y, n);
    case 2: return arith_loop<2>(a, a_step, b, b_step, y, n);
    default: return arith_loop<3>(a, a_step, b, b_step, y, n);
  }
}

void sgd(float* w, const float* g, i64 n, float keep, float step) {
  for (i64 i = 0; i < n; ++i) w[i] = keep * w[i] - step * g[i];
}

void to_bf16(const float* in, std::uint16_t* out, i64 n) {
  for (i64 i = 0; i < n; ++i) out[i] = float_to_bf16_bits(in[i]);
}

void from_bf16(const std::uint16_t* in, float* out, i64 n) {
  for (i64 i = 0; i < n; ++i) out[i] = bf16_bits_to_float(in[i]);
}
}  // namespace

void to_bf16_rows(const float* in, i64 ld_in, std::uint16_t* out, i64 rows, i64 cols, const float* add) {
  for (i64 r = 0; r < rows; ++r) {
    const float* src = in + r * ld_in;
    std::uint16_t* dst = out + r * cols;
    for (i64 j = 0; j < cols; ++j) dst[j] = float_to_bf16_bits(add != nullptr ? src[j] + *add : src[j]);
  }
}

// The fused LSTM's step loops, the same as the levels' (level/vmath.cpp).
namespace {
inline void lstm_sigmoid(float* p, i64 n) { sigmoid_floats(p, p, n); }
inline void lstm_tanh(float* p, i64 n) { tanh_floats(p, p, n); }
#include "level/lstm_rows.inc"
void lstm_forward_floats(const LstmStep<float>& s) { lstm_forward_rows(s); }
void lstm_backward_floats(const LstmStepGrad<float>& s) { lstm_backward_rows(s); }
}  // namespace

// Winograd F(2×2, 3×3)'s transforms, the same loops as the levels' (level/winograd.cpp).
#include "level/winograd_loops.inc"

extern const LevelKernels table;
const LevelKernels table = {
    .name = "generic",
    .lanes = 1,
    .exp = exp_floats,
    .sigmoid = sigmoid_floats,
    .tanh = tanh_floats,
    .gelu = gelu_floats,
    .gelu_backward = gelu_backward_floats,
    .sum_exp = sum_exp,
    .arith = arith,
    .sgd = sgd,
    .max_pool_2x2 = max_pool_2x2,
    .max_pool_2x2_backward = max_pool_2x2_backward,
    .to_bf16 = to_bf16,
    .from_bf16 = from_bf16,
    .to_bf16_rows = to_bf16_rows,
    .gemm_bf16 = gemm_bf16,  // blas.cpp: widened to float32, then sgemm
    .gemm_bf16_rows = gemm_bf16_rows,
    .gemm_bf16_pairs = gemm_bf16_pairs,
    .lstm_forward_rows = lstm_forward_floats,
    .lstm_backward_rows = lstm_backward_floats,
    .conv = ConvKind::blas,  // im2col + the BLAS over the batch: no tiles
    .tiles = {},
    .winograd = {.work_floats = winograd_work, .input = winograd_input, .output = winograd_output},
};

}  // namespace nabla::kernels::generic
