// tests/onnx/export_models.cpp — exports the models of the book and the examples to ONNX, with
// nabla's outputs on random inputs at two batch sizes, for scripts/onnx_check.py to run in ONNX
// Runtime (the ctest onnx/runtime_check). Usage: onnx_export_models OUT_DIR
//
// The models are the examples' own definitions (examples/train_models.hpp, autoencoder.cpp,
// char_lstm.cpp) rebuilt here, and the transformer layers; each is exported in eval mode from a
// batch of 2 and checked at batches 3 and 5.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "nabla/nabla.hpp"

using namespace nabla;
namespace fs = std::filesystem;

namespace {

struct Model {
  std::string name;
  std::shared_ptr<nn::Module> module;
  onnx::Forward forward;
  std::function<std::vector<Tensor>(std::int64_t batch)> inputs;
  onnx::ExportOptions options;
};

std::string dtype_str(Dtype d) {
  switch (d) {
    case Dtype::f32: return "float32";
    case Dtype::f64: return "float64";
    case Dtype::i64: return "int64";
    case Dtype::b8: return "bool";
    case Dtype::bf16: return "bfloat16";
  }
  return "?";
}

nlohmann::json write_tensor(const fs::path& path, const Tensor& t) {
  std::ofstream f(path, std::ios::binary);
  const std::size_t n = std::size_t(t.numel());
  switch (t.dtype()) {
    case Dtype::f32: f.write(reinterpret_cast<const char*>(t.data<float>()), std::streamsize(n * 4)); break;
    case Dtype::f64: f.write(reinterpret_cast<const char*>(t.data<double>()), std::streamsize(n * 8)); break;
    case Dtype::i64: f.write(reinterpret_cast<const char*>(t.data<std::int64_t>()), std::streamsize(n * 8)); break;
    case Dtype::b8: f.write(reinterpret_cast<const char*>(t.data<bool>()), std::streamsize(n)); break;
    case Dtype::bf16: f.write(reinterpret_cast<const char*>(t.data<bfloat16>()), std::streamsize(n * 2)); break;
  }
  if (!f) throw IoError(fmt::format("cannot write {}", path.string()));
  std::vector<std::int64_t> shape(t.shape().begin(), t.shape().end());
  return {{"file", path.filename().string()}, {"dtype", dtype_str(t.dtype())}, {"shape", shape}};
}

Generator gen(33);

Tensor images(std::int64_t n) { return uniform({n, 784}, 0, 1, f32, gen); }

// The examples' models (examples/train_models.hpp: network1–3, bn_cnn; examples/autoencoder.cpp).
nn::Sequential network1() {
  return nn::Sequential{nn::Linear(784, 30, {.weight = nn::Init::standard_normal, .bias = nn::Init::standard_normal}, gen), nn::Sigmoid(),
                        nn::Linear(30, 10, {.weight = nn::Init::standard_normal, .bias = nn::Init::standard_normal}, gen), nn::Sigmoid()};
}
nn::Sequential network2_softmax() {
  return nn::Sequential{nn::Linear(784, 30, {.weight = nn::Init::scaled_normal}, gen), nn::Sigmoid(),
                        nn::Linear(30, 10, {.weight = nn::Init::scaled_normal}, gen), nn::Softmax(-1)};
}
nn::Sequential network3() {
  return nn::Sequential{nn::Reshape({1, 28, 28}), nn::Conv2d(1, 20, 5, {.weight = nn::Init::scaled_normal}, gen), nn::MaxPool2d(2), nn::ReLU(),
                        nn::Conv2d(20, 40, 5, {.weight = nn::Init::scaled_normal}, gen), nn::MaxPool2d(2), nn::ReLU(), nn::Flatten(),
                        nn::Dropout(0.5, 1), nn::Linear(640, 100, {.weight = nn::Init::scaled_normal}, gen), nn::ReLU(),
                        nn::Dropout(0.5, 2), nn::Linear(100, 10, {.weight = nn::Init::scaled_normal}, gen), nn::LogSoftmax(-1)};
}
nn::Sequential bn_cnn() {
  auto block = [&](std::int64_t in, std::int64_t out) {
    return nn::Sequential{nn::Conv2d(in, out, 3, {.padding = 1, .weight = nn::Init::scaled_normal, .has_bias = false}, gen), nn::BatchNorm2d(out), nn::ReLU()};
  };
  const std::int64_t w = 8;
  return nn::Sequential{nn::Reshape({1, 28, 28}), block(1, w), block(w, w), nn::MaxPool2d(2), block(w, 2 * w),
                        block(2 * w, 2 * w), nn::MaxPool2d(2), nn::AdaptiveAvgPool2d(1), nn::Flatten(),
                        nn::Linear(2 * w, 10, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen)};
}
nn::Sequential autoencoder() {
  const nn::Conv2dOptions down{.stride = 2, .padding = 1, .weight = nn::Init::scaled_normal};
  const nn::ConvTranspose2dOptions up{.stride = 2, .padding = 1, .output_padding = 1, .weight = nn::Init::scaled_normal};
  return nn::Sequential{nn::Reshape({1, 28, 28}),
                        nn::Conv2d(1, 16, 3, down, gen), nn::ReLU(),
                        nn::Conv2d(16, 32, 3, down, gen), nn::ReLU(),
                        nn::Conv2d(32, 4, 3, {.padding = 1, .weight = nn::Init::scaled_normal}, gen),
                        nn::Conv2d(4, 32, 3, {.padding = 1, .weight = nn::Init::scaled_normal}, gen), nn::ReLU(),
                        nn::ConvTranspose2d(32, 16, 3, up, gen), nn::ReLU(),
                        nn::ConvTranspose2d(16, 1, 3, up, gen), nn::Sigmoid(),
                        nn::Flatten()};
}

// examples/char_lstm.cpp's model: embedding → LSTM → linear, on characters [T, N].
class CharModel : public nn::Module {
 public:
  CharModel(std::int64_t vocab, std::int64_t embed, std::int64_t hidden)
      : hidden_(hidden),
        embedding_(std::make_shared<nn::Embedding>(vocab, embed, nn::EmbeddingOptions{}, gen)),
        lstm_(std::make_shared<nn::LSTM>(embed, hidden, nn::LSTMOptions{}, gen)),
        fc_(std::make_shared<nn::Linear>(hidden, vocab, nn::LinearOptions{}, gen)) {
    register_module("embedding", embedding_);
    register_module("lstm", lstm_);
    register_module("fc", fc_);
  }
  Tensor forward(const Tensor& chars) override {
    return (*fc_)(lstm_->forward((*embedding_)(chars), nn::LstmState{}).output.reshape({-1, hidden_}));
  }
  std::string describe() const override { return "CharModel"; }

 private:
  std::int64_t hidden_;
  std::shared_ptr<nn::Embedding> embedding_;
  std::shared_ptr<nn::LSTM> lstm_;
  std::shared_ptr<nn::Linear> fc_;
};

onnx::Forward one(nn::Module& m) {
  return [&m](const std::vector<Tensor>& xs) { return std::vector<Tensor>{m(xs[0])}; };
}

Model sequential(std::string name, nn::Sequential net) {
  auto m = std::make_shared<nn::Sequential>(std::move(net));
  return {std::move(name), m, one(*m), [](std::int64_t n) { return std::vector<Tensor>{images(n)}; }, {}};
}

std::vector<Model> models() {
  std::vector<Model> out;
  out.push_back(sequential("network1", network1()));
  out.push_back(sequential("network2_softmax", network2_softmax()));
  out.push_back(sequential("network3", network3()));
  {
    Model m = sequential("bn_cnn", bn_cnn());
    // Running statistics that are not the initial 0 and 1: a few forwards in training mode.
    for (int i = 0; i < 3; ++i) (*m.module)(images(16) * 2.0 + 0.5);
    out.push_back(std::move(m));
  }
  out.push_back(sequential("autoencoder", autoencoder()));
  {
    auto lstm = std::make_shared<CharModel>(20, 8, 12);
    out.push_back({"char_lstm", lstm, one(*lstm),
                   [](std::int64_t n) { return std::vector<Tensor>{uniform({7, n}, 0, 19.99, f32, gen).to(i64)}; },
                   {.input_names = {"chars"}, .output_names = {"logits"}, .batch_dims = {1}}});
  }
  const std::int64_t t = 6, e = 16;
  auto seq = [t, e](std::int64_t n) { return uniform({n, t, e}, -1, 1, f32, gen); };
  {
    auto mha = std::make_shared<nn::MultiheadAttention>(e, 4, nn::MultiheadAttentionOptions{.batch_first = true}, gen);
    const Tensor mask = nn::generate_square_subsequent_mask(t, f32);
    out.push_back({"multihead_attention", mha,
                   [mha, mask](const std::vector<Tensor>& xs) {
                     return std::vector<Tensor>{mha->forward(xs[0], xs[1], xs[1], {.need_weights = false, .attn_mask = mask}).output};
                   },
                   [seq](std::int64_t n) { return std::vector<Tensor>{seq(n), seq(n)}; },
                   {.input_names = {"query", "memory"}}});
    auto mha_c = std::make_shared<nn::MultiheadAttention>(e, 4, nn::MultiheadAttentionOptions{.batch_first = true}, gen);
    out.push_back({"multihead_attention_causal", mha_c,
                   [mha_c](const std::vector<Tensor>& xs) {
                     return std::vector<Tensor>{mha_c->forward(xs[0], xs[0], xs[0], {.need_weights = false, .is_causal = true}).output};
                   },
                   [seq](std::int64_t n) { return std::vector<Tensor>{seq(n)}; }, {}});
    auto mha_w = std::make_shared<nn::MultiheadAttention>(e, 2, nn::MultiheadAttentionOptions{.batch_first = true}, gen);
    out.push_back({"multihead_attention_weights", mha_w,
                   [mha_w](const std::vector<Tensor>& xs) {
                     const nn::AttentionOutput o = mha_w->forward(xs[0], xs[0], xs[0], {});
                     return std::vector<Tensor>{o.output, o.weights};
                   },
                   [seq](std::int64_t n) { return std::vector<Tensor>{seq(n)}; },
                   {.output_names = {"output", "weights"}}});
  }
  {
    auto enc = std::make_shared<nn::TransformerEncoderLayer>(
        e, 4, nn::TransformerLayerOptions{.dim_feedforward = 32, .activation = "gelu", .batch_first = true}, gen);
    const Tensor mask = nn::generate_square_subsequent_mask(t, f32);
    out.push_back({"transformer_encoder_layer", enc,
                   [enc, mask](const std::vector<Tensor>& xs) { return std::vector<Tensor>{enc->forward(xs[0], {.mask = mask})}; },
                   [seq](std::int64_t n) { return std::vector<Tensor>{seq(n)}; }, {}});
    auto dec = std::make_shared<nn::TransformerDecoderLayer>(
        e, 4, nn::TransformerLayerOptions{.dim_feedforward = 32, .batch_first = true, .norm_first = true}, gen);
    out.push_back({"transformer_decoder_layer", dec,
                   [dec, mask](const std::vector<Tensor>& xs) {
                     return std::vector<Tensor>{dec->forward(xs[0], xs[1], {.tgt_mask = mask})};
                   },
                   [seq](std::int64_t n) { return std::vector<Tensor>{seq(n), seq(n)}; },
                   {.input_names = {"tgt", "memory"}}});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fmt::print(stderr, "usage: onnx_export_models OUT_DIR\n");
    return 2;
  }
  try {
    const fs::path dir = argv[1];
    fs::create_directories(dir);
    nlohmann::json manifest = nlohmann::json::array();
    for (Model& m : models()) {
      m.module->eval();
      const std::string file = m.name + ".onnx";
      onnx::export_model(*m.module, m.forward, m.inputs(2), (dir / file).string(), m.options);
      nlohmann::json cases = nlohmann::json::array();
      for (std::int64_t n : {3, 5}) {
        const std::vector<Tensor> xs = m.inputs(n);
        std::vector<Tensor> ys;
        {
          NoGradGuard no_grad;
          ys = m.forward(xs);
        }
        nlohmann::json ins = nlohmann::json::array(), outs = nlohmann::json::array();
        for (std::size_t i = 0; i < xs.size(); ++i) ins.push_back(write_tensor(dir / fmt::format("{}_n{}_in{}.bin", m.name, n, i), xs[i]));
        for (std::size_t k = 0; k < ys.size(); ++k) outs.push_back(write_tensor(dir / fmt::format("{}_n{}_out{}.bin", m.name, n, k), ys[k]));
        cases.push_back({{"batch", n}, {"inputs", ins}, {"outputs", outs}});
      }
      manifest.push_back({{"name", m.name}, {"file", file}, {"cases", cases}});
      fmt::print("exported {}\n", m.name);
    }
    std::ofstream(dir / "manifest.json") << manifest.dump(1) << '\n';
  } catch (const std::exception& e) {
    fmt::print(stderr, "onnx_export_models: {}\n", e.what());
    return 1;
  }
  return 0;
}
