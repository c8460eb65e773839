#include "models/gan/losses.h"

#include <fmt/format.h>

#include <stdexcept>

#include "autograd/node.h"
#include "ops/ops.h"

namespace minimax::gan {

namespace {

// Per-sample squared gradient norm of d at x: sum over every non-batch dimension.
Tensor squared_input_gradient_norm(const Critic& d, const Tensor& x) {
  GradModeGuard on(true);  // a penalty is a gradient: it needs the graph even under no-grad
  Tensor x_leaf = x.detach().requires_grad_();
  Tensor out = d(x_leaf);
  Tensor gx = grad({sum(out)}, {x_leaf}, {}, /*create_graph=*/true)[0];
  return sum(square(flatten(gx)), {1});
}

}  // namespace

Tensor value_function(const Tensor& real_logits, const Tensor& fake_logits) {
  return add(mean(log_sigmoid(real_logits)), mean(log_sigmoid(neg(fake_logits))));
}

Loss parse_loss(const std::string& name) {
  if (name == "minimax") return Loss::kMinimax;
  if (name == "nonsaturating") return Loss::kNonSaturating;
  if (name == "wgan-gp") return Loss::kWassersteinGp;
  if (name == "hinge") return Loss::kHinge;
  if (name == "lsgan") return Loss::kLeastSquares;
  throw std::invalid_argument(fmt::format(
      "unknown loss '{}' (choose minimax, nonsaturating, wgan-gp, hinge or lsgan)", name));
}

std::string loss_name(Loss loss) {
  switch (loss) {
    case Loss::kMinimax:
      return "minimax";
    case Loss::kNonSaturating:
      return "nonsaturating";
    case Loss::kWassersteinGp:
      return "wgan-gp";
    case Loss::kHinge:
      return "hinge";
    case Loss::kLeastSquares:
      return "lsgan";
  }
  return "?";
}

Tensor discriminator_loss(Loss loss, const Tensor& real, const Tensor& fake) {
  switch (loss) {
    case Loss::kMinimax:
    case Loss::kNonSaturating:
      return neg(value_function(real, fake));
    case Loss::kWassersteinGp:
      return sub(mean(fake), mean(real));
    case Loss::kHinge:
      return add(mean(relu(rsub(1.0f, real))), mean(relu(add(fake, 1.0f))));
    case Loss::kLeastSquares:
      return mul(add(mean(square(add(real, -1.0f))), mean(square(fake))), 0.5f);
  }
  throw std::logic_error("discriminator_loss: unknown loss");
}

Tensor generator_loss(Loss loss, const Tensor& fake) {
  switch (loss) {
    case Loss::kMinimax:
      return mean(log_sigmoid(neg(fake)));  // log(1 - D(G(z))), descended
    case Loss::kNonSaturating:
      return neg(mean(log_sigmoid(fake)));  // -log D(G(z))
    case Loss::kWassersteinGp:
    case Loss::kHinge:
      return neg(mean(fake));
    case Loss::kLeastSquares:
      return mul(mean(square(add(fake, -1.0f))), 0.5f);
  }
  throw std::logic_error("generator_loss: unknown loss");
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

}  // namespace minimax::gan
