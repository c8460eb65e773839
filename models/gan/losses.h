// The GAN objectives. A loss is one value (`Loss`): how D's loss and G's loss are computed from
// D's raw outputs, what those outputs are, and which penalty D's loss carries. Each bundled loss is
// defined in a file of its own under models/gan/losses/ and listed once in registered_losses().
//
// The losses that read D's output as a logit l (D(x) = sigmoid(l)) compute everything from l, so
// that no log(0) ever occurs: log D = log_sigmoid(l) and log(1 - D) = log_sigmoid(-l).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "autograd/random.h"
#include "autograd/tensor.h"

namespace minimax::gan {

// V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))] estimated on a batch (Goodfellow et al., eq. 1).
// D ascends it; at the global optimum (p_g = p_data, D = 1/2) it equals -log 4.
Tensor value_function(const Tensor& real_logits, const Tensor& fake_logits);

struct Loss {
  std::string name;     // as `minimax train --loss` names it
  std::string summary;  // one line for --help
  // What D minimizes, from its outputs on a batch of real data and a batch of G's samples.
  std::function<Tensor(const Tensor& real, const Tensor& fake)> discriminator;
  // What G minimizes, from D's outputs on G's samples.
  std::function<Tensor(const Tensor& fake)> generator;
  // D's output is a logit (reported as the probability sigmoid(l)); otherwise a raw critic score.
  bool logits = true;
  // Weight lambda of the WGAN-GP gradient penalty (gradient_penalty below) in D's loss; 0: none.
  float gradient_penalty = 0;
  // WGAN's Lipschitz constraint: after each of D's updates the trainer clamps every parameter of
  // D to [-weight_clip, weight_clip]; 0: none.
  float weight_clip = 0;

  // The mean of D's outputs as the progress line and metrics report them: D(x) = sigmoid(l) for
  // logits, the raw score otherwise.
  float mean_output(const Tensor& outputs) const;
};

// The paper's game: D ascends V, G descends log(1 - D(G(z))).
Loss minimax_loss();
// The paper's practical G: D as in the game, G ascends log D(G(z)) (the default).
Loss nonsaturating_loss();
// WGAN (Arjovsky et al., 2017): critic E[f(G(z))] - E[f(x)] with its weights clipped to [-clip,
// clip] after every update, G -E[f(G(z))]. The paper trains both with RMSprop, lr 5e-5, 5 critic
// steps per G step. Throws std::invalid_argument unless clip is positive and finite.
Loss wgan_loss(float clip = 0.01f);
// WGAN-GP (Gulrajani et al., 2017): WGAN's objective with the gradient penalty in place of the
// clipping, critic E[f(G(z))] - E[f(x)] + lambda * penalty.
Loss wgan_gp_loss(float lambda = 10);
// Hinge: D E[relu(1 - f(x))] + E[relu(1 + f(G(z)))], G -E[f(G(z))].
Loss hinge_loss();
// LSGAN (Mao et al., 2017): D (f(x) - 1)^2 / 2 + f(G(z))^2 / 2, G (f(G(z)) - 1)^2 / 2.
Loss lsgan_loss();

// Every bundled loss, in the order --help lists them.
const std::vector<Loss>& registered_losses();
// The registered loss of that name; throws std::invalid_argument listing the names.
const Loss& find_loss(const std::string& name);
// "nonsaturating, minimax, ... or lsgan" for messages and help.
std::string loss_names();

using Critic = std::function<Tensor(const Tensor&)>;

// WGAN-GP: E[(||grad_x D(x_hat)||_2 - 1)^2] at x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1] per
// sample. Built with grad(create_graph = true), so it backpropagates into D's parameters.
Tensor gradient_penalty(const Critic& d, const Tensor& real, const Tensor& fake, Generator& gen);

// R1 (Mescheder et al., 2018): (gamma / 2) E[||grad_x D(x)||^2] on real data.
Tensor r1_penalty(const Critic& d, const Tensor& real, float gamma);
// R1 from a forward already made: `real` requires grad and real_logits = D(real). A trainer that
// runs D on the real batch for its loss anyway saves a second forward, and the penalty sees the
// same dropout masks and batch statistics as the loss. Throws std::invalid_argument when `real`
// does not require grad.
Tensor r1_penalty_at(const Tensor& real, const Tensor& real_logits, float gamma);

}  // namespace minimax::gan
