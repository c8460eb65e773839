// Schedules: a hyperparameter as a function of the optimizer's step (the number of updates made
// before the one it is used for). They compose as functions do: wrap one in a lambda to offset,
// clamp or combine it.
//
// The GAN paper's MNIST run (Goodfellow et al., 2014, its pylearn2 configuration) uses both kinds:
//   lr:       exponential_decay(0.1, 1.000004, 1e-6)   divided by 1.000004 per update, floor 1e-6
//   momentum: linear_ramp(0.5, 0.7, 250)               0.5 rising to 0.7, then constant
// applied before each update with schedule_lr(sgd, lr) and schedule_momentum(sgd, momentum).
#pragma once

#include <cstdint>
#include <functional>

#include "models/optim/optimizer.h"

namespace minimax::optim {

using Schedule = std::function<double(int64_t step)>;

// value at every step. Throws std::invalid_argument for a negative step (as all schedules here).
Schedule constant(double value);

// max(initial / factor^step, floor). Throws std::invalid_argument unless initial >= 0,
// factor >= 1 and floor >= 0.
Schedule exponential_decay(double initial, double factor, double floor);

// from + (to - from) * min(step, steps) / steps: a straight line from `from` at step 0 to `to` at
// `steps`, then constant. Throws std::invalid_argument unless steps > 0.
Schedule linear_ramp(double from, double to, int64_t steps);

// Sets the optimizer's learning rate to lr(step_count()): the value for its next update.
void schedule_lr(Optimizer& optimizer, const Schedule& lr);
// Sets SGD's momentum to momentum(step_count()).
void schedule_momentum(SGD& optimizer, const Schedule& momentum);

}  // namespace minimax::optim
