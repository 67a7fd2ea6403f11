// src/io/zip.hpp — a reader of zip archives held in memory, for the archives torch.save writes.
//
// Why not libzip or minizip (both in Debian): torch.save writes every record STORED (uncompressed,
// 64-byte aligned), so reading one is finding it in the central directory and taking a slice of the
// file — a few hundred lines here, each length and offset checked against the buffer, no copy of a
// record, no new dependency for nabla's users to install (libzip would be one more package in
// every build and in the installed CMake package), and a code path the libFuzzer harness reaches
// whole. DEFLATE records (an archive re-zipped by another tool) are inflated with zlib, which nabla
// already links. ZIP64 (archives over 4 GiB or 65,535 records) is read; encryption, multi-disk
// archives and other compression methods are refused. CRC-32s are not checked, as torch.load does
// not: PyTorch writes archives without them (torch.serialization.set_crc32_options(False)).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace nabla::io::detail {

struct ZipEntry {
  std::string name;
  std::uint64_t data_offset = 0;      // of the record's bytes in the archive
  std::uint64_t compressed_size = 0;  // its bytes in the archive
  std::uint64_t size = 0;             // its bytes once read
  bool deflated = false;
};

class ZipReader {
 public:
  /// Reads the central directory of `bytes` (kept by reference: it must outlive the reader) and
  /// every local header it points to. An IoError naming `source` for anything malformed: no end of
  /// central directory, a count or offset past the buffer, a record whose data lies outside it, two
  /// records of one name, an encrypted record, an unknown compression method.
  ZipReader(std::span<const std::byte> bytes, std::string source);

  /// In central-directory order.
  const std::vector<ZipEntry>& entries() const { return entries_; }
  /// The record named `name`, or nullptr.
  const ZipEntry* find(const std::string& name) const;
  /// The bytes of a record: a slice of the archive for a STORED one; a DEFLATEd one is inflated
  /// into `buffer` (exactly its stated size, or an IoError) and the slice is of that.
  std::span<const std::byte> read(const ZipEntry& e, std::vector<std::byte>& buffer) const;

 private:
  [[noreturn]] void fail(const std::string& what) const;
  void read_central_directory(std::uint64_t offset, std::uint64_t size, std::uint64_t count);

  std::span<const std::byte> bytes_;
  std::string source_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, std::size_t> by_name_;
};

}  // namespace nabla::io::detail
