#include "models/gan/losses.h"
#include "ops/ops.h"

namespace minimax::gan {

Loss lsgan_loss() {
  return {.name = "lsgan",
          .summary =
              "least squares (Mao et al.): D ((D(x) - 1)^2 + D(G(z))^2) / 2, G (D(G(z)) - 1)^2 / 2",
          .discriminator =
              [](const Tensor& real, const Tensor& fake) {
                return mul(add(mean(square(add(real, -1.0f))), mean(square(fake))), 0.5f);
              },
          .generator = [](const Tensor& fake) { return mul(mean(square(add(fake, -1.0f))), 0.5f); },
          .logits = false};
}

}  // namespace minimax::gan
