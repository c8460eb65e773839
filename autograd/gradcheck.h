// Finite-difference checks of backward formulas, with error bounds derived from float32 rounding.
//
// gradcheck compares, for every element x_i of every input that requires grad, the analytic
// gradient of L = sum(f(inputs) * w) (w a fixed random weighting in [0.5, 1.5], so that errors
// cannot cancel) with the central difference (L(x_i + h) - L(x_i - h)) / (2 h). L is summed in
// double from the float32 outputs; h is the step actually taken once x_i +- eps is rounded to
// float32.
//
// The error bound. Each float32 output y_j carries a rounding error of about `ulps` units of
// roundoff (u = 2^-24) of its own magnitude; the errors of different outputs are independent.
// Only outputs that move when x_i does contribute to L(x_i + h) - L(x_i - h) (the others are
// computed bit for bit alike and cancel), so the central difference carries an error of standard
// deviation
//     ulps * u * sqrt(sum over moved j of w_j^2 (y_j(+)^2 + y_j(-)^2)) / (2 h),
// of which `sigmas` are allowed. The analytic side is a float32 sum of the terms w_j dy_j/dx_i,
// whose magnitudes the difference quotients of the moved outputs give: it may be off by
// ulps * u * sum_j |w_j| |y_j(+) - y_j(-)| / (2 h). The truncation error of the central difference,
// h^2 / 6 times a third derivative, is ~1e-7 at the default step for the O(1) inputs of the tables,
// below the rounding bound. So an op whose outputs go through a few roundings passes with the
// defaults; one whose outputs are long float32 sums with cancellation (a convolution, a
// normalization) earns its larger `ulps` by that arithmetic, and says so where it sets it.
//
// gradgradcheck does what PyTorch's does: the gradient flowing into f's output is itself an input.
// It checks, with gradcheck, the function (inputs..., v) -> the gradients of sum(f(inputs) * v)
// with respect to the inputs (built with create_graph), so it differentiates every backward both
// in the inputs and in v: the backward of the backward is checked for linear ops too, whose
// second derivatives in the inputs alone are zero.
#pragma once

#include <functional>
#include <string>

#include "autograd/node.h"

namespace minimax {

struct GradcheckOptions {
  double eps = 1e-3;   // float32 inputs: smaller steps drown in rounding
  double ulps = 4.0;   // rounding of each output, in units of float32 roundoff (2^-24) of itself
  double sigmas = 4.0;  // standard deviations of the rounding model allowed
  uint64_t seed = 7;   // for the output weighting w (and gradgradcheck's v)
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0.0;
  double max_error_ratio = 0.0;  // the largest |analytic - numeric| / bound: ok iff <= 1
  std::string message;  // the first mismatch: input, element, analytic and numeric values, bound
};

using DifferentiableFn = std::function<Tensor(const TensorList&)>;

// Inputs that should be checked must have requires_grad set; the others are held constant.
GradcheckResult gradcheck(const DifferentiableFn& f, const TensorList& inputs,
                          const GradcheckOptions& options = {});
// The extra input v is reported as "the incoming gradient v".
GradcheckResult gradgradcheck(const DifferentiableFn& f, const TensorList& inputs,
                              const GradcheckOptions& options = {});

}  // namespace minimax
