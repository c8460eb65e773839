#include "models/io/checkpoint.h"

#include <fmt/format.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
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

class Reader {
 public:
  Reader(const char* data, size_t size, const std::string& file)
      : p_(data), end_(data + size), file_(file) {}
  template <class T>
  T get(const char* what) {
    T v;
    get_bytes(&v, sizeof(T), what);
    return v;
  }
  void get_bytes(void* out, size_t n, const char* what) {
    if (static_cast<size_t>(end_ - p_) < n)
      throw CheckpointError(fmt::format("checkpoint {}: truncated while reading {}", file_, what));
    // An empty entry (word list, tensor) may have a null destination; memcpy forbids null even
    // for zero bytes.
    if (n > 0) std::memcpy(out, p_, n);
    p_ += n;
  }
  std::string get_string(uint64_t n, const char* what) {
    if (static_cast<uint64_t>(end_ - p_) < n)
      throw CheckpointError(fmt::format("checkpoint {}: truncated while reading {}", file_, what));
    std::string s(p_, n);
    p_ += n;
    return s;
  }
  std::string get_name() { return get_string(get<uint32_t>("a name length"), "a name"); }
  bool at_end() const { return p_ == end_; }

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

void parse_payload(Reader& r, Checkpoint& c, const std::string& file) {
  uint64_t n = r.get<uint64_t>("the tensor count");
  for (uint64_t i = 0; i < n; ++i) {
    std::string name = r.get_name();
    uint32_t rank = r.get<uint32_t>("a tensor rank");
    if (rank > static_cast<uint32_t>(Shape::kMaxDims))
      throw CheckpointError(fmt::format("checkpoint {}: tensor {} has rank {}", file, name, rank));
    Shape shape;
    for (uint32_t k = 0; k < rank; ++k) shape.push_back(r.get<int64_t>("a tensor extent"));
    Tensor t = Tensor::empty(shape);
    r.get_bytes(t.data(), t.numel() * sizeof(float), "tensor data");
    c.tensors[name] = t;
  }
  n = r.get<uint64_t>("the word-list count");
  for (uint64_t i = 0; i < n; ++i) {
    std::string name = r.get_name();
    std::vector<uint64_t> values(r.get<uint64_t>("a word count"));
    r.get_bytes(values.data(), values.size() * sizeof(uint64_t), "words");
    c.words[name] = std::move(values);
  }
  n = r.get<uint64_t>("the string count");
  for (uint64_t i = 0; i < n; ++i) {
    std::string name = r.get_name();
    c.strings[name] = r.get_string(r.get<uint64_t>("a string length"), "a string");
  }
  if (!r.at_end())
    throw CheckpointError(fmt::format("checkpoint {}: trailing bytes after the contents", file));
}

uint32_t crc32_of(const std::vector<char>& bytes, size_t offset, size_t length) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* p = reinterpret_cast<const Bytef*>(bytes.data() + offset);
  // zlib takes the length as uInt: feed large payloads in pieces.
  while (length > 0) {
    uInt chunk = static_cast<uInt>(std::min<size_t>(length, 1u << 30));
    crc = crc32(crc, p, chunk);
    p += chunk;
    length -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

const Tensor& Checkpoint::tensor(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end())
    throw CheckpointError(fmt::format("checkpoint {}: no tensor named '{}'", source, name));
  return it->second;
}

void Checkpoint::restore(const std::string& name, Tensor& into) const {
  const Tensor& stored = tensor(name);
  if (!(stored.shape() == into.shape()))
    throw CheckpointError(fmt::format("checkpoint {}: '{}' has shape {} but the model expects {}",
                                      source, name, stored.shape().str(), into.shape().str()));
  std::memcpy(into.data(), stored.data(), stored.numel() * sizeof(float));
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
  gen.set_state(state);
}

void save_checkpoint(const Checkpoint& checkpoint, const std::filesystem::path& path) {
  std::vector<char> payload = serialize_payload(checkpoint);
  Writer header;
  header.put_bytes(kMagic, sizeof(kMagic));
  header.put(Checkpoint::kFormatVersion);
  header.put(static_cast<uint64_t>(payload.size()));
  uint32_t crc = crc32_of(payload, 0, payload.size());

  auto bytes = [](const void* data, size_t n) {
    return std::span<const unsigned char>(static_cast<const unsigned char*>(data), n);
  };
  std::string problem = io::write_file_atomically(
      path, {bytes(header.bytes().data(), header.bytes().size()),
             bytes(payload.data(), payload.size()), bytes(&crc, sizeof(crc))});
  if (!problem.empty())
    throw CheckpointError(fmt::format("checkpoint {}: {}", path.string(), problem));
}

Checkpoint load_checkpoint(const std::filesystem::path& path) {
  std::string file = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw CheckpointError(
        fmt::format("checkpoint {}: cannot open: {}", file, std::strerror(errno)));
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  Reader header(bytes.data(), bytes.size(), file);
  char magic[sizeof(kMagic)];
  header.get_bytes(magic, sizeof(magic), "the header");
  if (std::memcmp(magic, kMagic, sizeof(kMagic)) != 0)
    throw CheckpointError(
        fmt::format("checkpoint {}: not a minimax checkpoint (bad magic number)", file));
  uint32_t version = header.get<uint32_t>("the format version");
  if (version != Checkpoint::kFormatVersion)
    throw CheckpointError(
        fmt::format("checkpoint {}: format version {}, but this build reads version {}", file,
                    version, Checkpoint::kFormatVersion));
  uint64_t length = header.get<uint64_t>("the payload length");
  if (bytes.size() != kHeaderBytes + length + sizeof(uint32_t))
    throw CheckpointError(
        fmt::format("checkpoint {}: {} bytes, but the header promises {} (truncated or "
                    "padded file)",
                    file, bytes.size(), kHeaderBytes + length + sizeof(uint32_t)));
  uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + kHeaderBytes + length, sizeof(stored_crc));
  if (crc32_of(bytes, kHeaderBytes, length) != stored_crc)
    throw CheckpointError(
        fmt::format("checkpoint {}: checksum mismatch (the file is corrupted)", file));

  Checkpoint c;
  c.source = file;
  Reader payload(bytes.data() + kHeaderBytes, length, file);
  parse_payload(payload, c, file);
  return c;
}

}  // namespace minimax
