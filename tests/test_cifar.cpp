// CIFAR-10 binary files, written here in the format (no CIFAR-10 files are on the build machines).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "minimax.h"
#include "models/data/cifar.h"
#include "temp_dir.h"

using namespace minimax;
namespace fs = std::filesystem;

using minimax::testing::TempDir;

namespace {

using Bytes = std::vector<uint8_t>;

// Record r of a test file: label `first_label + r` (mod 10), then byte i of the image =
// (r + 3 i + first_label) mod 256, so that every record, channel and pixel differs.
Bytes records(int count, int first_label = 0) {
  Bytes b;
  for (int r = 0; r < count; ++r) {
    b.push_back(static_cast<uint8_t>((first_label + r) % 10));
    for (int i = 0; i < data::kCifarImageBytes; ++i)
      b.push_back(static_cast<uint8_t>((r + 3 * i + first_label) % 256));
  }
  return b;
}

void write(const fs::path& p, const Bytes& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// A directory with the five training batches, `per_file` records each, file k's labels from k.
void write_training_dir(const fs::path& dir, int per_file) {
  fs::create_directories(dir);
  for (int k = 1; k <= 5; ++k)
    write(dir / ("data_batch_" + std::to_string(k) + ".bin"), records(per_file, k));
}

std::string error_of(const std::vector<fs::path>& files) {
  try {
    data::load_cifar10_files(files);
  } catch (const data::DataError& e) {
    return e.what();
  }
  return "(no DataError)";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("CIFAR-10 records load as channel-planar 32x32 RGB images and their labels") {
  TempDir dir;
  write(dir.path / "two.bin", records(2));
  data::CifarImages c = data::load_cifar10_files({dir.path / "two.bin"});
  REQUIRE(c.images.shape() == Shape{2, 3, 32, 32});
  CHECK(c.labels == Bytes{0, 1});
  // The planes are red, green, blue, each row-major: [r, c, y, x] is byte 1024 c + 32 y + x.
  auto at = [&](int r, int channel, int y, int x) {
    return c.images.data()[((r * 3 + channel) * 32 + y) * 32 + x];
  };
  auto expected = [](int r, int i) { return static_cast<float>((r + 3 * i) % 256) / 255.0f; };
  CHECK(at(0, 0, 0, 0) == expected(0, 0));
  CHECK(at(0, 1, 0, 0) == expected(0, 1024));
  CHECK(at(0, 2, 5, 7) == expected(0, 2048 + 5 * 32 + 7));
  CHECK(at(1, 2, 31, 31) == expected(1, 3071));
  for (float v : c.images.to_vector()) CHECK((v >= 0.0f && v <= 1.0f));
}

TEST_CASE("the CIFAR-10 training set is the five batches in order") {
  TempDir dir;
  write_training_dir(dir.path, 3);
  data::CifarImages c = data::load_cifar10_training(dir.path);
  REQUIRE(c.images.shape() == Shape{15, 3, 32, 32});
  // File k's record r has label (k + r) mod 10 and first pixel (k + r) / 255.
  for (int k = 1; k <= 5; ++k)
    for (int r = 0; r < 3; ++r) {
      int n = (k - 1) * 3 + r;
      CHECK(c.labels[n] == (k + r) % 10);
      CHECK(c.images.data()[n * data::kCifarImageBytes] == static_cast<float>(k + r) / 255.0f);
    }
  write(dir.path / "test_batch.bin", records(4));
  CHECK(data::load_cifar10_test(dir.path).images.shape() == Shape{4, 3, 32, 32});
}

TEST_CASE("the CIFAR-10 reader names the file and the problem for every kind of bad input") {
  TempDir dir;
  fs::path missing = dir.path / "missing.bin";
  std::string e = error_of({missing});
  CHECK(contains(e, "CIFAR-10 file " + missing.string()));
  CHECK(contains(e, "cannot open: No such file or directory"));

  write(dir.path / "empty.bin", {});
  CHECK(contains(error_of({dir.path / "empty.bin"}), "empty file"));

  Bytes truncated = records(2);
  truncated.resize(truncated.size() - 100);
  write(dir.path / "truncated.bin", truncated);
  e = error_of({dir.path / "truncated.bin"});
  CHECK(contains(e, "truncated.bin"));
  CHECK(contains(e,
                 "6046 bytes is not a whole number of 3073-byte records (1 records and 2973 "
                 "bytes over): truncated"));

  Bytes bad_label = records(3);
  bad_label[2 * data::kCifarRecordBytes] = 10;
  write(dir.path / "label.bin", bad_label);
  CHECK(contains(error_of({dir.path / "label.bin"}), "record 2: label 10 is not 0 to 9"));

  // CIFAR-100's records are one byte longer (two label bytes): its files are not whole numbers of
  // CIFAR-10 records.
  write(dir.path / "cifar100.bin", Bytes(3074 * 2, 1));
  CHECK(contains(error_of({dir.path / "cifar100.bin"}),
                 "6148 bytes is not a whole number of 3073-byte records"));

  fs::create_directory(dir.path / "adir");
  CHECK(contains(error_of({dir.path / "adir"}), "is a directory"));

  // A bad file after good ones is found before anything is read or allocated for them.
  write(dir.path / "good.bin", records(2));
  CHECK(contains(error_of({dir.path / "good.bin", dir.path / "empty.bin"}), "empty.bin: empty"));
}

TEST_CASE("a CIFAR-10 directory that is missing or incomplete is named with what is missing") {
  TempDir dir;
  std::string e;
  try {
    data::load_cifar10_training(dir.path / "nowhere");
  } catch (const data::DataError& err) {
    e = err.what();
  }
  CHECK(contains(e, "CIFAR-10 directory " + (dir.path / "nowhere").string() + ": does not exist"));
  write_training_dir(dir.path, 1);
  fs::remove(dir.path / "data_batch_4.bin");
  e.clear();
  try {
    data::load_cifar10_training(dir.path);
  } catch (const data::DataError& err) {
    e = err.what();
  }
  CHECK(contains(e, "data_batch_4.bin: cannot open"));
}
