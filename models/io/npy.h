// NumPy .npy files: a tensor written as numpy's np.save writes a C-ordered float32 array (format
// version 1.0), and read back, so samples can go to and come from Python unchanged.
//
// Layout: "\x93NUMPY", major 1, minor 0, header length u16 (little-endian), then the header, a
// Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with
// spaces and a final newline so that the data starts at a multiple of 64 bytes, then the data.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

#include "autograd/tensor.h"

namespace minimax::io {

// Thrown for a .npy file that cannot be written, read or understood; the message names the file
// and the problem.
class NpyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The bytes before the data of a float32 array of this shape: the same bytes numpy 1.24's np.save
// writes (which leaves room for the first extent to grow to 21 digits before the padding).
std::string npy_header(const Shape& shape);

// Writes the tensor's data (as it is: float32, C order) atomically (io/atomic_file.h).
void save_npy(const Tensor& tensor, const std::filesystem::path& path);

// Reads a C-ordered little-endian float32 ('<f4') or float64 ('<f8', rounded to float32) array of
// rank 0 to 8, format version 1, 2 or 3. Throws NpyError for a missing, truncated or padded file,
// a header it cannot parse, another element type, or Fortran order.
Tensor load_npy(const std::filesystem::path& path);

}  // namespace minimax::io
