#include "models/gan/latent.h"

#include <fmt/format.h>

#include <stdexcept>

#include "autograd/node.h"
#include "ops/ops.h"

namespace minimax::gan {

Tensor interpolate_latents(const Tensor& from, const Tensor& to, int64_t steps) {
  if (from.dim() != 2 || !(from.shape() == to.shape()))
    throw std::invalid_argument(
        fmt::format("interpolate_latents: ends {} and {} must both be [r, d]", from.shape().str(),
                    to.shape().str()));
  if (steps < 2)
    throw std::invalid_argument(
        fmt::format("interpolate_latents: {} steps; a line needs at least its 2 ends", steps));
  NoGradGuard no_grad;
  const int64_t rows = from.size(0), dim = from.size(1);
  std::vector<float> t(steps), one_minus_t(steps);
  for (int64_t i = 0; i < steps; ++i) {
    t[i] = static_cast<float>(i) / static_cast<float>(steps - 1);
    one_minus_t[i] = 1.0f - t[i];
  }
  // (1 - t) from + t to, rather than from + t (to - from): both ends come out exactly.
  // [1, steps, 1] * [r, 1, d] broadcasts to [r, steps, d].
  Tensor walk =
      add(mul(Tensor::from_vector(one_minus_t, {1, steps, 1}), reshape(from, {rows, 1, dim})),
          mul(Tensor::from_vector(t, {1, steps, 1}), reshape(to, {rows, 1, dim})));
  return reshape(walk, {rows * steps, dim});
}

}  // namespace minimax::gan
