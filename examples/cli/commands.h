// The subcommands of the `minimax` command line. Each returns the process exit status; errors are
// exceptions (UsageError: status 2; anything else: status 1), reported by main as one line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "examples/cli/config.h"

namespace minimax::cli {

struct TrainOptions {
  RunFlags flags;
  std::string out;  // the run directory; default runs/<data>
  bool resume = false, force = false;
};
int train(const TrainOptions& options);

struct SampleOptions {
  std::string checkpoint, out;
  int64_t n = 64;
  uint64_t seed = 1;
};
int sample(const SampleOptions& options);

struct EvalOptions {
  std::string checkpoint, metric;
  std::optional<int64_t> n;  // samples; default 10,000 (parzen) or 2,500 (modes)
  uint64_t seed = 1;
  std::string json_out;  // also write the JSON here when set
};
int eval(const EvalOptions& options);

}  // namespace minimax::cli
