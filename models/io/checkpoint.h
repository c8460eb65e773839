// Checkpoints: one file holding named tensors, named integer words (steps, RNG states) and named
// strings (the run's configuration), written atomically and verified on load.
//
// File layout (little-endian):
//   magic "MMXCKPT1" (8 bytes) | format version u32 | payload length u64 | payload | CRC-32 of
//   payload u32
// The payload is three sections (tensors, words, strings), each a u64 count of entries, every entry
// a u32-length-prefixed name and its value: a tensor as u32 rank, i64 extents, float32 data; words
// as u64 count and u64 values; a string as u64 length and bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/random.h"
#include "autograd/tensor.h"

namespace minimax {

// Thrown for any problem reading or writing a checkpoint; the message names the file and the
// problem.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Checkpoint {
  static constexpr uint32_t kFormatVersion = 1;

  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::vector<uint64_t>> words;
  std::map<std::string, std::string> strings;

  // Lookups that throw CheckpointError naming `source` (the file) and the missing or mismatched
  // entry.
  const Tensor& tensor(const std::string& name) const;
  // Copies the stored tensor `name` into `into`, which must have the same shape.
  void restore(const std::string& name, Tensor& into) const;
  // The stored tensor `name`; a CheckpointError unless it has the shape of `into`.
  const Tensor& matching(const std::string& name, const Tensor& into) const;
  const std::vector<uint64_t>& word_list(const std::string& name) const;
  uint64_t word(const std::string& name) const;
  // A count (a step, a number of updates): one word that fits an int64_t.
  int64_t count(const std::string& name) const;
  const std::string& string(const std::string& name) const;

  std::string source = "<memory>";  // the file it was loaded from, for messages
};

// A generator's whole state as the word list `name`, so a resumed run draws the same numbers.
void save_generator(Checkpoint& checkpoint, const std::string& name, const Generator& gen);
void load_generator(const Checkpoint& checkpoint, const std::string& name, Generator& gen);

// Writes to a temporary file beside `path`, flushes and fsyncs it, then renames it over `path` (and
// fsyncs the directory): a crash at any moment leaves the old file or the new one, never a torn
// one.
void save_checkpoint(const Checkpoint& checkpoint, const std::filesystem::path& path);

// Reads and verifies (magic, version, length, checksum) a checkpoint; throws CheckpointError.
// Every length, count and shape read from the file is checked against the bytes that remain
// before anything is allocated for it, so no file, however corrupt, allocates more than its size.
Checkpoint load_checkpoint(const std::filesystem::path& path);

// The same for the bytes of a whole checkpoint file held in memory; `source` stands for the file
// in messages and becomes the checkpoint's `source`.
Checkpoint parse_checkpoint(std::span<const char> bytes, const std::string& source);

}  // namespace minimax
