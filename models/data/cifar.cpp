#include "models/data/cifar.h"

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace minimax::data {

namespace fs = std::filesystem;

namespace {

// Records read (and converted) at a time: 3 MB, so no whole-file byte buffer is ever held.
constexpr int64_t kRecordsPerChunk = 1024;
constexpr int kClasses = 10;

[[noreturn]] void fail(const fs::path& file, const std::string& problem) {
  throw DataError(fmt::format("CIFAR-10 file {}: {}", file.string(), problem));
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

File open_file(const fs::path& file) {
  errno = 0;
  File f(std::fopen(file.c_str(), "rb"));
  if (!f)
    fail(file, fmt::format("cannot open: {}", errno ? std::strerror(errno) : "unknown error"));
  return f;
}

// The number of records in the file, from its size: the format has no header to read it from.
int64_t count_records(const fs::path& file) {
  std::error_code ec;
  if (fs::is_directory(file, ec)) fail(file, "is a directory, not a file");
  open_file(file);  // a missing or unreadable file reports as what it is, not as a size error
  uint64_t size = fs::file_size(file, ec);
  if (ec) fail(file, fmt::format("cannot read its size: {}", ec.message()));
  if (size == 0) fail(file, "empty file");
  uint64_t records = size / kCifarRecordBytes, rest = size % kCifarRecordBytes;
  if (rest != 0)
    fail(file, fmt::format("{} bytes is not a whole number of {}-byte records ({} records and {} "
                           "bytes over): truncated, or not a CIFAR-10 binary file",
                           size, kCifarRecordBytes, records, rest));
  return static_cast<int64_t>(records);
}

// Reads `records` records into images (floats, [records, 3, 32, 32]) and labels.
void read_records(const fs::path& file, int64_t records, float* images, uint8_t* labels) {
  File f = open_file(file);
  std::array<float, 256> scale;  // every byte maps to exactly b / 255.0f, as the IDX reader
  for (int b = 0; b < 256; ++b) scale[b] = static_cast<float>(b) / 255.0f;
  std::vector<uint8_t> chunk(static_cast<size_t>(std::min(records, kRecordsPerChunk)) *
                             kCifarRecordBytes);
  for (int64_t done = 0; done < records;) {
    int64_t n = std::min(records - done, kRecordsPerChunk);
    size_t want = static_cast<size_t>(n * kCifarRecordBytes);
    size_t got = std::fread(chunk.data(), 1, want, f.get());
    if (got < want) {
      if (std::ferror(f.get())) fail(file, fmt::format("read error: {}", std::strerror(errno)));
      fail(file, fmt::format("truncated while reading: {} of {} bytes",
                             done * kCifarRecordBytes + static_cast<int64_t>(got),
                             records * kCifarRecordBytes));
    }
    for (int64_t r = 0; r < n; ++r) {
      const uint8_t* record = &chunk[r * kCifarRecordBytes];
      if (record[0] >= kClasses)
        fail(file, fmt::format("record {}: label {} is not 0 to {} (not a CIFAR-10 binary file?)",
                               done + r, record[0], kClasses - 1));
      labels[done + r] = record[0];
      float* out = images + (done + r) * kCifarImageBytes;
      for (int64_t i = 0; i < kCifarImageBytes; ++i) out[i] = scale[record[1 + i]];
    }
    done += n;
  }
}

void check_directory(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec))
    throw DataError(fmt::format("CIFAR-10 directory {}: does not exist", dir.string()));
  if (!fs::is_directory(dir, ec))
    throw DataError(fmt::format("CIFAR-10 directory {}: is not a directory", dir.string()));
}

}  // namespace

CifarImages load_cifar10_files(const std::vector<fs::path>& files) {
  if (files.empty()) throw std::invalid_argument("load_cifar10_files: no files");
  std::vector<int64_t> counts;
  int64_t total = 0;
  for (const fs::path& file : files) total += counts.emplace_back(count_records(file));
  CifarImages out{Tensor::empty({total, 3, 32, 32}), std::vector<uint8_t>(total)};
  int64_t at = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    read_records(files[i], counts[i], out.images.data() + at * kCifarImageBytes,
                 out.labels.data() + at);
    at += counts[i];
  }
  return out;
}

std::vector<fs::path> cifar10_training_files(const fs::path& dir) {
  std::vector<fs::path> files;
  for (int i = 1; i <= 5; ++i) files.push_back(dir / fmt::format("data_batch_{}.bin", i));
  return files;
}

CifarImages load_cifar10_training(const fs::path& dir) {
  check_directory(dir);
  return load_cifar10_files(cifar10_training_files(dir));
}

CifarImages load_cifar10_test(const fs::path& dir) {
  check_directory(dir);
  return load_cifar10_files({dir / "test_batch.bin"});
}

}  // namespace minimax::data
