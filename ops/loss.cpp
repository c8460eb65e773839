// Losses, each a mean: over all elements, or over the rows for cross_entropy.
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

Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  detail::check_rank(logits, 2, "cross_entropy", "logits");
  detail::check_defined(labels, "cross_entropy", "labels");
  const int64_t n = logits.size(0), classes = logits.size(1);
  if (n == 0 || classes == 0)
    throw std::invalid_argument(fmt::format(
        "cross_entropy: logits {} must have at least one row and one class", logits.shape().str()));
  if (!(labels.shape() == Shape{n}))
    throw std::invalid_argument(
        fmt::format("cross_entropy: labels {} must be [{}], one class per row of logits {}",
                    labels.shape().str(), n, logits.shape().str()));
  detail::check_indices(labels, classes, "cross_entropy", "labels");
  // The one-hot mask picks each row's log-probability; it is a constant, so only logits get a
  // gradient, softmax(logits) - one_hot over n.
  Tensor picked = mul(log_softmax(logits, 1), one_hot(labels, classes));
  return mul(sum(picked), -1.0f / static_cast<float>(n));
}

}  // namespace minimax
