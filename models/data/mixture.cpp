#include "models/data/mixture.h"

#include <fmt/format.h>

#include <cmath>
#include <numbers>
#include <stdexcept>

namespace minimax::data {

GaussianMixture::GaussianMixture(std::vector<Mode> modes, float sigma, std::string name)
    : modes_(std::move(modes)), sigma_(sigma), name_(std::move(name)) {
  if (modes_.empty()) throw std::invalid_argument("GaussianMixture: no modes");
  if (!(sigma_ > 0))
    throw std::invalid_argument(fmt::format("GaussianMixture: sigma {} is not positive", sigma_));
}

GaussianMixture GaussianMixture::ring8() {
  std::vector<Mode> modes;
  for (int k = 0; k < 8; ++k) {
    double angle = 2.0 * std::numbers::pi * k / 8.0;
    modes.push_back({static_cast<float>(std::cos(angle)), static_cast<float>(std::sin(angle))});
  }
  return GaussianMixture(std::move(modes), 0.01f, "ring8");
}

GaussianMixture GaussianMixture::grid25() {
  std::vector<Mode> modes;
  // Mode 5i + j at (x, y) = (2j - 4, 2i - 4): row by row from the bottom left.
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) modes.push_back({2.0f * j - 4, 2.0f * i - 4});
  return GaussianMixture(std::move(modes), 0.05f, "grid25");
}

Tensor GaussianMixture::sample(int64_t n, Generator& gen, Tensor* labels) const {
  Tensor chosen = Tensor::empty({n});
  for (int64_t i = 0; i < n; ++i) {
    auto k = static_cast<int64_t>(gen.uniform() * static_cast<float>(modes_.size()));
    chosen.data()[i] = static_cast<float>(std::min<int64_t>(k, modes_.size() - 1));
  }
  if (labels) *labels = chosen;
  return sample_modes(chosen, gen);
}

Tensor GaussianMixture::sample_modes(const Tensor& labels, Generator& gen) const {
  int64_t n = labels.numel();
  Tensor points = Tensor::empty({n, 2});
  for (int64_t i = 0; i < n; ++i) {
    const float label = labels.data()[i];
    if (!(label >= 0.0f && label < static_cast<float>(modes_.size()) && label == std::floor(label)))
      throw std::invalid_argument(
          fmt::format("{}: label {} is not a mode (0..{})", name_, label, modes_.size() - 1));
    const auto k = static_cast<int64_t>(label);
    points.data()[2 * i] = modes_[k].x + sigma_ * gen.normal();
    points.data()[2 * i + 1] = modes_[k].y + sigma_ * gen.normal();
  }
  return points;
}

}  // namespace minimax::data
