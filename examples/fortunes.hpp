// examples/fortunes.hpp — the text of nabla-char-lstm and nabla-char-gpt: every fortune of Debian's
// `fortunes` package, split 90/5/5 into training, validation and test text over a 96-character
// alphabet, and the unigram baseline.
//
// The text: every fortune of every file in the directory (the `%` lines between them), in file-name
// order; fortune k goes to validation when k mod 20 = 18, to test when k mod 20 = 19, else to
// training (90/5/5). Each split is its fortunes joined, each followed by "%\n". The alphabet is the
// 95 printable ASCII characters and newline (tabs become spaces; other bytes, e.g. UTF-8, are
// dropped and counted).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nabla/nabla.hpp>

namespace fortunes {

using nabla::IoError;
namespace fs = std::filesystem;

constexpr std::int64_t kVocab = 96;  // 0: newline, 1–95: ' ' to '~'

inline char decode(std::int64_t c) { return c == 0 ? '\n' : char(' ' + c - 1); }

struct Corpus {
  std::vector<std::int64_t> train, validation, test;
  std::int64_t fortunes = 0, dropped = 0, files = 0;
};

inline Corpus read_fortunes(const fs::path& dir, std::int64_t limit) {
  if (!fs::is_directory(dir)) {
    throw IoError(fmt::format("\"{}\": no such directory; expected the fortune files (apt-get install fortunes)", dir.string()));
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string ext = e.path().extension().string();
    if (e.is_regular_file() && !e.is_symlink() && ext != ".dat" && ext != ".u8") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  Corpus c;
  std::vector<std::int64_t> fortune;
  auto end_fortune = [&] {
    if (fortune.empty()) return;
    const std::int64_t k = c.fortunes++ % 20;
    std::vector<std::int64_t>& to = k == 18 ? c.validation : k == 19 ? c.test : c.train;
    to.insert(to.end(), fortune.begin(), fortune.end());
    for (char ch : std::string("%\n")) to.push_back(ch == '\n' ? 0 : ch - ' ' + 1);
    fortune.clear();
  };
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) throw IoError(fmt::format("\"{}\": cannot be read", f.string()));
    ++c.files;
    std::string line;
    while (std::getline(in, line)) {
      if (line == "%") {
        end_fortune();
        continue;
      }
      for (char ch : line) {
        if (ch == '\t') ch = ' ';
        if (ch >= ' ' && ch <= '~') fortune.push_back(ch - ' ' + 1);
        else ++c.dropped;
      }
      fortune.push_back(0);
    }
    end_fortune();
    if (limit > 0 && std::int64_t(c.train.size()) >= limit) break;
  }
  if (c.train.size() < 10000 || c.validation.empty() || c.test.empty()) {
    throw IoError(fmt::format("\"{}\": {} fortunes in {} files, {} training characters; expected a text of at least 10,000",
                              dir.string(), c.fortunes, c.files, c.train.size()));
  }
  return c;
}

/// The character code of `ch` (newline 0, ' ' to '~' 1–95).
inline std::int64_t encode(char ch) { return ch == '\n' ? 0 : ch - ' ' + 1; }

/// Cross-entropy in bits of `text` under the training text's character frequencies (add-one).
inline double unigram_bits(const std::vector<std::int64_t>& train, const std::vector<std::int64_t>& text) {
  std::vector<double> counts(kVocab, 1.0);
  for (std::int64_t c : train) counts[std::size_t(c)] += 1;
  const double total = double(train.size()) + double(kVocab);
  double bits = 0;
  for (std::int64_t c : text) bits -= std::log2(counts[std::size_t(c)] / total);
  return bits / double(text.size());
}

}  // namespace fortunes
