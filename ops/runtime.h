// Process-wide settings of the compute backends: how many threads, how idle OpenMP threads wait,
// and the flop count `minimax bench` reports.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

namespace minimax {

// Sets the threads used by oneDNN, OpenBLAS and our own loops (one OpenMP pool for all three).
void set_num_threads(int threads);
int num_threads();

// Sets the thread count for a scope and restores the count it found when the scope ends, however
// it ends: for a test or a timing that needs a count of its own without changing its caller's.
class ScopedThreads {
 public:
  explicit ScopedThreads(int threads) : restore_(num_threads()) { set_num_threads(threads); }
  ~ScopedThreads() { set_num_threads(restore_); }
  ScopedThreads(const ScopedThreads&) = delete;
  ScopedThreads& operator=(const ScopedThreads&) = delete;

 private:
  int restore_;
};

// Below this many elements (128 KiB of floats) a memory-bound pass (elementwise maps, copies,
// reductions, optimizer updates) runs on one thread: waking the others costs more than the pass,
// and on a busy machine a woken thread may wait a whole time slice for its core. Our own loops
// and the memory-bound oneDNN primitives (ops/dnnl, SerialBelow) use it.
inline constexpr int64_t kParallelMinElements = int64_t{1} << 15;

// The cores this process may use: the CPUs of its affinity mask (taskset, a container's cpuset;
// when OpenMP's threads are bound, the CPUs of OpenMP's places, as libgomp has narrowed the main
// thread's mask to the first), capped by its cgroup's CPU quota, at least 1. The host's CPU count
// is not it: a container limited to 2 CPUs of 64 that ran 64 threads would spend its quota in a few
// milliseconds of each period and sleep the rest.
struct CoreBudget {
  int cores = 1;
  int affinity = 1;          // CPUs in the affinity mask
  std::optional<int> quota;  // the cgroup quota in whole CPUs, rounded up; none when unlimited
  std::string why() const;   // "affinity 2 cores, no cgroup quota"
};
CoreBudget available_cores();

// The CPU quota of the cgroup whose files are under `root` (normally /sys/fs/cgroup), in whole
// CPUs, quota / period rounded up, at least 1: cgroup v2's cpu.max ("max 100000": none;
// "150000 100000": 2), else v1's cpu/cpu.cfs_quota_us (-1: none) over cpu/cpu.cfs_period_us.
// None when there is no quota or no file to say so.
std::optional<int> cgroup_cpu_quota(const std::filesystem::path& root);

// Sets the thread count: `requested` when positive, the available cores when 0. Returns what a
// program's header says about it: "2 threads (affinity 2 cores, no cgroup quota)", "1 thread
// (requested)".
std::string use_threads(int requested);

// How idle OpenMP threads wait. libgomp reads OMP_WAIT_POLICY and GOMP_SPINCOUNT once, in its own
// constructor, before main: by default an idle thread spins some 300,000 times (a few ms) before
// it sleeps, which on a machine busy with other work burns the time slices of the threads it waits
// for (a 2-thread run became many times slower than a 1-thread run). Sleeping at once (passive)
// costs a futex wake-up at every parallel region, tens of microseconds, and on a busy machine the
// woken thread queues behind the other work. minimax spins 1,000 times (some 15-20 us), enough to
// catch the next region of an op sequence without sleeping, too short to burn a time slice:
// faster than passive on a quiet machine and on a busy one (ARCHITECTURE.md, Threads). Setting
// the variable in main is too late, and so is an executable's .preinit_array (glibc installs the
// process's environment after it, before libgomp's constructor, discarding a setenv there).
//
// So a program calls this first thing in main, with main's argv: when the user has set neither
// variable, it sets the one minimax chose (openmp_wait_setting()) and executes the program again
// (/proc/self/exe, the same arguments, and every CPU the process started with, even when libgomp
// has bound the main thread to one), which libgomp then starts with; it returns when there is
// nothing to do (the variable is set: the user's own setting always wins) or the re-execution
// failed (the program then runs with libgomp's default). Call it before any thread starts.
void restart_with_openmp_wait_policy(char** argv);
// The variable and value restart_with_openmp_wait_policy sets: {"GOMP_SPINCOUNT", "1000"}.
std::pair<const char*, const char*> openmp_wait_setting();

// Floating-point operations done by GEMMs and convolutions since the start (2 per multiply-add):
// what `minimax bench` divides by time. Counting is one relaxed atomic add per kernel call.
int64_t flops_counted();
void count_flops(int64_t flops);

}  // namespace minimax
