#include "models/gan/losses.h"

#include <fmt/format.h>

#include <stdexcept>

#include "autograd/node.h"
#include "ops/ops.h"

namespace minimax::gan {

namespace {

// Per-sample squared norm of d out / d x (out computed from x, which requires grad), with the
// graph of that gradient kept so that it backpropagates into D's parameters.
Tensor squared_gradient_norm(const Tensor& out, const Tensor& x) {
  Tensor gx = grad({sum(out)}, {x}, {.create_graph = true})[0];
  return sum(square(flatten(gx)), {1});
}

// The same for a fresh forward of d at x.
Tensor squared_input_gradient_norm(const Critic& d, const Tensor& x) {
  GradModeGuard on(true);  // a penalty is a gradient: it needs the graph even under no-grad
  Tensor x_leaf = x.detach().requires_grad_();
  return squared_gradient_norm(d(x_leaf), x_leaf);
}

}  // namespace

Tensor value_function(const Tensor& real_logits, const Tensor& fake_logits) {
  return add(mean(log_sigmoid(real_logits)), mean(log_sigmoid(neg(fake_logits))));
}

float Loss::mean_output(const Tensor& outputs) const {
  NoGradGuard no_grad;
  return mean(logits ? sigmoid(outputs) : outputs).item();
}

const std::vector<Loss>& registered_losses() {
  static const std::vector<Loss> losses = {
      nonsaturating_loss(), minimax_loss(), wgan_loss(), wgan_gp_loss(), hinge_loss(), lsgan_loss(),
  };
  return losses;
}

std::string loss_names() {
  const std::vector<Loss>& losses = registered_losses();
  std::string names;
  for (size_t i = 0; i < losses.size(); ++i)
    names += (i == 0 ? "" : i + 1 == losses.size() ? " or " : ", ") + losses[i].name;
  return names;
}

const Loss& find_loss(const std::string& name) {
  for (const Loss& loss : registered_losses())
    if (loss.name == name) return loss;
  throw std::invalid_argument(fmt::format("unknown loss '{}' (choose {})", name, loss_names()));
}

Tensor gradient_penalty(const Critic& d, const Tensor& real, const Tensor& fake, Generator& gen) {
  if (!(real.shape() == fake.shape()))
    throw std::invalid_argument(fmt::format("gradient_penalty: real {} and fake {} differ in shape",
                                            real.shape().str(), fake.shape().str()));
  Shape eps_shape{real.size(0)};
  for (int i = 1; i < real.dim(); ++i) eps_shape.push_back(1);
  Tensor eps = Tensor::uniform(eps_shape, 0.0f, 1.0f, gen);
  Tensor x_hat = add(mul(eps, real.detach()), mul(rsub(1.0f, eps), fake.detach()));
  Tensor norm = sqrt(add(squared_input_gradient_norm(d, x_hat), 1e-12f));  // no sqrt'(0)
  return mean(square(add(norm, -1.0f)));
}

Tensor r1_penalty(const Critic& d, const Tensor& real, float gamma) {
  return mul(mean(squared_input_gradient_norm(d, real)), 0.5f * gamma);
}

Tensor r1_penalty_at(const Tensor& real, const Tensor& real_logits, float gamma) {
  if (!real.requires_grad())
    throw std::invalid_argument(fmt::format(
        "r1_penalty_at: the real batch {} does not require grad, so D's gradient at it cannot be "
        "taken (make it with requires_grad_() before D's forward)",
        real.shape().str()));
  return mul(mean(squared_gradient_norm(real_logits, real)), 0.5f * gamma);
}

}  // namespace minimax::gan
