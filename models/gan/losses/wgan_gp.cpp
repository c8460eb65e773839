#include "models/gan/losses.h"
#include "ops/ops.h"

namespace minimax::gan {

Loss wgan_gp_loss(float lambda) {
  return {.name = "wgan-gp",
          .summary = "Wasserstein critic with gradient penalty 10 (Gulrajani et al.)",
          .discriminator = [](const Tensor& real,
                              const Tensor& fake) { return sub(mean(fake), mean(real)); },
          .generator = [](const Tensor& fake) { return neg(mean(fake)); },
          .logits = false,
          .gradient_penalty = lambda};
}

}  // namespace minimax::gan
