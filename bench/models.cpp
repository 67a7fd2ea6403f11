// bench/models.cpp — one timing of one of the book's models in nabla, printed as a JSON line, for
// bench/run.sh to set beside PyTorch's (bench/torch_models.py does the same work the same way).
//
//   bench_models --model network1|network2|network3|bn_cnn|char_lstm --batch 10 [--mode train|infer]
//                [--threads 1] [--steps 2000] [--warmup 200]
// bn_cnn: the batch-norm CNN of the models beyond the book (4 conv-BN-ReLU, global average pooling,
// 66K parameters) trained with Adam; char_lstm: Embedding(96, 64), LSTM(64, 256), Linear(256, 96)
// over 64 steps of `batch` sequences, Adam (the batch is the number of sequences); char_gpt: the model
// of nabla-char-gpt (examples/char_gpt_model.hpp: width 96, 3 pre-norm blocks of 4 heads, MLP 384,
// sinusoidal positions; 354K parameters) on `batch` windows of --context characters (default 128),
// AdamW and gradient clipping as the program (bench/torch_models.py: the same model in PyTorch).
// train: one SGD step (forward, backward, update) on a fixed random batch; infer: a forward pass
// with recording off; hvp: one Hessian-vector product of the cost in all parameters (forward, the
// gradient with create_graph, and the backward of ∇C · v), network2 as the book's [784, 30, 10]. Prints {"impl":"nabla", ..., "median_us", "min_us", "max_us", "peak_rss_kb"}.
// With --profile N it prints each op's time per training step instead (nabla::profile, stderr).
// With --rss-every N it is the memory run instead: the resident set size is sampled every N steps
// (and before the first) and printed as "rss_trace": [[step, kB], ...] under impl "nabla-memory".
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nabla/nabla.hpp>

#include "../examples/char_gpt_model.hpp"
#include "step_options.hpp"
#include "step_timing.hpp"

using namespace nabla;

namespace {

struct Model {
  std::unique_ptr<nn::Module> net;
  std::function<Tensor(const Tensor&, const Tensor&)> cost;
  double lr, l2;
  bool adam = false;
  bool adamw_clip = false;  // AdamW (weight decay 0.1 off biases and norms, betas 0.9, 0.99) and clipping to norm 1
};

constexpr std::int64_t kVocab = 96, kSeq = 64;

/// Characters [T, N] → next-character logits [T·N, vocab].
class CharLstm : public nn::Module {
 public:
  explicit CharLstm(Generator& gen)
      : emb_(std::make_shared<nn::Embedding>(kVocab, 64, nn::EmbeddingOptions{}, gen)),
        lstm_(std::make_shared<nn::LSTM>(64, 256, nn::LSTMOptions{}, gen)),
        fc_(std::make_shared<nn::Linear>(256, kVocab, nn::LinearOptions{}, gen)) {
    register_module("embedding", emb_);
    register_module("lstm", lstm_);
    register_module("fc", fc_);
  }
  Tensor forward(const Tensor& chars) override {
    const Tensor h = (*lstm_)((*emb_)(chars));
    return (*fc_)(h.reshape({-1, 256}));
  }
  std::string describe() const override { return "CharLstm"; }

 private:
  std::shared_ptr<nn::Embedding> emb_;
  std::shared_ptr<nn::LSTM> lstm_;
  std::shared_ptr<nn::Linear> fc_;
};

/// The same models as examples/train.cpp, with the same initialization scale, cost and optimizer.
Model make(const std::string& name, std::int64_t batch, Generator& gen, std::int64_t hidden2 = 100, std::int64_t context = 128) {
  if (name == "network1") {
    return {std::make_unique<nn::Sequential>(nn::Linear(784, 30, {.weight = nn::Init::standard_normal}, gen), nn::Sigmoid(),
                                             nn::Linear(30, 10, {.weight = nn::Init::standard_normal}, gen), nn::Sigmoid()),
            [](const Tensor& a, const Tensor& y) { return quadratic_cost(a, one_hot(y, 10)); }, 3.0, 0.0};
  }
  if (name == "network2") {
    return {std::make_unique<nn::Sequential>(nn::Linear(784, hidden2, {}, gen), nn::Sigmoid(), nn::Linear(hidden2, 10, {}, gen)),
            [](const Tensor& z, const Tensor& y) { return binary_cross_entropy_with_logits(z, one_hot(y, 10)); }, 0.5, 5.0};
  }
  auto ce = [](const Tensor& z, const Tensor& y) { return softmax_cross_entropy(z, y); };
  if (name == "bn_cnn") {
    auto block = [&](std::int64_t in, std::int64_t out) {
      return nn::Sequential{nn::Conv2d(in, out, 3, {.padding = 1, .has_bias = false}, gen), nn::BatchNorm2d(out), nn::ReLU()};
    };
    return {std::make_unique<nn::Sequential>(nn::Reshape({1, 28, 28}), block(1, 32), block(32, 32), nn::MaxPool2d(2),
                                             block(32, 64), block(64, 64), nn::MaxPool2d(2), nn::AdaptiveAvgPool2d(1),
                                             nn::Flatten(), nn::Linear(64, 10, {}, gen)),
            ce, 1e-3, 0.0, true};
  }
  if (name == "char_lstm") return {std::make_unique<CharLstm>(gen), ce, 1e-3, 0.0, true};
  if (name == "char_gpt") {
    return {std::make_unique<char_gpt::CharGpt>(char_gpt::GptConfig{.context = context}, gen), ce, 2e-3, 0.0, true, true};
  }
  return {std::make_unique<nn::Sequential>(nn::Reshape({1, 28, 28}), nn::Conv2d(1, 20, 5, {}, gen), nn::MaxPool2d(2), nn::ReLU(),
                                           nn::Conv2d(20, 40, 5, {}, gen), nn::MaxPool2d(2), nn::ReLU(), nn::Flatten(),
                                           nn::Linear(640, 100, {}, gen), nn::ReLU(), nn::Linear(100, 10, {}, gen)),
          [](const Tensor& z, const Tensor& y) { return softmax_cross_entropy(z, y); }, 0.03, 0.1 * double(batch)};
}

/// The current resident set size in kB (/proc/self/statm's second field, in pages).
long rss_kb() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nabla side of the side-by-side benchmarks"};
  inspect::set_warnings(false);  // network1 pairs sigmoid with the quadratic cost on purpose (network.py)
  StepOptions opts;
  auto& [model, mode, batch, threads, steps, warmup] = opts;
  add_step_options(app, opts, {"network1", "network2", "network3", "bn_cnn", "char_lstm", "char_gpt"});
  int rss_every = 0, profile_steps = 0;
  std::int64_t context = 128;
  app.add_option("--context", context, "char_gpt: characters per window")->check(CLI::Range(1, 100000));
  double bucket_mb = 4;
  std::string autocast = "none";
  app.add_option("--autocast", autocast, "bf16: the forward under AutocastGuard (products and convolutions in bfloat16, "
                 "float32 master weights), as torch.autocast(\"cpu\", dtype=torch.bfloat16)")
      ->check(CLI::IsMember({"none", "bf16"}));
  app.add_option("--bucket-mb", bucket_mb, "under mpirun: DistributedDataParallel's bucket size")->check(CLI::PositiveNumber);
  app.add_option("--profile", profile_steps, "print each op's share of N training steps to stderr instead of timing")
      ->check(CLI::Range(0, 100000));
  app.add_option("--rss-every", rss_every, "sample the resident set every N steps (memory run)")->check(CLI::Range(0, 10000000));
  CLI11_PARSE(app, argc, argv);

  set_num_threads(threads);
  dist::init();  // under mpirun: data-parallel training steps, `batch` per rank
  Generator gen(0);
  Model m = make(model, batch, gen, mode == "hvp" ? 30 : 100, context);
  std::unique_ptr<dist::DistributedDataParallel> ddp;
  if (dist::world_size() > 1) {
    if (mode != "train" || profile_steps > 0 || rss_every > 0) throw ValueError("under mpirun: --mode train only");
    dist::broadcast_state(*m.net);
    ddp = std::make_unique<dist::DistributedDataParallel>(*m.net, dist::DataParallelOptions{.bucket_mb = bucket_mb});
  }
  std::unique_ptr<optim::Optimizer> opt;
  if (m.adamw_clip) {
    opt = std::make_unique<optim::AdamW>(optim::split_decay(m.net->parameters()),
                                         optim::AdamWOptions{.lr = m.lr, .betas = {0.9, 0.99}, .weight_decay = 0.1});
  } else if (m.adam) opt = std::make_unique<optim::Adam>(m.net->parameters(), optim::AdamOptions{.lr = m.lr});
  else opt = std::make_unique<optim::SGD>(m.net->parameters(), optim::SGDOptions{.lr = m.lr, .l2 = m.l2, .n = m.l2 > 0 ? 50000 : 0});
  Tensor x, y;
  if (model == "char_lstm" || model == "char_gpt") {  // random characters; the targets are the next ones
    const std::int64_t seq = model == "char_gpt" ? context : kSeq;
    std::vector<std::int64_t> chars(static_cast<std::size_t>((seq + 1) * batch));
    for (auto& c : chars) c = std::int64_t(gen.engine()() % kVocab);
    const Tensor all = from_vector(std::span<const std::int64_t>(chars), {seq + 1, batch});
    x = slice(all, 0, 0, seq);
    y = slice(all, 0, 1).reshape({seq * batch});
  } else {
    x = uniform({batch, 784}, 0, 1, f32, gen);
    std::vector<std::int64_t> labels(static_cast<std::size_t>(batch));
    for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = std::int64_t(i % 10);
    y = from_vector(std::span<const std::int64_t>(labels), {batch});
  }

  const bool amp = autocast == "bf16";
  auto train_step = [&] {
    Tensor c;
    {
      AutocastGuard guard(bf16, amp);
      c = m.cost((*m.net)(x), y);
    }
    opt->zero_grad();
    c.backward();
    if (ddp) ddp->synchronize();
    if (m.adamw_clip) optim::clip_grad_norm_(m.net->parameters(), 1.0);
    opt->step();
  };
  auto infer_step = [&] {
    NoGradGuard no_grad;
    AutocastGuard guard(bf16, amp);
    (*m.net)(x);
  };
  std::vector<Tensor> params, v;
  for (const nn::Param& p : m.net->parameters()) {
    params.push_back(p.tensor);
    v.push_back(randn(p.tensor.shape(), p.tensor.dtype(), gen));
  }
  auto hvp_step = [&] {
    Tensor c = m.cost((*m.net)(x), y);
    const std::vector<Tensor> g = grad({c}, params, {}, {.create_graph = true});
    Tensor gv = sum(g[0] * v[0]);
    for (std::size_t i = 1; i < g.size(); ++i) gv = gv + sum(g[i] * v[i]);
    const std::vector<Tensor> hv = grad({gv}, params);
    (void)hv;
  };
  if (mode == "infer") m.net->eval();
  if (profile_steps > 0) {  // where the time of a training step goes, op by op (to stderr)
    for (int i = 0; i < 2; ++i) train_step();
    {
      profile::Scope scope;
      for (int i = 0; i < profile_steps; ++i) train_step();
    }
    const std::map<std::string, profile::OpStats> totals = profile::totals();
    std::vector<std::pair<std::string, profile::OpStats>> ops(totals.begin(), totals.end());
    std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) {
      return a.second.forward_us + a.second.backward_us > b.second.forward_us + b.second.backward_us;
    });
    for (const auto& [op, st] : ops) {
      fmt::print(stderr, "{:<24} {:>10.1f} µs forward {:>10.1f} µs backward per step ({} calls)\n", op,
                 st.forward_us / profile_steps, st.backward_us / profile_steps, st.forward_calls / profile_steps);
    }
    return 0;
  }
  const long base_rss_kb = rss_kb();  // before the first step: the program, its libraries, the model and the batch
  std::vector<std::pair<int, long>> rss_trace;
  rss_trace.reserve(static_cast<std::size_t>(rss_every > 0 ? (warmup + steps) / rss_every + 2 : 0));
  auto sample = [&](int i) {
    if (rss_every > 0 && i % rss_every == 0) rss_trace.emplace_back(i, rss_kb());
  };
  const std::vector<double> us = mode == "train" ? bench::time_steps(warmup, steps, train_step, sample)
                                 : mode == "hvp"   ? bench::time_steps(warmup, steps, hvp_step, sample)
                                                   : bench::time_steps(warmup, steps, infer_step, sample);
  if (rss_every > 0) {
    rss_trace.emplace_back(warmup + steps, rss_kb());
    std::string trace;
    for (const auto& [step, kb] : rss_trace) trace += fmt::format("{}[{}, {}]", trace.empty() ? "" : ", ", step, kb);
    fmt::print(R"({{"impl": "nabla-memory", "model": "{}", "mode": "{}", "batch": {}, "threads": {}, "steps": {}, )"
               R"("median_us": {:.2f}, "peak_rss_kb": {}, "rss_trace": [{}]}})"
               "\n",
               model, mode, batch, threads, warmup + steps, us[us.size() / 2], bench::peak_rss_kb(), trace);
    return 0;
  }
  if (ddp) {  // rank 0: the step of all ranks, and the time synchronize() waited for allreduces
    const auto& st = ddp->stats();
    if (dist::is_main()) {
      fmt::print(R"({{"impl": "nabla-ddp", "model": "{}", "mode": "{}", "batch": {}, "threads": {}, "steps": {}, "ranks": {}, "bucket_mb": {}, )"
                 R"("median_us": {:.2f}, "min_us": {:.2f}, "max_us": {:.2f}, "wait_us": {:.2f}, "buckets": {}, "started_in_backward": {}}})"
                 "\n",
                 model, mode, batch, threads, steps, dist::world_size(), bucket_mb, us[us.size() / 2], us.front(), us.back(),
                 1e6 * st.wait_seconds / double(st.steps), st.buckets, double(st.started_in_backward) / double(st.steps));
    }
    ddp.reset();
    dist::finalize();
    return 0;
  }
  if (model == "char_gpt") {  // the window length, and the resident set before the first step beside the peak
    fmt::print(R"({{"impl": "nabla", "model": "{}", "mode": "{}", "batch": {}, "threads": {}, "steps": {}, "context": {}, )"
               R"("median_us": {:.2f}, "min_us": {:.2f}, "max_us": {:.2f}, "peak_rss_kb": {}, "base_rss_kb": {}}})"
               "\n",
               context == 128 ? "char_gpt" : fmt::format("char_gpt_T{}", context), mode, batch, threads, steps, context,
               us[us.size() / 2], us.front(), us.back(), bench::peak_rss_kb(), base_rss_kb);
    return 0;
  }
  bench::print_result(amp ? "nabla-bf16" : "nabla", model, mode, batch, threads, steps, us);
  return 0;
}
