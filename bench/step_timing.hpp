// bench/step_timing.hpp — the timing loop and the result line shared by every contender of
// bench/run.sh (nabla, libtorch, the plain OpenBLAS loop). Standard C++17 only: the libtorch
// program includes it without linking nabla.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace bench {

/// Runs warmup + steps calls of step(), calling before_step(i) ahead of each (untimed), and returns
/// the timed steps' durations in µs, sorted. The vector is filled in place, never grown, so its own
/// pages do not show up as growth in a memory run.
template <class Step, class BeforeStep>
std::vector<double> time_steps(int warmup, int steps, Step step, BeforeStep before_step) {
  std::vector<double> us(static_cast<std::size_t>(steps), 0.0);
  for (int i = 0; i < warmup + steps; ++i) {
    before_step(i);
    const auto t0 = std::chrono::steady_clock::now();
    step();
    const double t = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    if (i >= warmup) us[static_cast<std::size_t>(i - warmup)] = t;
  }
  std::sort(us.begin(), us.end());
  return us;
}

template <class Step>
std::vector<double> time_steps(int warmup, int steps, Step step) {
  return time_steps(warmup, steps, step, [](int) {});
}

/// This process's peak resident set size in kB.
inline long peak_rss_kb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/// Prints the JSON line bench/report.py reads: median, min and max of the sorted timings, peak RSS.
inline void print_result(const std::string& impl, const std::string& model, const std::string& mode, long long batch,
                         int threads, int steps, const std::vector<double>& sorted_us) {
  std::printf(
      "{\"impl\": \"%s\", \"model\": \"%s\", \"mode\": \"%s\", \"batch\": %lld, \"threads\": %d, \"steps\": %d, "
      "\"median_us\": %.2f, \"min_us\": %.2f, \"max_us\": %.2f, \"peak_rss_kb\": %ld}\n",
      impl.c_str(), model.c_str(), mode.c_str(), batch, threads, steps, sorted_us[sorted_us.size() / 2], sorted_us.front(),
      sorted_us.back(), peak_rss_kb());
}

}  // namespace bench
