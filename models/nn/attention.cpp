#include "models/nn/attention.h"

#include <fmt/format.h>

#include <stdexcept>

#include "models/nn/layers.h"
#include "models/nn/spectral_norm.h"

namespace minimax::nn {

namespace {

std::shared_ptr<Module> pointwise_conv(int64_t in, int64_t out, bool spectral) {
  auto conv = std::make_shared<Conv2d>(in, out, 1);
  if (!spectral) return conv;
  return std::make_shared<SpectralNorm>(conv);
}

}  // namespace

SelfAttention2d::SelfAttention2d(int64_t channels, SelfAttention2dOptions o)
    : Module("SelfAttention2d"), channels_(channels) {
  if (channels < 1 || o.reduction < 1 || channels % o.reduction != 0)
    throw std::invalid_argument(
        fmt::format("SelfAttention2d: {} channels must be positive and divide by the reduction {}",
                    channels, o.reduction));
  reduced_ = channels / o.reduction;
  query = register_module("query", pointwise_conv(channels, reduced_, o.spectral_norm));
  key = register_module("key", pointwise_conv(channels, reduced_, o.spectral_norm));
  value = register_module("value", pointwise_conv(channels, channels, o.spectral_norm));
  gamma = register_parameter("gamma", Tensor::zeros({1}));
}

Tensor SelfAttention2d::forward(const Tensor& x) {
  if (x.defined() && (x.dim() != 4 || x.size(1) != channels_))
    throw std::invalid_argument(
        fmt::format("SelfAttention2d: expects [N, {}, H, W], got {}", channels_, x.shape().str()));
  const int64_t n = x.size(0), positions = x.size(2) * x.size(3);
  Tensor q = reshape((*query)(x), {n, reduced_, positions});
  Tensor k = reshape((*key)(x), {n, reduced_, positions});
  Tensor v = reshape((*value)(x), {n, channels_, positions});
  // attention[b, i, j] = softmax over j of query_i . key_j; out[b, :, i] = sum_j value_j
  // attention[b, i, j].
  Tensor attention = softmax(bmm(q, k, true, false), -1);
  Tensor attended = reshape(bmm(v, attention, false, true), x.shape());
  return add(mul(gamma, attended), x);
}

std::string SelfAttention2d::describe() const {
  return fmt::format("SelfAttention2d({} channels, queries and keys of {})", channels_, reduced_);
}

}  // namespace minimax::nn
