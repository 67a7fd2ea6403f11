// src/io/pickle.hpp — a reader of the pickles torch.save writes (data.pkl), which executes nothing.
//
// Python's unpickler is a virtual machine that imports and calls whatever a file names; this one is
// a stack machine over the opcodes a state dict needs (protocols 2 to 5: containers, strings,
// numbers, the memo, persistent ids) that builds plain values. GLOBAL and STACK_GLOBAL may name only
// what a state dict holds — collections.OrderedDict, torch._utils._rebuild_tensor_v2 (and
// _rebuild_tensor, _rebuild_parameter, _rebuild_parameter_with_state), torch.Size, torch.device,
// the storage types (torch.FloatStorage, …), dtypes (torch.float32, …) and _codecs.encode (protocol
// 2's bytes objects, made from a latin-1 string) — and REDUCE and BUILD act
// only on those, as data: a "tensor" here is the description _rebuild_tensor_v2 was given (storage,
// offset, sizes, strides), not a call. Any other global or opcode is an IoError naming it, its byte
// offset and the file. Sizes are bounded: strings by the bytes left, the objects made by kMaxObjects;
// nothing recurses (the machine is a loop; the values live in an arena, so a list that contains
// itself is harmless here and a depth error where it is walked).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

namespace nabla::io::detail {

/// The element types of torch's storages.
enum class StorageType : std::uint8_t { f32, f64, f16, bf16, i64, i32, i16, i8, u8, b8 };
std::size_t element_size(StorageType t);
const char* storage_type_name(StorageType t);  // "FloatStorage"

struct PyValue {
  enum class Kind : std::uint8_t {
    none, boolean, integer, floating, string, bytes, tuple, list, dict,
    global,   // a name on the allowlist (`text` is "module.name"), as a value: a dtype, a storage type, …
    storage,  // a persistent id ('storage', type, key, location, numel[, None]): `text` the key, `integer` numel
    tensor,   // what _rebuild_tensor_v2 was given: items[0] the storage, `integer` the offset, sizes, strides
  };
  Kind kind = Kind::none;
  bool boolean = false;
  std::int64_t integer = 0;
  double floating = 0;
  std::string text;
  std::vector<PyValue*> items;  // tuple and list elements; a dict's keys and values, interleaved
  std::vector<std::int64_t> sizes, strides;  // a tensor's
  StorageType storage_type = StorageType::f32;  // a storage's, or a storage type global's
  int global_id = 0;                            // which allowlisted global (pickle.cpp)
};

struct Pickle {
  std::deque<PyValue> arena;  // owns every value
  const PyValue* root = nullptr;
  std::size_t opcodes = 0;  // executed, for bounds on walking the result
  std::size_t end = 0;      // the bytes read, STOP included (the legacy format has pickles in a row)
};

/// The most values one pickle may make (each costs ~150 bytes; a state dict makes a dozen per tensor).
inline constexpr std::size_t kMaxObjects = std::size_t(1) << 22;

/// Runs the pickle in `bytes` up to its STOP. `source` names it in errors ("\"net.pt\": data.pkl: ...").
Pickle read_pickle(std::span<const std::byte> bytes, const std::string& source);

/// A bounded, printable excerpt of a name a file chose: at most 80 characters, control bytes escaped.
std::string printable(const std::string& s);

}  // namespace nabla::io::detail
