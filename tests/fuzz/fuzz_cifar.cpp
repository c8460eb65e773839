// CIFAR-10 binary files: a size that must be a whole number of 3073-byte records, and the labels.
#include "models/data/cifar.h"
#include "tests/fuzz/input_file.h"

using namespace minimax;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::InputFile file(data, size);
  try {
    data::load_cifar10_files({file.path()});
  } catch (const data::DataError&) {
  }
  return 0;
}
