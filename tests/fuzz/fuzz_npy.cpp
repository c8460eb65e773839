// .npy files: the magic and version, the header's length, its Python dict literal (descr,
// fortran_order, shape) and the data the shape calls for.
#include "models/io/npy.h"
#include "tests/fuzz/input_file.h"

using namespace minimax;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::InputFile file(data, size);
  try {
    io::load_npy(file.path());
  } catch (const io::NpyError&) {
  }
  return 0;
}
