// nabla/profile.hpp — where the time goes, op by op, inside real training steps.
//
//   {
//     nabla::profile::Scope scope;          // records on this thread while it lives
//     train_step();
//   }
//   for (auto& [op, s] : nabla::profile::totals()) fmt::print("{}: {} µs forward, {} µs backward\n", ...);
//
// Forward time is measured around each apply() and includes the ops an op calls inside its own
// forward (a conv2d's internal reshape, say); backward time is each node's backward in the engine's
// walk, with the ops it calls (its backward op: not counted as forwards). One branch per op unprofiled.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace nabla::profile {

struct OpStats {
  std::int64_t forward_calls = 0, backward_calls = 0;
  double forward_us = 0, backward_us = 0;
};

/// Records op times on this thread while it lives (scopes nest).
class Scope {
 public:
  Scope();
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
};

/// The totals recorded on this thread so far, by op name.
std::map<std::string, OpStats> totals();
/// Forgets this thread's totals.
void reset();

}  // namespace nabla::profile
