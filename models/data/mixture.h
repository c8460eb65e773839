// The 2-D mixtures of Gaussians of the mode-collapse literature (no files: generated).
//   ring8:  8 modes evenly on the unit circle, mode k at angle 2 pi k / 8, sigma 0.01
//   grid25: modes at {-4, -2, 0, 2, 4}^2, mode 5i + j at (x, y) = (2j - 4, 2i - 4), sigma 0.05
// A point's class (its label) is its mode's index.
#pragma once

#include <string>
#include <vector>

#include "autograd/random.h"
#include "autograd/tensor.h"

namespace minimax::data {

struct Mode {
  float x, y;
};

class GaussianMixture {
 public:
  GaussianMixture(std::vector<Mode> modes, float sigma, std::string name);
  static GaussianMixture ring8();
  static GaussianMixture grid25();

  // n points [n, 2], each from a uniformly chosen mode. When `labels` is given it receives each
  // point's mode index as floats [n].
  Tensor sample(int64_t n, Generator& gen, Tensor* labels = nullptr) const;
  // n points [n, 2] from the given modes (labels as floats, [n]).
  Tensor sample_modes(const Tensor& labels, Generator& gen) const;

  const std::vector<Mode>& modes() const { return modes_; }
  float sigma() const { return sigma_; }
  const std::string& name() const { return name_; }

 private:
  std::vector<Mode> modes_;
  float sigma_;
  std::string name_;
};

}  // namespace minimax::data
