// Finite-difference checks of backward formulas, with error bounds derived from float32 rounding.
//
// gradcheck compares, for every element x_i of every input that requires grad, the analytic
// gradient of L = sum(f(inputs) * w) (w a fixed random weighting in [0.5, 1.5], so that errors
// cannot cancel) with finite differences of L. L is summed in double from the float32 outputs; h
// is the step actually taken once x_i +- eps is rounded to float32.
//
// The numeric value is Richardson's extrapolation (4 D(eps) - D(2 eps)) / 3 of the central
// differences at steps eps and 2 eps, which cancels their h^2 / 6 third-derivative truncation
// error.
//
// The error bound, from float32 rounding (u = 2^-24, its unit roundoff):
// - The numeric side. Each output y_j that moves when x_i does carries about `ulps` roundings of
//   its own magnitude on each side, independently of the others; one that does not move may hide a
//   true change of one rounding. Outputs that do not depend on x_i are computed bit for bit alike
//   and cancel. So the difference carries noise of standard deviation
//       u sqrt(sum_j r_j^2 w_j^2 (y_j(+)^2 + y_j(-)^2)) / (2 h),  r_j = ulps or 1,
//   of which `sigmas` are allowed. Where an output is a small float32 sum of large terms (a mean of
//   values that nearly cancel) it carries the terms' rounding, which its magnitude does not show;
//   the two differences then disagree by it, so `sigmas` times |D(eps) - D(2 eps)| is allowed too.
// - The analytic side is a float32 sum of the terms w_j dy_j/dx_i, whose magnitudes the moved
//   outputs give: it may be off by ulps u sum_j |w_j| |y_j(+) - y_j(-)| / (2 h).
// An op whose outputs go through a few roundings passes with the defaults; a longer chain (the
// random graphs) allows `ulps` per op. tests/test_gradcheck.cpp shows 1% errors in first and
// second derivatives caught.
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
  double eps = 1e-3;    // float32 inputs: smaller steps drown in rounding
  double ulps = 4.0;    // rounding of each output, in units of float32 roundoff (2^-24) of itself
  double sigmas = 4.0;  // standard deviations of the rounding noise allowed
  uint64_t seed = 7;    // for the output weighting w (and gradgradcheck's v)
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
