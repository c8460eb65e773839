// `minimax bench`: training iterations per second, the GFLOP/s they reach, the compute floor (the
// iteration's GEMMs and convolutions timed alone) and the fraction of it reached, and the peak
// resident memory.
#include <fmt/format.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <vector>

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

// Times iterations for at least `seconds` (and 5 iterations) after one untimed step, which finds
// the caches as the previous round's floor left them. The caller then times the floor.
TimedIterations time_iterations(BenchIteration& iteration, double seconds) {
  using clock = std::chrono::steady_clock;
  iteration.step();
  TimedIterations r;
  const int64_t flops_before = flops_counted();
  const auto start = clock::now();
  while (r.seconds < seconds || r.iterations < 5) {
    iteration.step();
    ++r.iterations;
    r.seconds = std::chrono::duration<double>(clock::now() - start).count();
  }
  r.flops = flops_counted() - flops_before;
  return r;
}

// The process's peak resident memory so far, in MiB (Linux reports ru_maxrss in KiB).
double peak_resident_mib() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// The floor line: "compute floor: 65 GEMM and convolution calls per iteration (23 distinct), each
// timed alone after each of 5 rounds: 41.64 ms/iter (24.0 it/s; rounds 33.60-45.19 ms); the
// rounds reach 66% of it (median; 61-70%) (gemm 11 calls 0.50 ms, ...)".
void print_floor(const FloorSummary& s, size_t rounds) {
  std::string kinds;
  for (const ComputeFloor::Kind& k : s.middle->kinds())
    kinds += fmt::format("{}{} {} calls {:.2f} ms", kinds.empty() ? "" : ", ", k.kind, k.calls,
                         1000 * k.seconds);
  fmt::print(
      "compute floor: {} GEMM and convolution calls per iteration ({} distinct), each timed alone "
      "after each of {} round{}: {:.2f} ms/iter ({:.1f} it/s; rounds {:.2f}-{:.2f} ms); the "
      "rounds reach {:.0f}% of it (median; {:.0f}-{:.0f}%) ({})\n",
      s.middle->calls(), s.middle->distinct.size(), rounds, rounds == 1 ? "" : "s", 1000 * s.floor,
      1 / s.floor, 1000 * s.least_floor, 1000 * s.most_floor, 100 * s.fraction,
      100 * s.least_fraction, 100 * s.most_fraction, kinds);
}

// Where the iteration spends beyond its floor: "inside the iterations, the same calls took 48.21
// ms/iter (median of the rounds' recorded steps), 13.40 ms more than alone; the work between them
// took 14.70 ms/iter (...)". The work between them is whatever the model has besides: batch norm
// and activations in DCGAN, dropout and maxout in the MLP.
void print_in_work(const FloorSummary& s, double seconds_per_iteration) {
  fmt::print(
      "inside the iterations, the same calls took {:.2f} ms/iter (median of the rounds' recorded "
      "steps), {:.2f} ms more than alone; the work between them took {:.2f} ms/iter (the model's "
      "other ops, reorders, the optimizer, the tape)\n",
      1000 * s.in_work, 1000 * (s.in_work - s.floor), 1000 * (seconds_per_iteration - s.in_work));
}

// --calls: the middle round's distinct calls, those that lose the most inside the iteration first.
void print_calls(const ComputeFloor& floor) {
  std::vector<ComputeFloor::Call> calls = floor.distinct;
  std::stable_sort(calls.begin(), calls.end(), [](const auto& a, const auto& b) {
    return a.seconds_in_work - a.seconds > b.seconds_in_work - b.seconds;
  });
  fmt::print(
      "the middle round's calls, in ms per iteration (alone, inside the iteration, the "
      "difference), the largest difference first:\n");
  for (const ComputeFloor::Call& c : calls)
    fmt::print("  {:8.3f} {:8.3f} {:+8.3f}  {:3} x {} {}\n", 1000 * c.seconds,
               1000 * c.seconds_in_work, 1000 * (c.seconds_in_work - c.seconds), c.calls, c.kind,
               c.shape);
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
  if (o.rounds < 1 || o.rounds > 100)
    throw UsageError(fmt::format("--rounds {} must be in 1..100", o.rounds));
  const std::string threads = use_threads(o.threads);
  const std::string name = o.loss.empty() ? o.model : o.model + " " + o.loss;
  fmt::print("minimax bench: {}, {}\n", name, threads);
  const int64_t batch = BenchIteration::default_batch(o.model, o.loss);
  BenchIteration iteration(o.model, o.loss, batch, 1);
  for (int i = 0; i < 5; ++i) iteration.step();  // builds the primitives, fills the caches
  std::vector<BenchRound> rounds;
  double rss = 0;
  for (int i = 0; i < o.rounds; ++i) {
    rounds.push_back({time_iterations(iteration, o.seconds / o.rounds), {}});
    if (i == 0) rss = peak_resident_mib();  // before the floor's and the sgemm peak's buffers
    rounds.back().floor = iteration.compute_floor();
  }
  const TimedIterations total = combined(rounds);
  const double its = total.iterations / total.seconds;
  const double gflops = static_cast<double>(total.flops) / total.seconds * 1e-9;
  const double peak = sgemm_peak_gflops();
  fmt::print(
      "{}: {} iterations in {:.2f} s: {:.2f} it/s, {:.2f} ms/iter, {:.1f} GFLOP/s = {:.0f}% of "
      "the {:.1f} GFLOP/s sgemm peak (n = 2048); peak resident memory {:.0f} MiB\n",
      name, total.iterations, total.seconds, its, 1000 / its, gflops, 100 * gflops / peak, peak,
      rss);
  const FloorSummary floor = summarize(rounds);
  print_floor(floor, rounds.size());
  print_in_work(floor, total.seconds / total.iterations);
  if (o.calls) print_calls(*floor.middle);
  fmt::print("{}\n", nlohmann::json{{"model", o.model},
                                    {"loss", o.loss.empty() ? "nonsaturating" : o.loss},
                                    {"batch", batch},
                                    {"threads", num_threads()},
                                    {"iters_per_s", its},
                                    {"ms_per_iter", 1000 / its},
                                    {"gflops_per_s", gflops},
                                    {"sgemm_peak_gflops_per_s", peak},
                                    {"fraction_of_peak", gflops / peak},
                                    {"rounds", o.rounds},
                                    {"floor_ms_per_iter", 1000 * floor.floor},
                                    {"fraction_of_floor", floor.fraction},
                                    {"fraction_of_floor_min", floor.least_fraction},
                                    {"fraction_of_floor_max", floor.most_fraction},
                                    {"floor_calls", floor.middle->calls()},
                                    {"floor_calls_in_work_ms_per_iter", 1000 * floor.in_work},
                                    {"peak_rss_mib", rss}}
                         .dump());
  return 0;
}

}  // namespace minimax::cli
