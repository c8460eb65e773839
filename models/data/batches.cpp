#include "models/data/batches.h"

#include <fmt/format.h>

#include <cstring>
#include <numeric>
#include <stdexcept>

namespace minimax::data {

uint64_t uniform_below(Generator& gen, uint64_t bound) {
  // Reject the lowest 2^64 mod bound values: what remains is a whole number of copies of
  // [0, bound), so the remainder is exactly uniform.
  uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    uint64_t r = gen.next_u64();
    if (r >= threshold) return r % bound;
  }
}

BatchSampler::BatchSampler(int64_t size, int64_t batch_size, Generator gen)
    : size_(size), batch_size_(batch_size), gen_(gen) {
  if (size < 1 || batch_size < 1 || batch_size > size)
    throw std::invalid_argument(fmt::format(
        "BatchSampler: batch size {} for {} examples (need 1 <= batch <= size)", batch_size, size));
}

void BatchSampler::shuffle() {
  // Restart from the identity, so an epoch's order depends only on the generator's state.
  permutation_.resize(size_);
  std::iota(permutation_.begin(), permutation_.end(), int64_t{0});
  for (int64_t i = size_ - 1; i > 0; --i) {
    auto j = static_cast<int64_t>(uniform_below(gen_, static_cast<uint64_t>(i) + 1));
    std::swap(permutation_[i], permutation_[j]);
  }
  ++epoch_;
  position_ = 0;
}

std::span<const int64_t> BatchSampler::next_indices() {
  if (permutation_.empty() || position_ + batch_size_ > size_) shuffle();
  std::span<const int64_t> batch(permutation_.data() + position_, batch_size_);
  position_ += batch_size_;
  return batch;
}

void BatchSampler::next(const Tensor& dataset, Tensor& out) {
  if (dataset.dim() < 1 || dataset.size(0) != size_)
    throw std::invalid_argument(fmt::format("BatchSampler: a data set of shape {} for {} examples",
                                            dataset.shape().str(), size_));
  gather_rows(dataset, next_indices(), out);
}

Tensor BatchSampler::next(const Tensor& dataset) {
  if (dataset.dim() < 1)
    throw std::invalid_argument("BatchSampler: the data set is a scalar, not rows");
  Shape shape = dataset.shape();
  shape[0] = batch_size_;
  Tensor out = Tensor::empty(shape);
  next(dataset, out);
  return out;
}

void BatchSampler::save_state(Checkpoint& checkpoint, const std::string& prefix) const {
  auto word = [](int64_t v) { return static_cast<uint64_t>(v); };
  checkpoint.words[prefix + "sizes"] = {word(size_), word(batch_size_)};
  checkpoint.words[prefix + "epoch"] = {word(epoch_)};
  checkpoint.words[prefix + "position"] = {word(position_)};
  checkpoint.words[prefix + "permutation"] = {permutation_.begin(), permutation_.end()};
  save_generator(checkpoint, prefix + "generator", gen_);
}

void BatchSampler::load_state(const Checkpoint& checkpoint, const std::string& prefix) {
  auto fail = [&](const std::string& problem) {
    throw CheckpointError(
        fmt::format("checkpoint {}: batch sampler '{}': {}", checkpoint.source, prefix, problem));
  };
  const auto& sizes = checkpoint.word_list(prefix + "sizes");
  if (sizes.size() != 2 || sizes[0] != static_cast<uint64_t>(size_) ||
      sizes[1] != static_cast<uint64_t>(batch_size_))
    fail(fmt::format("saved for other sizes ({}), this sampler has {} examples in batches of {}",
                     fmt::join(sizes, ", "), size_, batch_size_));
  uint64_t epoch = checkpoint.word(prefix + "epoch");
  uint64_t position = checkpoint.word(prefix + "position");
  const auto& saved = checkpoint.word_list(prefix + "permutation");

  // Validate everything before changing anything, so a failed load leaves the sampler as it was.
  if (saved.empty() ? (epoch != 0 || position != 0) : saved.size() != static_cast<size_t>(size_))
    fail(fmt::format("a permutation of {} entries at epoch {}", saved.size(), epoch));
  if (position > static_cast<uint64_t>(size_) || position % static_cast<uint64_t>(batch_size_) != 0)
    fail(fmt::format("position {} is not a batch boundary within {} examples", position, size_));
  std::vector<bool> seen(saved.size(), false);
  for (uint64_t index : saved) {
    if (index >= saved.size() || seen[index]) fail("the saved order is not a permutation");
    seen[index] = true;
  }
  Generator gen;
  load_generator(checkpoint, prefix + "generator", gen);

  permutation_.assign(saved.begin(), saved.end());
  epoch_ = static_cast<int64_t>(epoch);
  position_ = static_cast<int64_t>(position);
  gen_ = gen;
}

void gather_rows(const Tensor& dataset, std::span<const int64_t> indices, Tensor& out) {
  const Shape& src = dataset.shape();
  const Shape& dst = out.shape();
  bool rows_match =
      src.size() >= 1 && dst.size() == src.size() && dst[0] == static_cast<int64_t>(indices.size());
  for (int d = 1; rows_match && d < src.size(); ++d) rows_match = src[d] == dst[d];
  if (!rows_match)
    throw std::invalid_argument(fmt::format("gather_rows: {} rows of {} into a tensor of shape {}",
                                            indices.size(), src.str(), dst.str()));
  if (!out.is_leaf())
    throw std::invalid_argument("gather_rows: the output carries autograd history");
  int64_t row = src[0] == 0 ? 0 : dataset.numel() / src[0];
  for (size_t i = 0; i < indices.size(); ++i) {
    int64_t r = indices[i];
    if (r < 0 || r >= src[0])
      throw std::invalid_argument(
          fmt::format("gather_rows: index {} out of range for {} rows", r, src[0]));
    std::memcpy(out.data() + i * row, dataset.data() + r * row, row * sizeof(float));
  }
}

}  // namespace minimax::data
