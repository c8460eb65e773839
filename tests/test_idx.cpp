// IDX files (plain and gzip) and the real Fashion-MNIST when installed.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "cli_helpers.h"
#include "minimax.h"
#include "models/data/idx.h"
#include "temp_dir.h"

using namespace minimax;
namespace fs = std::filesystem;

using minimax::testing::contains;
using minimax::testing::kFashion;
using minimax::testing::TempDir;

namespace {

using Bytes = std::vector<uint8_t>;

void put_u32_be(Bytes& b, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<uint8_t>(v >> shift));
}

// An unsigned-byte IDX file's bytes: header, then values 0, 1, 2, ... (mod 256).
Bytes idx_bytes(std::vector<uint32_t> dims, uint32_t magic = 0) {
  Bytes b;
  put_u32_be(b, magic ? magic : 0x0800u | static_cast<uint32_t>(dims.size()));
  size_t n = 1;
  for (uint32_t d : dims) {
    put_u32_be(b, d);
    n *= d;
  }
  for (size_t i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(i));
  return b;
}

void write_plain(const fs::path& p, const Bytes& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

void write_gzip(const fs::path& p, const Bytes& bytes) {
  gzFile f = gzopen(p.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
          static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

Bytes read_plain(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const data::DataError& e) {
    return e.what();
  }
  return "(no DataError)";
}

std::string image_error(const fs::path& p) {
  return error_of([&] { data::load_idx_images(p); });
}

}  // namespace

TEST_CASE("IDX images and labels load from plain and gzip files alike") {
  TempDir dir;
  Bytes images = idx_bytes({2, 3, 4});
  write_plain(dir.path / "images", images);
  write_gzip(dir.path / "images.gz", images);
  for (const char* name : {"images", "images.gz"}) {
    CAPTURE(name);
    Tensor t = data::load_idx_images(dir.path / name);
    REQUIRE(t.shape() == Shape{2, 1, 3, 4});
    for (int i = 0; i < 24; ++i) CHECK(t.data()[i] == static_cast<float>(i) / 255.0f);
  }
  Bytes labels = idx_bytes({5});
  write_gzip(dir.path / "labels.gz", labels);
  CHECK(data::load_idx_labels(dir.path / "labels.gz") == Bytes{0, 1, 2, 3, 4});

  // Byte 255 is exactly 1: the scaling stays inside [0, 1].
  Bytes white = idx_bytes({1, 1, 1});
  white.back() = 255;
  write_plain(dir.path / "white", white);
  CHECK(data::load_idx_images(dir.path / "white").item() == 1.0f);
}

TEST_CASE("IDX reader names the file and the problem for every kind of bad input") {
  TempDir dir;
  auto plain = [&](const std::string& name, const Bytes& bytes) {
    write_plain(dir.path / name, bytes);
    return dir.path / name;
  };
  Bytes good = idx_bytes({2, 3, 4});

  fs::path missing = dir.path / "missing.gz";
  std::string e = image_error(missing);
  CHECK(contains(e, missing.string()));
  CHECK(contains(e, "cannot open: No such file or directory"));

  CHECK(contains(image_error(plain("empty", {})), "empty file"));
  CHECK(contains(image_error(plain("short", {0, 0, 8})), "truncated: 3 bytes"));
  CHECK(contains(image_error(plain("header", Bytes(good.begin(), good.begin() + 10))),
                 "truncated in the header"));

  Bytes cut(good.begin(), good.end() - 2);
  e = image_error(plain("cut", cut));
  CHECK(contains(e, (dir.path / "cut").string()));
  CHECK(contains(e, "truncated: 22 of the 24 data bytes that extents 2 x 3 x 4 call for"));
  Bytes padded = good;
  padded.insert(padded.end(), {7, 7, 7});
  CHECK(contains(image_error(plain("padded", padded)), "3 trailing bytes after the 24 data bytes"));

  Bytes garbage;
  for (int i = 0; i < 100; ++i) garbage.push_back(static_cast<uint8_t>(i * 37 + 11));
  CHECK(contains(image_error(plain("garbage", garbage)), "not an IDX file (magic number 0x0b3055"));
  CHECK(contains(image_error(plain("floats", idx_bytes({2, 3, 4}, 0x0d03))),
                 "element type 0x0d is not unsigned bytes (0x08)"));
  fs::path labels = plain("labels", idx_bytes({5}));
  CHECK(contains(image_error(labels), "rank 1, expected 3"));
  CHECK(contains(error_of([&] { data::load_idx_labels(plain("images", good)); }),
                 "rank 3, expected 1"));
  CHECK(contains(image_error(plain("zero", idx_bytes({2, 0, 4}))), "extent 1 of 3 is zero"));
  Bytes huge;
  for (uint32_t v : {0x0803u, 0xffffffffu, 0xffffffffu, 0xffffffffu}) put_u32_be(huge, v);
  CHECK(contains(image_error(plain("huge", huge)), "extents 4294967295 x 4294967295 exceed"));
  CHECK(contains(
      error_of([&] { data::load_idx_dataset(plain("img", good), plain("lab", idx_bytes({5}))); }),
      "2 images but 5 labels"));
}

TEST_CASE("IDX reader rejects truncated and corrupt gzip streams") {
  TempDir dir;
  Bytes good = idx_bytes({20, 28, 28});
  write_gzip(dir.path / "good.gz", good);
  Bytes gz = read_plain(dir.path / "good.gz");
  REQUIRE(gz.size() > 100);

  // A header that promises more than deflate could expand the file to is refused before any
  // allocation: 2000 x 1000 x 1000 bytes cannot come out of a gzip file of about 50 bytes.
  Bytes liar;
  for (uint32_t v : {0x0803u, 2000u, 1000u, 1000u}) put_u32_be(liar, v);
  write_gzip(dir.path / "liar.gz", liar);
  CHECK(contains(image_error(dir.path / "liar.gz"),
                 "extents 2000 x 1000 x 1000 call for 2000000000 data bytes, more than a"));

  write_plain(dir.path / "cut.gz", Bytes(gz.begin(), gz.begin() + gz.size() / 2));
  std::string e = image_error(dir.path / "cut.gz");
  CHECK(contains(e, (dir.path / "cut.gz").string()));
  CHECK(contains(e, "truncated gzip stream"));
  // Only the 8-byte trailer (CRC-32 and length) missing: every data byte arrived, yet the stream
  // is incomplete.
  write_plain(dir.path / "notrailer.gz", Bytes(gz.begin(), gz.end() - 8));
  CHECK(contains(image_error(dir.path / "notrailer.gz"), "truncated gzip stream"));

  Bytes bad_crc = gz;
  bad_crc[bad_crc.size() - 6] ^= 0xff;  // inside the stored CRC-32
  write_plain(dir.path / "crc.gz", bad_crc);
  CHECK(contains(image_error(dir.path / "crc.gz"), "corrupt gzip stream: incorrect data check"));

  Bytes bad_block = gz;
  bad_block[10] = 0xff;  // the first deflate block header: block type 3 does not exist
  write_plain(dir.path / "block.gz", bad_block);
  CHECK(contains(image_error(dir.path / "block.gz"), "corrupt gzip stream: invalid block type"));
}

TEST_CASE("Fashion-MNIST loads with its known shapes and pixel statistics") {
  fs::path train = kFashion / "train-images-idx3-ubyte.gz";
  REQUIRE_MESSAGE(
      fs::exists(train),
      "Fashion-MNIST is not installed: .ci/install-deps installs dataset-fashion-mnist");
  Tensor images = data::load_idx_images(train);
  REQUIRE(images.shape() == Shape{60000, 1, 28, 28});

  // Reference values from numpy on the same file: u8.sum() and (u8 / 255.0).mean().
  const float* p = images.data();
  double sum = 0;
  int64_t byte_sum = 0;
  float lo = 1, hi = 0;
  for (int64_t i = 0; i < images.numel(); ++i) {
    sum += p[i];
    byte_sum += std::lround(p[i] * 255.0f);
    lo = std::min(lo, p[i]);
    hi = std::max(hi, p[i]);
  }
  CHECK(lo == 0.0f);
  CHECK(hi == 1.0f);
  CHECK(byte_sum == 3431114169);
  CHECK(sum / images.numel() == doctest::Approx(0.2860405969887955).epsilon(1e-7));
  CHECK(p[14 * 28 + 14] == 217.0f / 255.0f);  // image 0, row 14, column 14

  data::LabelledImages test = data::load_idx_dataset(kFashion / "t10k-images-idx3-ubyte.gz",
                                                     kFashion / "t10k-labels-idx1-ubyte.gz");
  CHECK(test.images.shape() == Shape{10000, 1, 28, 28});
  REQUIRE(test.labels.size() == 10000);
  CHECK(Bytes(test.labels.begin(), test.labels.begin() + 10) ==
        Bytes{9, 2, 1, 1, 6, 1, 4, 6, 5, 7});
  std::vector<int> counts(10, 0);
  for (uint8_t label : data::load_idx_labels(kFashion / "train-labels-idx1-ubyte.gz")) {
    REQUIRE(label < 10);
    counts[label]++;
  }
  CHECK(counts == std::vector<int>(10, 6000));
}
