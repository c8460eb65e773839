// The error every data reader throws (IDX, CIFAR-10): one type, so that a caller handles any bad
// data file the same way.
#pragma once

#include <stdexcept>

namespace minimax::data {

// Thrown for a data file that cannot be read or is not what it should be; the message names the
// file and the problem.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace minimax::data
