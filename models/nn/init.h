// Initializers: fill a parameter in place (never recorded), from `gen` (the default generator when
// omitted). Fans follow PyTorch: a weight [out, in, k...] has fan_in = in * prod(k), fan_out =
// out * prod(k).
#pragma once

#include "autograd/random.h"
#include "autograd/tensor.h"

namespace minimax::nn::init {

enum class FanMode { kFanIn, kFanOut };
enum class Nonlinearity { kLinear, kSigmoid, kTanh, kRelu, kLeakyRelu };

// The recommended gain for a nonlinearity (PyTorch's calculate_gain); `param` is leaky ReLU's
// slope.
float gain(Nonlinearity nonlinearity, float param = 0.01f);
int64_t fan_in(const Tensor& t);
int64_t fan_out(const Tensor& t);

void uniform_(Tensor& t, float low, float high, Generator& gen = default_generator());
void normal_(Tensor& t, float mean, float stddev, Generator& gen = default_generator());
void constant_(Tensor& t, float value);
// U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)).
void xavier_uniform_(Tensor& t, float gain = 1.0f, Generator& gen = default_generator());
// N(0, gain^2 * 2 / (fan_in + fan_out)).
void xavier_normal_(Tensor& t, float gain = 1.0f, Generator& gen = default_generator());
// U(-b, b), b = gain(nonlinearity, a) * sqrt(3 / fan); `a` is the leaky ReLU slope.
void kaiming_uniform_(Tensor& t, float a = 0.0f, FanMode mode = FanMode::kFanIn,
                      Nonlinearity nonlinearity = Nonlinearity::kLeakyRelu,
                      Generator& gen = default_generator());
// N(0, std^2), std = gain(nonlinearity, a) / sqrt(fan).
void kaiming_normal_(Tensor& t, float a = 0.0f, FanMode mode = FanMode::kFanIn,
                     Nonlinearity nonlinearity = Nonlinearity::kLeakyRelu,
                     Generator& gen = default_generator());

}  // namespace minimax::nn::init
