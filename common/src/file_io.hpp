// Internal: bounded file reads and atomic file writes (POSIX), shared by crypto and artifact.
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/result.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

namespace edgefed::detail {

inline Error io_failure(const std::filesystem::path& path, std::string_view what) {
  return Error{ErrorCode::io_error,
               std::string(what) + " '" + path.string() + "': " + std::strerror(errno)};
}

// Closes a POSIX descriptor on scope exit.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting the error close() may carry for buffered writes.
  bool close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

// Reads a whole regular file of at most `max_bytes`. The size is checked with fstat before
// anything is allocated, and the read stops at max_bytes + 1 in case the file grows.
// Errors: io_error (missing, unreadable, not a regular file), too_large.
inline Result<Bytes> read_file_bounded(const std::filesystem::path& path, std::size_t max_bytes) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return io_failure(path, "cannot open");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return io_failure(path, "cannot stat");
  if (!S_ISREG(st.st_mode)) {
    return fail(ErrorCode::io_error, "'" + path.string() + "' is not a regular file");
  }
  const auto too_large = [&] {
    return fail(ErrorCode::too_large, "'" + path.string() + "' exceeds the limit of " +
                                          std::to_string(max_bytes) + " bytes");
  };
  if (static_cast<std::uintmax_t>(st.st_size) > max_bytes) return too_large();
  Bytes out(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  for (;;) {
    if (got == out.size()) {
      // Expected end of file; probe, since the file may have grown since fstat.
      std::uint8_t probe;
      const ssize_t n = ::read(fd.get(), &probe, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return io_failure(path, "cannot read");
      if (n == 0) break;
      if (got >= max_bytes) return too_large();
      out.push_back(probe);
      ++got;
      out.resize(std::min(max_bytes, got + 65536));
      continue;
    }
    const ssize_t n = ::read(fd.get(), out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_failure(path, "cannot read");
    if (n == 0) break;  // the file shrank since fstat
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

// Writes `bytes` to `path` atomically: a temporary file in the same directory, created with
// `mode`, written, fsynced and renamed over `path`; then the directory is fsynced. On error
// the temporary file is removed and `path` is untouched. Errors: io_error.
inline Status write_file_atomic(const std::filesystem::path& path, ByteSpan bytes, mode_t mode) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::string tmp = (dir / ("." + path.filename().string() + ".tmp.XXXXXX")).string();
  FileDescriptor fd(::mkstemp(tmp.data()));  // mkstemp creates with mode 0600
  if (fd.get() < 0) return io_failure(path, "cannot create a temporary file for");
  const auto abandon = [&](std::string_view what) {
    Error e = io_failure(path, what);
    ::unlink(tmp.c_str());
    return e;
  };
  if (::fchmod(fd.get(), mode) != 0) return abandon("cannot set the mode of");
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return abandon("cannot write");
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return abandon("cannot fsync");
  if (!fd.close()) return abandon("cannot close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return abandon("cannot rename onto");
  // Make the rename itself durable. Failure here leaves a complete file, so only report it.
  FileDescriptor dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0 || ::fsync(dir_fd.get()) != 0) return io_failure(dir, "cannot fsync");
  return {};
}

}  // namespace edgefed::detail
