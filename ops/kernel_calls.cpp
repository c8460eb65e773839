#include "ops/kernel_calls.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>

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

void record_kernel_call(KernelCall call) {
  if (KernelCallRecorder* r = active.load()) r->calls_.push_back(std::move(call));
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
