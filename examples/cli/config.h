// A training run's configuration: what `minimax train` was asked for, completed with the chosen
// data set's recipe, stored as DIR/config.json and inside every checkpoint.
//
// config_fields() describes every field once (its key, flag, help, and whether --resume may change
// it); the flags of `train`, the JSON form and --resume's checks all come from that table. What a
// user passes is a ConfigOverrides: a JSON object of the fields named on the command line.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace minimax::cli {

// Thrown for a bad flag or a bad combination of flags: the command exits with status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RunConfig {
  std::string data = "fashion-mnist";  // a registered data set (examples/cli/datasets.h)
  std::string model;                   // a registered model (examples/cli/models.h)
  std::string loss = "nonsaturating";  // a registered loss (models/gan/losses.h)
  std::string optimizer;               // a registered optimizer (examples/cli/optimizers.h)
  double lr = 0;
  // Adam: from this fraction of the run, the learning rate falls linearly to 1% of lr at the last
  // step (1: constant). The decay is what sharpens G's modes at the end of a mixture run.
  double lr_decay_start = 1;
  int64_t steps = 0;
  int64_t batch = 0;
  int k = 1;
  // R1 penalty weight gamma: (gamma / 2) E||grad_x D(x)||^2 on real data joins D's loss (0: off).
  double r1 = 0;
  uint64_t seed = 1;
  // Compute threads; 0 (the default) is the cores this process may use where it runs
  // (minimax::available_cores), so a stored 0 follows a resumed run to another machine.
  int threads = 0;
  int64_t checkpoint_every = 0;
  int64_t sample_every = 0;
  int64_t log_every = 0;
  // Steps between FID evaluations on 2,000 samples, logged as "fid" in metrics.jsonl (0: off).
  // Image data sets with a bundled feature network (examples/cli/feature_nets.h) only.
  int64_t eval_every = 0;
  // Class-conditional training: G(z, y) and D(x, y) on the data set's labels (models/gan/
  // conditional.h), which for idx data come from `labels`, an IDX labels file.
  bool conditional = false;
  std::string labels{};
  int classes = 0;  // set by resolve() from the data: the labels' classes (0: unconditional)
  // The decay of an exponential moving average of G's weights (0: off). The average draws every
  // sample the run shows (grids, sample, interpolate, eval); G itself keeps training.
  double ema = 0;
  // The dropout probability on D's input, for a model with one (the paper's MLP: 0.2); -1 (the
  // default, and what runs saved before the field read) keeps the model's own.
  double d_input_dropout = -1;
};

struct ConfigField {
  using Member = std::variant<std::string RunConfig::*, double RunConfig::*, int64_t RunConfig::*,
                              int RunConfig::*, uint64_t RunConfig::*, bool RunConfig::*>;
  std::string key;  // in config.json; the flag is --key with '-' for '_'
  Member member;
  std::string help;
  // Whether `train --resume` may change it (steps, threads, how often to write). Any other field
  // defines the run: a different value on --resume is refused.
  bool may_change_on_resume = false;
  // Runs saved before the field existed lack it and read RunConfig's default.
  bool added_later = false;
  // Set by resolve() from the other fields and the data, not by a flag of its own.
  bool derived = false;
  int64_t minimum = 1;  // integer fields: the least value (counts from 1, a seed from 0)

  std::string flag() const;  // "--lr-decay-start"
  nlohmann::json get(const RunConfig& config) const;
};

const std::vector<ConfigField>& config_fields();

// The fields given on the command line, keyed as in config.json: {"data": "ring8", "lr": 1e-3}.
using ConfigOverrides = nlohmann::json;

// RunConfig's defaults with the overrides applied, not validated: what the user asked for where
// a recipe has not been chosen yet. Throws UsageError naming the flag for a value of the wrong
// type, or the key of an unknown setting.
RunConfig defaults_with(const ConfigOverrides& overrides);

// The recipe of the data set named by overrides["data"] (default RunConfig's) for the model named
// by overrides["model"], with the overrides applied, validated. Throws UsageError naming the flag
// for a value of the wrong type, unknown data set, model, loss or optimizer names, a model that
// does not fit the data, and out-of-range values.
RunConfig resolve(const ConfigOverrides& overrides);

// What `train --resume` continues: the saved run with the overrides applied. A field that defines
// the run (data, model, loss, lr, batch, seed, ...) given with another value than the saved one is
// refused (UsageError naming the flag and both values); `changes` receives a line for each field
// that may change and did ("--steps 3000 -> 5000").
RunConfig resume(const RunConfig& saved, const ConfigOverrides& overrides,
                 std::vector<std::string>* changes);

// Checks a complete configuration (every name registered, the model fits the data, values in
// range); throws UsageError naming the flag.
void validate(const RunConfig& config);

// ", D input dropout 0" when the run sets it, else "": for the lines that describe a run.
std::string d_input_dropout_phrase(const RunConfig& config);

nlohmann::json to_json(const RunConfig& config);
// Reads a stored configuration back. Throws UsageError naming a missing field, one of another
// JSON type or out of its range, or a choice resolve() would refuse.
RunConfig from_json(const nlohmann::json& j);

}  // namespace minimax::cli
