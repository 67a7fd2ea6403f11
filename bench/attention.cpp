// bench/attention.cpp — scaled_dot_product_attention forward + backward, fused against math, float32:
// batch 8, 4 heads, head dim 64, T = 256 and 1024, causal (issue 31's shapes; bench/attention_torch.py
// times PyTorch's on the same). One JSON line per case:
//   {"name": "sdpa/fused/T:256", "threads": 1, "ms": 12.3, "reps": 20}
// the median of `reps` runs of forward, then backward of sum(out · w), with the min and max, and the
// process's peak resident set and its resident set before the first case (with --backend fused or
// math and one --T, the peak is that case's: bench/run.sh's memory rows).
//   build/bench/bench_attention [--threads N] [--reps R] [--T 256,1024] [--backend both|fused|math]
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nabla/nabla.hpp>

using namespace nabla;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// The current resident set size in kB (/proc/self/statm's second field, in pages).
long bench_peak_rss_kb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

long rss_kb() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

double time_step(SdpaBackend be, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& w) {
  Tensor lq = q.detach().requires_grad(true), lk = k.detach().requires_grad(true), lv = v.detach().requires_grad(true);
  const auto t0 = std::chrono::steady_clock::now();
  Tensor out = scaled_dot_product_attention(be, lq, lk, lv, {}, 0, true);
  sum(out * w).backward();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, reps = 10;
  std::string backends = "both";
  std::vector<std::int64_t> lengths = {256, 1024};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--backend") == 0) backends = argv[i + 1];
    if (std::strcmp(argv[i], "--reps") == 0) reps = std::max(1, std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--T") == 0) {
      lengths.clear();
      for (const char* p = argv[i + 1]; *p != 0;) {
        lengths.push_back(std::strtoll(p, const_cast<char**>(&p), 10));
        if (*p == ',') ++p;
      }
    }
  }
  set_num_threads(threads);
  Generator gen(0);
  const long base_rss = rss_kb();
  for (std::int64_t T : lengths) {
    const Shape s{8, 4, T, 64};
    Tensor q = randn(s, f32, gen), k = randn(s, f32, gen), v = randn(s, f32, gen), w = randn(s, f32, gen);
    for (auto [be, name] : {std::pair{SdpaBackend::fused, "fused"}, std::pair{SdpaBackend::math, "math"}}) {
      if (backends != "both" && backends != name) continue;
      (void)time_step(be, q, k, v, w);  // warm up
      std::vector<double> ms;
      for (int r = 0; r < reps; ++r) ms.push_back(time_step(be, q, k, v, w));
      fmt::print("{{\"name\": \"sdpa/{}/T:{}\", \"threads\": {}, \"ms\": {:.3f}, \"min_ms\": {:.3f}, \"max_ms\": {:.3f}, "
                 "\"reps\": {}, \"peak_rss_kb\": {}, \"base_rss_kb\": {}}}\n",
                 name, T, threads, median(ms), *std::min_element(ms.begin(), ms.end()), *std::max_element(ms.begin(), ms.end()),
                 reps, bench_peak_rss_kb(), base_rss);
    }
  }
}
