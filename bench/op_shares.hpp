// bench/op_shares.hpp — where a training step's time goes, op by op: runs the step under
// nabla::profile and gives each op's forward and backward share of the profiled steps' wall time,
// largest first, and what is left outside the ops (the update, the graph walk).
#pragma once

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nabla/nabla.hpp>

namespace bench {

/// The table, and the profiled steps' mean wall time in µs. nabla::profile::totals() keeps this
/// pass's figures afterwards, for a caller that wants one op's share.
struct OpShares {
  std::string text;
  double step_us;
};

template <class Step>
OpShares op_shares(const std::string& title, Step step, int steps) {
  nabla::profile::reset();
  double total = 0;
  {
    nabla::profile::Scope scope;
    for (int i = 0; i < steps; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      step();
      total += std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    }
  }
  std::vector<std::pair<double, std::string>> rows;
  double ops_us = 0;
  for (const auto& [op, st] : nabla::profile::totals()) {
    rows.emplace_back(st.forward_us, op + " forward");
    rows.emplace_back(st.backward_us, op + " backward");
    ops_us += st.forward_us + st.backward_us;
  }
  std::sort(rows.rbegin(), rows.rend());
  std::string text = fmt::format("{}: share of the step, op by op ({} profiled steps, {:.1f} µs a step)\n", title, steps,
                                 total / steps);
  for (const auto& [us, name] : rows) {
    if (us > 0.005 * total) text += fmt::format("  {:<28} {:>5.1f}%  {:>9.1f} µs a step\n", name, 100 * us / total, us / steps);
  }
  text += fmt::format("  {:<28} {:>5.1f}%  {:>9.1f} µs a step\n", "outside ops (update, graph)",
                      100 * (total - ops_us) / total, (total - ops_us) / steps);
  return {text, total / steps};
}

}  // namespace bench
