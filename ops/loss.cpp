// Losses, each the mean over all elements.
#include <fmt/format.h>

#include <stdexcept>

#include "ops/internal.h"

namespace minimax {

namespace {
void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  detail::check_defined(a, op, "input");
  detail::check_defined(b, op, "target");
  if (!(a.shape() == b.shape()))
    throw std::invalid_argument(fmt::format("{}: input {} and target {} differ in shape", op,
                                            a.shape().str(), b.shape().str()));
}
}  // namespace

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets) {
  check_same_shape(logits, targets, "binary_cross_entropy_with_logits");
  // -[t log s(l) + (1 - t) log(1 - s(l))] = softplus(l) - t l, with softplus stable for any l.
  return mean(sub(softplus(logits), mul(logits, targets)));
}

Tensor mse_loss(const Tensor& input, const Tensor& target) {
  check_same_shape(input, target, "mse_loss");
  return mean(square(sub(input, target)));
}

}  // namespace minimax
