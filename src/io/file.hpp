// src/io/file.hpp — reading files that may come from anywhere: only regular files, never blocking,
// every failure an IoError naming the file, every size bounded before it is allocated.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nabla::io::detail {

/// An open file descriptor, closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  ~Fd();
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

/// Opens `path` for reading. A FIFO, socket, device or directory is refused (the open itself does not
/// block: O_NONBLOCK, cleared once the file is known to be regular), as is a missing file, a symlink
/// loop, a name too long or a directory that cannot be searched: an IoError naming the file and the
/// system's reason. `size` receives the file's size.
Fd open_regular(const std::string& path, std::uint64_t& size);

/// The whole of a regular file of at most `max_bytes` bytes (`what` names the kind of file in the
/// refusal of a larger one). A short read (the file shrank) is an IoError too.
std::vector<char> read_regular_file(const std::string& path, std::uint64_t max_bytes, const char* what);

/// Whether `path` names something (a file, a directory, a dangling symlink does not), with no
/// exception for a name the system cannot look up: those are "not there" and the open that
/// follows says why.
bool exists(const std::string& path);
/// Whether `path` is a directory; the same error handling as exists().
bool is_directory(const std::string& path);

/// A byte count for messages: "1.5 GiB", "784 bytes".
std::string bytes_text(std::uint64_t n);

}  // namespace nabla::io::detail
