// The fuzzer's input as a file, for the readers that take a path: an anonymous in-memory file
// (memfd_create) that the readers open as /proc/self/fd/N, so an input never touches the disk and
// nothing is left behind, whatever the reader does.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace minimax::fuzz {

class InputFile {
 public:
  InputFile(const uint8_t* data, size_t size) : fd_(::memfd_create("minimax-fuzz-input", 0)) {
    if (fd_ < 0) harness_failure("memfd_create");
    for (size_t done = 0; done < size;) {
      ssize_t n = ::write(fd_, data + done, size - done);
      if (n <= 0) harness_failure("write");
      done += static_cast<size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~InputFile() { ::close(fd_); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  // Not a finding about the reader: stop the run loudly rather than fuzz nothing.
  [[noreturn]] static void harness_failure(const char* call) {
    std::perror(call);
    std::abort();
  }

  int fd_;
  std::filesystem::path path_;
};

}  // namespace minimax::fuzz
