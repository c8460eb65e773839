#include "models/gan/losses.h"
#include "ops/ops.h"

namespace minimax::gan {

Loss nonsaturating_loss() {
  Loss loss = minimax_loss();  // D plays the same game
  loss.name = "nonsaturating";
  loss.summary = "the paper's practical G: descends -log D(G(z)) (the default)";
  loss.generator = [](const Tensor& fake) { return neg(mean(log_sigmoid(fake))); };
  return loss;
}

}  // namespace minimax::gan
