// The GAN objectives, all computed from the discriminator's logits l (D(x) = sigmoid(l)), so that
// no log(0) ever occurs: log D = log_sigmoid(l) and log(1 - D) = log_sigmoid(-l).
#pragma once

#include <functional>
#include <string>

#include "autograd/random.h"
#include "autograd/tensor.h"

namespace minimax::gan {

// V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))] estimated on a batch (Goodfellow et al., eq. 1).
// D ascends it; at the global optimum (p_g = p_data, D = 1/2) it equals -log 4.
Tensor value_function(const Tensor& real_logits, const Tensor& fake_logits);

enum class Loss {
  kMinimax,        // the paper's game: D ascends V, G descends log(1 - D(G(z)))
  kNonSaturating,  // the paper's practical G: ascend log D(G(z)) (the default)
  kWassersteinGp,  // WGAN-GP (Gulrajani et al., 2017): critic E[f(G(z))] - E[f(x)] + penalty
  kHinge,          // D: E[relu(1 - f(x))] + E[relu(1 + f(G(z)))], G: -E[f(G(z))]
  kLeastSquares,   // LSGAN (Mao et al., 2017): D: (f(x) - 1)^2 / 2 + f(G(z))^2 / 2, G: (f(G(z)) -
                   // 1)^2 / 2
};

Loss parse_loss(
    const std::string& name);  // "minimax", "nonsaturating", "wgan-gp", "hinge", "lsgan"
std::string loss_name(Loss loss);

// The quantity each player minimizes, given D's outputs on real data and on G's samples. For
// WGAN-GP the penalty is separate (gradient_penalty).
Tensor discriminator_loss(Loss loss, const Tensor& real_logits, const Tensor& fake_logits);
Tensor generator_loss(Loss loss, const Tensor& fake_logits);

using Critic = std::function<Tensor(const Tensor&)>;

// WGAN-GP: E[(||grad_x D(x_hat)||_2 - 1)^2] at x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1] per
// sample. Built with grad(create_graph = true), so it backpropagates into D's parameters.
Tensor gradient_penalty(const Critic& d, const Tensor& real, const Tensor& fake, Generator& gen);

// R1 (Mescheder et al., 2018): (gamma / 2) E[||grad_x D(x)||^2] on real data.
Tensor r1_penalty(const Critic& d, const Tensor& real, float gamma);

}  // namespace minimax::gan
