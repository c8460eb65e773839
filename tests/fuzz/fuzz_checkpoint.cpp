// Checkpoint files as they come, through the file reader the command line uses: header, length,
// checksum. Random bytes rarely carry a valid CRC-32; fuzz_checkpoint_payload gets past it.
#include "models/io/checkpoint.h"
#include "tests/fuzz/input_file.h"

using namespace minimax;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::InputFile file(data, size);
  try {
    load_checkpoint(file.path());
  } catch (const CheckpointError&) {
  }
  return 0;
}
