// `minimax bench`: training iterations per second, and the GFLOP/s they reach.
#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "examples/cli/bench_iteration.h"
#include "examples/cli/commands.h"
#include "ops/kernels.h"
#include "ops/runtime.h"

namespace minimax::cli {

namespace {

// The machine's sgemm peak as the issue defines it: oneDNN sgemm at n = 2048 with the bench's
// thread count, best of three after a warm-up.
double sgemm_peak_gflops() {
  const int64_t n = 2048;
  Generator gen(2);
  Tensor a = Tensor::uniform({n, n}, -1, 1, gen), b = Tensor::uniform({n, n}, -1, 1, gen);
  Tensor c = Tensor::empty({n, n});
  double best = 0;
  for (int rep = 0; rep < 4; ++rep) {
    auto start = std::chrono::steady_clock::now();
    kernels::gemm(false, false, n, n, n, 1, a.data(), n, b.data(), n, 0, c.data(), n);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rep > 0) best = std::max(best, 2.0 * n * n * n / seconds * 1e-9);
  }
  return best;
}

}  // namespace

int bench(const BenchOptions& o) {
  if (!BenchIteration::has_model(o.model))
    throw UsageError(fmt::format("--model '{}': choose {}", o.model, BenchIteration::models()));
  if (o.threads < 1) throw UsageError(fmt::format("--threads {} must be positive", o.threads));
  if (!(o.seconds > 0)) throw UsageError(fmt::format("--seconds {} must be positive", o.seconds));
  set_num_threads(o.threads);
  const int64_t batch = BenchIteration::default_batch(o.model);
  BenchIteration iteration(o.model, batch, 1);
  for (int i = 0; i < 5; ++i) iteration.step();  // warm-up: primitives built, memory cached

  using clock = std::chrono::steady_clock;
  int64_t flops_before = flops_counted(), iterations = 0;
  auto start = clock::now();
  double elapsed = 0;
  while (elapsed < o.seconds || iterations < 5) {
    iteration.step();
    ++iterations;
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
  }
  double its = iterations / elapsed;
  double gflops = static_cast<double>(flops_counted() - flops_before) / elapsed * 1e-9;
  double peak = sgemm_peak_gflops();
  fmt::print(
      "{}: {} iterations in {:.2f} s with {} thread(s): {:.2f} it/s, {:.2f} ms/iter, {:.1f} "
      "GFLOP/s = {:.0f}% of the {:.1f} GFLOP/s sgemm peak (n = 2048)\n",
      o.model, iterations, elapsed, o.threads, its, 1000 / its, gflops, 100 * gflops / peak, peak);
  fmt::print("{}\n", nlohmann::json{{"model", o.model},
                                    {"batch", batch},
                                    {"threads", o.threads},
                                    {"iters_per_s", its},
                                    {"ms_per_iter", 1000 / its},
                                    {"gflops_per_s", gflops},
                                    {"sgemm_peak_gflops_per_s", peak},
                                    {"fraction_of_peak", gflops / peak}}
                         .dump());
  return 0;
}

}  // namespace minimax::cli
