#include "autograd/gradcheck.h"

#include <fmt/format.h>

#include <cmath>

#include "autograd/engine.h"
#include "autograd/random.h"
#include "ops/ops.h"

namespace minimax {

namespace {

// L = sum(f(inputs) * w) as a recorded scalar.
Tensor weighted_sum(const DifferentiableFn& f, const TensorList& inputs,
                    const GradcheckOptions& o) {
  Tensor y = f(inputs);
  Generator gen(o.seed);
  Tensor w = Tensor::uniform(y.shape(), 0.5f, 1.5f, gen);
  return sum(mul(y, w));
}

double evaluate(const DifferentiableFn& f, const TensorList& inputs, const GradcheckOptions& o) {
  NoGradGuard no_grad;
  Tensor y = f(inputs);
  Generator gen(o.seed);
  Tensor w = Tensor::uniform(y.shape(), 0.5f, 1.5f, gen);
  double total = 0.0;  // accumulated in double: the difference of two such sums is the signal
  for (int64_t i = 0; i < y.numel(); ++i) total += static_cast<double>(y.data()[i]) * w.data()[i];
  return total;
}

}  // namespace

GradcheckResult gradcheck(const DifferentiableFn& f, const TensorList& inputs,
                          const GradcheckOptions& o) {
  TensorList checked;
  for (const Tensor& x : inputs)
    if (x.requires_grad()) checked.push_back(x);
  GradcheckResult result;
  if (checked.empty()) {
    result.ok = false;
    result.message = "gradcheck: no input requires grad";
    return result;
  }
  Tensor loss = weighted_sum(f, inputs, o);
  // A loss that does not depend on the inputs through any recorded op has zero gradients.
  TensorList analytic = loss.requires_grad() ? grad({loss}, checked, {.allow_unused = true})
                                             : TensorList(checked.size());
  for (size_t k = 0; k < checked.size(); ++k) {
    float* x = checked[k].data();
    for (int64_t i = 0; i < checked[k].numel(); ++i) {
      float original = x[i];
      x[i] = static_cast<float>(original + o.eps);
      double plus = evaluate(f, inputs, o);
      x[i] = static_cast<float>(original - o.eps);
      double minus = evaluate(f, inputs, o);
      x[i] = original;
      double numeric = (plus - minus) / (2.0 * o.eps);
      double exact = analytic[k].defined() ? analytic[k].data()[i] : 0.0;
      double error = std::abs(exact - numeric);
      result.max_abs_error = std::max(result.max_abs_error, error);
      if (result.ok && error > o.atol + o.rtol * std::abs(numeric)) {
        result.ok = false;
        result.message = fmt::format("input {} element {}: analytic {:.6g}, numeric {:.6g}", k, i,
                                     exact, numeric);
      }
    }
  }
  return result;
}

GradcheckResult gradgradcheck(const DifferentiableFn& f, const TensorList& inputs,
                              const GradcheckOptions& o) {
  // The scalar sum_k <dL/dx_k, v_k>: differentiating it checks every second derivative of L along
  // v.
  DifferentiableFn first_derivatives = [&](const TensorList& xs) {
    TensorList checked;
    for (const Tensor& x : xs)
      if (x.requires_grad()) checked.push_back(x);
    Tensor loss = weighted_sum(f, xs, o);
    if (!loss.requires_grad()) return Tensor::scalar(0.0f);
    TensorList gs = grad({loss}, checked, {.create_graph = true, .allow_unused = true});
    Generator gen(o.seed + 1);
    Tensor total = Tensor::scalar(0.0f);
    for (const Tensor& g : gs)
      if (g.defined()) total = add(total, sum(mul(g, Tensor::uniform(g.shape(), 0.5f, 1.5f, gen))));
    return total;
  };
  // The finite differences run without grad mode, so the inner grad() must turn it back on.
  DifferentiableFn with_grad = [&](const TensorList& xs) {
    GradModeGuard on(true);
    return first_derivatives(xs);
  };
  return gradcheck(with_grad, inputs, o);
}

}  // namespace minimax
