// The layers beyond the book against PyTorch: tests/data/layers_reference.json holds, per case, a
// layer's state_dict, inputs, PyTorch's float64 outputs, the gradients of Σ_k sum(output_k · w_k)
// for the inputs and every parameter, and the buffers after the forward pass (written by
// scripts/layers_reference.py). nabla builds the same layer, loads the state by PyTorch's names,
// and must agree to 1e-12.
#include <fstream>
#include <functional>
#include <map>
#include <memory>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>
#include <nlohmann/json.hpp>

#include "torch_json.hpp"

using namespace nabla;
using json = nlohmann::json;
using nabla_test::decode;
using nabla_test::worst;

namespace {

/// A layer and how to call it on the case's inputs (several inputs and outputs for recurrent ones).
struct Layer {
  std::shared_ptr<nn::Module> module;
  std::function<std::vector<Tensor>(const std::vector<Tensor>&)> run;
};

template <class M>
Layer single(std::shared_ptr<M> m) {
  return {m, [m](const std::vector<Tensor>& x) { return std::vector<Tensor>{(*m)(x[0])}; }};
}

Shape shape_of(const json& j) {
  Shape s;
  for (std::int64_t d : j) s.push_back(d);
  return s;
}

using Builder = std::function<Layer(const json&)>;

template <class Options>  // nn::RNNOptions, LSTMOptions, GRUOptions
Options rnn_options(const json& p) {
  return {.num_layers = p.value("layers", 1), .bias = p.value("bias", true), .batch_first = p.value("batch_first", false),
          .dtype = f64};
}

// Each case's layer, as nabla spells it (float64).
const std::map<std::string, Builder>& layers() {
  static const std::map<std::string, Builder> table = {
      {"BatchNorm1d", [](const json& p) {
         return single(std::make_shared<nn::BatchNorm1d>(
             p["features"], nn::BatchNormOptions{.momentum = p.value("momentum", 0.1), .dtype = f64}));
       }},
      {"BatchNorm2d", [](const json& p) {
         return single(std::make_shared<nn::BatchNorm2d>(
             p["features"], nn::BatchNormOptions{.eps = p.value("eps", 1e-5), .affine = p.value("affine", true), .dtype = f64}));
       }},
      {"LayerNorm", [](const json& p) { return single(std::make_shared<nn::LayerNorm>(shape_of(p["shape"]), nn::LayerNormOptions{.dtype = f64})); }},
      {"GroupNorm", [](const json& p) {
         return single(std::make_shared<nn::GroupNorm>(p["groups"], p["channels"], nn::GroupNormOptions{.dtype = f64}));
       }},
      {"Embedding", [](const json& p) {
         return single(std::make_shared<nn::Embedding>(p["num"], p["dim"], nn::EmbeddingOptions{.dtype = f64}));
       }},
      {"Conv2d", [](const json& p) {
         return single(std::make_shared<nn::Conv2d>(
             p["in"], p["out"], p["k"],
             nn::Conv2dOptions{.stride = p["stride"], .padding = p["padding"], .dilation = p["dilation"], .groups = p["groups"],
                               .dtype = f64}));
       }},
      {"Conv1d", [](const json& p) {
         return single(std::make_shared<nn::Conv1d>(
             p["in"], p["out"], p["k"],
             nn::Conv1dOptions{.stride = p["stride"], .padding = p["padding"], .dilation = p["dilation"], .groups = p["groups"],
                               .dtype = f64}));
       }},
      {"ConvTranspose2d", [](const json& p) {
         return single(std::make_shared<nn::ConvTranspose2d>(
             p["in"], p["out"], p["k"],
             nn::ConvTranspose2dOptions{.stride = p["stride"], .padding = p["padding"], .output_padding = p["output_padding"],
                                        .dtype = f64}));
       }},
      {"AdaptiveAvgPool2d", [](const json& p) { return single(std::make_shared<nn::AdaptiveAvgPool2d>(p["h"], p["w"])); }},
      {"Upsample", [](const json& p) {
         return single(std::make_shared<nn::Upsample>(
             p.contains("scale") ? nn::UpsampleOptions{.scale_factor = p["scale"]} : nn::UpsampleOptions{.out_h = p["h"], .out_w = p["w"]}));
       }},
      {"RNNCell", [](const json& p) {
         auto m = std::make_shared<nn::RNNCell>(p["in"], p["hidden"], nn::RNNCellOptions{.nonlinearity = p.value("relu", false) ? "relu" : "tanh", .dtype = f64});
         return Layer{m, [m](const std::vector<Tensor>& x) { return std::vector<Tensor>{m->forward(x[0], x[1])}; }};
       }},
      {"LSTMCell", [](const json& p) {
         auto m = std::make_shared<nn::LSTMCell>(p["in"], p["hidden"], nn::LSTMCellOptions{.dtype = f64});
         return Layer{m, [m](const std::vector<Tensor>& x) {
                        const nn::LstmState s = m->forward(x[0], {x[1], x[2]});
                        return std::vector<Tensor>{s.h, s.c};
                      }};
       }},
      {"GRUCell", [](const json& p) {
         auto m = std::make_shared<nn::GRUCell>(p["in"], p["hidden"], nn::GRUCellOptions{.dtype = f64});
         return Layer{m, [m](const std::vector<Tensor>& x) { return std::vector<Tensor>{m->forward(x[0], x[1])}; }};
       }},
      {"RNN", [](const json& p) {
         auto m = std::make_shared<nn::RNN>(p["in"], p["hidden"], rnn_options<nn::RNNOptions>(p));
         return Layer{m, [m](const std::vector<Tensor>& x) {
                        const nn::RecurrentOutput o = m->forward(x[0], x[1]);
                        return std::vector<Tensor>{o.output, o.h};
                      }};
       }},
      {"GRU", [](const json& p) {
         auto m = std::make_shared<nn::GRU>(p["in"], p["hidden"], rnn_options<nn::GRUOptions>(p));
         return Layer{m, [m](const std::vector<Tensor>& x) {
                        const nn::RecurrentOutput o = m->forward(x[0], x.size() > 1 ? x[1] : Tensor{});
                        return std::vector<Tensor>{o.output, o.h};
                      }};
       }},
      {"LSTM", [](const json& p) {
         auto m = std::make_shared<nn::LSTM>(p["in"], p["hidden"], rnn_options<nn::LSTMOptions>(p));
         return Layer{m, [m](const std::vector<Tensor>& x) {
                        const nn::LstmOutput o = m->forward(x[0], x.size() > 1 ? nn::LstmState{x[1], x[2]} : nn::LstmState{});
                        return std::vector<Tensor>{o.output, o.state.h, o.state.c};
                      }};
       }},
      // The activations and modules for PyTorch users (modules_reference.json).
      {"ReLU6", [](const json&) { return single(std::make_shared<nn::ReLU6>()); }},
      {"Hardswish", [](const json&) { return single(std::make_shared<nn::Hardswish>()); }},
      {"Mish", [](const json&) { return single(std::make_shared<nn::Mish>()); }},
      {"SiLU", [](const json&) { return single(std::make_shared<nn::SiLU>()); }},
      {"GELU", [](const json& p) { return single(std::make_shared<nn::GELU>(p.at("approximate").get<std::string>())); }},
      {"PReLU", [](const json& p) {
         return single(std::make_shared<nn::PReLU>(nn::PReLUOptions{.num_parameters = p.at("num_parameters"), .dtype = f64}));
       }},
      {"Softmax", [](const json& p) { return single(std::make_shared<nn::Softmax>(p.at("dim").get<int>())); }},
      {"LogSoftmax", [](const json& p) { return single(std::make_shared<nn::LogSoftmax>(p.at("dim").get<int>())); }},
  };
  return table;
}

}  // namespace

namespace {

void cross_check(const std::string& file, std::size_t min_cases, const char* what) {
  std::ifstream in(std::string(NABLA_TEST_DATA_DIR "/") + file);
  REQUIRE(in.good());
  const json all = json::parse(in);
  const json& cases = all.at("cases");
  REQUIRE(cases.size() >= min_cases);
  double worst_value = 0, worst_grad = 0;
  std::size_t compared = 0;
  for (const json& c : cases) {
    const std::string name = c.at("layer");
    CAPTURE(name);
    CAPTURE(c.at("params").dump());
    REQUIRE(layers().contains(name));
    Layer layer = layers().at(name)(c.at("params"));
    std::map<std::string, Tensor> state;
    for (const auto& [k, v] : c.at("state").items()) state.emplace(k, decode(v));
    layer.module->load_state(state);  // every name PyTorch's and nothing more: load_state checks both
    layer.module->train(c.at("train").get<bool>());
    std::vector<Tensor> xs;
    for (const json& j : c.at("inputs")) {
      Tensor t = decode(j);
      xs.push_back(t.dtype() == f64 ? t.requires_grad(true) : t);
    }
    const std::vector<Tensor> ys = layer.run(xs);
    REQUIRE(ys.size() == c.at("outputs").size());
    Tensor total = zeros({}, f64);
    for (std::size_t k = 0; k < ys.size(); ++k) {
      const double w = worst(ys[k], decode(c.at("outputs")[k]));
      CHECK(w <= 1e-12);
      worst_value = std::max(worst_value, w);
      total = total + sum(ys[k] * decode(c.at("weights")[k]));
    }
    total.backward();
    auto check_grad = [&](const Tensor& got, const json& expected) {
      const double w = worst(got, decode(expected));
      CHECK(w <= 1e-12);
      worst_grad = std::max(worst_grad, w);
      ++compared;
    };
    for (std::size_t k = 0; k < xs.size(); ++k) {
      if (!c.at("input_grads")[k].is_null()) check_grad(xs[k].grad(), c.at("input_grads")[k]);
    }
    const auto params = layer.module->parameters();
    REQUIRE(params.size() == c.at("param_grads").size());
    for (const nn::Param& p : params) {
      CAPTURE(p.name);
      check_grad(p.tensor.grad(), c.at("param_grads").at(p.name));
    }
    const auto buffers = layer.module->buffers();
    REQUIRE(buffers.size() == c.at("buffers_after").size());
    for (const nn::Buffer& b : buffers) {
      CAPTURE(b.name);
      CHECK(worst(b.tensor.to(f64), decode(c.at("buffers_after").at(b.name)).to(f64)) <= 1e-12);
    }
  }
  MESSAGE("PyTorch " << std::string(what) << " cross-check: " << cases.size() << " cases, " << compared << " gradients; worst relative error "
                                         << worst_value << " (values), " << worst_grad << " (gradients)");
}

}  // namespace

TEST_CASE("PyTorch cross-check of the layers: outputs, gradients and buffers agree to 1e-12 in float64") {
  cross_check("layers_reference.json", 30, "layers");
}

TEST_CASE("PyTorch cross-check of the activations and modules for PyTorch users, to 1e-12 in float64") {
  cross_check("modules_reference.json", 11, "modules");
}
