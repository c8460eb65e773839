// IDX files as they come (plain; a gzip header switches the reader to inflating, as it would for
// a user): the header's magic, type, rank and extents, and the data they describe.
#include "models/data/idx.h"
#include "tests/fuzz/input_file.h"

using namespace minimax;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::InputFile file(data, size);
  // The caller names the rank it expects; take the file's own (1 to 4) so every rank is reached.
  int rank = size >= 4 && data[3] >= 1 && data[3] <= 4 ? data[3] : 3;
  try {
    if (rank == 3)
      data::load_idx_images(file.path());
    else
      data::read_idx_bytes(file.path(), rank);
  } catch (const data::DataError&) {
  }
  return 0;
}
