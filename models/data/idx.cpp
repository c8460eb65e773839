#include "models/data/idx.h"

#include <fmt/format.h>
#include <sys/mman.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

namespace minimax::data {

namespace {

constexpr uint8_t kUnsignedByte = 0x08;
// No IDX data set comes near this; a larger product means a corrupt header, and refusing it keeps
// the extents' product far from overflow.
constexpr int64_t kMaxElements = int64_t{1} << 32;
// gzread takes an unsigned int length: larger reads go in pieces of this size.
constexpr size_t kMaxRead = size_t{1} << 30;
// zlib's documented limit on how much deflate can expand data (1032:1).
constexpr uint64_t kMaxDeflateRatio = 1032;
// zlib reads the file this many bytes at a time, and inflates reads of at least twice that
// straight into the caller's buffer: images are decompressed kChunk bytes at a time (fits in L2).
constexpr unsigned kGzBuffer = 1u << 17;
constexpr size_t kChunk = 2 * kGzBuffer;

[[noreturn]] void fail(const std::string& file, const std::string& problem) {
  throw DataError(fmt::format("IDX file {}: {}", file, problem));
}

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// Opens plain and gzip files alike: zlib passes bytes through when there is no gzip header.
GzFile open_file(const std::string& file) {
  errno = 0;
  GzFile f(gzopen(file.c_str(), "rb"));
  if (!f)
    fail(file, fmt::format("cannot open: {}", errno ? std::strerror(errno) : "out of memory"));
  gzbuffer(f.get(), kGzBuffer);
  return f;
}

// A stream error after a read. zlib reports a gzip stream that stops early as Z_BUF_ERROR without
// failing the read, so this is checked after every short read, not only when gzread returns -1.
void check_stream(gzFile f, const std::string& file) {
  int code = Z_OK;
  const char* message = gzerror(f, &code);
  if (code == Z_OK) return;
  // zlib prefixes the message with the path; ours already names the file.
  std::string detail = message;
  if (detail.starts_with(file + ": ")) detail.erase(0, file.size() + 2);
  if (code == Z_BUF_ERROR) fail(file, "truncated gzip stream (unexpected end of file)");
  if (code == Z_ERRNO) fail(file, fmt::format("read error: {}", std::strerror(errno)));
  fail(file, fmt::format("corrupt gzip stream: {}", detail));
}

// Reads up to n bytes; fewer only at the end of the data.
size_t read_some(gzFile f, uint8_t* out, size_t n, const std::string& file) {
  size_t total = 0;
  while (total < n) {
    auto chunk = static_cast<unsigned>(std::min(n - total, kMaxRead));
    int got = gzread(f, out + total, chunk);
    if (got < 0) check_stream(f, file);
    if (got <= 0) break;
    total += static_cast<size_t>(got);
  }
  if (total < n) check_stream(f, file);
  return total;
}

std::string extents_str(const std::vector<int64_t>& dims) {
  return fmt::format("{}", fmt::join(dims, " x "));
}

// An IDX file opened and its header read: the next byte is the first data byte.
struct IdxStream {
  std::string file;
  GzFile f;
  std::vector<int64_t> dims;
  size_t count = 0;  // data bytes the extents call for
  size_t done = 0;   // data bytes read so far
};

std::vector<int64_t> read_extents(gzFile f, int rank, const std::string& file) {
  std::array<uint8_t, 4> magic{};
  size_t got = read_some(f, magic.data(), magic.size(), file);
  if (got == 0) fail(file, "empty file");
  if (got < magic.size())
    fail(file, fmt::format("truncated: {} bytes, too short for a header", got));
  uint32_t value = uint32_t{magic[0]} << 24 | uint32_t{magic[1]} << 16 | magic[2] << 8 | magic[3];
  uint32_t expected = uint32_t{kUnsignedByte} << 8 | static_cast<uint32_t>(rank);
  if (magic[0] != 0 || magic[1] != 0)
    fail(file, fmt::format("not an IDX file (magic number {:#010x}, expected {:#010x})", value,
                           expected));
  if (magic[2] != kUnsignedByte)
    fail(file, fmt::format("element type {:#04x} is not unsigned bytes ({:#04x})", magic[2],
                           kUnsignedByte));
  if (magic[3] != rank)
    fail(file, fmt::format("rank {}, expected {} (magic number {:#010x}, expected {:#010x})",
                           magic[3], rank, value, expected));

  std::vector<uint8_t> raw(4 * static_cast<size_t>(rank));
  if (read_some(f, raw.data(), raw.size(), file) < raw.size())
    fail(file, fmt::format("truncated in the header: fewer than {} extents", rank));
  std::vector<int64_t> dims(rank);
  int64_t elements = 1;
  for (int i = 0; i < rank; ++i) {
    const uint8_t* p = &raw[4 * i];
    dims[i] = int64_t{p[0]} << 24 | int64_t{p[1]} << 16 | int64_t{p[2]} << 8 | p[3];
    if (dims[i] == 0) fail(file, fmt::format("extent {} of {} is zero", i, rank));
    // Checked before multiplying: the product of two extents can overflow int64.
    if (dims[i] > kMaxElements / elements)
      fail(file, fmt::format("extents {} exceed {} elements (corrupt header?)",
                             extents_str({dims.begin(), dims.begin() + i + 1}), kMaxElements));
    elements *= dims[i];
  }
  return dims;
}

// Refuses, before anything is allocated for them, extents that promise more data than the file
// can hold: exactly what follows the header in a plain file, and at most 1032 times the file's
// size in a gzip one (deflate's largest expansion ratio).
void check_capacity(const IdxStream& s, const std::filesystem::path& path) {
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return;  // not a regular file (a pipe, say): reading will tell
  uint64_t header = 4 + 4 * s.dims.size();
  bool plain = gzdirect(s.f.get()) == 1;
  uint64_t capacity = plain ? size - header : size * kMaxDeflateRatio;
  if (s.count <= capacity) return;
  if (plain)
    fail(s.file, fmt::format("truncated: {} of the {} data bytes that extents {} call for",
                             capacity, s.count, extents_str(s.dims)));
  fail(s.file, fmt::format("extents {} call for {} data bytes, more than a {}-byte gzip file can "
                           "hold (corrupt header?)",
                           extents_str(s.dims), s.count, size));
}

IdxStream open_idx(const std::filesystem::path& path, int rank) {
  if (rank < 1 || rank > 4)
    throw std::invalid_argument(fmt::format("IDX reader: rank {} is not 1 to 4", rank));
  IdxStream s;
  s.file = path.string();
  s.f = open_file(s.file);
  s.dims = read_extents(s.f.get(), rank, s.file);
  s.count = 1;
  for (int64_t d : s.dims) s.count *= static_cast<size_t>(d);
  check_capacity(s, path);
  return s;
}

// The next n data bytes, all of them or a truncation error.
void read_data(IdxStream& s, uint8_t* out, size_t n) {
  size_t got = read_some(s.f.get(), out, n, s.file);
  s.done += got;
  if (got < n)
    fail(s.file, fmt::format("truncated: {} of the {} data bytes that extents {} call for", s.done,
                             s.count, extents_str(s.dims)));
}

// Reads to the end, which also makes zlib verify the gzip trailer's checksum and length.
void expect_end(IdxStream& s) {
  std::array<uint8_t, 1 << 16> scratch;
  size_t extra = 0;
  while (size_t got = read_some(s.f.get(), scratch.data(), scratch.size(), s.file)) extra += got;
  if (extra > 0)
    fail(s.file, fmt::format("{} trailing bytes after the {} data bytes that extents {} call for",
                             extra, s.count, extents_str(s.dims)));
}

// Asks the kernel to back [p, p + bytes) with 2 MiB pages. The image tensor is large (188 MB for
// Fashion-MNIST's training set) and freshly allocated; faulting it in 4 KiB pages cost more than
// the decompression itself on a virtual machine (about 0.8 s against 0.2 s), with huge pages
// it costs a fraction of that. Only a hint: the data and its meaning are unchanged.
void advise_huge_pages(void* p, size_t bytes) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

}  // namespace

IdxBytes read_idx_bytes(const std::filesystem::path& path, int rank) {
  IdxStream s = open_idx(path, rank);
  IdxBytes out{s.dims, std::vector<uint8_t>(s.count)};
  read_data(s, out.values.data(), s.count);
  expect_end(s);
  return out;
}

Tensor load_idx_images(const std::filesystem::path& path) {
  IdxStream s = open_idx(path, 3);
  Tensor images = Tensor::empty({s.dims[0], 1, s.dims[1], s.dims[2]});
  // A table, so that every byte maps to exactly b / 255.0f, as numpy's u8 / float32(255) does.
  std::array<float, 256> scale;
  for (int b = 0; b < 256; ++b) scale[b] = static_cast<float>(b) / 255.0f;
  // Decompress a cache-sized chunk at a time straight into the floats: no whole-file byte buffer.
  std::vector<uint8_t> chunk(std::min<size_t>(s.count, kChunk));
  float* out = images.data();
  advise_huge_pages(out, s.count * sizeof(float));
  for (size_t at = 0; at < s.count; at += chunk.size()) {
    size_t n = std::min(chunk.size(), s.count - at);
    read_data(s, chunk.data(), n);
    for (size_t i = 0; i < n; ++i) out[at + i] = scale[chunk[i]];
  }
  expect_end(s);
  return images;
}

std::vector<uint8_t> load_idx_labels(const std::filesystem::path& path) {
  return read_idx_bytes(path, 1).values;
}

LabelledImages load_idx_dataset(const std::filesystem::path& images,
                                const std::filesystem::path& labels) {
  LabelledImages out{load_idx_images(images), load_idx_labels(labels)};
  if (out.images.size(0) != static_cast<int64_t>(out.labels.size()))
    throw DataError(fmt::format("IDX files {} and {}: {} images but {} labels", images.string(),
                                labels.string(), out.images.size(0), out.labels.size()));
  return out;
}

}  // namespace minimax::data
