#include "models/gan/losses.h"
#include "ops/ops.h"

namespace minimax::gan {

Loss minimax_loss() {
  return {.name = "minimax",
          .summary = "the paper's game: G descends log(1 - D(G(z)))",
          .discriminator = [](const Tensor& real,
                              const Tensor& fake) { return neg(value_function(real, fake)); },
          .generator = [](const Tensor& fake) { return mean(log_sigmoid(neg(fake))); }};
}

}  // namespace minimax::gan
