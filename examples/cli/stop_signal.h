// What SIGINT and SIGTERM do in the minimax command line. Batch schedulers send SIGTERM before a
// time limit; a terminal sends SIGINT on Ctrl-C. A signal ignored when minimax started (SIGINT in
// a non-interactive shell's background job) stays ignored: neither class handles it.
#pragma once

namespace minimax::cli {

// During `minimax train`'s loop: the first signal asks the run to stop after the step it is in (the
// loop writes a checkpoint and exits 128 + the signal's number: 130, 143), so a run a scheduler
// stops can be resumed from the step it reached; any second one ends the process at once, as it
// would have without the handler. Installed over an EndOnSignals, and puts it back when destroyed.
class StopSignals {
 public:
  StopSignals();   // installs the handlers
  ~StopSignals();  // restores what was there before
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The signal that asked to stop (SIGINT or SIGTERM), or 0.
  int received() const;
};

// Everywhere else (every other command, and train before and after its loop): the signal ends the
// process at once, as it would have without a handler, after one line on stderr that names the
// signal and the command. Nothing is lost that the command had written: every file but train's
// appended logs goes through a temporary file and a rename (models/io/atomic_file.h).
class EndOnSignals {
 public:
  explicit EndOnSignals(const char* command);  // "eval", ...; "" for none. Installs the handlers
  ~EndOnSignals();                             // restores what was there before
  EndOnSignals(const EndOnSignals&) = delete;
  EndOnSignals& operator=(const EndOnSignals&) = delete;
};

}  // namespace minimax::cli
