// bench/sgemm_peak.cpp — the machine's single-precision GEMM rate through OpenBLAS, the ceiling
// against which docs/benchmarks.md reports the GFLOP/s the models achieve. Prints a JSON line with
// the OpenBLAS kernel set ("core") in use. It links libnabla, so it gets the kernel set nabla
// selects when OpenBLAS falls back to Prescott (see nabla::blas_info); bench/run.sh then pins that
// core with OPENBLAS_CORETYPE for every contender, PyTorch included.
//   bench_sgemm_peak [threads]      (default 1; 1024×1024×1024, median of 15 after 3 warm-ups)
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <vector>

#include <cblas.h>
#include <fmt/format.h>
#include <nabla/train.hpp>

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  if (threads < 1) return 2;
  openblas_set_num_threads(threads);
  const int n = 1024;
  std::vector<float> a(std::size_t(n) * n, 0.5f), b(std::size_t(n) * n, 0.25f), c(std::size_t(n) * n);
  std::vector<double> secs;
  for (int i = 0; i < 18; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (i >= 3) secs.push_back(s);
  }
  std::sort(secs.begin(), secs.end());
  fmt::print(R"({{"impl": "openblas", "what": "sgemm 1024^3", "threads": {}, "gflops": {:.1f}, "core": "{}", "blas": "{}"}})" "\n",
             threads, 2.0 * n * n * n / secs[secs.size() / 2] / 1e9, openblas_get_corename(), nabla::blas_info());
  return 0;
}
