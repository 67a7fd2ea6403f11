// src/kernels/blas.cpp — every GEMM of the library (blas_gemm, kernels::gemm), and the choice of
// OpenBLAS kernels for this CPU.
//
// Debian 12's OpenBLAS (0.3.21, built with DYNAMIC_ARCH) picks its kernel set at load time from the
// CPU model number. CPUs newer than the release (e.g. Sapphire Rapids) are not in its table and
// fall back to "Prescott", its SSE3 kernels: sgemm then runs at about a fifth of the speed the CPU
// has (fixed upstream in 0.3.25). When OPENBLAS_CORETYPE is not set and OpenBLAS reports Prescott
// on a CPU with AVX2 + FMA or AVX-512, nabla re-runs OpenBLAS's own core selection with the kernel
// set that matches the CPU's features, exactly what setting OPENBLAS_CORETYPE would have done.
// Likewise on AMD Zen 5 and later, which 0.3.21 gives its AVX2 "Haswell" kernels: nabla selects the
// AVX-512 "SkylakeX" ones there (amd_full_width_avx512 below says why).
// This runs once as libnabla loads, before any BLAS call. Setting OPENBLAS_CORETYPE (to anything)
// turns it off.
#include <cblas.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "gemm.hpp"
#include "nabla/cpu.hpp"
#include "nabla/kernels.hpp"
#include "../parallel.hpp"

extern "C" {
// Exported by DYNAMIC_ARCH builds of OpenBLAS only; weak, so other builds link and skip the fix.
void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));
}

namespace nabla {
namespace {

const char* matching_core() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl")) {
    return "SkylakeX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return nullptr;
}

std::string& core_note() {
  static std::string note;
  return note;
}

// An AMD CPU of family 1Ah or later (Zen 5 on): a full-width 512-bit vector unit, where OpenBLAS 0.3.21,
// which does not know it, runs its AVX2 "Haswell" kernels; its AVX-512 "SkylakeX" sgemm takes 0.53× their
// CPU time there (1024³, one thread; the char_lstm training step 0.73×). Zen 4 (family 19h) is left as is.
bool amd_full_width_avx512() {
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0, &a, &b, &c, &d) == 0) return false;
  const bool amd = b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163;  // "AuthenticAMD"
  if (!amd || __get_cpuid(1, &a, &b, &c, &d) == 0) return false;
  const unsigned base = (a >> 8) & 0xF, family = base == 0xF ? base + ((a >> 20) & 0xFF) : base;
  return family >= 0x1A;
#else
  return false;
#endif
}

[[gnu::constructor]] void select_blas_core() {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  if (gotoblas_dynamic_init == nullptr || gotoblas_dynamic_quit == nullptr) return;
  const char* current = openblas_get_corename();
  if (current == nullptr) return;
  const char* core = matching_core();
  if (core == nullptr) return;
  const bool prescott = std::strcmp(current, "Prescott") == 0;
  const bool narrow = (std::strcmp(current, "Haswell") == 0 || std::strcmp(current, "Zen") == 0) &&
                      std::strcmp(core, "SkylakeX") == 0 && amd_full_width_avx512();
  if (!prescott && !narrow) return;
  const std::string detected = current;
  setenv("OPENBLAS_CORETYPE", core, 0);
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  unsetenv("OPENBLAS_CORETYPE");
  core_note() = "OpenBLAS detected " + detected + "; nabla selected " + core + " for this CPU";
}

}  // namespace

std::string blas_info() {
  std::string info = std::string(openblas_get_config()) + ", core " + openblas_get_corename();
  if (!core_note().empty()) info += " (" + core_note() + ")";
  return info;
}

namespace kernels {

namespace {
// The largest dimension or leading dimension one BLAS call is given: blasint's range (32 bits in
// Debian's LP64 OpenBLAS), lowered by tests (detail::set_blas_int_limit) to check the splitting.
std::atomic<std::int64_t> blas_limit{std::numeric_limits<blasint>::max()};

// One cblas call; every argument fits blasint (one_gemm makes sure).
template <class T>
void blas_call(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t lda,
               const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  const auto ta = trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = trans_b ? CblasTrans : CblasNoTrans;
  const auto M = static_cast<blasint>(m), N = static_cast<blasint>(n), K = static_cast<blasint>(k);
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, 1.0, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc));
  }
}

// c = op(a) · op(b) (m, n, k ≥ 1) in as many BLAS calls as the limit asks: m and n by offsetting
// the pointers into a, b and c, k in chunks whose products add into c (beta = 1 after the first).
// A leading dimension past the limit cannot be passed, so the rows it strides over go one call
// each, where the call needs no stride and is given the least one BLAS accepts. (Such a row holds
// more than 2^31 elements, so there are only as many of those calls as fit in memory.)
template <class T>
void one_gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t lda,
              const T* b, std::int64_t ldb, T* c, std::int64_t ldc) {
  const std::int64_t limit = blas_limit.load(std::memory_order_relaxed);
  if (m <= limit && n <= limit && k <= limit && lda <= limit && ldb <= limit && ldc <= limit) [[likely]] {
    return blas_call(trans_a, trans_b, m, n, k, a, lda, b, ldb, T(0), c, ldc);
  }
  const bool a_wide = lda > limit, b_wide = ldb > limit, c_wide = ldc > limit;
  // a's rows are m (k when transposed), b's k (n), c's m.
  const std::int64_t mc = (a_wide && !trans_a) || c_wide ? 1 : limit;
  const std::int64_t nc = b_wide && trans_b ? 1 : limit;
  const std::int64_t kc = (a_wide && trans_a) || (b_wide && !trans_b) ? 1 : limit;
  for (std::int64_t i0 = 0; i0 < m; i0 += mc) {
    const std::int64_t mi = std::min(mc, m - i0);
    for (std::int64_t j0 = 0; j0 < n; j0 += nc) {
      const std::int64_t nj = std::min(nc, n - j0);
      for (std::int64_t p0 = 0; p0 < k; p0 += kc) {
        const std::int64_t kp = std::min(kc, k - p0);
        const T* pa = a + (trans_a ? p0 * lda + i0 : i0 * lda + p0);
        const T* pb = b + (trans_b ? j0 * ldb + p0 : p0 * ldb + j0);
        const std::int64_t la = a_wide ? std::max<std::int64_t>(1, trans_a ? mi : kp) : lda;
        const std::int64_t lb = b_wide ? std::max<std::int64_t>(1, trans_b ? kp : nj) : ldb;
        const std::int64_t lc = c_wide ? std::max<std::int64_t>(1, nj) : ldc;
        blas_call(trans_a, trans_b, mi, nj, kp, pa, la, pb, lb, p0 == 0 ? T(0) : T(1), c + i0 * ldc + j0, lc);
      }
    }
  }
}
}  // namespace

template <class T>
void blas_gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const T* a,
               std::int64_t lda, const T* b, std::int64_t ldb, T* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (std::int64_t r = 0; r < m; ++r) std::fill(c + r * ldc, c + r * ldc + n, T(0));
    return;
  }
  split_gemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, one_gemm<T>);
}

template void blas_gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, const float*, std::int64_t,
                               const float*, std::int64_t, float*, std::int64_t);
template void blas_gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, const double*, std::int64_t,
                                const double*, std::int64_t, double*, std::int64_t);

namespace {
// The inner dimensions of op(a) and op(b), which must agree; a ShapeError naming `op` otherwise.
void check_inner(std::string_view op, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  check_same_dtype(op, a, b);
  const int ra = a.dim(), rb = b.dim();
  const std::int64_t ka = trans_a ? a.shape()[ra - 2] : a.shape()[ra - 1];
  const std::int64_t kb = trans_b ? b.shape()[rb - 1] : b.shape()[rb - 2];
  if (ka != kb) {
    throw ShapeError(fmt::format("{}: inner dimensions differ: a is {}{}, b is {}{}; need op(a)'s columns == op(b)'s rows",
                                 op, a.shape(), trans_a ? " (transposed)" : "", b.shape(), trans_b ? " (transposed)" : ""));
  }
}
}  // namespace

Tensor gemm(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  if (a.dim() != 2 || b.dim() != 2) {
    throw ShapeError(fmt::format("kernels::gemm: expected 2-d a and b, got {} and {}", a.shape(), b.shape()));
  }
  check_inner("kernels::gemm", a, b, trans_a, trans_b);
  const std::int64_t m = trans_a ? a.shape()[1] : a.shape()[0];
  const std::int64_t k = trans_a ? a.shape()[0] : a.shape()[1];
  const std::int64_t n = trans_b ? b.shape()[0] : b.shape()[1];
  if (a.dtype() == Dtype::bf16) {
    std::vector<float> out(static_cast<std::size_t>(m * n));
    gemm_bf16(trans_a, trans_b, m, n, k, a.data<bfloat16>(), a.shape()[1], b.data<bfloat16>(), b.shape()[1], out.data(), n);
    return round_to_bf16(out, Shape{m, n});
  }
  Tensor c = empty(Shape{m, n}, a.dtype());
  dispatch_float(a.dtype(), "gemm", [&](auto tag) {
    using T = decltype(tag);
    blas_gemm<T>(trans_a, trans_b, m, n, k, a.data<T>(), a.shape()[1], b.data<T>(), b.shape()[1], c.mutable_data<T>(), n);
  });
  return c;
}

Tensor gemm_batched(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, const Shape& batch) {
  const int ra = a.dim(), rb = b.dim();
  if (ra < 2 || rb < 2) {
    throw ShapeError(fmt::format("kernels::gemm_batched: expected a and b of 2 or more dimensions, got {} and {}",
                                 a.shape(), b.shape()));
  }
  check_inner("kernels::gemm_batched", a, b, trans_a, trans_b);
  const std::int64_t m = trans_a ? a.shape()[ra - 1] : a.shape()[ra - 2];
  const std::int64_t k = trans_a ? a.shape()[ra - 2] : a.shape()[ra - 1];
  const std::int64_t n = trans_b ? b.shape()[rb - 2] : b.shape()[rb - 1];
  Shape out = batch;
  out.push_back(m);
  out.push_back(n);
  Tensor c = empty(out, a.dtype());
  // Nothing to write: an empty matrix in each of up to 2^40 batch entries is no work at all.
  if (c.numel() == 0) return c;
  // Each operand's batch axes, seen from the broadcast batch: stride 0 where it is stretched.
  Shape ba, bb;
  for (int d = 0; d < ra - 2; ++d) ba.push_back(a.shape()[d]);
  for (int d = 0; d < rb - 2; ++d) bb.push_back(b.shape()[d]);
  const BroadcastStrides sa = broadcast_strides(ba, batch), sb = broadcast_strides(bb, batch);
  const std::int64_t mat_a = a.shape()[ra - 2] * a.shape()[ra - 1], mat_b = b.shape()[rb - 2] * b.shape()[rb - 1];
  const std::int64_t entries = batch.numel();
  // f(e, oa, ob) for each batch entry e, with a's and b's matrix offsets (in matrices) for it.
  auto for_each_entry = [&](auto f) {
    std::int64_t idx[Shape::kMaxRank]{};
    std::int64_t oa = 0, ob = 0;
    for (std::int64_t e = 0; e < entries; ++e) {
      f(e, oa, ob);
      for (int d = batch.rank() - 1; d >= 0; --d) {  // the next batch entry's offsets
        ++idx[d];
        oa += sa.s[d];
        ob += sb.s[d];
        if (idx[d] < batch[d]) break;
        oa -= sa.s[d] * batch[d];
        ob -= sb.s[d] * batch[d];
        idx[d] = 0;
      }
    }
  };
  if (a.dtype() == Dtype::bf16) {  // entry by entry, float32 sums, each element rounded once
    std::vector<float> out(static_cast<std::size_t>(m * n));
    const bfloat16* pa = a.data<bfloat16>();
    const bfloat16* pb = b.data<bfloat16>();
    bfloat16* pc = c.mutable_data<bfloat16>();
    for_each_entry([&](std::int64_t e, std::int64_t oa, std::int64_t ob) {
      gemm_bf16(trans_a, trans_b, m, n, k, pa + oa * mat_a, a.shape()[ra - 1], pb + ob * mat_b, b.shape()[rb - 1], out.data(), n);
      float_to_bf16(out.data(), pc + e * m * n, m * n);
    });
    return c;
  }
  dispatch_float(a.dtype(), "matmul", [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* pc = c.mutable_data<T>();
    for_each_entry([&](std::int64_t e, std::int64_t oa, std::int64_t ob) {
      blas_gemm<T>(trans_a, trans_b, m, n, k, pa + oa * mat_a, a.shape()[ra - 1], pb + ob * mat_b, b.shape()[rb - 1],
                   pc + e * m * n, n);
    });
  });
  return c;
}

}  // namespace kernels

namespace detail {
std::int64_t set_blas_int_limit(std::int64_t limit) {
  if (limit < 1 || limit > std::numeric_limits<blasint>::max()) {
    throw ValueError(fmt::format("set_blas_int_limit: {} is not in [1, {}]", limit, std::numeric_limits<blasint>::max()));
  }
  return kernels::blas_limit.exchange(limit);
}
}  // namespace detail

}  // namespace nabla
