// Finite-difference checks of backward formulas.
//
// gradcheck compares, for every input element, the analytic gradient of L = sum(f(inputs) * w) (w a
// fixed random weighting, so that errors cannot cancel) with the central difference
// (L(x + eps) - L(x - eps)) / 2 eps. gradgradcheck does the same for the gradient of a gradient:
// it checks the first derivatives themselves, built with create_graph, against finite differences.
#pragma once

#include <functional>
#include <string>

#include "autograd/node.h"

namespace minimax {

struct GradcheckOptions {
  double eps = 1e-3;  // float32 inputs: smaller steps drown in rounding
  double atol = 1e-3;
  double rtol = 1e-2;
  uint64_t seed = 7;  // for the output weighting w
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0.0;
  std::string message;  // the first mismatch: input, element, analytic and numeric values
};

using DifferentiableFn = std::function<Tensor(const TensorList&)>;

// Inputs that should be checked must have requires_grad set; the others are held constant.
GradcheckResult gradcheck(const DifferentiableFn& f, const TensorList& inputs,
                          const GradcheckOptions& options = {});
GradcheckResult gradgradcheck(const DifferentiableFn& f, const TensorList& inputs,
                              const GradcheckOptions& options = {});

}  // namespace minimax
