// fuzz/seeds.cpp — writes the seed corpora of the harnesses, each file made by nabla itself:
//   nabla-fuzz-seeds DIR   →   DIR/safetensors/, DIR/checkpoint/, DIR/idx/, DIR/digits/, DIR/api/
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nabla/nabla.hpp>
#include <zlib.h>

#include "models.hpp"

using namespace nabla;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& path, const std::string& bytes) {
  io::write_file_atomic(path.string(), std::as_bytes(std::span(bytes.data(), bytes.size())));
}

std::string idx(std::vector<std::uint32_t> dims, std::uint8_t fill) {
  std::string out{0, 0, 0x08, static_cast<char>(dims.size())};
  std::uint64_t n = 1;
  for (std::uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>(d >> s));
    n *= d;
  }
  for (std::uint64_t i = 0; i < n; ++i) out.push_back(static_cast<char>((fill + i) % 256));
  return out;
}

std::string gzip(const std::string& plain) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, static_cast<uLong>(plain.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  z.avail_in = static_cast<uInt>(plain.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: nabla-fuzz-seeds DIR\n");
    return 2;
  }
  const fs::path dir = argv[1];
  for (const char* h : {"safetensors", "checkpoint", "idx", "digits", "api"}) fs::create_directories(dir / h);
  try {
    Generator gen(1);
    // safetensors: every dtype, 0-d and empty tensors, metadata.
    const std::vector<std::int64_t> ints{-3, 0, 7};
    const std::vector<bool> mask{true, false, true, true};
    write(dir / "safetensors/all_dtypes", io::encode_safetensors({{"a", randn({2, 3}, f32, gen)},
                                                                  {"b", randn({4}, f64, gen)},
                                                                  {"c", from_vector(std::span<const std::int64_t>(ints), {3})},
                                                                  {"d", randn({2, 2}, f32, gen) > 0.0}},
                                                                 {{"epoch", "3"}, {"note", "seed"}}));
    write(dir / "safetensors/scalar_and_empty", io::encode_safetensors({{"s", scalar(2.5)}, {"e", zeros({0, 4})}}));
    write(dir / "safetensors/empty", io::encode_safetensors({}));
    write(dir / "safetensors/metadata_only", io::encode_safetensors({}, {{"config", "{\"model\":\"network1\"}"}}));
    // checkpoints of the harness's models, one per optimizer: fresh, and after some steps.
    Tensor x = randn({5, 4}, f32, gen);
    Tensor y = from_vector(std::span<const std::int64_t>(std::vector<std::int64_t>{0, 1, 1, 0, 1}), {5});
    std::vector<fuzz_models::Checkpointed> models = fuzz_models::all();
    for (auto& m : models) {
      const std::string kind(m.opt->kind());
      io::save_checkpoint((dir / ("checkpoint/fresh_" + kind)).string(), m.net, m.opt.get(), {{"epoch", "0"}});
      for (int i = 0; i < 3; ++i) {
        m.opt->zero_grad();
        softmax_cross_entropy(m.net(x), y).backward();
        m.opt->step();
      }
      io::save_checkpoint((dir / ("checkpoint/trained_" + kind)).string(), m.net, m.opt.get(), {{"epoch", "3"}},
                          {{"best.0.weight", ones({3, 4})}});
    }
    io::save_checkpoint((dir / "checkpoint/model_only").string(), models[0].net, nullptr);
    // IDX: the first byte is the harness's mode (even: as is, odd: gzip the rest).
    write(dir / "idx/labels", std::string(1, '\0') + idx({10}, 0));
    write(dir / "idx/images", std::string(1, '\0') + idx({3, 4, 4}, 9));
    write(dir / "idx/labels_gz_by_harness", std::string(1, '\1') + idx({10}, 0));
    write(dir / "idx/images_gz_by_harness", std::string(1, '\1') + idx({2, 28, 28}, 1));
    write(dir / "idx/images_gz", std::string(1, '\0') + gzip(idx({2, 5, 5}, 3)));
    // digits: one image, and two with another key beside "data".
    std::string one = "{\"data\": [";
    for (int i = 0; i < 784; ++i) one += fmt::format("{}{}", i ? "," : "", (i % 5) / 4.0);
    write(dir / "digits/one", one + "]}");
    std::string two = "{\"label\": \"seven\", \"meta\": {\"n\": [2, null, true]}, \"data\": [";
    for (int i = 0; i < 2 * 784; ++i) two += fmt::format("{}{}", i ? "," : "", i % 2);
    write(dir / "digits/two", two + "]}");
    // api: a pool of four tensors (float32 [2, 3] requiring grad, float64 [3, 2], int64 labels [2],
    // float32 [1, 2, 3, 3] requiring grad; see api_fuzz.cpp for the layout), then one call of each op
    // of the table with small arguments, then a backward.
    const std::string pool{3,                                                  // four tensors
                           0, 2, 2, 3, 1, 3, 2, 3, 4, 5,                       // f32 [2, 3], grad, values 1, -1, .5, 2
                           1, 2, 3, 2, 0, 1, 6, 7,                             // f64 [3, 2], values 3, -7
                           2, 1, 2, 0, 1, 0, 2,                                // i64 [2], values 0, 1
                           0, 4, 1, 2, 3, 3, 1, 0, 2};                         // f32 [1, 2, 3, 3], grad, ones
    for (int op = 0; op < 64; ++op) {
      const std::string call{static_cast<char>(op), 1, 2, 0, 1, 3, 1, 2, 0, 1, 0, 0, 0, 1, 1, 1, 1};
      write(dir / fmt::format("api/op{:02}", op), pool + call + std::string{63, 3, 0});
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "nabla-fuzz-seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
