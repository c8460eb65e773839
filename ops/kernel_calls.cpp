#include "ops/kernel_calls.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <utility>

#include "autograd/random.h"
#include "ops/runtime.h"

namespace minimax::kernels {

namespace {
std::atomic<KernelCallRecorder*> active{nullptr};
}  // namespace

KernelCallRecorder::KernelCallRecorder() {
  KernelCallRecorder* none = nullptr;
  if (!active.compare_exchange_strong(none, this))
    throw std::logic_error("KernelCallRecorder: another recorder is already recording");
}

KernelCallRecorder::~KernelCallRecorder() {
  active.store(nullptr);
}

bool recording_kernel_calls() {
  return active.load(std::memory_order_relaxed) != nullptr;
}

KernelCallTimer record_kernel_call(KernelCall call) {
  KernelCallRecorder* r = active.load();
  if (r == nullptr) return {};
  r->calls_.push_back(std::move(call));
  return {r, r->calls_.size() - 1};
}

KernelCallTimer::KernelCallTimer(KernelCallRecorder* recorder, size_t index)
    : recorder_(recorder), index_(index), start_(std::chrono::steady_clock::now()) {}

KernelCallTimer::KernelCallTimer(KernelCallTimer&& other) noexcept
    : recorder_(std::exchange(other.recorder_, nullptr)),
      index_(other.index_),
      start_(other.start_) {}

KernelCallTimer::~KernelCallTimer() {
  // The recorder outlives the kernel calls made while it listens; a timer made under one that
  // has since gone (a call that outlived its recorder) has nowhere to write.
  if (recorder_ == nullptr || active.load() != recorder_) return;
  recorder_->calls_[index_].seconds_in_work =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

Tensor call_buffer(int64_t floats) {
  Generator gen(7);
  return Tensor::uniform(Shape{std::max<int64_t>(floats, 1)}, -1, 1, gen);
}

double time_alone(const KernelCall& call, int min_runs, double min_seconds) {
  using clock = std::chrono::steady_clock;
  const ScopedThreads pool(call.threads);
  std::function<void()> run = call.prepare();
  run();  // warm-up: first touch of the buffers, the pool's threads awake
  std::vector<double> times;
  double total = 0;
  while (static_cast<int>(times.size()) < min_runs || total < min_seconds) {
    auto start = clock::now();
    run();
    times.push_back(std::chrono::duration<double>(clock::now() - start).count());
    total += times.back();
  }
  auto middle = times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2);
  std::nth_element(times.begin(), middle, times.end());
  return *middle;
}

}  // namespace minimax::kernels
