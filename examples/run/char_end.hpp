// examples/run/char_end.hpp — how a character model's run ends (nabla-char-lstm, nabla-char-gpt): the
// model of the best validation epoch back, its bits per character on the test text, then on the main
// rank alone samples.txt, summary.json and the two closing prints.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <fmt/format.h>
#include <nabla/nabla.hpp>

#include "../fortunes.hpp"
#include "run.hpp"

namespace nabla_run {

/// What the end reports besides the run's best epoch.
struct CharRunEnd {
  const fortunes::Corpus& text;  // train, for the unigram baseline on the test text
  double unigram_validation;     // the baseline on the validation text
  std::int64_t parameters;
  double temperature;            // the samples'
};

/// Restores the best model into `model`, measures it on the test text with `test_bits` (on every rank,
/// as validation is), and on the main rank writes `sample_text()` and the summary and prints both.
/// Returns the program's exit status, 0.
inline int finish_char_run(Run& run, nabla::nn::Module& model, const std::function<double()>& test_bits,
                           const std::function<std::string()>& sample_text, const CharRunEnd& end) {
  run.restore_best(model);
  const double test = test_bits();
  if (!run.main()) return 0;
  const std::string s = sample_text();
  write_text(run.out() / "samples.txt", s + "\n");
  const double unigram_test = fortunes::unigram_bits(end.text.train, end.text.test);
  run.summary({{"best_epoch", run.best_epoch()},
               {"validation_bpc", run.best()},
               {"test_bpc", test},
               {"unigram_validation_bpc", end.unigram_validation},
               {"unigram_test_bpc", unigram_test},
               {"parameters", end.parameters}});
  fmt::print("sampled at temperature {}:\n{}\n", end.temperature, s);
  fmt::print("the model of epoch {} (best validation {:.4f} bits/char): test {:.4f} bits/char (unigram {:.4f}); wrote {}\n",
             run.best_epoch(), run.best(), test, unigram_test, run.out().string());
  return 0;
}

}  // namespace nabla_run
