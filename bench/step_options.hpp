// bench/step_options.hpp — the command line every side-by-side contender takes (CLI11, which is
// header-only, so the libtorch program uses it without linking nabla).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

struct StepOptions {
  std::string model = "network1", mode = "train";
  std::int64_t batch = 10;
  int threads = 1, steps = 2000, warmup = 200;
};

/// Adds --model (one of `models`), --mode, --batch, --threads, --steps and --warmup to `app`.
inline void add_step_options(CLI::App& app, StepOptions& o, const std::vector<std::string>& models) {
  app.add_option("--model", o.model)->check(CLI::IsMember(models));
  app.add_option("--mode", o.mode)->check(CLI::IsMember({"train", "infer", "hvp"}));
  app.add_option("--batch", o.batch)->check(CLI::Range(1, 100000));
  app.add_option("--threads", o.threads)->check(CLI::Range(1, 64));
  app.add_option("--steps", o.steps)->check(CLI::Range(1, 10000000));
  app.add_option("--warmup", o.warmup)->check(CLI::Range(0, 10000000));
}
