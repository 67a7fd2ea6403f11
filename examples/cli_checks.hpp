// examples/cli_checks.hpp — command-line checks with readable messages, for the example programs.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace cli_checks {

/// A number (> 0 if strictly, else ≥ 0); otherwise "must be a number above 0, got 'x'".
inline CLI::Validator number_above(double low, bool strictly) {
  return CLI::Validator(
      [low, strictly](std::string& v) -> std::string {
        try {
          std::size_t used = 0;
          const double x = std::stod(v, &used);
          if (used == v.size() && (strictly ? x > low : x >= low)) return {};
        } catch (...) {
        }
        return "must be a number " + std::string(strictly ? "above " : "at least ") + CLI::detail::to_string(low) + ", got '" + v + "'";
      },
      strictly ? "> 0" : ">= 0");
}
inline const CLI::Validator positive = number_above(0, true);
inline const CLI::Validator non_negative = number_above(0, false);

}  // namespace cli_checks
