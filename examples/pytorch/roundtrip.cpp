// examples/pytorch/roundtrip.cpp — weights in from PyTorch, a model out to ONNX.
//
// scripts/roundtrip_torch.py trains a small CNN on a slice of Fashion-MNIST in PyTorch and saves it
// with torch.save(model.state_dict(), "model.pt"). This program defines the same network in nabla,
// loads model.pt (io::load_torch + load_state_dict), checks that its logits equal PyTorch's, fine-
// tunes it for a few steps, and exports it to ONNX with nabla's outputs beside it; the script then
// runs the ONNX file in ONNX Runtime and compares (scripts/onnx_check.py).
//
//   ~/.cache/nabla/reference-env/bin/python scripts/roundtrip_torch.py build/examples/roundtrip /tmp/roundtrip
//   (or, with the script's files already in DIR: build/examples/roundtrip DIR)
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nabla/nabla.hpp>
#include <nlohmann/json.hpp>

using namespace nabla;
namespace fs = std::filesystem;

namespace {

// The PyTorch model, layer for layer (the same indices, so the same state-dict names):
//   nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
//                 nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 14 * 14, 10))
nn::Sequential model() {
  return nn::Sequential{nn::Reshape({1, 28, 28}), nn::Conv2d(1, 8, 3, {.padding = 1}), nn::ReLU(),
                        nn::MaxPool2d(2),           nn::Flatten(),                       nn::Linear(8 * 14 * 14, 10)};
}

// A raw array the script wrote (numpy's tofile) with its shape from meta.json.
template <class T>
Tensor read_raw(const fs::path& path, const Shape& shape, Dtype dtype) {
  std::ifstream f(path, std::ios::binary);
  std::vector<T> v(static_cast<std::size_t>(shape.numel()));
  f.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * sizeof(T)));
  if (!f) throw IoError(fmt::format("\"{}\": expected {} values of {} bytes", path.string(), v.size(), sizeof(T)));
  return from_vector(std::span<const T>(v), shape, dtype);
}

nlohmann::json write_raw(const fs::path& path, const Tensor& t) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(t.data<float>()), std::streamsize(t.numel() * 4));
  std::vector<std::int64_t> shape(t.shape().begin(), t.shape().end());
  return {{"file", path.filename().string()}, {"dtype", "float32"}, {"shape", shape}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fmt::print(stderr, "usage: roundtrip DIR  (DIR: what scripts/roundtrip_torch.py wrote)\n");
    return 2;
  }
  try {
    const fs::path dir = argv[1];
    const auto meta = nlohmann::json::parse(std::ifstream(dir / "meta.json"));
    const std::int64_t n_train = meta["train"], n_test = meta["test"];

    // 1. Weights in: the state dict torch.save wrote, by PyTorch's names.
    nn::Sequential net = model();
    const io::TensorFile checkpoint = io::load_torch((dir / "model.pt").string());
    net.load_state_dict(checkpoint.tensors);  // strict: every name on both sides
    fmt::print("loaded {} tensors from model.pt:", checkpoint.tensors.size());
    for (const auto& [name, t] : checkpoint.tensors) fmt::print(" {} {}", name, t.shape());
    fmt::print("\n");

    // 2. The same logits as PyTorch's on the test slice.
    const Tensor x_test = read_raw<float>(dir / "x_test.bin", {n_test, 784}, f32);
    const Tensor y_test = read_raw<std::int64_t>(dir / "y_test.bin", {n_test}, i64);
    const Tensor torch_logits = read_raw<float>(dir / "logits_torch.bin", {n_test, 10}, f32);
    net.eval();
    double max_diff = 0;
    {
      NoGradGuard no_grad;
      const Tensor logits = net(x_test);
      max_diff = max(abs(logits - torch_logits).reshape({-1}), 0).item();
      fmt::print("logits vs PyTorch's on {} test images: max abs difference {:.2e}; accuracy {:.4f}\n", n_test, max_diff,
                 accuracy(logits, y_test));
    }
    if (!(max_diff <= 1e-5)) {
      fmt::print(stderr, "roundtrip: nabla's logits differ from PyTorch's by {:.3g} (> 1e-5)\n", max_diff);
      return 1;
    }

    // 3. Fine-tuning in nabla: SGD with momentum on the training slice.
    const Tensor x_train = read_raw<float>(dir / "x_train.bin", {n_train, 784}, f32);
    const Tensor y_train = read_raw<std::int64_t>(dir / "y_train.bin", {n_train}, i64);
    data::Dataset train(x_train, y_train);
    net.train();
    optim::SGD opt(net.parameters(), {.lr = 0.02, .momentum = 0.9});
    double first = 0, last = 0;
    int step = 0;
    for (auto [x, y] : train.batches(64, {.shuffle = true, .seed = 1})) {
      Tensor cost = softmax_cross_entropy(net(x), y);
      opt.zero_grad();
      cost.backward();
      opt.step();
      (step == 0 ? first : last) = cost.item();
      ++step;
    }
    net.eval();
    {
      NoGradGuard no_grad;
      fmt::print("fine-tuned {} steps in nabla: loss {:.4f} → {:.4f}; test accuracy {:.4f}\n", step, first, last,
                 accuracy(net(x_test), y_test));
    }

    // 4. A model out: ONNX with a symbolic batch, and nabla's outputs at two batch sizes.
    onnx::export_model(net, {narrow(x_test, 0, 0, 2)}, (dir / "roundtrip.onnx").string(),
                       {.input_names = {"image"}, .output_names = {"logits"}});
    nlohmann::json cases = nlohmann::json::array();
    for (std::int64_t n : {std::int64_t(1), n_test}) {
      NoGradGuard no_grad;
      const Tensor x = narrow(x_test, 0, 0, n);
      cases.push_back({{"batch", n},
                       {"inputs", {write_raw(dir / fmt::format("onnx_in_n{}.bin", n), x)}},
                       {"outputs", {write_raw(dir / fmt::format("onnx_out_n{}.bin", n), net(x))}}});
    }
    const nlohmann::json manifest = nlohmann::json::array({{{"name", "roundtrip"}, {"file", "roundtrip.onnx"}, {"cases", cases}}});
    std::ofstream(dir / "manifest.json") << manifest.dump(1) << '\n';
    fmt::print("exported {} with nabla's outputs (manifest.json)\n", (dir / "roundtrip.onnx").string());
  } catch (const std::exception& e) {
    fmt::print(stderr, "roundtrip: {}\n", e.what());
    return 1;
  }
  return 0;
}
