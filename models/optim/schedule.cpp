#include "models/optim/schedule.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace minimax::optim {

namespace {

void check_step(int64_t step, const char* schedule) {
  if (step < 0) throw std::invalid_argument(fmt::format("{}: negative step {}", schedule, step));
}

// The schedule's value at the optimizer's next update; an empty schedule is named, not a
// std::bad_function_call.
double value_now(const Schedule& schedule, const Optimizer& optimizer, const char* caller) {
  if (!schedule) throw std::invalid_argument(fmt::format("{}: the schedule is empty", caller));
  return schedule(optimizer.step_count());
}

}  // namespace

Schedule constant(double value) {
  return [value](int64_t step) {
    check_step(step, "constant");
    return value;
  };
}

Schedule exponential_decay(double initial, double factor, double floor) {
  auto refuse = [](const char* what, double value) {
    throw std::invalid_argument(fmt::format("exponential_decay: {} {}", what, value));
  };
  if (!(initial >= 0.0)) refuse("needs initial >= 0, got", initial);
  // A factor below 1 would make the "decay" grow without bound.
  if (!(factor >= 1.0)) refuse("needs factor >= 1, got", factor);
  if (!(floor >= 0.0)) refuse("needs floor >= 0, got", floor);
  return [=](int64_t step) {
    check_step(step, "exponential_decay");
    // One pow per call, not a running product: the value at step t does not depend on the
    // schedule having been evaluated at every earlier step (a resumed run gets the same numbers).
    return std::max(initial / std::pow(factor, static_cast<double>(step)), floor);
  };
}

Schedule linear_ramp(double from, double to, int64_t steps) {
  if (steps <= 0)
    throw std::invalid_argument(fmt::format("linear_ramp: steps must be > 0 (got {})", steps));
  return [=](int64_t step) {
    check_step(step, "linear_ramp");
    if (step >= steps) return to;  // exactly `to` from then on, without rounding
    return from + (to - from) * static_cast<double>(step) / static_cast<double>(steps);
  };
}

void schedule_lr(Optimizer& optimizer, const Schedule& lr) {
  optimizer.set_lr(value_now(lr, optimizer, "schedule_lr"));
}

void schedule_momentum(SGD& optimizer, const Schedule& momentum) {
  optimizer.set_momentum(value_now(momentum, optimizer, "schedule_momentum"));
}

}  // namespace minimax::optim
