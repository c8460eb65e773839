#include "models/gan/losses.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "ops/ops.h"

namespace minimax::gan {

Loss wgan_loss(float clip) {
  if (!(clip > 0.0f) || !std::isfinite(clip))
    throw std::invalid_argument(
        fmt::format("wgan_loss: weight clip {} (must be positive and finite)", clip));
  return {.name = "wgan",
          .summary = fmt::format(
              "Wasserstein critic, weights clipped to [-{0:g}, {0:g}] (Arjovsky et al.; "
              "they use --optimizer rmsprop --lr 5e-5 --k 5)",
              clip),
          .discriminator = [](const Tensor& real,
                              const Tensor& fake) { return sub(mean(fake), mean(real)); },
          .generator = [](const Tensor& fake) { return neg(mean(fake)); },
          .logits = false,
          .weight_clip = clip};
}

}  // namespace minimax::gan
