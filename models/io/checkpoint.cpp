#include "models/io/checkpoint.h"

#include <fmt/format.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <span>

#include "models/io/atomic_file.h"

namespace minimax {

namespace {

constexpr char kMagic[8] = {'M', 'M', 'X', 'C', 'K', 'P', 'T', '1'};
constexpr size_t kHeaderBytes = sizeof(kMagic) + sizeof(uint32_t) + sizeof(uint64_t);

// ---- serialization into a byte buffer ----

class Writer {
 public:
  template <class T>
  void put(const T& v) {
    const auto* p = reinterpret_cast<const char*>(&v);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  void put_bytes(const void* data, size_t n) {
    const auto* p = static_cast<const char*>(data);
    bytes_.insert(bytes_.end(), p, p + n);
  }
  void put_name(const std::string& s) {
    put(static_cast<uint32_t>(s.size()));
    put_bytes(s.data(), s.size());
  }
  std::vector<char>& bytes() { return bytes_; }

 private:
  std::vector<char> bytes_;
};

// A cursor over a checkpoint's bytes that refuses, before copying or allocating anything, to read
// past their end. Every error names the file and what was being read.
class Reader {
 public:
  Reader(std::span<const char> bytes, const std::string& file)
      : p_(bytes.data()), end_(bytes.data() + bytes.size()), file_(file) {}

  uint64_t remaining() const { return static_cast<uint64_t>(end_ - p_); }
  bool at_end() const { return p_ == end_; }

  [[noreturn]] void fail(const std::string& problem) const {
    throw CheckpointError(fmt::format("checkpoint {}: {}", file_, problem));
  }

  // The next n bytes, or a truncation error naming `what` they were to hold.
  std::span<const char> take(uint64_t n, std::string_view what) {
    if (n > remaining())
      fail(fmt::format("truncated in {}: it needs {} bytes, {} remain", what, n, remaining()));
    std::span<const char> bytes(p_, static_cast<size_t>(n));
    p_ += n;
    return bytes;
  }
  template <class T>
  T get(std::string_view what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what).data(), sizeof(T));
    return v;
  }
  std::string get_string(uint64_t n, std::string_view what) {
    std::span<const char> bytes = take(n, what);
    return {bytes.begin(), bytes.end()};
  }
  std::string get_name(std::string_view what) { return get_string(get<uint32_t>(what), what); }

 private:
  const char* p_;
  const char* end_;
  const std::string& file_;
};

std::vector<char> serialize_payload(const Checkpoint& c) {
  Writer w;
  w.put(static_cast<uint64_t>(c.tensors.size()));
  for (const auto& [name, t] : c.tensors) {
    w.put_name(name);
    w.put(static_cast<uint32_t>(t.dim()));
    for (int64_t d : t.shape()) w.put(d);
    w.put_bytes(t.data(), t.numel() * sizeof(float));
  }
  w.put(static_cast<uint64_t>(c.words.size()));
  for (const auto& [name, values] : c.words) {
    w.put_name(name);
    w.put(static_cast<uint64_t>(values.size()));
    w.put_bytes(values.data(), values.size() * sizeof(uint64_t));
  }
  w.put(static_cast<uint64_t>(c.strings.size()));
  for (const auto& [name, s] : c.strings) {
    w.put_name(name);
    w.put(static_cast<uint64_t>(s.size()));
    w.put_bytes(s.data(), s.size());
  }
  return std::move(w.bytes());
}

// The fewest bytes an entry takes after the section's count: a u32 name length and a u32 rank
// (tensors) or a u64 count (word lists, strings). A count of more entries than could fit in what
// remains is refused at once.
constexpr uint64_t kMinTensorEntry = 4 + 4;
constexpr uint64_t kMinListEntry = 4 + 8;
// The largest number of elements a stored shape may describe, zero extents left out: numel * 4
// bytes, and every stride, stay far from overflowing int64.
constexpr uint64_t kMaxElements = uint64_t{1} << 56;

uint64_t read_count(Reader& r, const char* entries, uint64_t min_entry_bytes) {
  uint64_t n = r.get<uint64_t>(fmt::format("the number of {}", entries));
  if (n > r.remaining() / min_entry_bytes)
    r.fail(fmt::format("the payload claims {} {}, but only {} bytes follow (corrupt file)", n,
                       entries, r.remaining()));
  return n;
}

template <class Value>
void insert_new(std::map<std::string, Value>& map, std::string name, Value value, Reader& r,
                const char* kind) {
  std::string shown = name;
  if (!map.emplace(std::move(name), std::move(value)).second)
    r.fail(fmt::format("two {} named '{}' (corrupt file)", kind, shown));
}

// A stored tensor's shape, checked as it is read: rank, no negative extent, and an element count
// bounded before it is multiplied out.
Shape read_shape(Reader& r, const std::string& entry) {
  uint32_t rank = r.get<uint32_t>(entry + "'s rank");
  if (rank > static_cast<uint32_t>(Shape::kMaxDims))
    r.fail(fmt::format("{} has rank {}, more than {}", entry, rank, Shape::kMaxDims));
  Shape shape;
  uint64_t elements = 1;  // of the non-zero extents
  for (uint32_t k = 0; k < rank; ++k) {
    int64_t d = r.get<int64_t>(entry + "'s extents");
    if (d < 0) r.fail(fmt::format("{} has a negative extent, {}", entry, d));
    shape.push_back(d);
    if (d == 0) continue;
    if (static_cast<uint64_t>(d) > kMaxElements / elements)
      r.fail(fmt::format("{} has extents starting {}: more than 2^56 elements (corrupt file)",
                         entry, shape.str()));
    elements *= static_cast<uint64_t>(d);
  }
  return shape;
}

void read_tensor(Reader& r, uint64_t index, uint64_t count, Checkpoint& c) {
  std::string name = r.get_name(fmt::format("the name of tensor {} of {}", index + 1, count));
  std::string entry = fmt::format("tensor '{}'", name);
  Shape shape = read_shape(r, entry);
  uint64_t bytes = static_cast<uint64_t>(shape.numel()) * sizeof(float);
  std::span<const char> data = r.take(bytes, fmt::format("the data of {}, {}", entry, shape.str()));
  Tensor t = Tensor::empty(shape);
  if (bytes > 0) std::memcpy(t.data(), data.data(), bytes);
  insert_new(c.tensors, std::move(name), std::move(t), r, "tensors");
}

void read_word_list(Reader& r, uint64_t index, uint64_t count, Checkpoint& c) {
  std::string name = r.get_name(fmt::format("the name of word list {} of {}", index + 1, count));
  std::string entry = fmt::format("word list '{}'", name);
  uint64_t n = r.get<uint64_t>(entry + "'s length");
  if (n > r.remaining() / sizeof(uint64_t))
    r.fail(fmt::format("{} claims {} words, but only {} bytes remain (truncated or corrupt file)",
                       entry, n, r.remaining()));
  std::span<const char> data = r.take(n * sizeof(uint64_t), entry + "'s words");
  std::vector<uint64_t> values(n);
  if (n > 0) std::memcpy(values.data(), data.data(), data.size());
  insert_new(c.words, std::move(name), std::move(values), r, "word lists");
}

void read_string(Reader& r, uint64_t index, uint64_t count, Checkpoint& c) {
  std::string name = r.get_name(fmt::format("the name of string {} of {}", index + 1, count));
  std::string entry = fmt::format("string '{}'", name);
  std::string value = r.get_string(r.get<uint64_t>(entry + "'s length"), entry);
  insert_new(c.strings, std::move(name), std::move(value), r, "strings");
}

void parse_payload(Reader& r, Checkpoint& c) {
  uint64_t n = read_count(r, "tensors", kMinTensorEntry);
  for (uint64_t i = 0; i < n; ++i) read_tensor(r, i, n, c);
  n = read_count(r, "word lists", kMinListEntry);
  for (uint64_t i = 0; i < n; ++i) read_word_list(r, i, n, c);
  n = read_count(r, "strings", kMinListEntry);
  for (uint64_t i = 0; i < n; ++i) read_string(r, i, n, c);
  if (!r.at_end()) r.fail(fmt::format("{} trailing bytes after the contents", r.remaining()));
}

uint32_t crc32_of(std::span<const char> bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* p = reinterpret_cast<const Bytef*>(bytes.data());
  size_t length = bytes.size();
  // zlib takes the length as uInt: feed large payloads in pieces.
  while (length > 0) {
    uInt chunk = static_cast<uInt>(std::min<size_t>(length, 1u << 30));
    crc = crc32(crc, p, chunk);
    p += chunk;
    length -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

// Checks the header (the first kHeaderBytes of a file of file_size bytes, or all of a shorter
// one) and returns the payload length it promises, which the file's size must match exactly.
uint64_t check_header(std::span<const char> head, uint64_t file_size, const std::string& file) {
  Reader r(head, file);
  if (std::memcmp(r.take(sizeof(kMagic), "the header").data(), kMagic, sizeof(kMagic)) != 0)
    r.fail("not a minimax checkpoint (bad magic number)");
  uint32_t version = r.get<uint32_t>("the header");
  if (version != Checkpoint::kFormatVersion)
    r.fail(fmt::format("format version {}, but this build reads version {}", version,
                       Checkpoint::kFormatVersion));
  uint64_t length = r.get<uint64_t>("the header");
  // Compared without adding to the length, which comes from the file and may be near 2^64.
  uint64_t after_header = file_size - kHeaderBytes;
  if (after_header < sizeof(uint32_t) || length != after_header - sizeof(uint32_t))
    r.fail(
        fmt::format("{} bytes, but the header promises a payload of {} bytes between its {} "
                    "bytes and a 4-byte checksum (truncated or padded file)",
                    file_size, length, kHeaderBytes));
  return length;
}

// What follows the header, the payload and its checksum, verified and parsed.
Checkpoint parse_body(std::span<const char> body, const std::string& file) {
  std::span<const char> payload = body.first(body.size() - sizeof(uint32_t));
  uint32_t stored_crc;
  std::memcpy(&stored_crc, body.data() + payload.size(), sizeof(stored_crc));
  if (crc32_of(payload) != stored_crc)
    throw CheckpointError(
        fmt::format("checkpoint {}: checksum mismatch (the file is corrupted)", file));
  Checkpoint c;
  c.source = file;
  Reader r(payload, file);
  parse_payload(r, c);
  return c;
}

}  // namespace

const Tensor& Checkpoint::tensor(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end())
    throw CheckpointError(fmt::format("checkpoint {}: no tensor named '{}'", source, name));
  return it->second;
}

const Tensor& Checkpoint::matching(const std::string& name, const Tensor& into) const {
  const Tensor& stored = tensor(name);
  if (!(stored.shape() == into.shape()))
    throw CheckpointError(fmt::format("checkpoint {}: '{}' has shape {} but the model expects {}",
                                      source, name, stored.shape().str(), into.shape().str()));
  return stored;
}

void Checkpoint::restore(const std::string& name, Tensor& into) const {
  if (!into.is_leaf())
    throw std::invalid_argument(fmt::format(
        "checkpoint: restoring '{}' into a tensor that carries autograd history; detach() it first",
        name));
  const Tensor& stored = matching(name, into);
  std::memcpy(into.data(), stored.data(), stored.numel() * sizeof(float));
  into.bump_version();
}

const std::vector<uint64_t>& Checkpoint::word_list(const std::string& name) const {
  auto it = words.find(name);
  if (it == words.end())
    throw CheckpointError(fmt::format("checkpoint {}: no entry named '{}'", source, name));
  return it->second;
}

uint64_t Checkpoint::word(const std::string& name) const {
  const auto& values = word_list(name);
  if (values.size() != 1)
    throw CheckpointError(
        fmt::format("checkpoint {}: '{}' holds {} values, not one", source, name, values.size()));
  return values[0];
}

int64_t Checkpoint::count(const std::string& name) const {
  const uint64_t value = word(name);
  if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    throw CheckpointError(
        fmt::format("checkpoint {}: '{}' holds {}, too large a count", source, name, value));
  return static_cast<int64_t>(value);
}

const std::string& Checkpoint::string(const std::string& name) const {
  auto it = strings.find(name);
  if (it == strings.end())
    throw CheckpointError(fmt::format("checkpoint {}: no string named '{}'", source, name));
  return it->second;
}

void save_generator(Checkpoint& checkpoint, const std::string& name, const Generator& gen) {
  Generator::State state = gen.state();
  checkpoint.words[name] = std::vector<uint64_t>(state.begin(), state.end());
}

void load_generator(const Checkpoint& checkpoint, const std::string& name, Generator& gen) {
  const std::vector<uint64_t>& words = checkpoint.word_list(name);
  Generator::State state;
  if (words.size() != state.size())
    throw CheckpointError(
        fmt::format("checkpoint {}: generator state '{}' has {} words, expected {}",
                    checkpoint.source, name, words.size(), state.size()));
  std::copy(words.begin(), words.end(), state.begin());
  try {
    gen.set_state(state);
  } catch (const std::invalid_argument& e) {
    throw CheckpointError(
        fmt::format("checkpoint {}: generator state '{}': {}", checkpoint.source, name, e.what()));
  }
}

void save_checkpoint(const Checkpoint& checkpoint, const std::filesystem::path& path) {
  std::vector<char> payload = serialize_payload(checkpoint);
  Writer header;
  header.put_bytes(kMagic, sizeof(kMagic));
  header.put(Checkpoint::kFormatVersion);
  header.put(static_cast<uint64_t>(payload.size()));
  uint32_t crc = crc32_of(payload);

  auto bytes = [](const void* data, size_t n) {
    return std::span<const unsigned char>(static_cast<const unsigned char*>(data), n);
  };
  std::string problem = io::write_file_atomically(
      path, {bytes(header.bytes().data(), header.bytes().size()),
             bytes(payload.data(), payload.size()), bytes(&crc, sizeof(crc))});
  if (!problem.empty())
    throw CheckpointError(fmt::format("checkpoint {}: {}", path.string(), problem));
}

Checkpoint parse_checkpoint(std::span<const char> bytes, const std::string& source) {
  uint64_t length =
      check_header(bytes.first(std::min(bytes.size(), kHeaderBytes)), bytes.size(), source);
  return parse_body(bytes.subspan(kHeaderBytes, length + sizeof(uint32_t)), source);
}

Checkpoint load_checkpoint(const std::filesystem::path& path) {
  std::string file = path.string();
  auto fail = [&](const std::string& problem) {
    throw CheckpointError(fmt::format("checkpoint {}: {}", file, problem));
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(fmt::format("cannot open: {}", std::strerror(errno)));
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail("is a directory, not a file");
  uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) fail(fmt::format("cannot read its size: {}", ec.message()));
  auto read = [&](std::vector<char>& bytes) {
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (static_cast<size_t>(in.gcount()) != bytes.size())
      fail(fmt::format("read error (the file shrank while being read?): {}", std::strerror(errno)));
  };
  // The header alone first: a file that is no checkpoint, or not as long as its header says, is
  // refused before the rest is read.
  std::vector<char> head(std::min<uint64_t>(size, kHeaderBytes));
  read(head);
  uint64_t length = check_header(head, size, file);
  std::vector<char> body(length + sizeof(uint32_t));  // = size - kHeaderBytes: no overflow
  read(body);
  return parse_body(body, file);
}

}  // namespace minimax
