#include "models/nn/init.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace minimax::nn::init {

namespace {
void check_fannable(const Tensor& t, const char* what) {
  if (!t.defined() || t.dim() < 2)
    throw std::invalid_argument(fmt::format("{}: fans need a weight of rank >= 2, got {}", what,
                                            t.defined() ? t.shape().str() : "an undefined tensor"));
}
int64_t receptive_field(const Tensor& t) {
  int64_t r = 1;
  for (int i = 2; i < t.dim(); ++i) r *= t.size(i);
  return r;
}
int64_t fan(const Tensor& t, FanMode mode) {
  return mode == FanMode::kFanIn ? fan_in(t) : fan_out(t);
}
}  // namespace

float gain(Nonlinearity nonlinearity, float param) {
  switch (nonlinearity) {
    case Nonlinearity::kLinear:
    case Nonlinearity::kSigmoid:
      return 1.0f;
    case Nonlinearity::kTanh:
      return 5.0f / 3.0f;
    case Nonlinearity::kRelu:
      return std::sqrt(2.0f);
    case Nonlinearity::kLeakyRelu:
      return std::sqrt(2.0f / (1.0f + param * param));
  }
  return 1.0f;
}

int64_t fan_in(const Tensor& t) {
  check_fannable(t, "fan_in");
  return t.size(1) * receptive_field(t);
}

int64_t fan_out(const Tensor& t) {
  check_fannable(t, "fan_out");
  return t.size(0) * receptive_field(t);
}

void uniform_(Tensor& t, float low, float high, Generator& gen) {
  if (!(low <= high))
    throw std::invalid_argument(fmt::format("uniform_: low {} above high {}", low, high));
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = low + (high - low) * gen.uniform();
  t.bump_version();
}

void normal_(Tensor& t, float mean, float stddev, Generator& gen) {
  if (!(stddev >= 0))
    throw std::invalid_argument(fmt::format("normal_: negative stddev {}", stddev));
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = mean + stddev * gen.normal();
  t.bump_version();
}

void constant_(Tensor& t, float value) {
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = value;
  t.bump_version();
}

void xavier_uniform_(Tensor& t, float g, Generator& gen) {
  float a = g * std::sqrt(6.0f / static_cast<float>(fan_in(t) + fan_out(t)));
  uniform_(t, -a, a, gen);
}

void xavier_normal_(Tensor& t, float g, Generator& gen) {
  normal_(t, 0.0f, g * std::sqrt(2.0f / static_cast<float>(fan_in(t) + fan_out(t))), gen);
}

void kaiming_uniform_(Tensor& t, float a, FanMode mode, Nonlinearity nonlinearity, Generator& gen) {
  float bound = gain(nonlinearity, a) * std::sqrt(3.0f / static_cast<float>(fan(t, mode)));
  uniform_(t, -bound, bound, gen);
}

void kaiming_normal_(Tensor& t, float a, FanMode mode, Nonlinearity nonlinearity, Generator& gen) {
  normal_(t, 0.0f, gain(nonlinearity, a) / std::sqrt(static_cast<float>(fan(t, mode))), gen);
}

}  // namespace minimax::nn::init
