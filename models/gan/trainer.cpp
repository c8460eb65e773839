#include "models/gan/trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "models/data/batches.h"
#include "ops/ops.h"

namespace minimax::gan {

Tensor NoisePrior::sample(int64_t n, Generator& gen) const {
  return kind == Kind::kUniform ? Tensor::uniform({n, dim}, -scale, scale, gen)
                                : Tensor::normal({n, dim}, 0.0f, 1.0f, gen);
}

namespace {

// A network or data source the Trainer is given, which must not be empty: the unlabelled
// constructor wraps each in a lambda, which would hide that.
template <class F>
F given(F f, const char* what) {
  if (!f) throw std::invalid_argument(fmt::format("Trainer: the {} is empty", what));
  return f;
}

// G's step would otherwise move D's weights too (or D's G's), to lower its own loss.
void check_separate_optimizers(const optim::Optimizer& g, const optim::Optimizer& d) {
  std::unordered_set<const float*> g_parameters;
  for (const Tensor& p : g.parameters()) g_parameters.insert(p.data());
  for (size_t i = 0; i < d.parameters().size(); ++i)
    if (g_parameters.count(d.parameters()[i].data()))
      throw std::invalid_argument(fmt::format(
          "Trainer: D's optimizer's parameter {} {} is also G's: each network needs an optimizer "
          "over its own parameters",
          i, d.parameters()[i].shape().str()));
}

}  // namespace

Trainer::Trainer(Network g, Network d, optim::Optimizer& g_optimizer, optim::Optimizer& d_optimizer,
                 NoisePrior prior, DataSource data, Generator& gen, TrainerOptions options)
    : Trainer(
          [g = given(std::move(g), "generator")](const Tensor& z, const Tensor&) { return g(z); },
          [d = given(std::move(d), "discriminator")](const Tensor& x, const Tensor&) {
            return d(x);
          },
          g_optimizer, d_optimizer, prior,
          [data = given(std::move(data), "data source")](int64_t n) {
            return LabelledBatch{data(n), Tensor()};
          },
          gen, options, /*conditional=*/false) {}

Trainer::Trainer(ConditionalNetwork g, ConditionalNetwork d, optim::Optimizer& g_optimizer,
                 optim::Optimizer& d_optimizer, NoisePrior prior, LabelledSource data,
                 Generator& gen, TrainerOptions options)
    : Trainer(std::move(g), std::move(d), g_optimizer, d_optimizer, prior, std::move(data), gen,
              options, /*conditional=*/true) {}

Trainer::Trainer(ConditionalNetwork g, ConditionalNetwork d, optim::Optimizer& g_optimizer,
                 optim::Optimizer& d_optimizer, NoisePrior prior, LabelledSource data,
                 Generator& gen, TrainerOptions options, bool conditional)
    : g_(std::move(g)),
      d_(std::move(d)),
      g_opt_(g_optimizer),
      d_opt_(d_optimizer),
      prior_(prior),
      data_(std::move(data)),
      gen_(gen),
      options_(options) {
  if (options_.k < 1)
    throw std::invalid_argument(fmt::format("Trainer: k = {} D steps per G step", options_.k));
  if (options_.batch < 1)
    throw std::invalid_argument(fmt::format("Trainer: batch {} is empty", options_.batch));
  given(g_, "generator");
  given(d_, "discriminator");
  given(data_, "data source");
  given(options_.loss.discriminator, "loss's discriminator part");
  given(options_.loss.generator, "loss's generator part");
  if (!(options_.r1_gamma >= 0.0f) || !(options_.loss.gradient_penalty >= 0.0f))
    throw std::invalid_argument(
        fmt::format("Trainer: the penalty weights must be >= 0 (R1 {}, gradient penalty {})",
                    options_.r1_gamma, options_.loss.gradient_penalty));
  if (!(options_.loss.weight_clip >= 0.0f) || std::isinf(options_.loss.weight_clip))
    throw std::invalid_argument(fmt::format(
        "Trainer: the loss's weight clip {} must be >= 0 and finite", options_.loss.weight_clip));
  check_separate_optimizers(g_optimizer, d_optimizer);
  if (conditional != (options_.classes > 0))
    throw std::invalid_argument(
        fmt::format("Trainer: {} networks with {} classes: conditional training needs classes > 0, "
                    "unconditional none",
                    conditional ? "conditional" : "unconditional", options_.classes));
}

namespace {
void check_finite(const Tensor& loss, const char* who, int64_t step) {
  float v = loss.item();
  if (!std::isfinite(v))
    throw TrainingDiverged(fmt::format(
        "step {}: the {}'s loss is {}; training stopped before applying it", step, who, v));
}
// Clamps every element of `parameters` to [-bound, bound] in place (WGAN's clipping). A NaN stays
// NaN, for the next loss's finiteness check to report.
void clamp_parameters(const TensorList& parameters, float bound) {
  for (Tensor p : parameters) p.clamp_(-bound, bound);  // a handle: the data is shared
}

}  // namespace

Tensor Trainer::draw_noise(int64_t n) {
  return options_.noise ? options_.noise(n) : prior_.sample(n, gen_);
}

Tensor Trainer::draw_labels(int64_t n) {
  if (options_.classes == 0) return Tensor();
  Tensor labels = Tensor::empty({n});
  for (int64_t i = 0; i < n; ++i)
    labels.data()[i] = static_cast<float>(data::uniform_below(gen_, options_.classes));
  return labels;
}

void Trainer::set_gradients(optim::Optimizer& optimizer, const Tensor& loss) {
  // grad(), not backward(): only the optimizer's parameters get gradients, not the real batch the
  // R1 penalty differentiates or the other network.
  const TensorList& params = optimizer.parameters();
  TensorList grads = grad({loss}, params, {.allow_unused = true});
  for (size_t i = 0; i < params.size(); ++i) Tensor(params[i]).set_grad(grads[i]);
  if (options_.sync_gradients) options_.sync_gradients(optimizer);
}

Trainer::DiscriminatorOutputs Trainer::discriminator_gradients() {
  LabelledBatch real = data_(options_.batch);
  Tensor fake_labels = draw_labels(options_.batch), fake;
  {
    NoGradGuard no_grad;
    fake = g_(draw_noise(options_.batch), fake_labels);
  }
  d_opt_.zero_grad();
  // R1 differentiates the loss's own forward on the real batch, which therefore needs grad.
  const bool r1 = options_.r1_gamma > 0;
  Tensor real_x = r1 ? real.x.detach().requires_grad_() : real.x;
  DiscriminatorOutputs out{Tensor(), d_(real_x, real.labels), d_(fake, fake_labels)};
  const Loss& objective = options_.loss;
  out.loss = objective.discriminator(out.real_logits, out.fake_logits);
  Critic critic = [&](const Tensor& x) { return d_(x, real.labels); };
  if (objective.gradient_penalty > 0)
    out.loss = add(out.loss,
                   mul(gradient_penalty(critic, real.x, fake, gen_), objective.gradient_penalty));
  if (r1) out.loss = add(out.loss, r1_penalty_at(real_x, out.real_logits, options_.r1_gamma));
  check_finite(out.loss, "discriminator", steps_done_ + 1);
  set_gradients(d_opt_, out.loss);
  return out;
}

void Trainer::discriminator_step(StepStats& stats) {
  const DiscriminatorOutputs out = discriminator_gradients();
  d_opt_.step();
  if (options_.loss.weight_clip > 0)
    clamp_parameters(d_opt_.parameters(), options_.loss.weight_clip);
  NoGradGuard no_grad;
  stats.d_loss = out.loss.item();
  stats.d_real = options_.loss.mean_output(out.real_logits);
  stats.d_fake = options_.loss.mean_output(out.fake_logits);
}

void Trainer::generator_step(StepStats& stats) {
  g_opt_.zero_grad();
  Tensor labels = draw_labels(options_.batch);
  Tensor loss = options_.loss.generator(d_(g_(draw_noise(options_.batch), labels), labels));
  check_finite(loss, "generator", steps_done_ + 1);
  set_gradients(g_opt_, loss);
  g_opt_.step();
  stats.g_loss = loss.item();
}

StepStats Trainer::step() {
  // The convolutions transform or reorder each weight once per version: D's for its forwards on
  // the real and the fake batch and their backward, again after each D step; G's, which no D step
  // changes, once for the k D steps' fakes and the G step.
  ParameterReorderScope reordered_once;
  StepStats stats;
  for (int i = 0; i < options_.k; ++i) discriminator_step(stats);
  generator_step(stats);
  stats.step = ++steps_done_;
  if (on_step) on_step(stats);
  return stats;
}

}  // namespace minimax::gan
