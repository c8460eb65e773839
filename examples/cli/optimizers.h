// The optimizers `minimax train --optimizer` knows, each with the schedule it follows. Every
// entry lives in optimizers.cpp and is listed once in registered_optimizers().
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "examples/cli/config.h"
#include "models/optim/optimizer.h"

namespace minimax::cli {

// An optimizer and what to do to it before each iteration (0-based) of the run.
struct ScheduledOptimizer {
  std::unique_ptr<optim::Optimizer> optimizer;
  std::function<void(int64_t iteration)> schedule;
};

struct OptimizerChoice {
  std::string name;     // as --optimizer names it
  std::string summary;  // one line of --help
  // True when it follows a schedule of its own (the paper's SGD), which --lr-decay-start would
  // contradict.
  bool own_schedule = false;
  // The optimizer over `parameters` for the run; `updates_per_epoch` paces schedules counted in
  // epochs.
  std::function<ScheduledOptimizer(TensorList parameters, const RunConfig& config,
                                   int64_t updates_per_epoch)>
      build;
  // The learning-rate schedule a run with this configuration follows, in words ("lr 0.001,
  // falling linearly to 1e-05 over steps 4501 to 15000").
  std::function<std::string(const RunConfig& config)> describe_schedule;
};

const std::vector<OptimizerChoice>& registered_optimizers();
// Throws UsageError listing the names.
const OptimizerChoice& find_optimizer(const std::string& name);
std::string optimizer_names();

}  // namespace minimax::cli
