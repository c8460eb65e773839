// Differentiates y = sum(x^2) at x = (1, 2) through an installed minimax; exits 0 when dy/dx = 2x.
#include <cstdio>

#include "minimax.h"

int main() {
  minimax::Tensor x = minimax::Tensor::from_vector({1.0f, 2.0f}, {2}).requires_grad_();
  minimax::sum(minimax::square(x)).backward();
  auto g = x.grad().to_vector();
  bool ok = g[0] == 2.0f && g[1] == 4.0f;
  std::printf("consumer: grad = (%g, %g): %s\n", g[0], g[1], ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
