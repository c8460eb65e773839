#include "examples/cli/optimizers.h"

#include <fmt/format.h>

#include <algorithm>

#include "examples/cli/registry.h"
#include "models/optim/schedule.h"

namespace minimax::cli {

namespace {

// The iteration from which Adam's learning rate decays: RunConfig::lr_decay_start of the run.
int64_t decay_start(const RunConfig& c) {
  return static_cast<int64_t>(c.lr_decay_start * c.steps);
}

// From decay_start the learning rate falls linearly to 1% of lr at the last iteration.
ScheduledOptimizer decaying(std::unique_ptr<optim::Optimizer> optimizer, const RunConfig& c) {
  const int64_t from = decay_start(c);
  optim::Schedule decay =
      optim::linear_ramp(c.lr, 0.01 * c.lr, std::max<int64_t>(1, c.steps - 1 - from));
  optim::Optimizer* opt = optimizer.get();
  // Set at every iteration, before the decay too: a resumed run whose --steps moved the decay
  // later must leave the decayed rate its checkpoint holds.
  return ScheduledOptimizer{std::move(optimizer), [opt, from, decay, lr = c.lr](int64_t iteration) {
                              opt->set_lr(iteration >= from ? decay(iteration - from) : lr);
                            }};
}

std::string describe_decay(const RunConfig& c) {
  if (decay_start(c) >= c.steps) return fmt::format("lr {:g}, constant", c.lr);
  return fmt::format("lr {:g}, falling linearly to {:g} over steps {} to {}", c.lr, 0.01 * c.lr,
                     decay_start(c) + 1, c.steps);
}

// An optimizer that follows the decay above, made by `make` for the run's lr.
OptimizerChoice decaying_choice(
    std::string name, std::string summary,
    std::function<std::unique_ptr<optim::Optimizer>(TensorList, double lr)> make) {
  OptimizerChoice o;
  o.name = std::move(name);
  o.summary = std::move(summary) + ", lr decaying linearly after --lr-decay-start";
  o.build = [make](TensorList parameters, const RunConfig& c, int64_t) {
    return decaying(make(std::move(parameters), c.lr), c);
  };
  o.describe_schedule = describe_decay;
  return o;
}

// Adam with beta1 0.5 (DCGAN's).
OptimizerChoice adam() {
  return decaying_choice("adam", "Adam, betas (0.5, 0.999)", [](TensorList parameters, double lr) {
    return std::make_unique<optim::Adam>(std::move(parameters),
                                         optim::AdamOptions(lr).betas({0.5, 0.999}));
  });
}

// RMSprop as the WGAN paper trains its critic and generator (Arjovsky et al. use lr 5e-5).
OptimizerChoice rmsprop() {
  return decaying_choice("rmsprop", "RMSprop, alpha 0.99", [](TensorList parameters, double lr) {
    return std::make_unique<optim::RMSprop>(std::move(parameters), optim::RMSpropOptions(lr));
  });
}

// The GAN paper's SGD: lr divided by 1.000004 per update down to 1e-6; momentum 0.5 rising to 0.7
// over 250 epochs.
OptimizerChoice paper_sgd() {
  OptimizerChoice o;
  o.name = "sgd";
  o.summary = "the paper's SGD: momentum 0.5 rising to 0.7, lr decaying by 1.000004 per update";
  o.own_schedule = true;
  o.build = [](TensorList parameters, const RunConfig& c, int64_t updates_per_epoch) {
    auto sgd =
        std::make_unique<optim::SGD>(std::move(parameters), optim::SGDOptions(c.lr).momentum(0.5));
    optim::Schedule lr = optim::exponential_decay(c.lr, 1.000004, 1e-6);
    optim::Schedule momentum = optim::linear_ramp(0.5, 0.7, 250 * updates_per_epoch);
    optim::SGD* opt = sgd.get();
    return ScheduledOptimizer{std::move(sgd), [opt, lr, momentum](int64_t) {
                                optim::schedule_lr(*opt, lr);
                                optim::schedule_momentum(*opt, momentum);
                              }};
  };
  o.describe_schedule = [](const RunConfig& c) {
    return fmt::format(
        "lr {:g} divided by 1.000004 per update (floor 1e-6), momentum 0.5 rising to 0.7 over "
        "250 epochs",
        c.lr);
  };
  return o;
}

}  // namespace

const std::vector<OptimizerChoice>& registered_optimizers() {
  static const std::vector<OptimizerChoice> optimizers = {adam(), paper_sgd(), rmsprop()};
  return optimizers;
}

const OptimizerChoice& find_optimizer(const std::string& name) {
  return find_entry(registered_optimizers(), name, "--optimizer", "optimizer");
}

std::string optimizer_names() {
  return joined_names(registered_optimizers());
}

}  // namespace minimax::cli
