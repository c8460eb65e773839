#include "examples/cli/stop_signal.h"

#include <signal.h>
#include <unistd.h>

#include <csignal>

namespace minimax::cli {

namespace {

volatile std::sig_atomic_t stop_signal = 0;
struct sigaction previous_int, previous_term;
stack_t previous_stack;

// The handler runs on a stack of its own. oneDNN's sgemm kernels point the stack pointer into a
// heap block while they run; a signal frame pushed there (several KiB with the AVX-512 state)
// overwrote the heap below it ("corrupted size vs. prev_size" at the next large allocation).
alignas(64) char handler_stack[64 * 1024];

// Only async-signal-safe calls: a flag, write(2) and signal(2). Both signals go back to their
// default action, so a second one (Ctrl-C again) ends the process at once.
void on_stop(int signo) {
  stop_signal = signo;
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  static const char note[] =
      "\nminimax: stopping after this step to write a checkpoint (again to stop at once)\n";
  [[maybe_unused]] ssize_t written = ::write(2, note, sizeof(note) - 1);
}

}  // namespace

StopSignals::StopSignals() {
  stop_signal = 0;
  stack_t stack{};
  stack.ss_sp = handler_stack;
  stack.ss_size = sizeof(handler_stack);
  ::sigaltstack(&stack, &previous_stack);
  struct sigaction action {};
  action.sa_handler = on_stop;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART | SA_ONSTACK;  // a write or read in progress carries on
  ::sigaction(SIGINT, &action, &previous_int);
  ::sigaction(SIGTERM, &action, &previous_term);
}

StopSignals::~StopSignals() {
  ::sigaction(SIGINT, &previous_int, nullptr);
  ::sigaction(SIGTERM, &previous_term, nullptr);
  ::sigaltstack(&previous_stack, nullptr);
}

int StopSignals::received() const {
  return stop_signal;
}

}  // namespace minimax::cli
