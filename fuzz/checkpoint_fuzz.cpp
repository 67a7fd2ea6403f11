// fuzz/checkpoint_fuzz.cpp — libFuzzer harness: any bytes as a checkpoint loaded into a model and its
// optimizer, for each optimizer (fuzz/models.hpp: Linear(4, 3), Sigmoid, Linear(3, 2) with SGD with
// momentum, Adam, RMSprop with momentum, Adagrad).
// A refusal must be a nabla::Error that leaves the model and the optimizer bit-for-bit as they were;
// an accepted checkpoint must leave them holding exactly its tensors.
#include <cstdint>

#include <nabla/nabla.hpp>

#include "fuzz_util.hpp"
#include "models.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::vector<fuzz_models::Checkpointed> models = fuzz_models::all();
  static const auto start = [] {
    std::vector<std::pair<std::map<std::string, nabla::Tensor>, std::map<std::string, nabla::Tensor>>> s;
    for (const auto& m : models) s.emplace_back(snapshot(m.net.state()), snapshot(m.opt->state()));
    return s;
  }();
  nabla::io::TensorFile file;
  try {
    file = nabla::io::decode_safetensors(std::as_bytes(std::span(data, size)), "input.safetensors");
  } catch (const nabla::Error&) {
    return 0;
  }
  for (std::size_t k = 0; k < models.size(); ++k) {
    auto& m = models[k];
    const auto& [model0, optim0] = start[k];
    try {
      nabla::io::load_checkpoint(file, "input.safetensors", m.net, m.opt.get());
    } catch (const nabla::Error&) {
      fuzz_check(same_state(m.net.state(), model0), "a refused checkpoint changed the model");
      fuzz_check(same_state(m.opt->state(), optim0), "a refused checkpoint changed the optimizer");
      continue;
    }
    for (const auto& [name, t] : m.net.state()) {
      fuzz_check(same_bits(t, file.tensors.at("model." + name)), "the model does not hold the checkpoint's tensors");
    }
    for (const auto& [name, t] : m.opt->state()) {
      fuzz_check(same_bits(t, file.tensors.at("optim." + name)), "the optimizer does not hold the checkpoint's state");
    }
    m.net.load_state(model0);  // back to the start for the next input
    m.opt->load_state(optim0);
  }
  return 0;
}
