#include "models/nn/clip_grad.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace minimax::nn::utils {

namespace {

TensorList gradients_of(const TensorList& parameters) {
  TensorList grads;
  for (const Tensor& p : parameters) {
    Tensor g = p.grad();
    if (g.defined()) grads.push_back(g);
  }
  return grads;
}

// sum |g|^p over every element, in double; for p = infinity the largest |g|. A NaN anywhere gives
// NaN (std::max would drop it).
double total_norm(const TensorList& grads, double p) {
  const bool max_norm = std::isinf(p);
  double total = 0.0;
  for (const Tensor& g : grads) {
    const float* v = g.data();
    for (int64_t i = 0, n = g.numel(); i < n; ++i) {
      const double a = std::abs(static_cast<double>(v[i]));
      if (std::isnan(a)) return std::numeric_limits<double>::quiet_NaN();
      if (max_norm)
        total = std::max(total, a);
      else
        total += p == 2.0 ? a * a : p == 1.0 ? a : std::pow(a, p);
    }
  }
  if (max_norm || p == 1.0) return total;
  return p == 2.0 ? std::sqrt(total) : std::pow(total, 1.0 / p);
}

}  // namespace

double clip_grad_norm_(const TensorList& parameters, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  if (!(max_norm >= 0.0))
    throw std::invalid_argument(fmt::format("clip_grad_norm_: max_norm {} must be >= 0", max_norm));
  if (!(norm_type > 0.0))
    throw std::invalid_argument(
        fmt::format("clip_grad_norm_: norm_type {} must be positive (or infinity)", norm_type));
  const TensorList grads = gradients_of(parameters);
  const double norm = total_norm(grads, norm_type);
  if (error_if_nonfinite && !std::isfinite(norm))
    throw std::runtime_error(fmt::format(
        "clip_grad_norm_: the total norm of order {} of the gradients is {}, so they cannot be "
        "clipped",
        norm_type, norm));
  // PyTorch's coefficient, clamped to 1 (NaN stays NaN), rounded to float as its kernel takes it.
  const double coefficient = max_norm / (norm + 1e-6);
  if (coefficient >= 1.0) return norm;  // a product by 1 would change nothing
  const auto scale = static_cast<float>(coefficient);
  for (const Tensor& g : grads) {
    float* v = g.data();
    for (int64_t i = 0, n = g.numel(); i < n; ++i) v[i] *= scale;
    g.bump_version();
  }
  return norm;
}

void clip_grad_value_(const TensorList& parameters, double clip_value) {
  if (!(clip_value >= 0.0))
    throw std::invalid_argument(
        fmt::format("clip_grad_value_: clip_value {} must be >= 0", clip_value));
  const auto bound = static_cast<float>(clip_value);
  // detach(): a gradient made with create_graph carries history; its values are clamped all
  // the same.
  for (const Tensor& g : gradients_of(parameters)) g.detach().clamp_(-bound, bound);
}

}  // namespace minimax::nn::utils
