// examples/char_lstm.cpp — nabla-char-lstm: a character-level language model (Embedding → LSTM →
// Linear) trained on the fortunes of Debian's `fortunes` package by truncated backpropagation
// through time, with Adam and gradient clipping. It reports bits per character on validation text
// beside a unigram baseline, keeps the model of the best validation epoch, measures it once on the
// test text, and samples new text from it.
//
//   nabla-char-lstm                                     10 epochs on /usr/share/games/fortunes
//   nabla-char-lstm --epochs 1 --limit 200000           a quick look
//   nabla-char-lstm --resume out/char_lstm-fortunes/checkpoint.safetensors --epochs 20
//
// The text: every fortune of every file in the directory (the `%` lines between them), in file-name
// order; fortune k goes to validation when k mod 20 = 18, to test when k mod 20 = 19, else to
// training (90/5/5). Each split is its fortunes joined, each followed by "%\n". The alphabet is the
// 95 printable ASCII characters and newline (tabs become spaces; other bytes, e.g. UTF-8, are
// dropped and counted).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nabla/nabla.hpp>

#include "cli_checks.hpp"
#include "run_files.hpp"

using namespace nabla;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kVocab = 96;  // 0: newline, 1–95: ' ' to '~'

char decode(std::int64_t c) { return c == 0 ? '\n' : char(' ' + c - 1); }

struct Corpus {
  std::vector<std::int64_t> train, validation, test;
  std::int64_t fortunes = 0, dropped = 0, files = 0;
};

Corpus read_fortunes(const fs::path& dir, std::int64_t limit) {
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

/// The model: characters [T, N] and a state → next-character logits [T·N, vocab] and the new state.
class CharModel : public nn::Module {
 public:
  CharModel(std::int64_t embed, std::int64_t hidden, Generator& gen)
      : hidden_(hidden),
        embedding_(std::make_shared<nn::Embedding>(kVocab, embed, nn::EmbeddingOptions{}, gen)),
        lstm_(std::make_shared<nn::LSTM>(embed, hidden, nn::RecurrentOptions{}, gen)),
        fc_(std::make_shared<nn::Linear>(hidden, kVocab, nn::LinearOptions{}, gen)) {
    register_module("embedding", embedding_);
    register_module("lstm", lstm_);
    register_module("fc", fc_);
  }

  std::pair<Tensor, nn::LstmState> forward(const Tensor& chars, const nn::LstmState& state) {
    nn::LstmOutput o = lstm_->forward((*embedding_)(chars), state);
    return {(*fc_)(o.output.reshape({-1, hidden_})), o.state};
  }
  Tensor forward(const Tensor& chars) override { return forward(chars, {}).first; }
  std::string describe() const override {
    return fmt::format("CharModel({}, {}, {})", embedding_->describe(), lstm_->describe(), fc_->describe());
  }

 private:
  std::int64_t hidden_;
  std::shared_ptr<nn::Embedding> embedding_;
  std::shared_ptr<nn::LSTM> lstm_;
  std::shared_ptr<nn::Linear> fc_;
};

/// A text cut into `streams` equal rows read side by side: the chunk at step t is columns
/// [t·T, t·T + T) as inputs [T, streams] and the characters one further on as targets [T·streams].
struct Streams {
  std::vector<std::int64_t> text;  // [streams, length]
  std::int64_t streams, length;
  Streams(const std::vector<std::int64_t>& t, std::int64_t n)
      : streams(n), length(std::int64_t(t.size()) / n) {
    text.assign(t.begin(), t.begin() + streams * length);
  }
  std::int64_t steps(std::int64_t T) const { return (length - 1 + T - 1) / T; }
  std::pair<Tensor, Tensor> chunk(std::int64_t step, std::int64_t T) const {
    const std::int64_t start = step * T, len = std::min(T, length - 1 - start);
    std::vector<std::int64_t> x(std::size_t(len * streams)), y(x.size());
    for (std::int64_t t = 0; t < len; ++t) {
      for (std::int64_t s = 0; s < streams; ++s) {
        x[std::size_t(t * streams + s)] = text[std::size_t(s * length + start + t)];
        y[std::size_t(t * streams + s)] = text[std::size_t(s * length + start + t + 1)];
      }
    }
    return {from_vector(std::span<const std::int64_t>(x), {len, streams}), from_vector(std::span<const std::int64_t>(y), {len * streams})};
  }
};

/// Mean cross-entropy in bits per character of `model` over a text (recording off, state carried).
double bits_per_char(CharModel& model, const std::vector<std::int64_t>& text, std::int64_t T) {
  NoGradGuard no_grad;
  model.eval();
  const Streams s(text, 16);
  nn::LstmState state;
  double nats = 0;
  std::int64_t count = 0;
  for (std::int64_t k = 0; k < s.steps(T); ++k) {
    auto [x, y] = s.chunk(k, T);
    auto [logits, next] = model.forward(x, state);
    nats += softmax_cross_entropy(logits, y).item() * double(y.numel());
    count += y.numel();
    state = next;
  }
  model.train();
  return nats / double(count) / std::log(2.0);
}

/// Cross-entropy in bits of `text` under the training text's character frequencies (add-one).
double unigram_bits(const std::vector<std::int64_t>& train, const std::vector<std::int64_t>& text) {
  std::vector<double> counts(kVocab, 1.0);
  for (std::int64_t c : train) counts[std::size_t(c)] += 1;
  const double total = double(train.size()) + double(kVocab);
  double bits = 0;
  for (std::int64_t c : text) bits -= std::log2(counts[std::size_t(c)] / total);
  return bits / double(text.size());
}

/// `n` characters drawn from the model one at a time (softmax at `temperature`), after `prime`.
std::string sample(CharModel& model, const std::string& prime, std::int64_t n, double temperature, std::uint64_t seed) {
  NoGradGuard no_grad;
  model.eval();
  std::mt19937_64 rng(seed);
  nn::LstmState state;
  std::string out = prime;
  std::int64_t next = 0;
  auto feed = [&](std::int64_t c) {
    auto [logits, s] = model.forward(from_vector(std::span<const std::int64_t>(&c, 1), {1, 1}), state);
    state = s;
    const std::vector<double> p = softmax(logits * (1.0 / temperature)).to_vector();
    next = std::discrete_distribution<std::int64_t>(p.begin(), p.end())(rng);
  };
  for (char ch : prime) feed(ch == '\n' ? 0 : ch - ' ' + 1);
  for (std::int64_t i = 0; i < n; ++i) {
    out += decode(next);
    feed(next);
  }
  model.train();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nabla-char-lstm: a character-level LSTM language model on Debian's fortunes"};
  std::string dir = "/usr/share/games/fortunes", out = "out/char_lstm-fortunes";
  int epochs = 10, threads = 0;
  std::int64_t batch = 32, seq = 64, hidden = 256, embed = 64, limit = 0, sample_chars = 600;
  double lr = 2e-3, clip = 5.0, temperature = 0.8;
  std::uint64_t seed = 0;
  bool quiet = false;
  app.add_option("--text-dir", dir, "the fortune files")->capture_default_str();
  app.add_option("--epochs", epochs, "passes over the training text")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--batch", batch, "sequences read side by side")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--seq", seq, "steps of backpropagation through time")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--hidden", hidden, "LSTM hidden size")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--embed", embed, "embedding size")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--lr", lr, "Adam's learning rate (cosine schedule over the epochs)")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--clip", clip, "gradient norm clipping")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--limit", limit, "read files until this many training characters (0: all)")->check(cli_checks::non_negative);
  app.add_option("--sample", sample_chars, "characters to sample at the end")->check(cli_checks::non_negative)->capture_default_str();
  app.add_option("--temperature", temperature, "sampling temperature")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--seed", seed, "seed of the initial weights and the samples")->capture_default_str();
  app.add_option("--threads", threads, "threads (default: OpenBLAS's choice)")->check(CLI::Range(1, 256));
  app.add_option("--out", out, "output directory")->capture_default_str();
  app.add_flag("--quiet", quiet, "progress lines on stdout, once per epoch");
  std::string resume;
  app.add_option("--resume", resume, "continue from this checkpoint (its settings are kept; --epochs: the new total)")
      ->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);

  try {
    io::TensorFile resumed;
    run_files::RunState run = run_files::begin_run(app, argc, argv, resume, "nabla-char-lstm", resumed, out, epochs);
    if (threads > 0) set_num_threads(threads);
    const auto started = std::chrono::steady_clock::now();
    const Corpus text = read_fortunes(dir, limit);
    fs::create_directories(out);
    Generator gen(seed);
    CharModel model(embed, hidden, gen);
    optim::Adam opt(model.parameters(), {.lr = lr});
    optim::CosineLr schedule(lr, epochs);
    run_files::Metrics metrics(out, {"epoch", "lr", "train_bpc", "validation_bpc", "unigram_bpc", "seconds"});
    run_files::restore_run(run, resumed, resume, model, opt, schedule, metrics, 3, epochs);  // column 3: validation
    const std::int64_t parameter_count = model.parameter_count();
    const double unigram = unigram_bits(text.train, text.validation);
    fmt::print("{} ({} parameters) on {} fortunes from {} files in {}: train {} / validation {} / test {} characters "
               "({} bytes outside the alphabet dropped); sequences {} × batch {}, Adam, {}\n",
               model.describe(), parameter_count, text.fortunes, text.files, dir, text.train.size(), text.validation.size(),
               text.test.size(), text.dropped, seq, batch, schedule.describe());
    fmt::print("unigram baseline (training frequencies): {:.4f} bits/char on validation\n", unigram);
    std::fflush(stdout);

    const Streams train(text.train, batch);
    for (int epoch = run.epoch; epoch < epochs; ++epoch) {
      opt.set_lr(schedule.lr());
      train::Progress progress(fmt::format("epoch {}/{}", epoch + 1, epochs), (train.length - 1) * batch,
                               quiet ? stdout : stderr);
      nn::LstmState state;
      double running = 0;
      std::int64_t seen = 0;
      for (std::int64_t k = 0; k < train.steps(seq); ++k) {
        auto [x, y] = train.chunk(k, seq);
        auto [logits, next] = model.forward(x, state);
        Tensor cost = softmax_cross_entropy(logits, y);
        opt.zero_grad();
        cost.backward();
        optim::clip_grad_norm_(model.parameters(), clip);
        opt.step();
        state = {next.h.detach(), next.c.detach()};  // truncated backpropagation through time
        const double v = cost.item();
        if (!std::isfinite(v)) throw ValueError(fmt::format("epoch {}: the cost became {}; try a smaller --lr", epoch + 1, v));
        running += v * double(y.numel());
        seen += y.numel();
        progress.update(y.numel(), running / double(seen) / std::log(2.0));
      }
      progress.finish();
      const double val = bits_per_char(model, text.validation, seq);
      metrics.add({double(epoch + 1), opt.lr(), running / double(seen) / std::log(2.0), val, unigram, progress.seconds()});
      fmt::print("epoch {:>3}  η {:.4g}  train {:.4f}  validation {:.4f} bits/char (unigram {:.4f})  {:.1f}s\n", epoch + 1,
                 opt.lr(), running / double(seen) / std::log(2.0), val, unigram, progress.seconds());
      std::fflush(stdout);
      schedule.epoch_end(val);
      if (val < run.best) {  // the model is chosen on validation text only
        run.best = val;
        run.best_epoch = epoch + 1;
        io::save_safetensors((fs::path(out) / "model.safetensors").string(), model.state(), {{"epoch", std::to_string(epoch + 1)}});
      }
      run.epoch = epoch + 1;
      run.rows = metrics.rows();
      run_files::save_run(fs::path(out) / "checkpoint.safetensors", "nabla-char-lstm", model, opt, run);
      metrics.plot("char-LSTM on fortunes: bits per character", "bits per character", {{"train_bpc", "training"},
                   {"validation_bpc", "validation"}, {"unigram_bpc", "unigram baseline"}});
    }
    model.load_state(io::load_safetensors((fs::path(out) / "model.safetensors").string()).tensors);
    const double test = bits_per_char(model, text.test, seq);
    const std::string s = sample(model, "%\n", sample_chars, temperature, seed + 1);
    run_files::write_text(fs::path(out) / "samples.txt", s + "\n");
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    run_files::write_text(fs::path(out) / "summary.json",
                          fmt::format("{{\"best_epoch\": {}, \"validation_bpc\": {:.6f}, \"test_bpc\": {:.6f}, \"unigram_validation_bpc\": "
                                      "{:.6f}, \"unigram_test_bpc\": {:.6f}, \"parameters\": {}, \"wall_seconds\": {:.1f}}}\n",
                                      run.best_epoch, run.best, test, unigram, unigram_bits(text.train, text.test), parameter_count, wall));
    fmt::print("sampled at temperature {}:\n{}\n", temperature, s);
    fmt::print("the model of epoch {} (best validation {:.4f} bits/char): test {:.4f} bits/char (unigram {:.4f}); wrote {}\n",
               run.best_epoch, run.best, test, unigram_bits(text.train, text.test), out);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "nabla-char-lstm: {}\n", e.what());
    return 1;
  }
}
