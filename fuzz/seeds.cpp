// fuzz/seeds.cpp — writes the seed corpora of the harnesses, each file made by nabla itself:
//   nabla-fuzz-seeds DIR   →   DIR/safetensors/, DIR/checkpoint/, DIR/idx/, DIR/digits/, DIR/api/, and an
//   empty DIR/torch/ (its seeds are the .pt files of tests/data/torch/, which PyTorch wrote: scripts/fuzz.sh)
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
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
  for (const char* h : {"safetensors", "checkpoint", "idx", "digits", "torch", "api"}) fs::create_directories(dir / h);
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
    write(dir / "safetensors/f16", io::encode_safetensors({{"w", randn({3, 2}, f32, gen)}}, {}, io::FloatFormat::f16));
    write(dir / "safetensors/bf16", io::encode_safetensors({{"w", randn({3, 2}, f64, gen)}}, {}, io::FloatFormat::bf16));
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
    // api: inputs the fuzzer found defects with (kept so each run starts by replaying them).
    using namespace std::literals;
    static const std::pair<const char*, std::string_view> kFindings[] = {
        {"conv1d_groups",
            "\x60\x00\x4e\x31\x5f\x74\x5f\x63\x78\x78\x61\x62\x69\x76\x31\x31\x37\x5f\x5e\x63\x6c\x61\x73\x73"
            "\x5f\x74\x31\x31\x37\x5f\x5f\x63\x6c\x79\x70\x65\x5f\x69\xfc\x66\x6f\x21\x45\xfa\x2e\x24\x24\x24"
            "\x24\x24\x24\x24\x24\x24\xfe\xfd\x00\x05\x01\x27\x02\x03\x00\x5d\x00"sv},
        {"conv2d_grad_empty_batch",
            "\x20\x01\x08\x00\x00\x01\x03\x02\x03\x04\x05\x01\x02\x03\x02\x00\x01\x05\x00\x23\x23\x1c\x23\x23"
            "\x23\x23\x23\x23\x23\x07\x02\x4e\x2e\x01\x01\x01\x3f\x00\x2c\xcb\xcb\xcb\xcb\xcb\x04\x00\x3d\x02"
            "\x03\x03\x04\x3c\x05\x01\x00\x01\x06\x22\x07\xfe\xdb\x00\x02\x00\x8b\x01\xf3\x01\x00\x00\x00\x00"
            "\x00\x00\x03\x03\x00"sv},
        {"conv2d_wgrad_no_filters",
            "\x84\x00\x22\x42\x3a\x62\x69\x31\x31\x37\x5f\x6c\x63\x61\x5f\x73\x00\x22\x42\x3a\x62\x69\x31\x31"
            "\x37\x5f\x6c\x63\x61\x5f\x73\xe3\x5f\x60\x74\x74\x79\x08\x00\x00\x00\x6e\x66\xe3\x5f\x60\x74\x74"
            "\x79\x08\x00\x00\x00\x6e\x66\x6f\x45\xfa\x01\x06\x07"sv},
        {"empty_flip",
            "\xd5\xd5\x2b\x2a\xdb\xd5\xd5\xd5\xd5\x03\x00\x02\x02\x2e\x01\x03\x02\x03\x04\x01\x02\xd5\xd5\xb8"
            "\xd5\xd5\x00\xd5\xd5\xd5\xd5\xd5\xd5\xd5\x50"sv},
        {"empty_pad",
            "\x29\x00\x02\x02\x6e\x61\x72\x72\x6f\x6e\x01\x03\xd6\xd6\xd6\xd6\xd6\xd6\xd6\xd6\xd6\xd6\xd6\xd6"
            "\xd6\xd6\xd6\xd6\xd6\xd6\xd6\xd6\xd6\xd6\xd6\xd6\x00\x00"sv},
        {"matmul_empty_batch",
            "\x50\x80\xff\x2d\x03\xa6\x30\x00\x95\x7f\x33\x33\x1f\xfd\x00\xcd\xcc\x35\x36\x36\x36\x36\x33\xc9"
            "\xc9\x00\xde\xde\x53\xde\xde\xde\x22\x25\xde\xde\xca\xde\x2e\xde\xde\x05\xff\x36\x36\x34\x20\x01"
            "\x03\x01\x02\x00\x01\x00\x00\x08\x01\x01\xbf\x01\x01\x03\x00"sv},
        {"slice_huge_step",
            "\x03\x00\x02\x02\x03\x01\x03\x81\x03\x04\x00\x01\xff\x00\x00\x08\x00\x02\xf6\x11\x00\x02\x00\x04"
            "\x01\x02\x03\x03\x01\x00\x02\x25\x2d\x02\x00\x01\x03\x01\x02\x00\x01\x00\x00\x00\x01\x05\xfa\x28"
            "\x00\x00\x50\x50\x50\x50\x50\x50\x50\x50\xbc\x50\x50\x50\x50\x50\x00"sv},
        {"softmax_empty_axis",
            "\x01\xe9\xe9\xe9\x01\x00\x00\x00\x78\x00\x20\x02\x03\x00\x5f\x00\x00\x00\x00\x00\x00\x00\x00\x00"
            "\x00\x00\x00\x00\x00\x00\x5f\x5f\x00\x00\x00\x00\x00\x00\x00\x2b\x78\x00\x20\x02\x03\x00\x5f\x5f"
            "\x5f\x00\x00\x00\x00\x00\x00\x00\x2b\x5f\x5f\x5f\x5f\x5f\x02\x19\x01\x02\x5f\x00\x5f\x5f\x1f\x5f"
            "\x5f\x5f\x5f\x5f\x5f\x00\x45\x5f\x5f"sv},
        {"sort_empty_long_axis",
            "\x00\x01\x3b\x86\x00\x04\x07\x01\x01\x9c\x00\x02\x02\x01\x0b\x00\x02\x03\x01\x0c\x0c\x0c\x0c\x0c"
            "\x0c\x0c\x0c\x0c\x0c\x31\x00\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x0c\x65\x0c\x43\x4e\x0c\x0c\x0c\x0c\x0c"
            "\x0c\x43\x4e\x33\x09\x00\x00\x00\x0a\x03\x00\x01\x02\x01\x02\x03\x00\x00"sv},
    };
    for (const auto& [name, bytes] : kFindings) write(dir / fmt::format("api/finding_{}", name), std::string(bytes));
  } catch (const Error& e) {
    std::fprintf(stderr, "nabla-fuzz-seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
