// Gzipped IDX files. The first byte chooses what the rest is:
//   even: IDX contents, which the target compresses into a valid gzip stream, so that the fuzzer
//         explores headers and extents behind compression (a small file that inflates to much);
//   odd:  a gzip file as it is (seeded with real ones), so that it explores broken streams.
#include <zlib.h>

#include <cstdlib>
#include <vector>

#include "models/data/idx.h"
#include "tests/fuzz/input_file.h"

using namespace minimax;

namespace {

std::vector<uint8_t> gzip(const uint8_t* data, size_t size) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer around the deflate stream.
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    std::abort();
  std::vector<uint8_t> out(deflateBound(&z, size));
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = static_cast<uInt>(size);
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  bool compress = data[0] % 2 == 0;
  std::vector<uint8_t> bytes =
      compress ? gzip(data + 1, size - 1) : std::vector<uint8_t>(data + 1, data + size);
  fuzz::InputFile file(bytes.data(), bytes.size());
  // The rank byte of the IDX contents (when compressed by the target), as in fuzz_idx.cpp.
  int rank = size >= 5 && data[4] >= 1 && data[4] <= 4 ? data[4] : 3;
  try {
    if (rank == 3)
      data::load_idx_images(file.path());
    else
      data::read_idx_bytes(file.path(), rank);
  } catch (const data::DataError&) {
  }
  return 0;
}
