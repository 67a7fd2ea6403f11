// examples/char_lstm.cpp — nabla-char-lstm: a character-level language model (Embedding → LSTM →
// Linear) trained on the fortunes of Debian's `fortunes` package by truncated backpropagation
// through time, with Adam and gradient clipping. It reports bits per character on validation text
// beside a unigram baseline, keeps the model of the best validation epoch, measures it once on the
// test text, and samples new text from it.
//
//   nabla-char-lstm                                     10 epochs on /usr/share/games/fortunes
//   nabla-char-lstm --epochs 1 --limit 200000           a quick look
//   nabla-char-lstm --resume out/char_lstm-fortunes/checkpoint.safetensors --epochs 20
//   mpirun -np 2 nabla-char-lstm                        data-parallel: each rank reads --batch streams of its part
//
// Its run (flags, checkpoint, epoch loop, metrics, figure, mpirun) is examples/run/run.hpp's.
//
// The text: every fortune of every file in the directory (the `%` lines between them), in file-name
// order; fortune k goes to validation when k mod 20 = 18, to test when k mod 20 = 19, else to
// training (90/5/5). Each split is its fortunes joined, each followed by "%\n". The alphabet is the
// 95 printable ASCII characters and newline (tabs become spaces; other bytes, e.g. UTF-8, are
// dropped and counted).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nabla/nabla.hpp>

#include "cli_checks.hpp"
#include "fortunes.hpp"
#include "run/char_end.hpp"
#include "run/run.hpp"

using namespace nabla;
using namespace fortunes;
namespace fs = std::filesystem;

namespace {

/// The model: characters [T, N] and a state → next-character logits [T·N, vocab] and the new state.
class CharModel : public nn::Module {
 public:
  CharModel(std::int64_t embed, std::int64_t hidden, Generator& gen)
      : hidden_(hidden),
        embedding_(std::make_shared<nn::Embedding>(kVocab, embed, nn::EmbeddingOptions{}, gen)),
        lstm_(std::make_shared<nn::LSTM>(embed, hidden, nn::LSTMOptions{}, gen)),
        fc_(std::make_shared<nn::Linear>(hidden, kVocab, nn::LinearOptions{.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen)) {
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
/// Under mpirun the text is cut into streams × world rows and each rank reads its `streams` of them.
struct Streams {
  std::vector<std::int64_t> text;  // [streams, length]
  std::int64_t streams, length;
  Streams(const std::vector<std::int64_t>& t, std::int64_t n, int rank = 0, int world = 1)
      : streams(n), length(std::int64_t(t.size()) / (n * world)) {
    const auto first = t.begin() + std::ptrdiff_t(rank) * streams * length;
    text.assign(first, first + streams * length);
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
  nabla_run::Run run(app, "nabla-char-lstm", {"epoch", "lr", "train_bpc", "validation_bpc", "unigram_bpc", "seconds"},
                     "out/char_lstm-fortunes", 10, "passes over the training text (with --resume: the new total)");
  std::string dir = "/usr/share/games/fortunes";
  std::int64_t batch = 32, seq = 64, hidden = 256, embed = 64, limit = 0, sample_chars = 600;
  double lr = 2e-3, clip = 5.0, temperature = 0.8;
  std::uint64_t seed = 0;
  app.add_option("--text-dir", dir, "the fortune files")->capture_default_str();
  app.add_option("--batch", batch, "sequences read side by side (per rank under mpirun)")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--seq", seq, "steps of backpropagation through time")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--hidden", hidden, "LSTM hidden size")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--embed", embed, "embedding size")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--lr", lr, "Adam's learning rate (cosine schedule over the epochs)")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--clip", clip, "gradient norm clipping")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--limit", limit, "read files until this many training characters (0: all)")->check(cli_checks::non_negative);
  app.add_option("--sample", sample_chars, "characters to sample at the end")->check(cli_checks::non_negative)->capture_default_str();
  app.add_option("--temperature", temperature, "sampling temperature")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--seed", seed, "seed of the initial weights and the samples")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  return nabla_run::guarded("nabla-char-lstm", [&] {
    run.begin(argc, argv, {"program", "args"});
    const Corpus text = read_fortunes(dir, limit);
    Generator gen(seed);
    CharModel model(embed, hidden, gen);
    optim::Adam opt(model.parameters(), {.lr = lr});
    optim::CosineAnnealingLR schedule(lr, std::max(1, run.epochs() - 1));  // η_min at the last epoch
    run.restore(model, opt, schedule, "validation_bpc");
    run.distribute(model);
    const std::int64_t parameter_count = model.parameter_count();
    const double unigram = unigram_bits(text.train, text.validation);
    std::FILE* const log = run.log();
    fmt::print(log, "{} ({} parameters) on {} fortunes from {} files in {}: train {} / validation {} / test {} characters "
               "({} bytes outside the alphabet dropped); sequences {} × batch {}{}, Adam, {}\n",
               model.describe(), parameter_count, text.fortunes, text.files, dir, text.train.size(), text.validation.size(),
               text.test.size(), text.dropped, seq, batch, run.world() > 1 ? fmt::format(" per rank × {} ranks", run.world()) : "",
               schedule.describe());
    fmt::print(log, "unigram baseline (training frequencies): {:.4f} bits/char on validation\n", unigram);
    std::fflush(log);

    run.plot("char-LSTM on fortunes: bits per character",
             {{.ylabel = "bits per character",
               .curves = {{"train_bpc", "training"}, {"validation_bpc", "validation"}, {"unigram_bpc", "unigram baseline"}}}});
    const Streams train(text.train, batch, run.rank(), run.world());
    run.train(model, opt, schedule, (train.length - 1) * batch * run.world(),
              [&](nabla_run::Epoch& e) {
                nn::LstmState state;
                for (std::int64_t k = 0; k < train.steps(seq); ++k) {
                  auto [x, y] = train.chunk(k, seq);
                  auto [logits, next] = model.forward(x, state);
                  Tensor cost = softmax_cross_entropy(logits, y);
                  opt.zero_grad();
                  cost.backward();
                  run.sync();
                  optim::clip_grad_norm_(model.parameters(), clip);
                  opt.step();
                  state = {next.h.detach(), next.c.detach()};  // truncated backpropagation through time
                  e.step(cost.item(), y.numel());
                }
              },
              [&](nabla_run::Epoch& e) {
                const double val = bits_per_char(model, text.validation, seq);  // every rank the whole text
                const double bpc = e.mean_cost() / std::log(2.0);
                fmt::print(log, "epoch {:>3}  η {:.4g}  train {:.4f}  validation {:.4f} bits/char (unigram {:.4f})  {:.1f}s\n",
                           e.index + 1, opt.lr(), bpc, val, unigram, e.seconds());
                run.keep_best(model, e.index, val);  // the model is chosen on validation text only
                return nabla_run::EpochEnd{{double(e.index + 1), opt.lr(), bpc, val, unigram, e.seconds()}, val};
              },
              std::log(2.0));
    return nabla_run::finish_char_run(
        run, model, [&] { return bits_per_char(model, text.test, seq); },
        [&] { return sample(model, "%\n", sample_chars, temperature, seed + 1); },
        {.text = text, .unigram_validation = unigram, .parameters = parameter_count, .temperature = temperature});
  });
}
