// Spectral normalization (Miyato et al. 2018), as torch.nn.utils.spectral_norm: a Linear or Conv2d
// whose weight W is used as W / sigma, sigma an estimate of W's largest singular value (W viewed as
// [out, in * kh * kw]) from power iteration.
//
// The iteration's vectors u [out] and v [in * kh * kw] are buffers ("weight_u", "weight_v", as
// PyTorch names them), so checkpoints, Module::load and a moving average carry them. Each forward
// in training mode first advances them n_power_iterations steps (v = normalize(W^T u), u =
// normalize(W v)), without recording; eval mode uses them as stored, so an unchanged weight gives
// an unchanged sigma. Then sigma = u^T W v is computed inside the graph with u and v constant, so
// the gradient reaches W through sigma as in PyTorch (and differentiates again, for penalties).
#pragma once

#include <memory>
#include <string>

#include "models/nn/layers.h"

namespace minimax::nn {

struct SpectralNormOptions {
  int64_t n_power_iterations = 1;
  float eps = 1e-12f;  // normalize(t) = t / max(|t|, eps)
};

class SpectralNorm : public Module {
 public:
  // Wraps `module`, a Linear or a Conv2d (anything else is std::invalid_argument), registered as
  // the child "module": its parameters are "module.weight" and "module.bias". u and v start as
  // normalized N(0, 1) draws from `gen` (the default generator when null).
  explicit SpectralNorm(std::shared_ptr<Module> module, SpectralNormOptions options = {},
                        Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  // W / sigma with the stored u and v, recorded (advances nothing).
  Tensor normalized_weight() const;
  // sigma = u^T W v with the stored u and v, not recorded.
  float sigma() const;

  std::shared_ptr<Module> module;
  Tensor weight_u, weight_v;  // buffers

 private:
  void power_iteration();

  std::shared_ptr<Linear> linear_;  // exactly one of the two is set
  std::shared_ptr<Conv2d> conv_;
  Tensor weight_;  // the wrapped module's weight
  SpectralNormOptions options_;
};

// spectral_norm(std::make_shared<Linear>(128, 1)), as torch.nn.utils.spectral_norm(module).
inline std::shared_ptr<SpectralNorm> spectral_norm(std::shared_ptr<Module> module,
                                                   SpectralNormOptions options = {}) {
  return std::make_shared<SpectralNorm>(std::move(module), options);
}

}  // namespace minimax::nn
