// examples/char_gpt.cpp — nabla-char-gpt: a character-level decoder-only transformer (a small GPT:
// examples/char_gpt_model.hpp) trained on the same fortunes text and the same split as
// nabla-char-lstm (examples/fortunes.hpp), with AdamW, a linear warmup and a cosine decay per step,
// and gradient clipping. It reports bits per character on validation text beside the unigram
// baseline, keeps the model of the best validation epoch, measures it once on the test text, and
// samples new text from it.
//
//   nabla-char-gpt --epochs 6                           the documented run (docs/results-beyond.md)
//   nabla-char-gpt --epochs 1 --limit 200000            a quick look
//   nabla-char-gpt --resume out/char_gpt-fortunes/checkpoint.safetensors --epochs 20
//   mpirun -np 2 nabla-char-gpt                         data-parallel: each rank trains on --batch windows per step
//
// Its run (flags, checkpoint, epoch loop, metrics, figure, mpirun) is examples/run/run.hpp's.
//
// Training: an epoch cuts the training text, from a random offset below --context, into windows of
// --context characters (each with the characters one further on as targets), shuffles them and
// reads them --batch at a time (under mpirun: --batch per rank). Every epoch has the same number of
// steps, so the per-step schedule (LinearWarmup over --warmup steps, then CosineAnnealingLR down to
// --lr-min) resumes exactly. Evaluation: windows of --context characters with a stride of half of
// it; each character is scored once, by the first window that sees it with at least half a context
// before it (the first window: all of its characters), so every prediction but those of the text's
// first --context/2 characters has between --context/2 and --context characters of context.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nabla/nabla.hpp>

#include "char_gpt_model.hpp"
#include "cli_checks.hpp"
#include "fortunes.hpp"
#include "run/char_end.hpp"
#include "run/run.hpp"

using namespace nabla;
using namespace fortunes;
using char_gpt::CharGpt;

namespace {

/// Training windows: the text from `offset` cut into `count` windows of T + 1 characters (inputs
/// [T, n] and targets [T·n], row t·n + b).
struct Windows {
  const std::vector<std::int64_t>& text;
  std::int64_t T;
  /// Windows per epoch: the same for every offset below T.
  std::int64_t count() const { return (std::int64_t(text.size()) - T) / T; }
  std::pair<Tensor, Tensor> batch(const std::vector<std::int64_t>& starts) const {
    const auto n = std::int64_t(starts.size());
    std::vector<std::int64_t> x(std::size_t(T * n)), y(x.size());
    for (std::int64_t b = 0; b < n; ++b) {
      for (std::int64_t t = 0; t < T; ++t) {
        x[std::size_t(t * n + b)] = text[std::size_t(starts[std::size_t(b)] + t)];
        y[std::size_t(t * n + b)] = text[std::size_t(starts[std::size_t(b)] + t + 1)];
      }
    }
    return {from_vector(std::span<const std::int64_t>(x), {T, n}), from_vector(std::span<const std::int64_t>(y), {T * n})};
  }
};

/// A schedule stepped once per training step inside an epoch (LinearWarmup then CosineAnnealingLR),
/// seen by the run's epoch loop as a per-epoch one: epoch_end moves it to the next epoch's first step,
/// so --resume replays it exactly.
class PerStep : public optim::LrSchedule {
 public:
  PerStep(std::unique_ptr<optim::LrSchedule> inner, std::int64_t steps_per_epoch)
      : inner_(std::move(inner)), per_epoch_(steps_per_epoch) {}
  double lr() const override { return inner_->lr(); }
  void epoch_end(double) override { seek(++epoch_ * per_epoch_); }
  /// Advances to global step `step` (never back).
  void seek(std::int64_t step) {
    for (; done_ < step; ++done_) inner_->epoch_end(NAN);
  }
  std::string describe() const override {
    return fmt::format("stepped per batch ({} an epoch; its \"epochs\" are steps): {}", per_epoch_, inner_->describe());
  }

 private:
  std::unique_ptr<optim::LrSchedule> inner_;
  std::int64_t per_epoch_, epoch_ = 0, done_ = 0;
};

/// Mean cross-entropy in bits per character of `model` over a text (recording off; the windows of
/// the file comment, `batch` at a time).
double bits_per_char(CharGpt& model, const std::vector<std::int64_t>& text, std::int64_t T, std::int64_t batch) {
  NoGradGuard no_grad;
  model.eval();
  const auto n = std::int64_t(text.size());
  const std::int64_t len = std::min(T, n - 1), stride = std::max<std::int64_t>(1, len / 2);
  // Window starts: 0, stride, 2·stride, …, and one ending at the text's last character.
  std::vector<std::int64_t> starts;
  for (std::int64_t s = 0; s + len <= n - 1; s += stride) starts.push_back(s);
  if (starts.back() + len < n - 1) starts.push_back(n - 1 - len);
  const Windows w{text, len};
  double bits = 0;
  std::int64_t scored_to = 0;  // targets 1 … scored_to are scored
  for (std::size_t first = 0; first < starts.size(); first += std::size_t(batch)) {
    const std::vector<std::int64_t> part(starts.begin() + std::ptrdiff_t(first),
                                         starts.begin() + std::ptrdiff_t(std::min(starts.size(), first + std::size_t(batch))));
    auto [x, y] = w.batch(part);
    const Tensor logp = log_softmax(model(x), 1);  // [len · m, vocab]
    const std::vector<float> lp = logp.to_vector<float>();
    const std::vector<std::int64_t> target = y.to_vector<std::int64_t>();
    const auto m = std::int64_t(part.size());
    const std::int64_t V = logp.shape()[1];
    for (std::int64_t b = 0; b < m; ++b) {
      const std::int64_t s = part[std::size_t(b)];
      for (std::int64_t t = std::max<std::int64_t>(0, scored_to - s); t < len; ++t) {  // target index s + t + 1
        const std::int64_t row = t * m + b;
        bits -= double(lp[std::size_t(row * V + target[std::size_t(row)])]);
      }
      scored_to = std::max(scored_to, s + len);
    }
  }
  model.train();
  return bits / double(n - 1) / std::log(2.0);
}

/// `n` characters drawn from the model one at a time (softmax at `temperature`) after `prime`, each
/// seeing the last --context characters.
std::string sample(CharGpt& model, const std::string& prime, std::int64_t n, double temperature, std::uint64_t seed) {
  NoGradGuard no_grad;
  model.eval();
  std::mt19937_64 rng(seed);
  std::vector<std::int64_t> context;
  for (char ch : prime) context.push_back(encode(ch));
  std::string out = prime;
  const std::int64_t T = model.config().context;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t len = std::min<std::int64_t>(T, std::int64_t(context.size()));
    const Tensor x = from_vector(std::span<const std::int64_t>(context.data() + context.size() - std::size_t(len), std::size_t(len)), {len, 1});
    const Tensor last = slice(model(x), 0, len - 1, len);
    const std::vector<double> p = softmax(last * (1.0 / temperature)).to_vector();
    const std::int64_t next = std::discrete_distribution<std::int64_t>(p.begin(), p.end())(rng);
    out += decode(next);
    context.push_back(next);
  }
  model.train();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nabla-char-gpt: a character-level decoder-only transformer on Debian's fortunes"};
  nabla_run::Run run(app, "nabla-char-gpt", {"epoch", "lr", "train_bpc", "validation_bpc", "unigram_bpc", "seconds"},
                     "out/char_gpt-fortunes", 10, "passes over the training text (with --resume: the new total)");
  std::string dir = "/usr/share/games/fortunes";
  char_gpt::GptConfig cfg;
  std::int64_t batch = 16, limit = 0, sample_chars = 600, warmup = 200;
  double lr = 5e-3, lr_min = 1e-4, weight_decay = 0.1, clip = 1.0, temperature = 0.8;
  std::uint64_t seed = 0;
  app.add_option("--text-dir", dir, "the fortune files")->capture_default_str();
  app.add_option("--batch", batch, "windows per step (per rank under mpirun)")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--context", cfg.context, "characters per window (the attention's span)")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--width", cfg.width, "model width (d_model)")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--layers", cfg.layers, "transformer blocks")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--heads", cfg.heads, "attention heads (dividing --width)")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--ff", cfg.ff, "MLP hidden width (0: 4 × width)")->check(cli_checks::non_negative)->capture_default_str();
  app.add_option("--dropout", cfg.dropout, "dropout on embeddings, attention weights and residual branches")
      ->check(CLI::Range(0.0, 0.9))->capture_default_str();
  app.add_flag("--learned-positions", cfg.learned_positions, "learned positions (default: sinusoidal)");
  app.add_flag("--tied", cfg.tied, "the head's weight is the token embedding's");
  app.add_option("--lr", lr, "AdamW's peak learning rate")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--lr-min", lr_min, "the learning rate at the last step (cosine)")->check(cli_checks::non_negative)->capture_default_str();
  app.add_option("--warmup", warmup, "steps of linear warmup from lr/10")->check(cli_checks::non_negative)->capture_default_str();
  app.add_option("--weight-decay", weight_decay, "AdamW's decoupled weight decay (not on biases and norms)")
      ->check(cli_checks::non_negative)->capture_default_str();
  app.add_option("--clip", clip, "gradient norm clipping")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--limit", limit, "read files until this many training characters (0: all)")->check(cli_checks::non_negative);
  app.add_option("--sample", sample_chars, "characters to sample at the end")->check(cli_checks::non_negative)->capture_default_str();
  app.add_option("--temperature", temperature, "sampling temperature")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--seed", seed, "seed of the initial weights, the windows' order and the samples")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  return nabla_run::guarded("nabla-char-gpt", [&] {
    run.begin(argc, argv, {"program", "args"});
    const Corpus text = read_fortunes(dir, limit);
    Generator gen(seed);
    cfg.vocab = kVocab;
    cfg.seed = seed;
    CharGpt model(cfg, gen);
    const Windows train{text.train, cfg.context};
    const std::int64_t per_step = batch * run.world(), steps = train.count() / per_step;
    if (steps < 1) {
      throw ValueError(fmt::format("--batch {} × {} ranks windows of --context {}: more than the {} training characters hold",
                                   batch, run.world(), cfg.context, text.train.size()));
    }
    optim::AdamW opt(optim::split_decay(model.parameters()), {.lr = lr, .betas = {0.9, 0.99}, .weight_decay = weight_decay});
    // --warmup may outlast the run: then η rises throughout (and a first epoch is the same whatever --epochs says).
    const std::int64_t total = steps * run.epochs(), warm = warmup;
    PerStep schedule(std::make_unique<optim::LinearWarmup>(
                         std::make_unique<optim::CosineAnnealingLR>(lr, int(std::max<std::int64_t>(1, total - warm - 1)), lr_min),
                         int(warm)),
                     steps);
    run.restore(model, opt, schedule, "validation_bpc");
    run.distribute(model);
    const std::int64_t parameter_count = model.parameter_count();
    const double unigram = unigram_bits(text.train, text.validation);
    std::FILE* const log = run.log();
    fmt::print(log, "{} ({} parameters) on {} fortunes from {} files in {}: train {} / validation {} / test {} characters "
               "({} bytes outside the alphabet dropped); {} steps of {} windows{} an epoch; AdamW (weight decay {}), {}\n",
               model.describe(), parameter_count, text.fortunes, text.files, dir, text.train.size(), text.validation.size(),
               text.test.size(), text.dropped, steps, batch, run.world() > 1 ? fmt::format(" per rank × {} ranks", run.world()) : "",
               weight_decay, schedule.describe());
    fmt::print(log, "unigram baseline (training frequencies): {:.4f} bits/char on validation\n", unigram);
    std::fflush(log);

    run.plot("char-GPT on fortunes: bits per character",
             {{.ylabel = "bits per character",
               .curves = {{"train_bpc", "training"}, {"validation_bpc", "validation"}, {"unigram_bpc", "unigram baseline"}}}});
    run.train(model, opt, schedule, steps * per_step * cfg.context,
              [&](nabla_run::Epoch& e) {
                std::mt19937_64 rng(nabla_run::epoch_seed(seed, e.index));
                const std::int64_t offset = std::int64_t(rng() % std::uint64_t(cfg.context));
                std::vector<std::int64_t> order(std::size_t(train.count()));
                std::iota(order.begin(), order.end(), 0);
                std::shuffle(order.begin(), order.end(), rng);
                for (std::int64_t k = 0; k < steps; ++k) {
                  schedule.seek(std::int64_t(e.index) * steps + k);
                  opt.set_lr(schedule.lr());
                  std::vector<std::int64_t> starts(static_cast<std::size_t>(batch));
                  for (std::int64_t b = 0; b < batch; ++b) {
                    starts[std::size_t(b)] = offset + cfg.context * order[std::size_t(k * per_step + run.rank() * batch + b)];
                  }
                  auto [x, y] = train.batch(starts);
                  Tensor cost = softmax_cross_entropy(model(x), y);
                  opt.zero_grad();
                  cost.backward();
                  run.sync();
                  optim::clip_grad_norm_(model.parameters(), clip);
                  opt.step();
                  e.step(cost.item(), y.numel());
                }
              },
              [&](nabla_run::Epoch& e) {
                const double val = bits_per_char(model, text.validation, cfg.context, batch);  // every rank the whole text
                const double bpc = e.mean_cost() / std::log(2.0);
                fmt::print(log, "epoch {:>3}  η {:.4g}  train {:.4f}  validation {:.4f} bits/char (unigram {:.4f})  {:.1f}s\n",
                           e.index + 1, opt.lr(), bpc, val, unigram, e.seconds());
                run.keep_best(model, e.index, val);  // the model is chosen on validation text only
                return nabla_run::EpochEnd{{double(e.index + 1), opt.lr(), bpc, val, unigram, e.seconds()}, val};
              },
              std::log(2.0));
    return nabla_run::finish_char_run(
        run, model, [&] { return bits_per_char(model, text.test, cfg.context, batch); },
        [&] { return sample(model, "%\n", sample_chars, temperature, seed + 1); },
        {.text = text, .unigram_validation = unigram, .parameters = parameter_count, .temperature = temperature});
  });
}
