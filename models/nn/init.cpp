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

// Each draws as Tensor::uniform and Tensor::normal do, and writes through copy_ and fill_, which
// refuse a tensor with autograd history and count the change.
void uniform_(Tensor& t, float low, float high, Generator& gen) {
  t.copy_(Tensor::uniform(t.shape(), low, high, gen));
}

void normal_(Tensor& t, float mean, float stddev, Generator& gen) {
  t.copy_(Tensor::normal(t.shape(), mean, stddev, gen));
}

void constant_(Tensor& t, float value) {
  t.fill_(value);
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
