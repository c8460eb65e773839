// IDX files: the format of MNIST and Fashion-MNIST, read plain or gzip-compressed.
//
// Layout (big-endian): magic u32 = 0x0000TTRR (TT the element type, 0x08 for unsigned bytes; RR the
// rank), then RR extents as u32, then the elements in row-major order, nothing after them.
// Only unsigned-byte files are read: 0x00000803 (images [N, H, W]) and 0x00000801 (labels [N]).
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "autograd/tensor.h"
#include "models/data/error.h"

namespace minimax::data {

// The raw contents of an unsigned-byte IDX file.
struct IdxBytes {
  std::vector<int64_t> dims;
  std::vector<uint8_t> values;  // row-major, dims' product of them
};

// Reads an unsigned-byte IDX file of the given rank (1 to 4); gzip is detected from the content.
// Throws DataError for a missing file, a corrupt or truncated gzip stream, a wrong magic number,
// a zero extent, extents beyond 2^32 elements or beyond what the file can hold (checked before
// allocating), and data shorter or longer than the extents say.
IdxBytes read_idx_bytes(const std::filesystem::path& path, int rank);

// Images [N, H, W] as float32 [N, 1, H, W], each byte b as b / 255 (so in [0, 1]).
Tensor load_idx_images(const std::filesystem::path& path);
// Labels [N].
std::vector<uint8_t> load_idx_labels(const std::filesystem::path& path);

// Images and their labels, checked to be equally many.
struct LabelledImages {
  Tensor images;                // [N, 1, H, W] in [0, 1]
  std::vector<uint8_t> labels;  // [N]
};
LabelledImages load_idx_dataset(const std::filesystem::path& images,
                                const std::filesystem::path& labels);

}  // namespace minimax::data
