// Generator: a small, seedable, copyable random number generator (xoshiro256**).
//
// Its whole state is four words, so a checkpoint can store it and a resumed run draws the same
// numbers as one that never stopped.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace minimax {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { seed_with(seed); }
  void seed_with(uint64_t seed);

  // Inline: dropout masks and initializers draw millions of these per step.
  uint64_t next_u64() {
    const uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = std::rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1): the top 24 bits give every float there with spacing 2^-24.
  float uniform() { return static_cast<float>(next_u64() >> 40) * 0x1.0p-24f; }
  // Standard normal (Box-Muller; the second value of each pair is kept for the next call).
  float normal();
  // Advances the state by 2^128 draws (xoshiro256**'s jump) and drops a cached normal: generators
  // jumped 0, 1, 2, ... times from one seed give streams that cannot overlap in practice, one per
  // process of a data-parallel run. Jumping commutes with drawing.
  void jump();

  using State = std::array<uint64_t, 5>;  // four state words and the cached normal (as bits + flag)
  State state() const;
  // Throws std::invalid_argument for a state no generator is in: four zero words, or a
  // cached-normal word state() does not write.
  void set_state(const State& s);

 private:
  std::array<uint64_t, 4> s_{};
  float cached_normal_ = 0.0f;
  bool has_cached_normal_ = false;
};

// SplitMix64's output function: a bijective mix of 64 bits, good enough that consecutive inputs
// give outputs that pass BigCrush. It seeds Generator and makes keyed_uniform.
inline uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
inline constexpr uint64_t kSplitmix64Increment = 0x9e3779b97f4a7c15ULL;

// Draw `index` of a counter-based stream named by `key`: SplitMix64's output for the state
// key + (index + 1) * increment; keyed_bits24 keeps its top 24 bits, keyed_uniform makes them a
// uniform in [0, 1) (as Generator::uniform). Any index is computed alone, so a parallel loop makes
// the same numbers at every thread count; dropout names one stream per call with one draw from a
// Generator.
inline uint32_t keyed_bits24(uint64_t key, uint64_t index) {
  return static_cast<uint32_t>(splitmix64_mix(key + (index + 1) * kSplitmix64Increment) >> 40);
}
inline float keyed_uniform(uint64_t key, uint64_t index) {
  return static_cast<float>(keyed_bits24(key, index)) * 0x1.0p-24f;
}

// The process-wide generator used where none is passed (initializers, Dropout modules). Seed it
// with manual_seed for reproducible runs; checkpoints store its state.
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace minimax
