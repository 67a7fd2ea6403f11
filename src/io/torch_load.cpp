// src/io/torch_load.cpp — io::load_torch: what torch.save wrote (the zip archive of PyTorch ≥ 1.6),
// into tensors by name. The archive is read by src/io/zip.cpp, data.pkl by the pickle reader of
// src/io/pickle.cpp (which calls nothing); here the values it made become names and tensors: nested
// keys joined with '.', each tensor gathered through its strides from its storage record (shared
// storages and non-contiguous views alike), after its offset and strides are checked against the
// storage's size.
#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "file.hpp"
#include "half.hpp"
#include "nabla/io.hpp"
#include "nabla/toolkit.hpp"
#include "pickle.hpp"
#include "zip.hpp"

namespace nabla::io {

namespace {

using detail::PyValue;
using detail::StorageType;
using Kind = PyValue::Kind;

constexpr std::uint64_t kMaxFile = 64ULL << 30;   // read whole, as a safetensors file
constexpr std::uint64_t kMaxPickle = 1ULL << 30;  // data.pkl (a state dict's is kilobytes)
constexpr int kMaxDepth = 64;                     // nested dicts and lists (a state dict nests 1 to 4)

/// nabla's dtype for a storage's: f16 and bf16 widen (exactly) to f32, integers to i64.
Dtype dtype_for(StorageType t) {
  switch (t) {
    case StorageType::f64: return f64;
    case StorageType::f32: case StorageType::f16: case StorageType::bf16: return f32;
    case StorageType::b8: return b8;
    default: return i64;
  }
}

template <class T>
T read_as(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // a record need not be aligned
  return v;
}

/// dst[i] = convert(element at the i-th row-major position of the strided view).
template <class Dst, class Convert>
void gather(Dst* dst, const std::byte* src, std::size_t elsize, const Shape& shape, const std::vector<std::int64_t>& strides,
            std::int64_t offset, std::int64_t numel, Convert convert) {
  const int rank = shape.rank();
  std::int64_t idx[Shape::kMaxRank] = {};
  std::int64_t pos = offset;
  for (std::int64_t i = 0; i < numel; ++i) {
    dst[i] = convert(src + static_cast<std::size_t>(pos) * elsize);
    for (int k = rank - 1; k >= 0; --k) {
      if (++idx[k] < shape[k]) {
        pos += strides[static_cast<std::size_t>(k)];
        break;
      }
      pos -= strides[static_cast<std::size_t>(k)] * (shape[k] - 1);
      idx[k] = 0;
    }
  }
}

// The legacy format's first pickle: the magic number 0x1950a86a20f9469cfc6c (LONG1), then STOP.
constexpr unsigned char kLegacyMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};

class Loader {
 public:
  Loader(std::span<const std::byte> bytes, const std::string& source, bool keep_bf16)
      : bytes_(bytes), source_(source), budget_(4 * bytes.size() + (64ULL << 20)), keep_bf16_(keep_bf16) {}

  TensorFile run() {
    if (bytes_.size() >= sizeof kLegacyMagic && std::memcmp(bytes_.data(), kLegacyMagic, sizeof kLegacyMagic) == 0) return run_legacy();
    zip_.emplace(open_zip(bytes_, source_));
    // The records sit in one directory whose name varies ("archive", or the file's stem): the one
    // holding data.pkl.
    const detail::ZipEntry* pkl = nullptr;
    for (const detail::ZipEntry& e : zip_->entries()) {
      const std::size_t slash = e.name.find('/');
      if (slash == std::string::npos || e.name.compare(slash, std::string::npos, "/data.pkl") != 0) continue;
      if (pkl != nullptr) fail(fmt::format("two pickles, \"{}\" and \"{}\"", detail::printable(pkl->name), detail::printable(e.name)));
      pkl = &e;
      prefix_ = e.name.substr(0, slash);
    }
    if (pkl == nullptr) {
      fail("no <dir>/data.pkl record: not an archive torch.save writes");
    }
    if (const detail::ZipEntry* order = zip_->find(prefix_ + "/byteorder")) {
      std::vector<std::byte> buffer;
      const auto b = zip_->read(*order, buffer);
      const std::string text(reinterpret_cast<const char*>(b.data()), std::min<std::size_t>(b.size(), 16));
      if (text != "little") fail(fmt::format("byte order \"{}\"; nabla reads little-endian archives", detail::printable(text)));
    }
    if (pkl->size > kMaxPickle) fail(fmt::format("{} is {}; nabla reads pickles of at most {}", pkl->name, detail::bytes_text(pkl->size), detail::bytes_text(kMaxPickle)));
    std::vector<std::byte> buffer;
    const auto pickle_bytes = zip_->read(*pkl, buffer);
    return finish(detail::read_pickle(pickle_bytes, fmt::format("\"{}\": {}", source_, detail::printable(pkl->name))));
  }

 private:
  static detail::ZipReader open_zip(std::span<const std::byte> bytes, const std::string& source) {
    const auto starts = [&](std::string_view magic, std::size_t at = 0) {
      return bytes.size() >= at + magic.size() && std::memcmp(bytes.data() + at, magic.data(), magic.size()) == 0;
    };
    if (starts("\x80")) {
      throw IoError(fmt::format("\"{}\" is a pickle without the magic number of torch.save's legacy format; nabla reads what "
                                "torch.save writes (a zip archive, or the legacy format of PyTorch before 1.6)",
                                source));
    }
    if (starts("ustar", 257)) throw IoError(fmt::format("\"{}\" is a tar archive (torch.save before PyTorch 0.4); nabla reads the zip archives of PyTorch 1.6 and later", source));
    if (!starts("PK")) throw IoError(fmt::format("\"{}\" is not a torch.save archive (a zip file starts with \"PK\")", source));
    return detail::ZipReader(bytes, source);
  }

  /// The pickle's value, walked into names.
  TensorFile finish(const detail::Pickle& pickle) {
    visits_left_ = 4 * pickle.opcodes + 1024;
    const PyValue& root = *pickle.root;
    if (root.kind != Kind::dict && root.kind != Kind::list && root.kind != Kind::tuple) {
      fail(fmt::format("it holds a {} at the top, not a state dict (a dict of tensors)", root.kind == Kind::tensor ? "single tensor" : "single value"));
    }
    out_.source = source_;
    walk(root, "", 0);
    return std::move(out_);
  }

  /// The format of torch.save before PyTorch 1.6 (and with _use_new_zipfile_serialization=False):
  /// five pickles in a row — the magic number, the protocol version (1001), the writer's byte order
  /// and type sizes, the object, the list of its storages' keys — then each storage in that order,
  /// as its element count (8 bytes, little-endian) and its bytes.
  TensorFile run_legacy() {
    std::size_t at = sizeof kLegacyMagic;
    const auto next_pickle = [&](const char* what) {
      detail::Pickle p = detail::read_pickle(bytes_.subspan(at), fmt::format("\"{}\": the legacy format's {} (from byte {})", source_, what, at));
      at += p.end;
      return p;
    };
    const detail::Pickle version = next_pickle("protocol version");
    if (version.root->kind != Kind::integer || version.root->integer != 1001) fail("a legacy file of another protocol version than 1001");
    const detail::Pickle info = next_pickle("system information");
    bool little = false;
    if (info.root->kind == Kind::dict) {
      for (std::size_t i = 0; i + 1 < info.root->items.size(); i += 2) {
        const PyValue& k = *info.root->items[i];
        const PyValue& v = *info.root->items[i + 1];
        if (k.kind == Kind::string && k.text == "little_endian") little = v.kind == Kind::boolean && v.boolean;
      }
    }
    if (!little) fail("a legacy file written on a big-endian machine (or saying nothing of it); nabla reads little-endian files");
    const detail::Pickle object = next_pickle("object");
    const detail::Pickle keys = next_pickle("storage keys");
    if (keys.root->kind != Kind::list) fail("the legacy format's storage keys are not a list");
    // Each storage's element size comes from the persistent ids naming it.
    std::unordered_map<std::string, StorageType> types;
    for (const PyValue& v : object.arena) {
      if (v.kind != Kind::storage) continue;
      const auto [it, fresh] = types.emplace(v.text, v.storage_type);
      if (!fresh && it->second != v.storage_type) fail(fmt::format("storage \"{}\" is named with two types", detail::printable(v.text)));
    }
    for (const PyValue* k : keys.root->items) {
      if (k->kind != Kind::string) fail("a storage key of the legacy format is not a string");
      const auto type = types.find(k->text);
      if (type == types.end()) fail(fmt::format("storage \"{}\" is listed, but no tensor names it", detail::printable(k->text)));
      if (bytes_.size() - at < 8) fail(fmt::format("the file ends inside storage \"{}\"", detail::printable(k->text)));
      std::uint64_t count = 0;
      std::memcpy(&count, bytes_.data() + at, 8);
      at += 8;
      const std::size_t elsize = detail::element_size(type->second);
      if (count > (bytes_.size() - at) / elsize) {
        fail(fmt::format("storage \"{}\" says {} elements of {} bytes; the file has {} bytes left", detail::printable(k->text), count, elsize, bytes_.size() - at));
      }
      if (!legacy_.emplace(k->text, bytes_.subspan(at, count * elsize)).second) fail(fmt::format("storage \"{}\" is listed twice", detail::printable(k->text)));
      at += count * elsize;
    }
    if (at != bytes_.size()) fail(fmt::format("{} bytes after the last storage belong to none", bytes_.size() - at));
    return finish(object);
  }

  /// The bytes of the storage a tensor names: its record in the archive, or its place in a legacy file.
  std::span<const std::byte> storage_bytes(const PyValue& s, const std::string& shown) {
    if (!zip_) {
      const auto it = legacy_.find(s.text);
      if (it == legacy_.end()) fail(fmt::format("tensor \"{}\": its storage \"{}\" is not in the file", shown, detail::printable(s.text)));
      return it->second;
    }
    const std::string record = prefix_ + "/data/" + s.text;
    const detail::ZipEntry* rec = zip_->find(record);
    if (rec == nullptr) fail(fmt::format("tensor \"{}\": its storage has no record \"{}\"", shown, detail::printable(record)));
    if (!rec->deflated) {
      std::vector<std::byte> unused;
      return zip_->read(*rec, unused);
    }
    auto [it, fresh] = inflated_.try_emplace(record);
    return fresh ? zip_->read(*rec, it->second) : std::span<const std::byte>(it->second);
  }

  [[noreturn]] void fail(const std::string& what) const { throw IoError(fmt::format("\"{}\": {}", source_, what)); }

  static std::string key_text(const PyValue& k) {
    if (k.kind == Kind::string) return k.text;
    if (k.kind == Kind::integer) return std::to_string(k.integer);  // an optimizer's state: {0: {...}}
    return {};
  }

  static std::string scalar_text(const PyValue& v) {
    switch (v.kind) {
      case Kind::none: return "None";
      case Kind::boolean: return v.boolean ? "True" : "False";
      case Kind::integer: return std::to_string(v.integer);
      case Kind::floating: {  // Python's repr: shortest round trip, "1.0" not "1"
        std::string s = fmt::format("{}", v.floating);
        if (s.find_first_of(".eninf") == std::string::npos) s += ".0";
        return s;
      }
      default: return v.text;  // str, bytes, a dtype's name
    }
  }

  void walk(const PyValue& v, const std::string& name, int depth) {
    if (visits_left_-- == 0) fail("its objects are shared so often that listing them would make more names than the file could hold");
    if (depth > kMaxDepth) fail(fmt::format("it nests deeper than {} levels (at \"{}\")", kMaxDepth, detail::printable(name)));
    const auto child = [&](const std::string& key) {
      charge(name.size() + 1 + key.size());
      return name.empty() ? key : name + "." + key;
    };
    switch (v.kind) {
      case Kind::dict:
        for (std::size_t i = 0; i + 1 < v.items.size(); i += 2) {
          const PyValue& k = *v.items[i];
          if (k.kind != Kind::string && k.kind != Kind::integer) {
            fail(fmt::format("a dict key at \"{}\" is not a string or an int", detail::printable(name)));
          }
          walk(*v.items[i + 1], child(key_text(k)), depth + 1);
        }
        return;
      case Kind::list:
      case Kind::tuple:
        for (std::size_t i = 0; i < v.items.size(); ++i) walk(*v.items[i], child(std::to_string(i)), depth + 1);
        return;
      case Kind::tensor: add(name, &out_.tensors, tensor(v, name), {}); return;
      case Kind::storage: fail(fmt::format("\"{}\" is a bare storage, not a tensor", detail::printable(name)));
      default: {
        std::string text = scalar_text(v);
        charge(text.size());
        add(name, nullptr, {}, text);
        return;
      }
    }
  }

  /// Names and texts are copies (a string referenced a thousand times is a thousand values): all of
  /// them together may take at most 16 times the file plus 1 MiB.
  void charge(std::size_t n) {
    if (n > text_budget_) fail("its names and strings, repeated through shared references, would take more than 16 times the file");
    text_budget_ -= n;
  }

  void add(const std::string& name, std::map<std::string, Tensor>* tensors, const Tensor& t, const std::string& text) {
    if (out_.tensors.contains(name) || out_.metadata.contains(name)) {
      fail(fmt::format("two values are named \"{}\" (nested keys joined with '.' collide)", detail::printable(name)));
    }
    if (tensors != nullptr) tensors->emplace(name, t);
    else out_.metadata.emplace(name, text);
  }

  Tensor tensor(const PyValue& t, const std::string& name) {
    if (const auto it = made_.find(&t); it != made_.end()) return it->second;  // one tensor under two names
    const std::string shown = detail::printable(name);
    const PyValue& s = *t.items[0];
    const std::size_t elsize = detail::element_size(s.storage_type);
    const std::span<const std::byte> data = storage_bytes(s, shown);
    const auto numel = static_cast<std::uint64_t>(s.integer);
    if (numel > data.size() / elsize || numel * elsize != data.size()) {
      fail(fmt::format("tensor \"{}\": storage \"{}\" says {} elements of {} bytes ({}), the file holds {} bytes of it", shown,
                       detail::printable(s.text), numel, elsize, detail::storage_type_name(s.storage_type), data.size()));
    }
    if (t.sizes.size() > static_cast<std::size_t>(Shape::kMaxRank)) {
      fail(fmt::format("tensor \"{}\" has {} dimensions; nabla's tensors have at most {}", shown, t.sizes.size(), Shape::kMaxRank));
    }
    Shape shape;
    for (std::size_t k = 0; k < t.sizes.size(); ++k) {
      if (t.sizes[k] < 0 || t.strides[k] < 0) {
        fail(fmt::format("tensor \"{}\": a negative size or stride (sizes {}, strides {})", shown, fmt::join(t.sizes, ", "), fmt::join(t.strides, ", ")));
      }
      shape.push_back(t.sizes[k]);
    }
    if (t.integer < 0) fail(fmt::format("tensor \"{}\": negative storage offset {}", shown, t.integer));
    const Dtype dtype = keep_bf16_ && s.storage_type == StorageType::bf16 ? bf16 : dtype_for(s.storage_type);
    std::size_t bytes = 0;
    try {
      bytes = checked_bytes("load_torch", shape, dtype);  // at most 2^40 elements, each product checked
    } catch (const Error& e) {
      fail(fmt::format("tensor \"{}\": {}", shown, e.what()));
    }
    const std::int64_t count = shape.numel();
    if (count > 0) {
      // The last element the view reaches must lie in the storage (sizes < 2^40; strides < 2^63).
      unsigned __int128 last = static_cast<std::uint64_t>(t.integer);
      for (std::size_t k = 0; k < t.sizes.size(); ++k) last += static_cast<unsigned __int128>(t.sizes[k] - 1) * static_cast<std::uint64_t>(t.strides[k]);
      if (last >= numel) {
        fail(fmt::format("tensor \"{}\": offset {} and strides ({}) for sizes ({}) reach past its storage \"{}\" of {} elements", shown,
                         t.integer, fmt::join(t.strides, ", "), fmt::join(t.sizes, ", "), detail::printable(s.text), numel));
      }
    }
    if (bytes > budget_) {
      fail(fmt::format("tensor \"{}\" would take the tensors made past {} (4 times the file, plus 64 MiB): views of one "
                       "storage, expanded by zero strides, may not add up to more",
                       shown, detail::bytes_text(4 * bytes_.size() + (64ULL << 20))));
    }
    budget_ -= bytes;
    Tensor out = empty(shape, dtype);
    const std::byte* src = data.data();
    // Row-major and stored as nabla stores it (most tensors of a state dict): one copy.
    bool contiguous = s.storage_type == StorageType::f32 || s.storage_type == StorageType::f64 || s.storage_type == StorageType::i64 ||
                      dtype == bf16;
    for (std::int64_t k = shape.rank() - 1, expect = 1; k >= 0 && contiguous; --k) {
      contiguous = shape[int(k)] == 1 || t.strides[std::size_t(k)] == expect;
      expect *= shape[int(k)];
    }
    if (contiguous && count > 0) {
      void* dst = dtype == f32 ? static_cast<void*>(out.mutable_data<float>())
                  : dtype == bf16 ? static_cast<void*>(out.mutable_data<bfloat16>())
                  : dtype == f64 ? static_cast<void*>(out.mutable_data<double>()) : static_cast<void*>(out.mutable_data<std::int64_t>());
      std::memcpy(dst, src + static_cast<std::size_t>(t.integer) * elsize, bytes);
      made_.emplace(&t, out);
      return out;
    }
    const auto go = [&](auto* dst, auto convert) { gather(dst, src, elsize, shape, t.strides, t.integer, count, convert); };
    switch (s.storage_type) {
      case StorageType::f32: go(out.mutable_data<float>(), read_as<float>); break;
      case StorageType::f64: go(out.mutable_data<double>(), read_as<double>); break;
      case StorageType::f16: go(out.mutable_data<float>(), [](const std::byte* p) { return detail::half_to_float(read_as<std::uint16_t>(p)); }); break;
      case StorageType::bf16:
        if (dtype == bf16) {
          go(out.mutable_data<bfloat16>(), [](const std::byte* p) { return bfloat16::from_bits(read_as<std::uint16_t>(p)); });
          break;
        }
        go(out.mutable_data<float>(), [](const std::byte* p) { return detail::bfloat16_to_float(read_as<std::uint16_t>(p)); }); break;
      case StorageType::i64: go(out.mutable_data<std::int64_t>(), read_as<std::int64_t>); break;
      case StorageType::i32: go(out.mutable_data<std::int64_t>(), [](const std::byte* p) { return std::int64_t(read_as<std::int32_t>(p)); }); break;
      case StorageType::i16: go(out.mutable_data<std::int64_t>(), [](const std::byte* p) { return std::int64_t(read_as<std::int16_t>(p)); }); break;
      case StorageType::i8: go(out.mutable_data<std::int64_t>(), [](const std::byte* p) { return std::int64_t(read_as<std::int8_t>(p)); }); break;
      case StorageType::u8: go(out.mutable_data<std::int64_t>(), [](const std::byte* p) { return std::int64_t(read_as<std::uint8_t>(p)); }); break;
      case StorageType::b8:
        go(out.mutable_data<bool>(), [&](const std::byte* p) {
          const auto b = std::to_integer<unsigned>(*p);
          if (b > 1) fail(fmt::format("tensor \"{}\" is bool but its storage holds the byte {}, not 0 or 1", shown, b));
          return b == 1;
        });
        break;
    }
    made_.emplace(&t, out);
    return out;
  }

  std::span<const std::byte> bytes_;
  const std::string& source_;
  std::optional<detail::ZipReader> zip_;  // none for a legacy file
  std::unordered_map<std::string, std::span<const std::byte>> legacy_;  // a legacy file's storages, by key
  std::string prefix_;
  std::uint64_t budget_;  // bytes of tensors still allowed
  std::uint64_t visits_left_ = 0;
  std::uint64_t text_budget_ = 16 * bytes_.size() + (1ULL << 20);
  std::unordered_map<const PyValue*, Tensor> made_;
  std::unordered_map<std::string, std::vector<std::byte>> inflated_;  // DEFLATEd storage records, by name
  TensorFile out_;
  bool keep_bf16_ = false;
};

}  // namespace

TensorFile decode_torch(std::span<const std::byte> bytes, const std::string& source, bool keep_bf16) {
  return Loader(bytes, source, keep_bf16).run();
}

TensorFile load_torch(const std::string& path, bool keep_bf16) {
  const std::vector<char> bytes = detail::read_regular_file(path, kMaxFile, "a torch.save file");
  return decode_torch(std::as_bytes(std::span(bytes.data(), bytes.size())), path, keep_bf16);
}

}  // namespace nabla::io
