#include "models/gan/losses.h"

#include <fmt/format.h>

#include <stdexcept>

namespace minimax::gan {

Loss wgan_gp_loss(float lambda) {
  if (!(lambda >= 0.0f))
    throw std::invalid_argument(
        fmt::format("wgan_gp_loss: penalty weight {} (must be >= 0)", lambda));
  Loss loss = wgan_loss();
  loss.name = "wgan-gp";
  loss.summary = "Wasserstein critic with gradient penalty 10 (Gulrajani et al.)";
  loss.weight_clip = 0;  // the penalty replaces the clipping
  loss.gradient_penalty = lambda;
  return loss;
}

}  // namespace minimax::gan
