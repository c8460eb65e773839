// SIGINT and SIGTERM during `minimax train`: the first asks the run to stop after the step it is
// in (the loop writes a checkpoint and exits 128 + the signal's number: 130, 143); any second one
// ends the process at once, as it would have without the handler. Batch schedulers send SIGTERM
// before a time limit, so a run they stop can be resumed from the step it reached.
#pragma once

namespace minimax::cli {

class StopSignals {
 public:
  StopSignals();   // installs the handlers
  ~StopSignals();  // restores what was there before
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The signal that asked to stop (SIGINT or SIGTERM), or 0.
  int received() const;
};

}  // namespace minimax::cli
