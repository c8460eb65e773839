#include "models/io/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

}  // namespace

std::string write_file_atomically(const std::filesystem::path& path,
                                  std::initializer_list<std::span<const unsigned char>> pieces) {
  // mkstemp gives a name no other writer (thread or process) can be using at the same time.
  std::string tmp = path.string() + ".tmp.XXXXXX";
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) return failed("cannot create a temporary file beside it");
  // mkstemp creates the file private (0600); an image or array is an ordinary output file.
  ::fchmod(fd, 0644);
  std::string problem = write_all(fd, pieces);
  if (::close(fd) != 0 && problem.empty()) problem = failed("close failed");
  if (problem.empty() && ::rename(tmp.c_str(), path.c_str()) != 0)
    problem = failed("rename failed");
  if (!problem.empty()) {
    ::unlink(tmp.c_str());
    return problem;
  }
  sync_directory(path.parent_path());
  return "";
}

}  // namespace minimax::io
