// nabla/cpu.hpp — the CPU as nabla uses it: which of nabla's kernel levels runs on it, the number of
// threads, and the BLAS.
//
// One build of libnabla runs on any x86-64 CPU. Its vectorized kernels (float32 convolution forward
// and both backwards, the 2×2 max-pool, exp, sigmoid, tanh) are compiled once per instruction-set
// level, each in its own files, and the level is chosen once, as the library first needs it, from
// CPUID with the operating system's support for the wider registers (XGETBV) checked:
//   generic  x86-64's baseline (SSE2): portable loops, convolution by im2col + OpenBLAS
//   avx2     AVX2 + FMA (x86-64-v3: Haswell, Zen and later)
//   avx512   AVX-512 F, CD, BW, DQ, VL (x86-64-v4: Skylake-SP, Ice Lake, Zen 4 and later)
//   avx512bf16  avx512 and AVX512-BF16 (Cooper Lake, Sapphire Rapids, Zen 4): the bfloat16 GEMM
//            (bf16 matmul and convolution, autocast) on the dot-product instruction vdpbf16ps
// The environment variable NABLA_CPU=generic|avx2|avx512|avx512bf16, read once, forces a level at or below
// what the CPU has; a level it lacks, or a name that is none of these, is an error (nabla::Error,
// thrown by the first call that needs the level) naming what was asked and what the CPU supports.
#pragma once

#include <string>

namespace nabla {

enum class CpuLevel { generic = 0, avx2 = 1, avx512 = 2, avx512bf16 = 3 };

/// "generic", "avx2", "avx512" or "avx512bf16".
const char* to_string(CpuLevel level);

struct CpuInfo {
  CpuLevel level = CpuLevel::generic;      ///< the level nabla's kernels run at
  CpuLevel supported = CpuLevel::generic;  ///< the highest level this CPU (and OS) supports
  bool forced = false;                     ///< level was set by NABLA_CPU
  std::string brand;                       ///< the CPU's brand string (CPUID), "" when it has none
  /// One line for logs: "avx2 (forced by NABLA_CPU; the CPU supports avx512), Intel(R) Xeon(R) …".
  std::string describe() const;
};

/// The level chosen for this process (decided on the first call, then fixed). Throws nabla::Error when
/// NABLA_CPU names no level or one the CPU lacks.
const CpuInfo& cpu_info();

/// Threads of nabla's one pool, which runs its own parallel loops (float32 convolution, max-pooling),
/// which give the same bits on any number, and the products (matmul and every layer built on it):
/// OpenBLAS itself runs on one thread, and a product large enough to gain is split into parts, one
/// OpenBLAS call each, over the pool; smaller ones run on the calling thread. Initially OpenBLAS's
/// default (OPENBLAS_NUM_THREADS, else the number of CPUs); nabla sets OpenBLAS to one thread when
/// it first needs a thread count.
void set_num_threads(int n);
int num_threads();
/// The BLAS library, its build options and the kernel set it runs, e.g. "OpenBLAS 0.3.21
/// DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64, core SkylakeX". OpenBLAS 0.3.21 (Debian 12)
/// does not know CPUs newer than itself and falls back to its slow SSE3 "Prescott" kernels; when
/// that happens and OPENBLAS_CORETYPE is unset, nabla selects the kernels the CPU supports as it
/// loads (AVX-512: SkylakeX; AVX2 + FMA: Haswell) and says so here.
std::string blas_info();

}  // namespace nabla
