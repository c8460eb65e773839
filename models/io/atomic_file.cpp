#include "models/io/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace minimax::io {

namespace {

std::string failed(const char* action) {
  return fmt::format("{}: {}", action, std::strerror(errno));
}

// Returns an empty string or what failed.
std::string write_all(int fd, std::initializer_list<std::span<const unsigned char>> pieces) {
  for (std::span<const unsigned char> bytes : pieces)
    while (!bytes.empty()) {
      ssize_t n = ::write(fd, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return failed("write failed");
      }
      bytes = bytes.subspan(static_cast<size_t>(n));
    }
  if (::fsync(fd) != 0) return failed("fsync failed");
  return "";
}

// Makes the rename itself durable. Failing to open the directory is not fatal: the new file is
// already in place.
void sync_directory(const std::filesystem::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// An unnamed file in `dir` (O_TMPFILE): a process killed while writing it leaves nothing behind.
// Returns -1 where the file system has no O_TMPFILE, or when /proc (needed to name the file
// afterwards) is not mounted.
int open_unnamed(const std::filesystem::path& dir) {
#ifdef O_TMPFILE
  static const bool proc_mounted = ::access("/proc/self/fd", F_OK) == 0;
  if (proc_mounted) return ::open(dir.empty() ? "." : dir.c_str(), O_TMPFILE | O_WRONLY, 0644);
#endif
  (void)dir;
  return -1;
}

// Gives the unnamed file `fd` a fresh name beside `path`; returns it, or "" with errno set.
std::string name_unnamed(int fd, const std::filesystem::path& path) {
  std::string proc = fmt::format("/proc/self/fd/{}", fd);
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string name = fmt::format("{}.tmp.{}.{}", path.string(), ::getpid(), attempt);
    if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, name.c_str(), AT_SYMLINK_FOLLOW) == 0)
      return name;
    if (errno != EEXIST) return "";
  }
  return "";
}

}  // namespace

std::string write_file_atomically(const std::filesystem::path& path,
                                  std::initializer_list<std::span<const unsigned char>> pieces) {
  // The data is written unnamed where the system allows it, and named (linkat) only once synced,
  // just before the rename: a kill mid-write, or a Ctrl-C, leaves no temporary file. Elsewhere
  // mkstemp gives a named file no other writer (thread or process) can be using at the same time.
  int fd = open_unnamed(path.parent_path());
  bool unnamed = fd >= 0;
  std::string tmp;
  if (!unnamed) {
    tmp = path.string() + ".tmp.XXXXXX";
    fd = ::mkstemp(tmp.data());
    if (fd < 0) return failed("cannot create a temporary file beside it");
  }
  // mkstemp creates the file private (0600), and O_TMPFILE's mode passes through the umask; the
  // result is an ordinary output file either way.
  ::fchmod(fd, 0644);
  std::string problem = write_all(fd, pieces);
  if (problem.empty() && unnamed) {
    tmp = name_unnamed(fd, path);
    if (tmp.empty()) problem = failed("cannot name the temporary file beside it");
  }
  if (::close(fd) != 0 && problem.empty()) problem = failed("close failed");
  if (problem.empty() && ::rename(tmp.c_str(), path.c_str()) != 0)
    problem = failed("rename failed");
  if (!problem.empty()) {
    if (!tmp.empty()) ::unlink(tmp.c_str());
    return problem;
  }
  sync_directory(path.parent_path());
  return "";
}

void write_text_file_atomically(const std::filesystem::path& path, std::string_view text) {
  std::string problem = write_file_atomically(
      path, {std::span(reinterpret_cast<const unsigned char*>(text.data()), text.size())});
  if (!problem.empty()) throw std::runtime_error("cannot write " + path.string() + ": " + problem);
}

}  // namespace minimax::io
