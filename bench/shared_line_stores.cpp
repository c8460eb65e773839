// Why the optimizers' update passes write with streaming stores (models/optim/loop.h), measured
// on the machine at hand: one SGD momentum pass over a parameter the size of the paper MLP's
// 1200x1200 weight, timed alone (the pass repeated, nothing else touching its arrays) and after
// shared reads (every thread first reads the whole parameter, as the GEMMs do, so each core holds
// a copy of its lines), with ordinary stores (a plain `omp parallel for simd` loop) and with the
// library's for_each_block (whole lines, streaming stores).
//
// On the 2-core VM this project is measured on (2026-12-05, load about 1, three runs), at 2
// threads: ordinary stores 0.11-0.12 ms alone and 0.69-0.74 ms after shared reads; streaming
// stores 0.26-0.29 and 0.52-0.53 ms. At 1 thread no other core holds the lines and streaming is
// the slower (0.55 against 0.24-0.27 ms), yet the paper MLP at `--threads 1` ran no faster with
// ordinary stores (three alternating rounds of `minimax bench`), so the library streams at every
// thread count. A machine where ordinary stores time alike in both columns needs no streaming.
// Usage: shared_line_stores [threads]   (default: OpenMP's)
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "models/optim/loop.h"

namespace {

constexpr int64_t kElements = 1200 * 1200;
constexpr float kMomentum = 0.9f, kLr = 0.01f;

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float[], AlignedFree>;

Buffer line_aligned_buffer(float value) {
  auto* p = static_cast<float*>(std::aligned_alloc(64, kElements * sizeof(float)));
  if (p == nullptr) throw std::bad_alloc();
  std::fill_n(p, kElements, value);
  return Buffer(p);
}

struct Arrays {
  Buffer param = line_aligned_buffer(1.0f), grad = line_aligned_buffer(0.5f),
         momentum = line_aligned_buffer(0.0f);
};

// buf = mu buf + g; p -= lr buf, with ordinary stores.
void ordinary_stores(Arrays& a) {
  float *p = a.param.get(), *b = a.momentum.get();
  const float* g = a.grad.get();
#pragma omp parallel for simd schedule(static)
  for (int64_t k = 0; k < kElements; ++k) {
    const float next = kMomentum * b[k] + g[k];
    b[k] = next;
    p[k] -= kLr * next;
  }
}

// The same pass through the optimizers' loop.
void library_loop(Arrays& a) {
  float *p = a.param.get(), *b = a.momentum.get();
  const float* g = a.grad.get();
  minimax::optim::detail::for_each_block<2>(
      kElements, {p, b}, [p, b, g](int64_t begin, int64_t end, const std::array<float*, 2>& dst) {
        const float mu = kMomentum, lr = kLr;
        float *dp = dst[0], *db = dst[1];
        for (int64_t k = begin; k < end; ++k) {
          const float next = mu * b[k] + g[k];
          db[k - begin] = next;
          dp[k - begin] = p[k] - lr * next;
        }
      });
}

// Every thread reads every line of the parameter, as a GEMM's threads read its weight.
float read_on_every_thread(const Arrays& a) {
  float total = 0;
  const float* p = a.param.get();
#pragma omp parallel reduction(+ : total)
  for (int64_t k = 0; k < kElements; k += minimax::optim::detail::kLineFloats) total += p[k];
  return total;
}

// The median of `runs` timed passes, each after `before` (untimed).
double median_ms(const std::function<void()>& before, const std::function<void()>& pass, int runs) {
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    before();
    auto start = std::chrono::steady_clock::now();
    pass();
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::nth_element(times.begin(), times.begin() + runs / 2, times.end());
  return times[runs / 2];
}

// The whole argument must be a positive count: "2x" or "" is refused, not read as 2 or 0.
std::optional<int> parse_threads(std::string_view text) {
  int threads = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), threads);
  if (error != std::errc{} || end != text.data() + text.size() || threads < 1) return std::nullopt;
  return threads;
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<int> threads = argc == 2 ? parse_threads(argv[1]) : std::nullopt;
  if (argc > 2 || (argc == 2 && !threads)) {
    fmt::print(stderr, "usage: shared_line_stores [threads >= 1]\n");
    return 2;
  }
  if (threads) omp_set_num_threads(*threads);
  Arrays arrays;
  volatile float sink = 0;
  const auto nothing = [] {};
  const auto shared_reads = [&] { sink = sink + read_on_every_thread(arrays); };
  const auto ordinary = [&] { ordinary_stores(arrays); };
  const auto streaming = [&] { library_loop(arrays); };
  constexpr int kRuns = 101;
  ordinary();  // first touch, threads awake
  fmt::print("SGD momentum pass over {} floats, {} threads, median of {} passes (ms)\n", kElements,
             omp_get_max_threads(), kRuns);
  fmt::print("{:<22} {:>10} {:>20}\n", "stores", "alone", "after shared reads");
  const std::pair<const char*, std::function<void()>> passes[] = {
      {"ordinary", ordinary}, {"streaming (library)", streaming}};
  for (const auto& [name, pass] : passes)
    fmt::print("{:<22} {:>10.3f} {:>20.3f}\n", name, median_ms(nothing, pass, kRuns),
               median_ms(shared_reads, pass, kRuns));
  return 0;
}
