// Generator: a small, seedable, copyable random number generator (xoshiro256**).
//
// Its whole state is four words, so a checkpoint can store it and a resumed run draws the same
// numbers as one that never stopped.
#pragma once

#include <array>
#include <cstdint>

namespace minimax {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { seed_with(seed); }
  void seed_with(uint64_t seed);

  uint64_t next_u64();
  // Uniform in [0, 1).
  float uniform();
  // Standard normal (Box-Muller; the second value of each pair is kept for the next call).
  float normal();

  using State = std::array<uint64_t, 5>;  // four state words and the cached normal (as bits + flag)
  State state() const;
  void set_state(const State& s);

 private:
  std::array<uint64_t, 4> s_{};
  float cached_normal_ = 0.0f;
  bool has_cached_normal_ = false;
};

// The process-wide generator used where none is passed (initializers, Dropout modules). Seed it
// with manual_seed for reproducible runs; checkpoints store its state.
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace minimax
