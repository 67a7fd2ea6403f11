// fuzz/idx_fuzz.cpp — libFuzzer harness: the IDX reader, plain and gzip. The first input byte picks
// the mode: even, the rest is the file as it is (zlib reads gzip streams and passes anything else
// through); odd, the rest is gzip-compressed first, so that the fuzzer explores IDX headers behind
// gzip (bombs included) as easily as plain ones. The file lives in memory (memfd), opened by path
// as a user's file would be. A refusal must be a nabla::Error; an accepted file's data must be
// exactly the size its dimensions promise.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nabla/nabla.hpp>
#include <zlib.h>

#include "fuzz_util.hpp"

namespace {

std::vector<std::uint8_t> gzip(const std::uint8_t* data, std::size_t size) {
  z_stream z{};
  fuzz_check(deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK, "deflateInit2");
  std::vector<std::uint8_t> out(deflateBound(&z, static_cast<uLong>(size)) + 32);
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = static_cast<uInt>(size);
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  fuzz_check(deflate(&z, Z_FINISH) == Z_STREAM_END, "deflate");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::vector<std::uint8_t> file = (data[0] & 1) ? gzip(data + 1, size - 1) : std::vector<std::uint8_t>(data + 1, data + size);
  static const int fd = memfd_create("idx", MFD_CLOEXEC);
  fuzz_check(fd >= 0, "memfd_create");
  fuzz_check(ftruncate(fd, 0) == 0 && pwrite(fd, file.data(), file.size(), 0) == static_cast<ssize_t>(file.size()), "write");
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    const nabla::data::IdxU8 idx = nabla::data::read_idx_u8(path);
    std::uint64_t total = 1;
    for (std::int64_t d : idx.dims) total *= static_cast<std::uint64_t>(d);
    fuzz_check(total == idx.bytes.size(), "the data is not the size the dimensions promise");
  } catch (const nabla::Error&) {
  }
  return 0;
}
