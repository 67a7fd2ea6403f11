// src/onnx/protobuf.hpp — the few protobuf wire-format writes an ONNX model needs (internal).
//
// A message is a byte string of fields; each field is a key (field number << 3 | wire type) then a
// varint (type 0), 4 little-endian bytes (type 5, float) or a length and bytes (type 2: strings,
// bytes, nested messages). Repeated fields are written one key per element (proto2, as onnx.proto).
// The field numbers are onnx.proto's (ONNX 1.14+, IR version 8).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace nabla::onnx::pb {

class Message {
 public:
  void varint(std::uint32_t field, std::uint64_t v) {
    key(field, 0);
    raw_varint(v);
  }
  void int64(std::uint32_t field, std::int64_t v) { varint(field, static_cast<std::uint64_t>(v)); }
  void float32(std::uint32_t field, float v) {
    key(field, 5);
    const auto u = std::bit_cast<std::uint32_t>(v);
    for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<char>((u >> (8 * i)) & 0xFFU));
  }
  void bytes(std::uint32_t field, std::string_view s) {
    key(field, 2);
    raw_varint(s.size());
    bytes_.append(s);
  }
  void message(std::uint32_t field, const Message& m) { bytes(field, m.bytes_); }
  const std::string& str() const { return bytes_; }

 private:
  void key(std::uint32_t field, std::uint32_t wire) { raw_varint((std::uint64_t{field} << 3U) | wire); }
  void raw_varint(std::uint64_t v) {
    while (v >= 0x80) {
      bytes_.push_back(static_cast<char>((v & 0x7FU) | 0x80U));
      v >>= 7U;
    }
    bytes_.push_back(static_cast<char>(v));
  }
  std::string bytes_;
};

}  // namespace nabla::onnx::pb
