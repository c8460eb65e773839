// The paper's Algorithm 1: alternating minibatch training of D and G with separate optimizers.
//
// One iteration (step()):
//   k times: draw m noise samples and m data samples; update D by descending its loss (ascending V
//            for the paper's game), with G's samples drawn under no-grad;
//   once:    draw m noise samples; update G by descending its loss. Only G's parameters receive
//            gradients (D's are not computed: grad() is pruned to G).
// G and D are any functions of tensors (modules or lambdas); the noise prior is any NoisePrior.
//
// Conditional GANs: G(z, y) and D(x, y) take class labels y as well (labels are floats holding
// class indices, [N]). The data source gives each real batch with its labels; G's samples get
// labels drawn uniformly from the options' `classes`, and D sees each batch with its own labels,
// real or drawn. Penalties (WGAN-GP, R1) take D's gradient with the real batch's labels.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>

#include "autograd/random.h"
#include "autograd/tensor.h"
#include "models/gan/losses.h"
#include "models/optim/optimizer.h"

namespace minimax::gan {

struct NoisePrior {
  enum class Kind { kUniform, kGaussian };
  Kind kind = Kind::kUniform;
  int64_t dim = 100;
  float scale = 1.7320508f;  // uniform: U[-scale, scale] (the paper's sqrt(3): unit variance)

  static NoisePrior uniform(int64_t dim, float scale = 1.7320508f) {
    return {Kind::kUniform, dim, scale};
  }
  static NoisePrior gaussian(int64_t dim) { return {Kind::kGaussian, dim, 1.0f}; }
  Tensor sample(int64_t n, Generator& gen) const;
};

// What one iteration measured (from its last D step and its G step).
struct StepStats {
  int64_t step = 0;
  float d_loss = 0, g_loss = 0;
  // Mean D output on real data and on G's samples (Loss::mean_output: probabilities sigmoid(l)
  // for the losses that read logits, raw critic values for the others).
  float d_real = 0, d_fake = 0;
};

struct TrainerOptions {
  int k = 1;                         // D steps per G step
  int classes = 0;                   // conditional training: the number of classes (0: none)
  int64_t batch = 64;                // m
  Loss loss = nonsaturating_loss();  // carries WGAN-GP's penalty weight when it has one
  float r1_gamma = 0;                // R1 on real data when > 0, any loss

  // Draws the noise for n rows, in place of prior.sample(n, gen), when set. Data-parallel training
  // uses it to give each process its own rows of one noise batch (examples/cli/session.h).
  std::function<Tensor(int64_t n)> noise;
  // Called between each update's backward and its optimizer step, with that update's optimizer
  // (its parameters hold the gradients about to be applied). Data-parallel training averages the
  // gradients across processes here (models/dist/data_parallel.h).
  std::function<void(optim::Optimizer&)> sync_gradients;
};

// Thrown when a loss becomes NaN or infinite: training stops before the bad update is applied.
class TrainingDiverged : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A batch of real data and its class labels ([N] floats; undefined for unconditional training).
struct LabelledBatch {
  Tensor x, labels;
};

class Trainer {
 public:
  using Network = std::function<Tensor(const Tensor&)>;
  using DataSource = std::function<Tensor(int64_t batch)>;
  using ConditionalNetwork = std::function<Tensor(const Tensor& input, const Tensor& labels)>;
  using LabelledSource = std::function<LabelledBatch(int64_t batch)>;

  // The optimizers, generator and functions must outlive the trainer.
  Trainer(Network g, Network d, optim::Optimizer& g_optimizer, optim::Optimizer& d_optimizer,
          NoisePrior prior, DataSource data, Generator& gen, TrainerOptions options = {});
  // Conditional training: options.classes must be positive.
  Trainer(ConditionalNetwork g, ConditionalNetwork d, optim::Optimizer& g_optimizer,
          optim::Optimizer& d_optimizer, NoisePrior prior, LabelledSource data, Generator& gen,
          TrainerOptions options);

  StepStats step();
  int64_t steps_done() const { return steps_done_; }
  void set_steps_done(int64_t steps) { steps_done_ = steps; }  // when resuming
  const TrainerOptions& options() const { return options_; }

  // Called after every iteration (logging, sampling, checkpoints).
  std::function<void(const StepStats&)> on_step;

 private:
  Trainer(ConditionalNetwork g, ConditionalNetwork d, optim::Optimizer& g_optimizer,
          optim::Optimizer& d_optimizer, NoisePrior prior, LabelledSource data, Generator& gen,
          TrainerOptions options, bool conditional);
  void discriminator_step(StepStats& stats);
  void generator_step(StepStats& stats);
  Tensor draw_noise(int64_t n);
  // Labels for n of G's samples: uniform over the classes; undefined when unconditional (no draw,
  // so an unconditional run's random streams are as they always were).
  Tensor draw_labels(int64_t n);
  // Sets the gradients of the optimizer's parameters from `loss` and sums them across processes
  // when distributed; the caller steps the optimizer.
  void set_gradients(optim::Optimizer& optimizer, const Tensor& loss);
  // D's loss on one real and one fake batch (and its penalties), with D's gradients set from it.
  struct DiscriminatorOutputs {
    Tensor loss, real_logits, fake_logits;
  };
  DiscriminatorOutputs discriminator_gradients();

  ConditionalNetwork g_, d_;
  optim::Optimizer& g_opt_;
  optim::Optimizer& d_opt_;
  NoisePrior prior_;
  LabelledSource data_;
  Generator& gen_;
  TrainerOptions options_;
  int64_t steps_done_ = 0;
};

}  // namespace minimax::gan
