#include "models/nn/spectral_norm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace minimax::nn {

namespace {

// t / max(|t|, eps), not recorded.
Tensor normalized(const Tensor& t, float eps) {
  NoGradGuard no_grad;
  float norm = std::sqrt(sum(square(t)).item());
  return mul(t, 1.0f / std::max(norm, eps));
}

// A weight [out, ...] as the matrix [out, rest] whose largest singular value sigma estimates.
Tensor as_matrix(const Tensor& w) {
  return reshape(w, {w.size(0), w.numel() / w.size(0)});
}

// W v for a vector v: [rows].
Tensor times(const Tensor& matrix, const Tensor& v, bool transposed) {
  Tensor column = matmul(matrix, reshape(v, {v.numel(), 1}), transposed);
  return reshape(column, {column.numel()});
}

}  // namespace

SpectralNorm::SpectralNorm(std::shared_ptr<Module> wrapped, SpectralNormOptions o, Generator* gen)
    : Module("SpectralNorm"), options_(o) {
  if (!wrapped) throw std::invalid_argument("SpectralNorm: the module to wrap is null");
  linear_ = std::dynamic_pointer_cast<Linear>(wrapped);
  conv_ = std::dynamic_pointer_cast<Conv2d>(wrapped);
  if (!linear_ && !conv_)
    throw std::invalid_argument(
        fmt::format("SpectralNorm: wraps a Linear or a Conv2d, got {}", wrapped->type_name()));
  if (o.n_power_iterations < 1 || !(o.eps > 0.0f))
    throw std::invalid_argument(
        fmt::format("SpectralNorm: n_power_iterations {} and eps {} must be positive",
                    o.n_power_iterations, o.eps));
  module = register_module("module", std::move(wrapped));
  weight_ = linear_ ? linear_->weight : conv_->weight;
  Generator& g = gen ? *gen : default_generator();
  const int64_t rows = weight_.size(0), cols = weight_.numel() / rows;
  weight_u = register_buffer("weight_u", normalized(Tensor::normal({rows}, 0, 1, g), o.eps));
  weight_v = register_buffer("weight_v", normalized(Tensor::normal({cols}, 0, 1, g), o.eps));
}

void SpectralNorm::power_iteration() {
  NoGradGuard no_grad;
  Tensor w = as_matrix(weight_.detach()), u = weight_u, v = weight_v;
  for (int64_t i = 0; i < options_.n_power_iterations; ++i) {
    v = normalized(times(w, u, true), options_.eps);
    u = normalized(times(w, v, false), options_.eps);
  }
  weight_u.copy_(u);
  weight_v.copy_(v);
}

Tensor SpectralNorm::normalized_weight() const {
  // Copies: the graph must keep these values when the next training forward moves the buffers.
  Tensor u = weight_u.detach().clone(), v = weight_v.detach().clone();
  Tensor sigma = sum(mul(u, times(as_matrix(weight_), v, false)));
  return div(weight_, sigma);
}

float SpectralNorm::sigma() const {
  NoGradGuard no_grad;
  return sum(mul(weight_u, times(as_matrix(weight_), weight_v, false))).item();
}

Tensor SpectralNorm::forward(const Tensor& x) {
  if (is_training()) power_iteration();
  Tensor w = normalized_weight();
  if (linear_) return linear(x, w, linear_->bias);
  return conv2d(x, w, conv_->bias, conv_->options);
}

std::string SpectralNorm::describe() const {
  return fmt::format("SpectralNorm({} power iteration{} per training forward)",
                     options_.n_power_iterations, options_.n_power_iterations == 1 ? "" : "s");
}

}  // namespace minimax::nn
