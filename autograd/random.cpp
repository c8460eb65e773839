#include "autograd/random.h"

#include <fmt/format.h>

#include <cmath>
#include <numbers>
#include <stdexcept>

namespace minimax {

namespace {
uint64_t splitmix64(uint64_t& x) {
  return splitmix64_mix(x += kSplitmix64Increment);
}
}  // namespace

void Generator::seed_with(uint64_t seed) {
  for (auto& w : s_) w = splitmix64(seed);
  has_cached_normal_ = false;
}

float Generator::normal() {
  if (has_cached_normal_) {
    has_cached_normal_ = false;
    return cached_normal_;
  }
  double u1 = (static_cast<double>(next_u64() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]: log is finite
  double u2 = static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
  double r = std::sqrt(-2.0 * std::log(u1));
  double theta = 2.0 * std::numbers::pi * u2;
  cached_normal_ = static_cast<float>(r * std::sin(theta));
  has_cached_normal_ = true;
  return static_cast<float>(r * std::cos(theta));
}

void Generator::jump() {
  // The jump polynomial of Blackman and Vigna's reference xoshiro256**: the state after 2^128
  // steps is the XOR of the states after the steps whose bits are set.
  static constexpr uint64_t kJump[] = {0x180ec6d33cfd0abaULL, 0xd5a61266f0c9392cULL,
                                       0xa9582618e03fc9aaULL, 0x39abdc4529b1661cULL};
  std::array<uint64_t, 4> jumped{};
  for (uint64_t word : kJump) {
    for (int bit = 0; bit < 64; ++bit) {
      if (word & (uint64_t{1} << bit))
        for (int i = 0; i < 4; ++i) jumped[i] ^= s_[i];
      next_u64();
    }
  }
  s_ = jumped;
  has_cached_normal_ = false;
}

Generator::State Generator::state() const {
  uint64_t cached =
      has_cached_normal_ ? (uint64_t{1} << 32) | std::bit_cast<uint32_t>(cached_normal_) : 0;
  return {s_[0], s_[1], s_[2], s_[3], cached};
}

void Generator::set_state(const State& s) {
  if (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0)
    throw std::invalid_argument(
        "Generator: a state of four zero words, which xoshiro256** never reaches and never leaves "
        "(every draw would be 0)");
  const uint64_t flag = s[4] >> 32;
  if (flag > 1 || (flag == 0 && s[4] != 0))
    throw std::invalid_argument(
        fmt::format("Generator: cached-normal word {:#x} is not one state() writes (0, or bit 32 "
                    "set above a float's 32 bits)",
                    s[4]));
  for (int i = 0; i < 4; ++i) s_[i] = s[i];
  has_cached_normal_ = flag != 0;
  cached_normal_ = std::bit_cast<float>(static_cast<uint32_t>(s[4]));
}

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(uint64_t seed) {
  default_generator().seed_with(seed);
}

}  // namespace minimax
