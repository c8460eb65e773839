// CIFAR-10, binary version (cifar-10-binary.tar.gz, extracted): data_batch_1.bin to
// data_batch_5.bin hold the 50,000 training images, test_batch.bin the 10,000 test images.
//
// A file is a sequence of 3073-byte records and nothing else (no header): one label byte (0 to 9),
// then a 32x32 RGB image as three planes, red, green, blue, each row-major (1024 bytes each), which
// is already the [C, H, W] layout of a tensor.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "autograd/tensor.h"
#include "models/data/error.h"

namespace minimax::data {

inline constexpr int64_t kCifarImageBytes = 3 * 32 * 32;
inline constexpr int64_t kCifarRecordBytes = 1 + kCifarImageBytes;

struct CifarImages {
  Tensor images;                // [N, 3, 32, 32], each byte b as b / 255 (so in [0, 1])
  std::vector<uint8_t> labels;  // [N], 0 to 9
};

// Reads CIFAR-10 binary files and concatenates their records in the order given. Every file is
// checked before anything is allocated: throws DataError naming the file for a missing, unreadable
// or empty file, a size that is not a whole number of records (truncated, or not CIFAR-10: a
// CIFAR-100 record is 3074 bytes), and, while reading, a label byte that is not 0 to 9.
CifarImages load_cifar10_files(const std::vector<std::filesystem::path>& files);

// The five training batches of the directory, in order. Throws DataError naming the directory
// when it is missing, and the file when one of the five is missing or bad.
CifarImages load_cifar10_training(const std::filesystem::path& dir);
// The directory's test_batch.bin.
CifarImages load_cifar10_test(const std::filesystem::path& dir);

// data_batch_1.bin to data_batch_5.bin in `dir`.
std::vector<std::filesystem::path> cifar10_training_files(const std::filesystem::path& dir);

}  // namespace minimax::data
