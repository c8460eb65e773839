// The tape, backward/grad, grad mode and their errors.
#include <doctest/doctest.h>

#include "minimax.h"

using namespace minimax;

TEST_CASE("backward accumulates into leaves through a shared subexpression") {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3}).requires_grad_();
  Tensor y = mul(x, x);       // x^2
  Tensor z = sum(add(y, y));  // 2 x^2
  z.backward();
  std::vector<float> g = x.grad().to_vector();
  CHECK(g == std::vector<float>{4, 8, 12});
}
