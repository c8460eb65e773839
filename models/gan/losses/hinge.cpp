#include "models/gan/losses.h"
#include "ops/ops.h"

namespace minimax::gan {

Loss hinge_loss() {
  return {.name = "hinge",
          .summary = "hinge: D relu(1 - D(x)) + relu(1 + D(G(z))), G -D(G(z))",
          .discriminator =
              [](const Tensor& real, const Tensor& fake) {
                return add(mean(relu(rsub(1.0f, real))), mean(relu(add(fake, 1.0f))));
              },
          .generator = [](const Tensor& fake) { return neg(mean(fake)); },
          .logits = false};
}

}  // namespace minimax::gan
