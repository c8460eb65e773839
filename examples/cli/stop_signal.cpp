#include "examples/cli/stop_signal.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>

namespace minimax::cli {

namespace {

// The handlers run on a stack of their own. oneDNN's sgemm kernels point the stack pointer into a
// heap block while they run; a signal frame pushed there (several KiB with the AVX-512 state)
// overwrote the heap below it ("corrupted size vs. prev_size" at the next large allocation).
alignas(64) char handler_stack[64 * 1024];

using SignalAction = struct sigaction;  // the type, not the function of the same name

// SIGINT's and SIGTERM's handlers as they were before one of ours, and the stack they ran on.
struct Previous {
  SignalAction on_int{}, on_term{};
  stack_t stack{};
};

// Sets `action` for `signo` unless the signal is ignored, and returns the action it had. A signal
// ignored when minimax started stays ignored, the convention of POSIX programs: a non-interactive
// shell starts its background jobs with SIGINT ignored, and `trap '' INT` asks for it.
SignalAction install_unless_ignored(int signo, const SignalAction& action) {
  SignalAction previous{};
  ::sigaction(signo, nullptr, &previous);
  if (previous.sa_handler != SIG_IGN) ::sigaction(signo, &action, nullptr);
  return previous;
}

Previous install(void (*handler)(int)) {
  Previous previous;
  stack_t stack{};
  stack.ss_sp = handler_stack;
  stack.ss_size = sizeof(handler_stack);
  ::sigaltstack(&stack, &previous.stack);
  SignalAction action{};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART | SA_ONSTACK;  // a write or read in progress carries on
  previous.on_int = install_unless_ignored(SIGINT, action);
  previous.on_term = install_unless_ignored(SIGTERM, action);
  return previous;
}

void restore(const Previous& previous) {
  ::sigaction(SIGINT, &previous.on_int, nullptr);
  ::sigaction(SIGTERM, &previous.on_term, nullptr);
  ::sigaltstack(&previous.stack, nullptr);
}

// A handler calls only async-signal-safe functions: it sets a flag, writes with write(2) and
// resets or raises with signal(2) and raise(3).
void write_note(const char* note, size_t size) {
  [[maybe_unused]] ssize_t written = ::write(2, note, size);
}

volatile std::sig_atomic_t stop_signal = 0;
Previous before_stop;

// Both signals go back to the action they had before (EndOnSignals', or the default), so a
// second one (Ctrl-C again) ends the process at once.
void on_stop(int signo) {
  stop_signal = signo;
  ::sigaction(SIGINT, &before_stop.on_int, nullptr);
  ::sigaction(SIGTERM, &before_stop.on_term, nullptr);
  static const char note[] =
      "\nminimax: stopping after this step to write a checkpoint (again to stop at once)\n";
  write_note(note, sizeof(note) - 1);
}

// The lines EndOnSignals writes, formatted when it is installed: a handler cannot format.
struct EndNote {
  char text[128];
  size_t size;
};
EndNote end_note_int, end_note_term;
Previous before_end;

EndNote end_note(const char* command, const char* signal) {
  EndNote note{};
  note.size = fmt::format_to_n(note.text, sizeof(note.text), "\nminimax{}{}: stopped by {}\n",
                               *command ? " " : "", command, signal)
                  .size;
  note.size = std::min(note.size, sizeof(note.text));
  return note;
}

// Writes the line, then ends the process by the signal itself: its default action, raised again
// here and delivered once this handler returns and unblocks it.
void on_end(int signo) {
  const EndNote& note = signo == SIGINT ? end_note_int : end_note_term;
  write_note(note.text, note.size);
  ::signal(signo, SIG_DFL);
  ::raise(signo);
}

}  // namespace

StopSignals::StopSignals() {
  stop_signal = 0;
  before_stop = install(on_stop);
}

StopSignals::~StopSignals() {
  restore(before_stop);
}

int StopSignals::received() const {
  return stop_signal;
}

EndOnSignals::EndOnSignals(const char* command) {
  end_note_int = end_note(command, "SIGINT");
  end_note_term = end_note(command, "SIGTERM");
  before_end = install(on_end);
}

EndOnSignals::~EndOnSignals() {
  restore(before_end);
}

}  // namespace minimax::cli
