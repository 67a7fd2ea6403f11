// src/io/safetensors.cpp — the safetensors format, atomic file writes, checkpoints.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "file.hpp"
#include "half.hpp"
#include "nabla/io.hpp"

static_assert(std::endian::native == std::endian::little, "nabla's file formats assume a little-endian machine");

namespace nabla::io {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::uint64_t kMaxHeader = 100ULL << 20;  // as the reference implementation
constexpr std::uint64_t kMaxFile = 64ULL << 30;     // a whole file, read into memory
constexpr int kMaxDepth = 16;                        // JSON nesting; a valid header has 3

/// A header value for an error message: short values as JSON, others by kind and size (never the
/// whole of a value a file chose).
std::string excerpt(const json& j) {
  if (j.is_array()) return j.size() <= 8 && j.dump().size() <= 80 ? j.dump() : fmt::format("an array of {}", j.size());
  if (j.is_object()) return fmt::format("an object of {} keys", j.size());
  const std::string d = j.dump();
  return d.size() <= 80 ? d : d.substr(0, 77) + "...";
}

const char* st_dtype(Dtype d) {
  switch (d) {
    case Dtype::f32: return "F32";
    case Dtype::f64: return "F64";
    case Dtype::i64: return "I64";
    case Dtype::b8: return "BOOL";
    case Dtype::bf16: return "BF16";
  }
  return "?";
}

const void* raw_data(const Tensor& t) {
  switch (t.dtype()) {
    case Dtype::f32: return t.data<float>();
    case Dtype::f64: return t.data<double>();
    case Dtype::i64: return t.data<std::int64_t>();
    case Dtype::b8: return t.data<bool>();
    case Dtype::bf16: return t.data<bfloat16>();
  }
  return nullptr;
}

void* raw_mutable(Tensor& t) {
  switch (t.dtype()) {
    case Dtype::f32: return t.mutable_data<float>();
    case Dtype::f64: return t.mutable_data<double>();
    case Dtype::i64: return t.mutable_data<std::int64_t>();
    case Dtype::b8: return t.mutable_data<bool>();
    case Dtype::bf16: return t.mutable_data<bfloat16>();
  }
  return nullptr;
}

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw IoError(fmt::format("\"{}\": {}", source, what));
}

void check_errno(bool ok, const std::string& path, const char* what) {
  if (!ok) throw IoError(fmt::format("\"{}\": cannot {}: {}", path, what, std::strerror(errno)));
}

}  // namespace

namespace {

/// The temporaries of saves to `target` start with "." + its name + ".tmp." and end in mkstemp's six
/// characters; the name is shortened to keep the whole within the file system's name limit.
std::string temp_prefix(const fs::path& dir, const fs::path& target) {
  long name_max = ::pathconf(dir.c_str(), _PC_NAME_MAX);
  if (name_max <= 0) name_max = 255;
  std::string base = target.filename().string();
  const std::size_t room = static_cast<std::size_t>(name_max) - 12;  // "." ".tmp." "XXXXXX"
  if (base.size() > room) base.resize(room);
  return "." + base + ".tmp.";
}

/// Removes the temporaries that earlier saves to the same place left behind when they were killed.
/// A live save holds an exclusive flock on its temporary (released by the kernel when its process
/// dies, SIGKILL included), so a temporary that can be locked belongs to no one.
void remove_stale_temporaries(const fs::path& dir, const std::string& prefix) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  const int dfd = ::dirfd(d);
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name(e->d_name);
    if (name.size() != prefix.size() + 6 || !name.starts_with(prefix)) continue;
    const int fd = ::openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      ::unlinkat(dfd, e->d_name, 0);
    }
    ::close(fd);
  }
  ::closedir(d);
}

}  // namespace

void write_file_atomic(const std::string& path, std::span<const std::byte> bytes) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  if (!detail::is_directory(dir.string())) {
    throw IoError(fmt::format("\"{}\": directory \"{}\" does not exist", path, dir.string()));
  }
  const std::string prefix = temp_prefix(dir, target);
  remove_stale_temporaries(dir, prefix);
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 8 && fd < 0; ++attempt) {
    tmp = (dir / (prefix + "XXXXXX")).string();
    fd = mkstemp(tmp.data());
    check_errno(fd >= 0, path, "create a temporary file");
    // Held until the rename: it marks the temporary as live for remove_stale_temporaries. A cleaner
    // may have taken the lock between mkstemp and here and removed the file: then start again.
    struct stat st {};
    if (::flock(fd, LOCK_EX) == 0 && ::fstat(fd, &st) == 0 && st.st_nlink == 0) {
      ::close(fd);
      fd = -1;
    }
  }
  check_errno(fd >= 0, path, "create a temporary file");
  auto cleanup = [&] {
    ::close(fd);
    ::unlink(tmp.c_str());
  };
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      cleanup();
      throw IoError(fmt::format("\"{}\": cannot write: {}", path, std::strerror(err)));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::fchmod(fd, 0644) != 0) {
    const int err = errno;
    cleanup();
    throw IoError(fmt::format("\"{}\": cannot flush to disk: {}", path, std::strerror(err)));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    cleanup();
    throw IoError(fmt::format("\"{}\": cannot rename the temporary file into place: {}", path, std::strerror(err)));
  }
  ::close(fd);
  // Make the rename itself durable.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

namespace {

/// A floating tensor as F16 or BF16, appended to `out` (float64 through float32, as torch's .to()).
void append_narrowed(std::string& out, const Tensor& t, FloatFormat floats) {
  const std::size_t n = static_cast<std::size_t>(t.numel());
  const std::size_t at = out.size();
  out.resize(at + 2 * n);
  auto put = [&](std::size_t i, float v) {
    const std::uint16_t h = floats == FloatFormat::f16 ? detail::float_to_half(v) : detail::float_to_bfloat16(v);
    std::memcpy(out.data() + at + 2 * i, &h, 2);
  };
  if (t.dtype() == f32) {
    const float* p = t.data<float>();
    for (std::size_t i = 0; i < n; ++i) put(i, p[i]);
  } else {
    const double* p = t.data<double>();
    for (std::size_t i = 0; i < n; ++i) put(i, static_cast<float>(p[i]));
  }
}

}  // namespace

std::string encode_safetensors(const std::map<std::string, Tensor>& tensors, const std::map<std::string, std::string>& metadata,
                               FloatFormat floats) {
  const auto narrowed = [&](const Tensor& t) { return floats != FloatFormat::keep && is_floating(t.dtype()); };
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name.empty() || name == "__metadata__") throw ValueError(fmt::format("save_safetensors: bad tensor name '{}'", name));
    if (!t.defined()) throw ValueError(fmt::format("save_safetensors: tensor '{}' is undefined", name));
    const bool narrow = narrowed(t);
    const std::uint64_t bytes = static_cast<std::uint64_t>(t.numel()) * (narrow ? 2 : dtype_size(t.dtype()));
    header[name] = {{"dtype", narrow ? (floats == FloatFormat::f16 ? "F16" : "BF16") : st_dtype(t.dtype())},
                    {"shape", std::vector<std::int64_t>(t.shape().begin(), t.shape().end())},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string head = header.dump();
  head.append((8 - head.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  const std::uint64_t n = head.size();
  std::memcpy(out.data(), &n, 8);
  out += head;
  out.reserve(out.size() + offset);
  for (const auto& [name, t] : tensors) {
    if (narrowed(t)) append_narrowed(out, t, floats);
    else out.append(static_cast<const char*>(raw_data(t)), static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype()));
  }
  return out;
}

TensorFile decode_safetensors(std::span<const std::byte> bytes, const std::string& source, bool keep_bf16) {
  if (bytes.size() < 8) fail(source, fmt::format("{} bytes is too short for a safetensors file (at least 8)", bytes.size()));
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  if (n > kMaxHeader) fail(source, fmt::format("header length {} exceeds the limit of {} bytes", n, kMaxHeader));
  if (n > bytes.size() - 8) fail(source, fmt::format("header says {} bytes of JSON, file has {} left", n, bytes.size() - 8));
  const std::uint64_t data_size = bytes.size() - 8 - n;
  const auto* head = reinterpret_cast<const char*>(bytes.data() + 8);
  json header;
  try {
    // A safetensors header nests three deep; a bound far above that keeps a hostile header (100,000
    // nested arrays) from recursing through the parser, and later through dump() and the destructor.
    header = json::parse(head, head + n, [&](int depth, json::parse_event_t, json&) {
      if (depth > kMaxDepth) fail(source, fmt::format("header nests deeper than {} levels", kMaxDepth));
      return true;
    });
  } catch (const json::exception& e) {
    fail(source, fmt::format("header is not valid JSON: {}", e.what()));
  }
  if (!header.is_object()) fail(source, "header is not a JSON object");

  TensorFile out;
  out.source = source;
  struct Range {
    std::uint64_t begin, end;
    std::string name;
  };
  std::vector<Range> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail(source, "\"__metadata__\" is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail(source, fmt::format("metadata \"{}\" is not a string", m.key()));
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets")) {
      fail(source, fmt::format("entry \"{}\" needs dtype, shape and data_offsets", name));
    }
    const json& jd = v["dtype"];
    Dtype dtype;
    std::size_t elsize = 0;  // in the file; F16 and BF16 become f32 tensors
    if (jd == "F32") dtype = f32;
    else if (jd == "F64") dtype = f64;
    else if (jd == "I64") dtype = i64;
    else if (jd == "BOOL") dtype = b8;
    else if (jd == "BF16" && keep_bf16) dtype = bf16;
    else if (jd == "F16" || jd == "BF16") {
      dtype = f32;
      elsize = 2;
    }
    else fail(source, fmt::format("\"{}\" has dtype {}; nabla reads F32, F64, F16, BF16 and I64 (and BOOL masks)", name, excerpt(jd)));
    if (elsize == 0) elsize = dtype_size(dtype);
    const json& js = v["shape"];
    if (!js.is_array() || js.size() > Shape::kMaxRank) fail(source, fmt::format("\"{}\": bad shape {}", name, excerpt(js)));
    Shape shape;
    std::uint64_t numel = 1;
    for (const json& d : js) {
      if (!d.is_number_unsigned() || d.get<std::uint64_t>() > (1ULL << 40)) {
        fail(source, fmt::format("\"{}\": bad shape {}", name, excerpt(js)));
      }
      // Checked before multiplying: [2^32, 2^32] must not wrap to 0 elements.
      const std::uint64_t extent = d.get<std::uint64_t>();
      if (extent != 0 && numel > (1ULL << 40) / extent) {
        fail(source, fmt::format("\"{}\": shape {} is too large", name, excerpt(js)));
      }
      numel *= extent;
      shape.push_back(d.get<std::int64_t>());
    }
    const json& jo = v["data_offsets"];
    if (!jo.is_array() || jo.size() != 2 || !jo[0].is_number_unsigned() || !jo[1].is_number_unsigned()) {
      fail(source, fmt::format("\"{}\": bad data_offsets {}", name, excerpt(jo)));
    }
    const auto begin = jo[0].get<std::uint64_t>(), end = jo[1].get<std::uint64_t>();
    if (begin > end || end > data_size) {
      fail(source, fmt::format("header says bytes [{}, {}) for \"{}\", file has {} bytes of data", begin, end, name, data_size));
    }
    if (end - begin != numel * elsize) {
      fail(source, fmt::format("\"{}\": {} {} needs {} bytes, its range holds {}", name, jd.get<std::string>(), shape,
                               numel * elsize, end - begin));
    }
    ranges.push_back({begin, end, name});
    Tensor t = empty(shape, dtype);
    if (dtype == b8) {  // a bool byte is 0 or 1; anything else is not a bool
      for (std::uint64_t k = begin; k < end; ++k) {
        const auto byte = static_cast<unsigned char>(bytes[8 + n + k]);
        if (byte > 1) fail(source, fmt::format("\"{}\" is BOOL but element {} is {}, not 0 or 1", name, k - begin, byte));
      }
    }
    if (elsize == 2 && dtype == f32) {  // F16 or BF16, widened exactly
      const bool half = jd == "F16";
      float* dst = t.mutable_data<float>();
      const std::byte* src = bytes.data() + 8 + n + begin;
      for (std::uint64_t k = 0; k < numel; ++k) {
        std::uint16_t h;
        std::memcpy(&h, src + 2 * k, 2);
        dst[k] = half ? detail::half_to_float(h) : detail::bfloat16_to_float(h);
      }
    } else if (end > begin) {
      std::memcpy(raw_mutable(t), bytes.data() + 8 + n + begin, end - begin);
    }
    out.tensors.emplace(name, t);
  }
  // The data must be covered exactly: no overlaps, no holes, nothing after.
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.begin < b.begin || (a.begin == b.begin && a.end < b.end); });
  std::uint64_t at = 0;
  for (const Range& r : ranges) {
    if (r.begin != at) {
      fail(source, r.begin < at ? fmt::format("\"{}\" overlaps the tensor before it", r.name)
                                : fmt::format("{} bytes before \"{}\" belong to no tensor", r.begin - at, r.name));
    }
    at = r.end;
  }
  if (at != data_size) fail(source, fmt::format("{} bytes at the end belong to no tensor", data_size - at));
  return out;
}

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata, FloatFormat floats) {
  const std::string bytes = encode_safetensors(tensors, metadata, floats);
  write_file_atomic(path, std::as_bytes(std::span(bytes.data(), bytes.size())));
}

TensorFile load_safetensors(const std::string& path, bool keep_bf16) {
  const std::vector<char> bytes = detail::read_regular_file(path, kMaxFile, "a safetensors file");
  return decode_safetensors(std::as_bytes(std::span(bytes.data(), bytes.size())), path, keep_bf16);
}

const std::string& TensorFile::meta(const std::string& key) const {
  const auto it = metadata.find(key);
  if (it == metadata.end()) throw IoError(fmt::format("\"{}\": metadata field \"{}\" is missing", source, key));
  return it->second;
}

std::int64_t TensorFile::meta_int(const std::string& key, std::int64_t lo, std::int64_t hi) const {
  const std::string& v = meta(key);
  std::int64_t x = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || end != v.data() + v.size() || x < lo || x > hi) {
    throw IoError(fmt::format("\"{}\": metadata field \"{}\" is {}; expected an integer in [{}, {}]", source, key,
                              excerpt(json(v)), lo, hi));
  }
  return x;
}

// ---- checkpoints ---------------------------------------------------------------------------------------

void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer* optimizer,
                     const std::map<std::string, std::string>& metadata, const std::map<std::string, Tensor>& extra) {
  std::map<std::string, Tensor> all;
  for (const auto& [name, t] : model.state()) all.emplace("model." + name, t);
  if (optimizer != nullptr) {
    for (const auto& [name, t] : optimizer->state()) all.emplace("optim." + name, t);
  }
  for (const auto& [name, t] : extra) all.emplace("extra." + name, t);
  std::map<std::string, std::string> meta = metadata;
  if (optimizer != nullptr) meta["nabla.optimizer"] = std::string(optimizer->kind());
  save_safetensors(path, all, meta);
}

TensorFile load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer* optimizer) {
  TensorFile file = load_safetensors(path);
  load_checkpoint(file, path, model, optimizer);
  return file;
}

void load_checkpoint(const TensorFile& file, const std::string& path, nn::Module& model, optim::Optimizer* optimizer) {
  std::map<std::string, Tensor> model_state, optim_state;
  for (const auto& [name, t] : file.tensors) {
    if (name.starts_with("model.")) model_state.emplace(name.substr(6), t);
    else if (name.starts_with("optim.")) optim_state.emplace(name.substr(6), t);
  }
  // Load into the model, then the optimizer; if the optimizer's part does not fit, put the model
  // back as it was.
  std::map<std::string, Tensor> before;
  for (const auto& [name, t] : model.state()) before.emplace(name, t.detach().clone());
  try {
    model.load_state(model_state);
  } catch (const Error& e) {
    throw IoError(fmt::format("load_checkpoint: \"{}\" does not fit this model ({}): {}", path,
                              model.describe(), e.what()));
  }
  if (optimizer != nullptr) {
    const auto kind = file.metadata.find("nabla.optimizer");
    if (kind != file.metadata.end() && kind->second != optimizer->kind()) {
      model.load_state(before);
      throw IoError(fmt::format("load_checkpoint: \"{}\" holds the state of a {} optimizer; this one is {}", path,
                                excerpt(json(kind->second)), optimizer->kind()));
    }
    try {
      optimizer->load_state(optim_state);
    } catch (const Error& e) {
      model.load_state(before);
      throw IoError(fmt::format("load_checkpoint: \"{}\": the optimizer state does not fit: {}", path, e.what()));
    }
  }
}

}  // namespace nabla::io
