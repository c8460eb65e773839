// Shuffled minibatches: epochs over a data set in an order fixed by a seed, resumable from a
// checkpoint.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "autograd/random.h"
#include "autograd/tensor.h"
#include "models/io/checkpoint.h"

namespace minimax::data {

// Draws minibatches of `batch_size` example indices out of `size`. Each epoch is a fresh
// Fisher-Yates permutation drawn from the sampler's own generator, so the seed alone fixes the
// order (independent of any other random draws in the program). Every batch is full: the last
// size % batch_size examples of each permutation are skipped in that epoch (a different
// permutation drops different ones), so a training step always sees the same shapes.
class BatchSampler {
 public:
  BatchSampler(int64_t size, int64_t batch_size, Generator gen);

  // The indices of the next minibatch. The first call, and every call after an epoch is used up,
  // draws a new permutation. The span is valid until the next call.
  std::span<const int64_t> next_indices();
  // Copies the next minibatch's rows of `dataset` ([size, ...]) into `out` ([batch_size, ...]).
  void next(const Tensor& dataset, Tensor& out);
  Tensor next(const Tensor& dataset);  // the same, into a new tensor

  int64_t size() const { return size_; }
  int64_t batch_size() const { return batch_size_; }
  int64_t batches_per_epoch() const { return size_ / batch_size_; }
  // Permutations drawn so far: the 1-based number of the epoch the last batch came from.
  int64_t epoch() const { return epoch_; }
  // Examples of the current permutation handed out so far.
  int64_t position() const { return position_; }

  // The whole state (size, batch size, epoch, position, permutation, generator) as word lists
  // under `prefix` ("data/" -> "data/epoch", ...). Loading checks that size and batch size match
  // and that the permutation is one, else throws CheckpointError.
  void save_state(Checkpoint& checkpoint, const std::string& prefix) const;
  void load_state(const Checkpoint& checkpoint, const std::string& prefix);

 private:
  void shuffle();

  int64_t size_;
  int64_t batch_size_;
  Generator gen_;
  int64_t epoch_ = 0;
  int64_t position_ = 0;
  std::vector<int64_t> permutation_;  // empty until the first batch
};

// Copies rows `indices` of `dataset` ([N, ...]) into `out` ([indices.size(), ...], the same
// trailing extents). Throws std::invalid_argument for mismatched shapes or an index out of range.
void gather_rows(const Tensor& dataset, std::span<const int64_t> indices, Tensor& out);

// A uniform integer in [0, bound), without modulo bias. bound > 0.
uint64_t uniform_below(Generator& gen, uint64_t bound);

}  // namespace minimax::data
