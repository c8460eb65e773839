// `minimax bench`: training iterations per second, the GFLOP/s they reach, the compute floor (the
// iteration's GEMMs and convolutions timed alone) and the fraction of it reached, and the peak
// resident memory.
#include <fmt/format.h>

#include <sys/resource.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <utility>

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

// Iterations per second of `iteration` over at least `seconds` (and 5 iterations), after a
// warm-up that builds the primitives and fills the memory caches; also the GFLOP/s.
std::pair<double, double> time_iterations(BenchIteration& iteration, double seconds,
                                          int64_t& iterations) {
  for (int i = 0; i < 5; ++i) iteration.step();
  using clock = std::chrono::steady_clock;
  int64_t flops_before = flops_counted();
  auto start = clock::now();
  double elapsed = 0;
  for (iterations = 0; elapsed < seconds || iterations < 5;) {
    iteration.step();
    ++iterations;
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
  }
  double gflops = static_cast<double>(flops_counted() - flops_before) / elapsed * 1e-9;
  return {iterations / elapsed, gflops};
}

// The process's peak resident memory so far, in MiB (Linux reports ru_maxrss in KiB).
double peak_resident_mib() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// The floor line: "compute floor: 20 GEMM and convolution calls per iteration (15 distinct shapes),
// each timed alone: 10.3 ms/iter (97.1 it/s); this run reaches 61% of it (gemm 20 calls 10.3 ms)".
void print_floor(const ComputeFloor& floor, double its) {
  std::string kinds;
  for (const ComputeFloor::Kind& k : floor.kinds)
    kinds += fmt::format("{}{} {} calls {:.2f} ms", kinds.empty() ? "" : ", ", k.kind, k.calls,
                         1000 * k.seconds);
  fmt::print(
      "compute floor: {} GEMM and convolution calls per iteration ({} distinct), each timed "
      "alone: {:.2f} ms/iter ({:.1f} it/s); this run reaches {:.0f}% of it ({})\n",
      floor.calls, floor.distinct, 1000 * floor.seconds, 1 / floor.seconds,
      100 * floor.seconds * its, kinds);
}

}  // namespace

int bench(const BenchOptions& o) {
  if (!BenchIteration::has_model(o.model, o.loss))
    throw UsageError(fmt::format("--model '{}'{}: choose {}", o.model,
                                 o.loss.empty() ? "" : " --loss '" + o.loss + "'",
                                 BenchIteration::models()));
  if (o.threads < 0) throw UsageError(fmt::format("--threads {} must be 0 or more", o.threads));
  if (!(o.seconds > 0 && o.seconds <= 86400))
    throw UsageError(fmt::format("--seconds {} must be positive, a day at most", o.seconds));
  const std::string threads = use_threads(o.threads);
  const std::string name = o.loss.empty() ? o.model : o.model + " " + o.loss;
  fmt::print("minimax bench: {}, {}\n", name, threads);
  const int64_t batch = BenchIteration::default_batch(o.model, o.loss);
  BenchIteration iteration(o.model, o.loss, batch, 1);
  int64_t iterations = 0;
  auto [its, gflops] = time_iterations(iteration, o.seconds, iterations);
  double rss = peak_resident_mib();  // before the floor's and the sgemm peak's own buffers
  const ComputeFloor floor = iteration.compute_floor();
  double peak = sgemm_peak_gflops();
  fmt::print(
      "{}: {} iterations in {:.2f} s: {:.2f} it/s, {:.2f} ms/iter, {:.1f} GFLOP/s = {:.0f}% of "
      "the {:.1f} GFLOP/s sgemm peak (n = 2048); peak resident memory {:.0f} MiB\n",
      name, iterations, iterations / its, its, 1000 / its, gflops, 100 * gflops / peak, peak, rss);
  print_floor(floor, its);
  fmt::print("{}\n", nlohmann::json{{"model", o.model},
                                    {"loss", o.loss.empty() ? "nonsaturating" : o.loss},
                                    {"batch", batch},
                                    {"threads", num_threads()},
                                    {"iters_per_s", its},
                                    {"ms_per_iter", 1000 / its},
                                    {"gflops_per_s", gflops},
                                    {"sgemm_peak_gflops_per_s", peak},
                                    {"fraction_of_peak", gflops / peak},
                                    {"floor_ms_per_iter", 1000 * floor.seconds},
                                    {"fraction_of_floor", floor.seconds * its},
                                    {"floor_calls", floor.calls},
                                    {"peak_rss_mib", rss}}
                         .dump());
  return 0;
}

}  // namespace minimax::cli
