// The compute-heavy kernel calls of a stretch of work (every GEMM and convolution pass), recorded
// so that each can be timed alone at its shape: `minimax bench`'s compute floor, the time an
// iteration would take if it did nothing but its GEMMs and convolutions.
//
// Off by default. The kernels ask `recording_kernel_calls()` (one relaxed atomic load) and build
// a record only while a KernelCallRecorder exists, so a normal step pays nothing else.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autograd/tensor.h"

namespace minimax::kernels {

// One GEMM or convolution pass as the work ran it.
struct KernelCall {
  std::string kind;   // "gemm", "conv forward", "conv backward data", "conv backward weights"
  std::string shape;  // what tells calls of one kind apart: "NT M=100 N=1200 K=784 beta 1", ...
  int threads = 1;    // the pool size it ran with
  int64_t flops = 0;  // as count_flops counted it
  // Allocates buffers of the call's sizes, in the layouts the call used, filled with values in
  // [-1, 1], and returns the call on them: the GEMM, or the convolution primitive alone (without
  // the reorders between our plain tensors and its blocked layouts, which are overhead).
  std::function<std::function<void()>()> prepare;
  // How long the call took where the work ran it, measured by the KernelCallTimer that
  // record_kernel_call returned: beside time_alone's figure, what the work's cold caches, its
  // waking threads and its other traffic cost the call.
  double seconds_in_work = 0;
};

class KernelCallTimer;

// While one exists, the kernels append every GEMM and convolution pass to it. One at a time, on
// the thread that runs the work (the kernels are called from it; OpenMP threads only compute).
class KernelCallRecorder {
 public:
  KernelCallRecorder();
  ~KernelCallRecorder();
  KernelCallRecorder(const KernelCallRecorder&) = delete;
  KernelCallRecorder& operator=(const KernelCallRecorder&) = delete;

  const std::vector<KernelCall>& calls() const { return calls_; }

 private:
  friend KernelCallTimer;
  friend KernelCallTimer record_kernel_call(KernelCall call);
  std::vector<KernelCall> calls_;
};

// Times one recorded call as the work runs it: from its making (inside record_kernel_call) to its
// end it measures the seconds it writes into the call's seconds_in_work. A kernel holds it around
// exactly what the recorded call's `prepare` runs, so that the two figures time the same thing.
// Made with no recorder listening (the default), it does nothing.
class KernelCallTimer {
 public:
  KernelCallTimer() = default;
  KernelCallTimer(KernelCallTimer&& other) noexcept;
  KernelCallTimer& operator=(KernelCallTimer&&) = delete;
  ~KernelCallTimer();

 private:
  friend KernelCallTimer record_kernel_call(KernelCall call);
  KernelCallTimer(KernelCallRecorder* recorder, size_t index);
  KernelCallRecorder* recorder_ = nullptr;
  size_t index_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// For the kernels: whether a recorder is listening, and the call to give it, with the timer to
// hold around the call's run.
bool recording_kernel_calls();
[[nodiscard]] KernelCallTimer record_kernel_call(KernelCall call);
// A buffer of `floats` values in [-1, 1] for a prepared call (from a fixed seed: the values do not
// matter to the speed, only that they are ordinary numbers, not denormals).
Tensor call_buffer(int64_t floats);

// The median time in seconds of `call` run alone on its own buffers at its thread count: at least
// `min_runs` runs and `min_seconds` of them, after one warm-up run.
double time_alone(const KernelCall& call, int min_runs, double min_seconds);

}  // namespace minimax::kernels
