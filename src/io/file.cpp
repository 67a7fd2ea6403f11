// src/io/file.cpp — opening and reading untrusted files (see file.hpp).
#include "file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include <fmt/format.h>

#include "nabla/error.hpp"

namespace nabla::io::detail {

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {
const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}
}  // namespace

Fd open_regular(const std::string& path, std::uint64_t& size) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
  int raw = -1;
  do {
    raw = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  } while (raw < 0 && errno == EINTR);
  if (raw < 0) {
    if (errno == ENOENT) throw IoError(fmt::format("\"{}\": no such file", path));
    throw IoError(fmt::format("\"{}\": cannot open: {}", path, std::strerror(errno)));
  }
  Fd fd(raw);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw IoError(fmt::format("\"{}\": cannot stat: {}", path, std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) {
    throw IoError(fmt::format("\"{}\" is {}; expected a regular file", path, kind_of(st.st_mode)));
  }
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    throw IoError(fmt::format("\"{}\": cannot open: {}", path, std::strerror(errno)));
  }
  size = static_cast<std::uint64_t>(st.st_size);
  return fd;
}

std::vector<char> read_regular_file(const std::string& path, std::uint64_t max_bytes, const char* what) {
  std::uint64_t size = 0;
  Fd fd = open_regular(path, size);
  if (size > max_bytes) {
    throw IoError(fmt::format("\"{}\" is {}; nabla reads {} of at most {}", path, bytes_text(size), what, bytes_text(max_bytes)));
  }
  std::vector<char> bytes;
  try {
    bytes.resize(static_cast<std::size_t>(size));
  } catch (const std::bad_alloc&) {
    throw IoError(fmt::format("\"{}\": cannot allocate {} to read it", path, bytes_text(size)));
  }
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw IoError(fmt::format("\"{}\": cannot read: {}", path, std::strerror(errno)));
    if (n == 0) throw IoError(fmt::format("\"{}\": the file shrank while being read ({} of {} bytes)", path, done, size));
    done += static_cast<std::size_t>(n);
  }
  return bytes;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string bytes_text(std::uint64_t n) {
  if (n < 1024) return fmt::format("{} bytes", n);
  static constexpr const char* kUnit[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = double(n) / 1024.0;
  int u = 0;
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    ++u;
  }
  return fmt::format("{:.1f} {} ({} bytes)", v, kUnit[u], n);
}

}  // namespace nabla::io::detail
