#include "models/io/npy.h"

#include <fmt/format.h>

#include <bit>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string_view>
#include <vector>

#include "models/io/atomic_file.h"

namespace minimax::io {

// Data is written and read as the host's floats; .npy's '<f4' is little-endian.
static_assert(std::endian::native == std::endian::little, "npy.cpp assumes a little-endian host");

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;
constexpr size_t kAlign = 64;
// numpy pads the header so the first extent can be rewritten in place with up to this many digits.
constexpr size_t kGrowthDigits = 21;
// Extents beyond this are corrupt headers; the cap keeps their product from overflowing.
constexpr uint64_t kMaxElements = uint64_t{1} << 40;

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& problem) {
  throw NpyError(fmt::format("npy file {}: {}", path.string(), problem));
}

// Python's repr of a tuple of ints: "()", "(5,)", "(2, 3)".
std::string shape_repr(const Shape& shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

// A cursor over the header's dict literal. Accepts what numpy writes and reads: the three keys in
// any order, either quote, spaces anywhere, a trailing comma.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::filesystem::path& path)
      : text_(text), path_(path) {}

  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;

  void parse() {
    bool seen[3] = {false, false, false};
    expect('{');
    while (!peek('}')) {
      std::string key = parse_string();
      expect(':');
      if (key == "descr") {
        descr = parse_string();
        seen[0] = true;
      } else if (key == "fortran_order") {
        fortran_order = parse_bool();
        seen[1] = true;
      } else if (key == "shape") {
        parse_shape();
        seen[2] = true;
      } else {
        error(fmt::format("unknown key '{}'", key));
      }
      if (!peek('}')) expect(',');
    }
    expect('}');
    skip_space();
    if (pos_ != text_.size()) error("text after the closing brace");
    if (!seen[0] || !seen[1] || !seen[2])
      error("the keys 'descr', 'fortran_order' and 'shape' are not all there");
  }

 private:
  [[noreturn]] void error(const std::string& problem) const {
    fail(path_, fmt::format("cannot parse the header \"{}\": {} (at offset {})", trimmed(), problem,
                            pos_));
  }
  std::string_view trimmed() const {
    std::string_view t = text_;
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
    return t;
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool peek(char c) {
    skip_space();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  void expect(char c) {
    if (!peek(c)) error(fmt::format("expected '{}'", c));
    ++pos_;
  }
  std::string parse_string() {
    skip_space();
    char quote = pos_ < text_.size() ? text_[pos_] : '\0';
    if (quote != '\'' && quote != '"') error("expected a quoted string");
    size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) error("unterminated string");
    std::string s(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return s;
  }
  bool parse_bool() {
    skip_space();
    for (auto [word, value] : {std::pair{"True", true}, std::pair{"False", false}})
      if (text_.substr(pos_).starts_with(word)) {
        pos_ += std::strlen(word);
        return value;
      }
    error("expected True or False");
  }
  void parse_shape() {
    expect('(');
    while (!peek(')')) {
      shape.push_back(parse_extent());
      if (!peek(')')) expect(',');
    }
    expect(')');
  }
  int64_t parse_extent() {
    skip_space();
    size_t start = pos_;
    uint64_t value = 0;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      value = value * 10 + static_cast<uint64_t>(text_[pos_++] - '0');
      if (value > kMaxElements) error("an extent beyond 2^40");
    }
    if (pos_ == start) error("expected a non-negative integer");
    if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;  // Python 2's long suffix: (3L, 4L)
    return static_cast<int64_t>(value);
  }

  std::string_view text_;
  size_t pos_ = 0;
  const std::filesystem::path& path_;
};

struct Header {
  Shape shape;
  size_t element_bytes;  // 4 for '<f4', 8 for '<f8'
  size_t data_offset;    // where the data starts
};

uint64_t little_endian(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

Header read_header(std::ifstream& in, uint64_t file_size, const std::filesystem::path& path) {
  unsigned char prefix[12] = {};
  in.read(reinterpret_cast<char*>(prefix), 8);
  size_t got = static_cast<size_t>(in.gcount());
  if (got == 0) fail(path, "empty file");
  if (std::memcmp(prefix, kMagic, std::min(got, kMagicBytes)) != 0)
    fail(path, "not a .npy file (it does not start with \\x93NUMPY)");
  if (got < 8) fail(path, fmt::format("truncated: {} bytes, too short for a header", got));
  int major = prefix[6], minor = prefix[7];
  if (major < 1 || major > 3 || minor != 0)
    fail(path, fmt::format("format version {}.{}, expected 1.0, 2.0 or 3.0", major, minor));
  // Version 1 stores the header length in 2 bytes, versions 2 and 3 in 4.
  int length_bytes = major == 1 ? 2 : 4;
  in.read(reinterpret_cast<char*>(prefix + 8), length_bytes);
  if (in.gcount() != length_bytes) fail(path, "truncated in the header length");
  uint64_t header_bytes = little_endian(prefix + 8, length_bytes);
  size_t offset = 8 + length_bytes;
  if (header_bytes > file_size - offset)
    fail(path, fmt::format("truncated in the header: it claims {} bytes, {} follow", header_bytes,
                           file_size - offset));
  std::string text(header_bytes, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_bytes));

  HeaderParser parser(text, path);
  parser.parse();
  Header h;
  if (parser.descr == "<f4")
    h.element_bytes = 4;
  else if (parser.descr == "<f8")
    h.element_bytes = 8;
  else
    fail(path,
         fmt::format("element type '{}' is not float32 ('<f4') or float64 ('<f8')", parser.descr));
  if (parser.fortran_order) fail(path, "Fortran-ordered arrays are not supported");
  if (parser.shape.size() > static_cast<size_t>(Shape::kMaxDims))
    fail(path, fmt::format("rank {} exceeds {}", parser.shape.size(), Shape::kMaxDims));
  h.shape = Shape(parser.shape);
  h.data_offset = offset + header_bytes;
  return h;
}

// The element count, or an error for a corrupt header: the product of the non-zero extents may
// not exceed kMaxElements, so that even an empty array's strides cannot overflow (a zero extent
// first would otherwise let (0, 2^40, 2^40) through).
uint64_t element_count(const Shape& shape, const std::filesystem::path& path) {
  uint64_t nonzero = 1;
  bool empty = false;
  for (int64_t d : shape) {
    if (d == 0) {
      empty = true;
      continue;
    }
    if (nonzero > kMaxElements / static_cast<uint64_t>(d))
      fail(path, fmt::format("shape {} has more than 2^40 elements", shape_repr(shape)));
    nonzero *= static_cast<uint64_t>(d);
  }
  return empty ? 0 : nonzero;
}

}  // namespace

std::string npy_header(const Shape& shape) {
  std::string dict =
      fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': {}, }}", shape_repr(shape));
  if (shape.size() > 0) dict.append(kGrowthDigits - fmt::format("{}", shape[0]).size(), ' ');
  size_t unpadded = kMagicBytes + 4 + dict.size() + 1;  // magic, version, length, dict, '\n'
  dict.append((kAlign - unpadded % kAlign) % kAlign, ' ');
  dict.push_back('\n');
  std::string header(kMagic, kMagicBytes);
  header +=
      {'\x01', '\x00', static_cast<char>(dict.size() & 0xff), static_cast<char>(dict.size() >> 8)};
  return header + dict;
}

void save_npy(const Tensor& tensor, const std::filesystem::path& path) {
  std::string header = npy_header(tensor.shape());
  std::span<const unsigned char> head(reinterpret_cast<const unsigned char*>(header.data()),
                                      header.size());
  std::span<const unsigned char> data(reinterpret_cast<const unsigned char*>(tensor.data()),
                                      static_cast<size_t>(tensor.numel()) * sizeof(float));
  std::string problem = write_file_atomically(path, {head, data});
  if (!problem.empty()) fail(path, problem);
}

Tensor load_npy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, fmt::format("cannot open: {}", std::strerror(errno)));
  std::error_code ec;
  uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) fail(path, fmt::format("cannot read its size: {}", ec.message()));

  Header h = read_header(in, file_size, path);
  uint64_t count = element_count(h.shape, path);
  uint64_t expected = count * h.element_bytes;
  uint64_t available = file_size - h.data_offset;
  if (available < expected)
    fail(path, fmt::format("truncated: {} of the {} data bytes that shape {} calls for", available,
                           expected, shape_repr(h.shape)));
  if (available > expected)
    fail(path, fmt::format("{} trailing bytes after the {} data bytes that shape {} calls for",
                           available - expected, expected, shape_repr(h.shape)));

  Tensor t = Tensor::empty(h.shape);
  if (h.element_bytes == 4) {
    in.read(reinterpret_cast<char*>(t.data()), static_cast<std::streamsize>(expected));
  } else {
    std::vector<double> wide(count);
    in.read(reinterpret_cast<char*>(wide.data()), static_cast<std::streamsize>(expected));
    for (uint64_t i = 0; i < count; ++i) t.data()[i] = static_cast<float>(wide[i]);
  }
  if (static_cast<uint64_t>(in.gcount()) != expected)
    fail(path, fmt::format("read error: {}", std::strerror(errno)));
  return t;
}

}  // namespace minimax::io
