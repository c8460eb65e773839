#include "autograd/gradcheck.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "autograd/engine.h"
#include "autograd/random.h"
#include "ops/ops.h"

namespace minimax {

namespace {

constexpr double kRoundoff = 0x1p-24;  // float32's unit roundoff: half an ulp of 1

Tensor weights(const Shape& shape, uint64_t seed, float low, float high) {
  Generator gen(seed);
  return Tensor::uniform(shape, low, high, gen);
}

Tensor evaluate(const DifferentiableFn& f, const TensorList& inputs) {
  NoGradGuard no_grad;
  return f(inputs);
}

// A difference quotient in one input element, with the magnitudes its error bound is made of.
struct Difference {
  double numeric = 0.0;
  double noise = 0.0;  // the standard deviation of its rounding, in units of u
  double terms = 0.0;  // sum over outputs of |w| |y(+) - y(-)| / (2 h): the analytic sum's terms
  double disagreement = 0.0;  // |D(eps) - D(2 eps)|: a measured sample of the rounding noise
};

// f's outputs with x_i set to `value`, copied: an output may share x's storage (a reshape).
std::vector<float> outputs_at(const DifferentiableFn& f, const TensorList& inputs, float* x,
                              float value) {
  const float original = *x;
  *x = value;
  std::vector<float> y = evaluate(f, inputs).to_vector();
  *x = original;
  return y;
}

Difference central_difference(const DifferentiableFn& f, const TensorList& inputs, float* x,
                              const Tensor& w, double eps, double ulps) {
  // The step actually taken: x +- eps rounded to float32 is off eps by up to half an ulp of x.
  const float plus = static_cast<float>(*x + eps), minus = static_cast<float>(*x - eps);
  const std::vector<float> yp = outputs_at(f, inputs, x, plus);
  const std::vector<float> ym = outputs_at(f, inputs, x, minus);
  const double step = static_cast<double>(plus) - static_cast<double>(minus);
  double difference = 0.0, variance = 0.0, terms = 0.0;  // in double: the difference is the signal
  for (size_t j = 0; j < yp.size(); ++j) {
    const double a = yp[j], b = ym[j], c = w.data()[j];
    difference += c * (a - b);
    terms += std::abs(c * (a - b));
    // A moved output carries `ulps` roundings of itself on each side. One that did not move may
    // still hide a true change below its resolution: one rounding.
    const double roundings = a == b ? 1.0 : ulps;
    variance += roundings * roundings * c * c * (a * a + b * b);
  }
  return {difference / step, std::sqrt(variance) / step, terms / step};
}

// Richardson's extrapolation of the central differences at steps eps and 2 eps,
// (4 D(eps) - D(2 eps)) / 3, cancels their truncation error h^2 / 6 times the third derivative (a
// cube's 1e-6 at eps = 1e-3, as large as the rounding of a small output) and leaves h^4 terms.
// Its rounding noise is sqrt(16 + 1/4) / 3 that of D(eps). The two differences also measure that
// noise where the outputs cannot show it: a small output that is a float32 sum of large terms (a
// mean of values of order 1 that nearly cancel) carries the terms' rounding, not its own.
Difference extrapolated_difference(const DifferentiableFn& f, const TensorList& inputs, float* x,
                                   const Tensor& w, const GradcheckOptions& o) {
  const Difference d1 = central_difference(f, inputs, x, w, o.eps, o.ulps);
  const Difference d2 = central_difference(f, inputs, x, w, 2.0 * o.eps, o.ulps);
  return {(4.0 * d1.numeric - d2.numeric) / 3.0,
          std::sqrt(16.0 * d1.noise * d1.noise + d2.noise * d2.noise) / 3.0,
          (4.0 * d1.terms + d2.terms) / 3.0, std::abs(d1.numeric - d2.numeric)};
}

double error_bound(const Difference& d, const GradcheckOptions& o) {
  return kRoundoff * (o.sigmas * d.noise + o.ulps * d.terms) + o.sigmas * d.disagreement;
}

// The checked inputs' analytic gradients of sum(f(inputs) * w); undefined where there is none.
TensorList analytic_gradients(const DifferentiableFn& f, const TensorList& inputs,
                              const TensorList& checked, uint64_t seed, Tensor& w) {
  Tensor y = f(inputs);
  w = weights(y.shape(), seed, 0.5f, 1.5f);
  Tensor loss = sum(mul(y, w));
  // A loss that does not depend on the inputs through any recorded op has zero gradients.
  return loss.requires_grad() ? grad({loss}, checked, {.allow_unused = true})
                              : TensorList(checked.size());
}

void compare(GradcheckResult& result, const std::string& input, int64_t element, double exact,
             const Difference& d, const GradcheckOptions& o) {
  const double error = std::abs(exact - d.numeric), bound = error_bound(d, o);
  const double ratio = bound > 0.0 ? error / bound : (error > 0.0 ? INFINITY : 0.0);
  result.max_abs_error = std::max(result.max_abs_error, error);
  result.max_error_ratio = std::max(result.max_error_ratio, ratio);
  if (result.ok && !(error <= bound)) {  // a NaN fails too
    result.ok = false;
    result.message = fmt::format(
        "{} element {}: analytic {:.7g}, numeric {:.7g}, error {:.3g} over the bound {:.3g}", input,
        element, exact, d.numeric, error, bound);
  }
}

// gradcheck, naming the last input `last_name` when it is given.
GradcheckResult check(const DifferentiableFn& f, const TensorList& inputs,
                      const GradcheckOptions& o, const std::string& last_name = "") {
  TensorList checked;
  std::vector<std::string> names;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!inputs[k].requires_grad()) continue;
    checked.push_back(inputs[k]);
    names.push_back(!last_name.empty() && k + 1 == inputs.size() ? last_name
                                                                 : fmt::format("input {}", k));
  }
  GradcheckResult result;
  if (checked.empty()) {
    result.ok = false;
    result.message = "gradcheck: no input requires grad";
    return result;
  }
  Tensor w;
  TensorList analytic = analytic_gradients(f, inputs, checked, o.seed, w);
  for (size_t k = 0; k < checked.size(); ++k) {
    float* x = checked[k].data();
    for (int64_t i = 0; i < checked[k].numel(); ++i) {
      Difference d = extrapolated_difference(f, inputs, x + i, w, o);
      double exact = analytic[k].defined() ? analytic[k].data()[i] : 0.0;
      compare(result, names[k], i, exact, d, o);
    }
  }
  return result;
}

}  // namespace

GradcheckResult gradcheck(const DifferentiableFn& f, const TensorList& inputs,
                          const GradcheckOptions& o) {
  return check(f, inputs, o);
}

GradcheckResult gradgradcheck(const DifferentiableFn& f, const TensorList& inputs,
                              const GradcheckOptions& o) {
  if (std::none_of(inputs.begin(), inputs.end(), [](const Tensor& x) { return x.requires_grad(); }))
    return {.ok = false, .message = "gradgradcheck: no input requires grad"};
  // v, the gradient flowing into f's output, signed: a backward that mishandles its sign fails.
  Tensor v = weights(evaluate(f, inputs).shape(), o.seed + 1, -1.0f, 1.0f).requires_grad_();
  TensorList extended = inputs;
  extended.push_back(v);
  // (inputs..., v) -> the flattened gradients of sum(f(inputs) * v), recorded so that they
  // differentiate again, in the inputs and in v.
  DifferentiableFn first_derivatives = [&f, n = inputs.size()](const TensorList& xs) {
    GradModeGuard on(true);  // the finite differences evaluate without grad mode
    TensorList args(xs.begin(), xs.begin() + static_cast<std::ptrdiff_t>(n)), checked;
    for (const Tensor& x : args)
      if (x.requires_grad()) checked.push_back(x);
    Tensor y = f(args);
    TensorList gs =
        y.requires_grad()
            ? grad({y}, checked,
                   {.grad_outputs = {xs[n]}, .create_graph = true, .allow_unused = true})
            : TensorList(checked.size());
    TensorList flat;
    for (size_t k = 0; k < gs.size(); ++k)
      flat.push_back(reshape(gs[k].defined() ? gs[k] : Tensor::zeros(checked[k].shape()), {-1}));
    return concat(flat, 0);
  };
  return check(first_derivatives, extended, o, "the incoming gradient v");
}

}  // namespace minimax
