#include "models/gan/losses.h"

#include <fmt/format.h>

#include <stdexcept>

#include "ops/ops.h"

namespace minimax::gan {

Loss wgan_gp_loss(float lambda) {
  if (!(lambda >= 0.0f))
    throw std::invalid_argument(
        fmt::format("wgan_gp_loss: penalty weight {} (must be >= 0)", lambda));
  return {.name = "wgan-gp",
          .summary = "Wasserstein critic with gradient penalty 10 (Gulrajani et al.)",
          .discriminator = [](const Tensor& real,
                              const Tensor& fake) { return sub(mean(fake), mean(real)); },
          .generator = [](const Tensor& fake) { return neg(mean(fake)); },
          .logits = false,
          .gradient_penalty = lambda};
}

}  // namespace minimax::gan
