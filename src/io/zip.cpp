// src/io/zip.cpp — the zip reader of torch.save archives (see zip.hpp for why it is nabla's own).
#include "zip.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <utility>

#include <fmt/format.h>
#include <zlib.h>

#include "file.hpp"
#include "nabla/error.hpp"

namespace nabla::io::detail {

namespace {

constexpr std::uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr std::uint32_t kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50;
constexpr std::size_t kEndSize = 22, kLocatorSize = 20, kEnd64Size = 56, kCentralSize = 46, kLocalSize = 30;

std::uint64_t le(const std::byte* p, int n) {
  std::uint64_t v = 0;
  for (int k = n - 1; k >= 0; --k) v = (v << 8) | std::to_integer<std::uint64_t>(p[k]);
  return v;
}

}  // namespace

void ZipReader::fail(const std::string& what) const {
  throw IoError(fmt::format("\"{}\": {}", source_, what));
}

ZipReader::ZipReader(std::span<const std::byte> bytes, std::string source) : bytes_(bytes), source_(std::move(source)) {
  const std::uint64_t size = bytes_.size();
  if (size < kEndSize) fail(fmt::format("{} bytes is too short for a zip archive", size));
  // The end-of-central-directory record: the last 22 bytes, or earlier by a comment of at most 64 KiB.
  std::uint64_t end = size;  // none yet
  const std::uint64_t lowest = size - kEndSize > 0xffff ? size - kEndSize - 0xffff : 0;
  for (std::uint64_t at = size - kEndSize + 1; at-- > lowest;) {
    if (le(&bytes_[at], 4) == kEndSig && at + kEndSize + le(&bytes_[at + 20], 2) <= size) {
      end = at;
      break;
    }
  }
  if (end == size) fail("not a zip archive (no end of central directory record)");
  const std::byte* e = &bytes_[end];
  std::uint64_t count = le(e + 10, 2), cd_size = le(e + 12, 4), cd_offset = le(e + 16, 4);
  const bool multi_disk = le(e + 4, 2) != 0 || le(e + 6, 2) != 0 || le(e + 8, 2) != count;
  // ZIP64: the locator just before the end record points at the ZIP64 end record. A count of 0xffff
  // without a locator is an archive of exactly 65,535 records.
  const bool has_locator = end >= kLocatorSize && le(&bytes_[end - kLocatorSize], 4) == kLocator64Sig;
  if ((count == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) && has_locator) {
    const std::uint64_t at = le(&bytes_[end - kLocatorSize + 8], 8);
    if (at > size - kLocatorSize || size - kLocatorSize - at < kEnd64Size || le(&bytes_[at], 4) != kEnd64Sig) {
      fail(fmt::format("the ZIP64 end of central directory at byte {} lies outside the archive or is not one", at));
    }
    const std::byte* z = &bytes_[at];
    if (le(z + 16, 4) != 0 || le(z + 20, 4) != 0 || le(z + 24, 8) != le(z + 32, 8)) fail("multi-disk zip archives are not read");
    count = le(z + 32, 8);
    cd_size = le(z + 40, 8);
    cd_offset = le(z + 48, 8);
  } else if (cd_size == 0xffffffff || cd_offset == 0xffffffff) {
    fail("the end of central directory asks for ZIP64, but there is no ZIP64 locator");
  } else if (multi_disk) {
    fail("multi-disk zip archives are not read");
  }
  if (cd_offset > size || cd_size > size - cd_offset) {
    fail(fmt::format("the central directory (bytes [{}, {} + {})) lies outside the archive of {} bytes", cd_offset, cd_offset, cd_size, size));
  }
  if (count > cd_size / kCentralSize) fail(fmt::format("{} records cannot fit in a central directory of {} bytes", count, cd_size));
  read_central_directory(cd_offset, cd_size, count);
}

void ZipReader::read_central_directory(std::uint64_t offset, std::uint64_t cd_size, std::uint64_t count) {
  const std::uint64_t size = bytes_.size(), cd_end = offset + cd_size;
  entries_.reserve(static_cast<std::size_t>(count));
  std::uint64_t at = offset;
  for (std::uint64_t k = 0; k < count; ++k) {
    if (cd_end - at < kCentralSize || le(&bytes_[at], 4) != kCentralSig) {
      fail(fmt::format("central directory record {} of {} (byte {}) is truncated or not one", k, count, at));
    }
    const std::byte* c = &bytes_[at];
    const std::uint64_t flags = le(c + 8, 2), method = le(c + 10, 2), name_len = le(c + 28, 2);
    const std::uint64_t extra_len = le(c + 30, 2), comment_len = le(c + 32, 2);
    std::uint64_t compressed = le(c + 20, 4), plain_size = le(c + 24, 4), local = le(c + 42, 4);
    if (cd_end - at - kCentralSize < name_len + extra_len + comment_len) fail(fmt::format("central directory record {} runs past the directory", k));
    ZipEntry entry;
    entry.name.assign(reinterpret_cast<const char*>(c + kCentralSize), name_len);
    const std::string shown = entry.name.size() <= 80 ? entry.name : entry.name.substr(0, 77) + "...";
    // ZIP64 extra field (id 1): the 8-byte values of those fields that are 0xffffffff, in order.
    if (compressed == 0xffffffff || plain_size == 0xffffffff || local == 0xffffffff) {
      const std::byte* x = c + kCentralSize + name_len;
      const std::byte* x_end = x + extra_len;
      bool found = false;
      while (x_end - x >= 4) {
        const std::uint64_t id = le(x, 2), len = le(x + 2, 2);
        if (static_cast<std::uint64_t>(x_end - x - 4) < len) break;
        if (id == 1) {
          const std::byte* v = x + 4;
          std::uint64_t left = len;
          for (std::uint64_t* field : {&plain_size, &compressed, &local}) {
            if (*field != 0xffffffff) continue;
            if (left < 8) fail(fmt::format("record \"{}\": its ZIP64 extra field is too short", shown));
            *field = le(v, 8);
            v += 8;
            left -= 8;
          }
          found = true;
          break;
        }
        x += 4 + len;
      }
      if (!found) fail(fmt::format("record \"{}\" has 32-bit sizes of 0xffffffff but no ZIP64 extra field", shown));
    }
    if (flags & 1u) fail(fmt::format("record \"{}\" is encrypted", shown));
    if (method != 0 && method != 8) fail(fmt::format("record \"{}\" is compressed with method {}; nabla reads STORED (0) and DEFLATE (8)", shown, method));
    if (method == 0 && compressed != plain_size) {
      fail(fmt::format("record \"{}\" is STORED but its sizes differ ({} and {} bytes)", shown, compressed, plain_size));
    }
    // Its local header: the name again, then its own extra field (torch.save pads there to align the data).
    if (local > size || size - local < kLocalSize || le(&bytes_[local], 4) != kLocalSig) {
      fail(fmt::format("record \"{}\": its local header at byte {} lies outside the archive or is not one", shown, local));
    }
    const std::uint64_t local_name = le(&bytes_[local + 26], 2), local_extra = le(&bytes_[local + 28], 2);
    if (size - local - kLocalSize < local_name + local_extra) fail(fmt::format("record \"{}\": its local header runs past the archive", shown));
    if (local_name != name_len || std::memcmp(&bytes_[local + kLocalSize], entry.name.data(), name_len) != 0) {
      fail(fmt::format("record \"{}\": its local header names another record", shown));
    }
    entry.data_offset = local + kLocalSize + local_name + local_extra;
    if (compressed > size - entry.data_offset) {
      fail(fmt::format("record \"{}\" says {} bytes at byte {}; the archive has {} left", shown, compressed, entry.data_offset,
                       size - entry.data_offset));
    }
    // DEFLATE expands at most 1032-fold: a larger stated size is a lie, refused before any allocation.
    if (method == 8 && plain_size / 1032 > compressed + 1) {
      fail(fmt::format("record \"{}\" says {} bytes inflate to {}, more than DEFLATE can", shown, compressed, plain_size));
    }
    entry.compressed_size = compressed;
    entry.size = plain_size;
    entry.deflated = method == 8;
    if (!by_name_.emplace(entry.name, entries_.size()).second) fail(fmt::format("two records are named \"{}\"", shown));
    entries_.push_back(std::move(entry));
    at += kCentralSize + name_len + extra_len + comment_len;
  }
}

const ZipEntry* ZipReader::find(const std::string& name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &entries_[it->second];
}

std::span<const std::byte> ZipReader::read(const ZipEntry& e, std::vector<std::byte>& buffer) const {
  const std::span<const std::byte> stored = bytes_.subspan(e.data_offset, e.compressed_size);
  if (!e.deflated) return stored;
  try {
    buffer.resize(e.size + 1);  // a spare byte: room to see a stream that is too long, and to end an empty one
  } catch (const std::bad_alloc&) {
    fail(fmt::format("cannot allocate {} to inflate \"{}\"", bytes_text(e.size), e.name));
  }
  z_stream z{};
  if (inflateInit2(&z, -15) != Z_OK) fail("zlib cannot start inflating");
  std::uint64_t in_done = 0, out_done = 0;
  int rc = Z_OK;
  constexpr std::uint64_t kChunk = std::numeric_limits<uInt>::max();
  while (rc == Z_OK) {
    const std::uint64_t in_left = e.compressed_size - in_done, out_left = e.size + 1 - out_done;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(stored.data() + in_done));
    z.avail_in = static_cast<uInt>(std::min(in_left, kChunk));
    z.next_out = reinterpret_cast<Bytef*>(buffer.data() + out_done);
    z.avail_out = static_cast<uInt>(std::min(out_left, kChunk));
    const uInt in_before = z.avail_in, out_before = z.avail_out;
    rc = inflate(&z, Z_NO_FLUSH);
    in_done += in_before - z.avail_in;
    out_done += out_before - z.avail_out;
    if (rc == Z_OK && in_before == z.avail_in && out_before == z.avail_out) rc = Z_BUF_ERROR;  // no progress
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END || out_done != e.size) {
    fail(fmt::format("record \"{}\" does not inflate to its stated {} bytes (it gives {})", e.name, e.size,
                     rc == Z_STREAM_END ? fmt::format("{} bytes", out_done) : rc == Z_DATA_ERROR ? "corrupt data" : "truncated or too long"));
  }
  buffer.resize(e.size);
  return std::span<const std::byte>(buffer.data(), buffer.size());
}

}  // namespace nabla::io::detail
