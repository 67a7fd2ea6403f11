// nn layers beyond the book (nabla/nn_layers.hpp) and module composition: buffers, ModuleList,
// Residual, Identity; normalization and embedding gradchecked in float64 (the values against
// PyTorch are in layers_reference_test.cpp).
#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using doctest::Contains;
using nabla_test::check_grad;
using nabla_test::max_abs_diff;
using nabla_test::param;

TEST_CASE("nn: buffers are state but not parameters, load with the model and refuse to go missing") {
  Generator gen(1);
  nn::Sequential net{nn::Linear(3, 4, {}, gen), nn::BatchNorm1d(4), nn::ReLU()};
  std::vector<std::string> params, buffers;
  for (const auto& p : net.parameters()) params.push_back(p.name);
  for (const auto& b : net.buffers()) buffers.push_back(b.name);
  CHECK(params == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias"});
  CHECK(buffers == std::vector<std::string>{"1.running_mean", "1.running_var", "1.num_batches_tracked"});
  CHECK(net.state().size() == 7);
  CHECK_FALSE(net.buffers()[0].tensor.requires_grad());

  net(randn({8, 3}, f32, gen));  // training: the running statistics move
  auto& bn = dynamic_cast<nn::BatchNorm1d&>(net[1]);
  CHECK(bn.running_mean().to_vector() != std::vector<double>(4, 0.0));
  CHECK(net.buffers()[2].tensor.item() == 1);

  nn::Sequential other{nn::Linear(3, 4, {}, gen), nn::BatchNorm1d(4), nn::ReLU()};
  auto state = net.state();
  state.erase("1.running_var");
  const auto before = other.state().at("1.running_mean").to_vector();
  const auto weight_before = other.state().at("0.weight").to_vector();
  CHECK_THROWS_WITH_AS(other.load_state(state), "load_state: buffer '1.running_var' is missing", ValueError);
  CHECK(other.state().at("1.running_mean").to_vector() == before);
  CHECK(other.state().at("0.weight").to_vector() == weight_before);
  other.load_state(net.state());
  CHECK(other.state().at("1.running_var").to_vector() == net.state().at("1.running_var").to_vector());
  CHECK(other.state().at("1.num_batches_tracked").item() == 1);
}

TEST_CASE("nn: a checkpoint carries buffers, and one missing a buffer is refused with model and optimizer unchanged") {
  nabla_test::TempDir d;
  Generator gen(2);
  nn::Sequential net{nn::Conv2d(1, 2, 3, {}, gen), nn::BatchNorm2d(2), nn::ReLU(), nn::Flatten()};
  optim::Adam opt(net.parameters(), {.lr = 1e-2});
  for (int i = 0; i < 2; ++i) {
    opt.zero_grad();
    sum(net(randn({4, 1, 5, 5}, f32, gen))).backward();
    opt.step();
  }
  io::save_checkpoint(d / "bn.safetensors", net, &opt);
  nn::Sequential net2{nn::Conv2d(1, 2, 3, {}, gen), nn::BatchNorm2d(2), nn::ReLU(), nn::Flatten()};
  optim::Adam opt2(net2.parameters(), {.lr = 1e-2});
  io::load_checkpoint(d / "bn.safetensors", net2, &opt2);
  for (const auto& [name, t] : net.state()) {
    CAPTURE(name);
    CHECK(net2.state().at(name).to_vector() == t.to_vector());
  }
  CHECK(net2.state().at("1.num_batches_tracked").item() == 2);

  // The same file without the buffers (as an older model would write it): refused, nothing changed.
  io::TensorFile f = io::load_safetensors(d / "bn.safetensors");
  f.tensors.erase("model.1.running_mean");
  io::save_safetensors(d / "nobuf.safetensors", f.tensors, f.metadata);
  nn::Sequential net3{nn::Conv2d(1, 2, 3, {}, gen), nn::BatchNorm2d(2), nn::ReLU(), nn::Flatten()};
  optim::Adam opt3(net3.parameters(), {.lr = 1e-2});
  const auto model_before = net3.state().at("0.weight").to_vector();
  CHECK_THROWS_WITH_AS(io::load_checkpoint(d / "nobuf.safetensors", net3, &opt3),
                       Contains("load_state: buffer '1.running_mean' is missing"), IoError);
  CHECK(net3.state().at("0.weight").to_vector() == model_before);
  CHECK(net3.state().at("1.running_var").to_vector() == std::vector<double>(2, 1.0));
  CHECK(opt3.steps() == 0);
}

TEST_CASE("nn: Module::to converts parameters and buffers in place, handles included") {
  Generator gen(3);
  nn::Sequential net{nn::Linear(3, 2, {}, gen), nn::BatchNorm1d(2)};
  const auto w32 = net.state().at("0.weight").to_vector();
  auto& fc = dynamic_cast<nn::Linear&>(net[0]);
  net.to(f64);
  CHECK(fc.weight().dtype() == f64);
  CHECK(fc.weight().to_vector() == w32);  // float32 values are exact in float64
  CHECK(net.state().at("1.running_var").dtype() == f64);
  CHECK(net.state().at("1.num_batches_tracked").dtype() == i64);
  CHECK(net(randn({4, 3}, f64, gen)).dtype() == f64);
  CHECK_THROWS_AS(net.to(i64), ValueError);
}

TEST_CASE("nn: BatchNorm normalizes with the batch in training and the running statistics in evaluation") {
  Generator gen(4);
  nn::BatchNorm2d bn(3, {.momentum = 0.25, .dtype = f64});
  Tensor x = randn({4, 3, 2, 2}, f64, gen) * 3.0 + 1.0;
  Tensor y = bn(x);
  // Each channel of y has mean 0 and biased variance 1 − ε/(σ² + ε) ≈ 1.
  const Tensor m = mean(y, {0, 2, 3}), v = var(y, {0, 2, 3}, 0);
  for (double e : m.to_vector()) CHECK(std::abs(e) < 1e-12);
  for (double e : v.to_vector()) CHECK(e == doctest::Approx(1).epsilon(1e-4));
  // running = 0.75 · initial + 0.25 · batch (unbiased variance, 16 values per channel)
  const auto bm = mean(x, {0, 2, 3}).to_vector(), bv = var(x, {0, 2, 3}, 1).to_vector();
  for (int c = 0; c < 3; ++c) {
    CHECK(bn.running_mean().to_vector()[c] == doctest::Approx(0.25 * bm[c]).epsilon(1e-12));
    CHECK(bn.running_var().to_vector()[c] == doctest::Approx(0.75 + 0.25 * bv[c]).epsilon(1e-12));
  }
  bn.eval();
  const auto rm_before = bn.running_mean().to_vector();
  Tensor z = bn(x);
  CHECK(bn.running_mean().to_vector() == rm_before);
  Tensor expected = (x - bn.running_mean().reshape({1, 3, 1, 1})) / sqrt(bn.running_var().reshape({1, 3, 1, 1}) + 1e-5);
  CHECK(max_abs_diff(z, expected) < 1e-12);
  // One value per channel cannot be normalized in training; evaluation is fine.
  CHECK_NOTHROW(bn(randn({1, 3, 1, 1}, f64, gen)));
  bn.train();
  CHECK_THROWS_WITH_AS(bn(randn({1, 3, 1, 1}, f64, gen)),
                       "batch_norm: expected more than 1 value per channel when training, got input [1, 3, 1, 1]", ValueError);
  CHECK_THROWS_WITH_AS(bn(randn({4, 2, 3, 3}, f64, gen)), "BatchNorm2d(3): input is [4, 2, 3, 3]; expected [N, 3, H, W]",
                       ShapeError);
  nn::BatchNorm1d bn1(5);
  CHECK_THROWS_WITH_AS(bn1(randn({4, 5, 2, 2}, f32, gen)),
                       "BatchNorm1d(5): input is [4, 5, 2, 2]; expected [N, 5] or [N, 5, L]", ShapeError);
  CHECK_THROWS_WITH_AS(bn1(randn({4, 5}, f64, gen)), "BatchNorm1d(5): input is float64, the layer is float32", ValueError);
}

TEST_CASE("gradcheck: batch_norm (training and evaluation), layer_norm, group_norm in float64") {
  Generator gen(5);
  Tensor x = param({3, 2, 2, 2}, gen), w = param({2}, gen), b = param({2}, gen);
  CHECK(check_grad([](const Tensor& x, const Tensor& w, const Tensor& b) {
          return batch_norm(x, Tensor{}, Tensor{}, w, b, true);
        }, {x, w, b}));
  Tensor rm = randn({2}, f64, gen), rv = uniform({2}, 0.5, 1.5, f64, gen);
  CHECK(check_grad([&](const Tensor& x, const Tensor& w, const Tensor& b) {
          return batch_norm(x, rm, rv, w, b, false);
        }, {x, w, b}));
  Tensor x2 = param({4, 3}, gen);
  CHECK(check_grad([](const Tensor& x) { return batch_norm(x, Tensor{}, Tensor{}, Tensor{}, Tensor{}, true, 0.1, 1e-3); },
                   {x2}));
  Tensor x3 = param({2, 3, 4}, gen), lw = param({3, 4}, gen), lb = param({3, 4}, gen);
  CHECK(check_grad([](const Tensor& x, const Tensor& w, const Tensor& b) { return layer_norm(x, {3, 4}, w, b); },
                   {x3, lw, lb}));
  CHECK(check_grad([](const Tensor& x) { return layer_norm(x, {4}, Tensor{}, Tensor{}); }, {x3}));
  Tensor x4 = param({2, 4, 3}, gen), gw = param({4}, gen), gb = param({4}, gen);
  CHECK(check_grad([](const Tensor& x, const Tensor& w, const Tensor& b) { return group_norm(x, 2, w, b); }, {x4, gw, gb}));
  CHECK_THROWS_WITH_AS(group_norm(x4, 3, Tensor{}, Tensor{}), "group_norm: 4 channels of input [2, 4, 3] do not split into 3 groups",
                       ValueError);
  CHECK_THROWS_WITH_AS(layer_norm(x4, {4}, Tensor{}, Tensor{}), "layer_norm: input [2, 4, 3] does not end in the normalized shape [4]",
                       ShapeError);
  CHECK_THROWS_WITH_AS(batch_norm(x, Tensor{}, Tensor{}, param({3}, gen), Tensor{}, true),
                       "batch_norm: weight is float64 [3]; expected float64 [2] for input [3, 2, 2, 2]", ShapeError);
}

TEST_CASE("batch_norm: the fused affine kernel agrees with the composed ops (values, gradients, running statistics)") {
  for (Dtype dt : {f32, f64}) {
    CAPTURE(dt);
    Generator gen(11);
    // An offset mean: the kernel computes with x − μ, so a large mean costs no digits.
    const Tensor x0 = randn({5, 3, 4, 6}, dt, gen) * 2.0 + 30.0;
    const Tensor w0 = randn({3}, dt, gen), b0 = randn({3}, dt, gen), up = randn({5, 3, 4, 6}, dt, gen);
    auto run = [&](bool fused) {
      Tensor x = x0.clone().requires_grad(true), w = w0.clone().requires_grad(true), b = b0.clone().requires_grad(true);
      Tensor rm = zeros({3}, dt), rv = ones({3}, dt);
      const Tensor y = fused ? batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5)
                             : batch_norm(x, rm, rv, Tensor{}, Tensor{}, true, 0.1, 1e-5) * w.reshape({1, 3, 1, 1}) +
                                   b.reshape({1, 3, 1, 1});
      sum(y * up).backward();
      return std::vector<Tensor>{y.detach(), x.grad(), w.grad(), b.grad(), rm, rv};
    };
    const auto fused = run(true), composed = run(false);
    const double tol = dt == f32 ? 2e-5 : 1e-12;
    for (std::size_t k = 0; k < fused.size(); ++k) {
      CAPTURE(k);
      const double scale = std::max(1.0, max_abs_diff(composed[k], zeros_like(composed[k])));
      CHECK(max_abs_diff(fused[k], composed[k]) <= tol * scale);
    }
  }
}

TEST_CASE("gradcheck: embedding adds the gradients of repeated indices") {
  Generator gen(6);
  Tensor w = param({5, 3}, gen);
  const Tensor idx = from_vector(std::span<const std::int64_t>(std::vector<std::int64_t>{1, 4, 1, 1, 0, 3}), {2, 3});
  CHECK(check_grad([&](const Tensor& w) { return embedding(idx, w); }, {w}));
  Tensor y = embedding(idx, w);
  CHECK(y.shape() == Shape{2, 3, 3});
  sum(y).backward();
  CHECK(w.grad().to_vector() == std::vector<double>{1, 1, 1, 3, 3, 3, 0, 0, 0, 1, 1, 1, 1, 1, 1});
  nn::Embedding emb(5, 3);
  const Tensor bad = from_vector(std::span<const std::int64_t>(std::vector<std::int64_t>{2, 5}), {2});
  CHECK_THROWS_WITH_AS(emb(bad), Contains("5"), Error);
  CHECK_THROWS_WITH_AS(emb(ones({2})), "Embedding(5, 3): indices are float32 [2]; expected int64", ValueError);
}

TEST_CASE("nn: ModuleList registers its modules without chaining them; Residual adds a shortcut") {
  Generator gen(7);
  nn::ModuleList heads{nn::Linear(4, 2, {}, gen), nn::Linear(4, 3, {}, gen)};
  CHECK(heads.size() == 2);
  CHECK(heads.parameters().size() == 4);
  CHECK(heads.parameters()[2].name == "1.weight");
  Tensor x = randn({5, 4}, f32, gen);
  CHECK(heads[1](x).shape() == Shape{5, 3});
  CHECK_THROWS_WITH_AS(heads(x), Contains("a ModuleList is not called"), ValueError);
  CHECK_THROWS_WITH_AS(heads[2], "ModuleList: index 2 is out of range for 2 modules", ValueError);

  nn::Residual block(nn::Sequential{nn::Linear(4, 4, {}, gen), nn::Tanh()});
  CHECK(block.parameters()[0].name == "body.0.weight");
  auto& body = dynamic_cast<nn::Sequential&>(*block.children()[0].second);
  CHECK(max_abs_diff(block(x), body(x) + x) == 0);
  CHECK(nn::Identity()(x).is_same(x));
  nn::Residual proj(std::make_shared<nn::Linear>(4, 3, nn::LinearOptions{}, gen), std::make_shared<nn::Linear>(4, 3, nn::LinearOptions{}, gen));
  CHECK(proj.parameters().size() == 4);
  CHECK(proj.parameters()[2].name == "shortcut.weight");
  nn::Residual wrong(nn::Linear(4, 3, {}, gen));
  CHECK_THROWS_WITH_AS(wrong(x), "Residual(Linear(4, 3), shortcut Identity): the body gives [5, 3] and the shortcut [5, 4] for input [5, 4]; they must match",
                       ShapeError);
  // A residual network's gradient passes the float64 check.
  nn::Residual r64(nn::Sequential{nn::Linear(3, 3, {.dtype = f64}, gen), nn::Tanh(), nn::LayerNorm({3}, {.dtype = f64})});
  Tensor x64 = param({2, 3}, gen);
  CHECK(check_grad([&](const Tensor& x) { return r64(x); }, {x64}));
}

TEST_CASE("gradcheck: dilated and grouped conv2d, conv1d, conv_transpose2d, adaptive pooling, nearest upsampling") {
  Generator gen(8);
  Tensor x = param({2, 4, 5, 5}, gen), w = param({2, 2, 2, 2}, gen), b = param({2}, gen);
  CHECK(check_grad([](const Tensor& x, const Tensor& w, const Tensor& b) {
          return conv2d(x, w, b, {.stride = 1, .padding = 1, .dilation = 2, .groups = 2});
        }, {x, w, b}));
  Tensor x1 = param({2, 2, 6}, gen), w1 = param({3, 2, 3}, gen);
  CHECK(check_grad([](const Tensor& x, const Tensor& w) { return conv1d(x, w, Tensor{}, {.stride = 2, .padding = 1}); }, {x1, w1}));
  Tensor xt = param({2, 3, 3, 2}, gen), wt = param({3, 2, 3, 3}, gen), bt = param({2}, gen);
  CHECK(check_grad([](const Tensor& x, const Tensor& w, const Tensor& b) {
          return conv_transpose2d(x, w, b, {.stride = 2, .padding = 1, .output_padding = 1});
        }, {xt, wt, bt}));
  CHECK(conv_transpose2d(xt, wt, bt, {.stride = 2, .padding = 1, .output_padding = 1}).shape() == Shape{2, 2, 6, 4});
  Tensor xp = param({1, 2, 5, 7}, gen);
  CHECK(check_grad([](const Tensor& x) { return adaptive_avg_pool2d(x, 2, 3); }, {xp}));
  CHECK(check_grad([](const Tensor& x) { return upsample_nearest2d(x, 7, 10); }, {xp}));
  CHECK_THROWS_WITH_AS(conv2d(x, w, b, {.groups = 3}), Contains("do not fit 3 groups"), ShapeError);
  CHECK_THROWS_WITH_AS(conv_transpose2d(xt, wt, bt, {.stride = 2, .output_padding = 2}),
                       Contains("0 ≤ output_padding < stride"), ValueError);
  CHECK_THROWS_WITH_AS(nn::Upsample({}), Contains("give a positive scale_factor"), ValueError);
  CHECK_THROWS_AS(nn::Upsample({.scale_factor = 2, .out_h = 4, .out_w = 4}), ValueError);
  CHECK_THROWS_AS(nn::Upsample({.out_h = 4}), ValueError);
  CHECK(nn::Upsample({.scale_factor = 3})(zeros({1, 1, 2, 2})).shape() == Shape{1, 1, 6, 6});
}

TEST_CASE("conv_transpose2d and grouped conv2d: float32 (nabla's own kernels where the CPU has them) agrees with float64") {
  Generator gen(9);
  const Tensor x = randn({3, 4, 6, 5}, f64, gen), w = randn({4, 3, 3, 3}, f64, gen), b = randn({3}, f64, gen);
  const Tensor y64 = conv_transpose2d(x, w, b, {.stride = 2, .padding = 1, .output_padding = 1});
  const Tensor y32 = conv_transpose2d(x.to(f32), w.to(f32), b.to(f32), {.stride = 2, .padding = 1, .output_padding = 1});
  CHECK(max_abs_diff(y32.to(f64), y64) < 1e-4);
  const Tensor wg = randn({6, 2, 3, 3}, f64, gen);
  const Tensor g64 = conv2d(x, wg, Tensor{}, {.padding = 2, .dilation = 2, .groups = 2});
  const Tensor g32 = conv2d(x.to(f32), wg.to(f32), Tensor{}, {.padding = 2, .dilation = 2, .groups = 2});
  CHECK(max_abs_diff(g32.to(f64), g64) < 1e-4);
}

TEST_CASE("convolution layers: one base checks every layer's options, naming the layer") {
  // Sizes.
  CHECK_THROWS_WITH_AS(nn::Conv1d(0, 4, 3), "Conv1d: channels and kernel must be positive, got 0, 4, 3", ValueError);
  CHECK_THROWS_WITH_AS(nn::ConvTranspose2d(2, 4, 0), "ConvTranspose2d: channels and kernel must be positive, got 2, 4, 0",
                       ValueError);
  // Options.
  CHECK_THROWS_WITH_AS(nn::Conv1d(2, 4, 3, {.stride = 0}),
                       "Conv1d: need stride ≥ 1, padding ≥ 0, dilation ≥ 1 and groups ≥ 1, got 0, 0, 1, 1", ValueError);
  CHECK_THROWS_WITH_AS(nn::Conv2d(2, 4, 3, {.padding = -1}),
                       "Conv2d: need stride ≥ 1, padding ≥ 0, dilation ≥ 1 and groups ≥ 1, got 1, -1, 1, 1", ValueError);
  CHECK_THROWS_WITH_AS(nn::ConvTranspose2d(2, 4, 3, {.stride = 2, .output_padding = 2}),
                       "ConvTranspose2d: need stride ≥ 1, padding ≥ 0 and 0 ≤ output_padding < stride, got 2, 0, 2", ValueError);
  CHECK_THROWS_WITH_AS(nn::Conv1d(3, 4, 3, {.groups = 2}), "Conv1d: 3 in and 4 out channels do not split into 2 groups",
                       ValueError);
  CHECK_THROWS_WITH_AS(nn::Conv1d(1, 1, 1, {.dilation = std::int64_t(1) << 62}),
                       "Conv1d: dilation must be in [1, 1099511627776], got 4611686018427387904", ValueError);
  CHECK_THROWS_WITH_AS(nn::ConvTranspose2d(1, 1, 1, {.padding = std::int64_t(1) << 62}),
                       "ConvTranspose2d: padding must be in [0, 1099511627776], got 4611686018427387904", ValueError);
  CHECK_THROWS_WITH_AS(nn::Conv1d(2, 4, 3, {.dtype = i64}), "Conv1d: dtype must be float32 or float64, got int64", ValueError);
  CHECK_THROWS_WITH_AS(nn::Conv2d(2, 4, 3, {.dtype = i64}), "Conv2d: dtype must be float32 or float64, got int64", ValueError);
  CHECK_THROWS_WITH_AS(nn::ConvTranspose2d(std::int64_t(1) << 30, std::int64_t(1) << 30, 3),
                       Contains("ConvTranspose2d: shape [1073741824, 1073741824, 3, 3]"), ShapeError);
  // Inputs.
  nn::Conv1d c1(2, 4, 3, {.padding = 1});
  CHECK_THROWS_WITH_AS(c1(ones({1, 3, 5})), "Conv1d(2, 4, 3, padding 1): input is [1, 3, 5]; expected [N, 2, L]", ShapeError);
  nn::ConvTranspose2d ct(2, 4, 3, {.stride = 2, .output_padding = 1, .has_bias = false});
  CHECK_THROWS_WITH_AS(ct(ones({1, 2, 5})), "ConvTranspose2d(2, 4, 3, stride 2, output_padding 1): input is [1, 2, 5]; expected [N, 2, H, W]",
                       ShapeError);
  // What the base made: weights in each layer's layout, fans as PyTorch's, parameters by name.
  Generator gen(5);
  nn::Conv2d c2(4, 6, 3, {.groups = 2}, gen);
  const nn::ConvNd* layers[] = {&c1, &c2, &ct};
  CHECK(layers[0]->weight().shape() == Shape{4, 2, 3});
  CHECK(layers[1]->weight().shape() == Shape{6, 2, 3, 3});
  CHECK(layers[2]->weight().shape() == Shape{2, 4, 3, 3});
  CHECK(!layers[2]->bias().defined());
  CHECK(layers[1]->describe() == "Conv2d(4, 6, 3, groups 2)");
  CHECK(layers[1]->in_channels() == 4);
  CHECK(c2.parameters().size() == 2);
  CHECK(ct.parameters().size() == 1);
  CHECK(c1(ones({1, 2, 5})).shape() == Shape{1, 4, 5});
  CHECK(ct(ones({1, 2, 3, 3})).shape() == Shape{1, 4, 8, 8});  // (3 − 1)·2 + 3 + 1
  // The functional options are their own type (torch's Conv2dFuncOptions): nn::Conv2dOptions is the layer's.
  static_assert(!std::is_same_v<Conv2dFuncOptions, nn::Conv2dOptions>);
  CHECK(conv1d(ones({1, 2, 5}), c1.weight(), c1.bias(), Conv1dFuncOptions{.padding = 1}).shape() == Shape{1, 4, 5});
}
