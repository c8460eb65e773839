// A checkpoint's payload (tensors, word lists, strings), wrapped by the target in a valid header
// and the payload's true CRC-32, so that every input reaches the payload's parser.
#include <zlib.h>

#include <cstring>
#include <span>
#include <vector>

#include "models/io/checkpoint.h"

using namespace minimax;

namespace {

template <class T>
void put(std::vector<char>& bytes, T v) {
  const char* p = reinterpret_cast<const char*>(&v);
  bytes.insert(bytes.end(), p, p + sizeof(T));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<char> file;
  const char magic[] = "MMXCKPT1";
  file.insert(file.end(), magic, magic + 8);
  put(file, Checkpoint::kFormatVersion);
  put(file, static_cast<uint64_t>(size));
  file.insert(file.end(), data, data + size);
  put(file, static_cast<uint32_t>(crc32(0L, data, static_cast<uInt>(size))));
  try {
    parse_checkpoint(file, "fuzz input");
  } catch (const CheckpointError&) {
  }
  return 0;
}
