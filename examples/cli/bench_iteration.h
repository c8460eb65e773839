// The iteration `minimax bench` times: Algorithm 1 (k D steps, then a G step), optimizer steps
// included, of a bundled model on a fixed batch of random data of the right shape, so that only
// compute is timed.
// tests/test_runtime.cpp runs the same iteration to show that its steady state allocates nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/gan/models.h"
#include "models/gan/trainer.h"
#include "models/optim/optimizer.h"

namespace minimax::cli {

// The compute floor of one iteration: its GEMMs and convolution passes (forward and backward, as
// the iteration ran them) timed one by one, alone, at their shapes and thread counts, and summed.
// Beside it, the same calls as the iteration ran them (KernelCall::seconds_in_work): what they
// spend there beyond their floor is the cost of the iteration's caches and threads to them; the
// rest of the iteration is the work between them.
struct ComputeFloor {
  // One distinct call (kind, shape, threads), over its calls in one iteration.
  struct Call {
    std::string kind, shape;
    int64_t calls = 0;
    double seconds = 0;          // timed alone
    double seconds_in_work = 0;  // as the recorded iteration ran them
  };
  struct Kind {
    std::string kind;  // "gemm", "conv forward", ...
    int64_t calls = 0;
    double seconds = 0;  // of all its calls in one iteration
  };
  std::vector<Call> distinct;  // each timed once, in order of first appearance

  // Over all the calls of one iteration: the floor, the same calls as the iteration ran them,
  // how many, and the floor by kind (in order of first appearance).
  double seconds() const;
  double seconds_in_work() const;
  int64_t calls() const;
  std::vector<Kind> kinds() const;
};

// Iterations timed together: how many, their seconds and the flops they counted.
struct TimedIterations {
  int64_t iterations = 0;
  double seconds = 0;
  int64_t flops = 0;
};

// One round of `minimax bench`: iterations timed for a share of --seconds, then the compute floor
// timed right after them. The machine's speed drifts on a shared host (floors of 34 and 46 ms a
// few seconds apart, docs/performance-log.md, 2026-12-07 night), so each round compares the two
// under the same conditions, where one floor timed after all the iterations compared them with
// whatever the machine did last.
struct BenchRound {
  TimedIterations timed;
  ComputeFloor floor;
  double fraction_of_floor() const { return floor.seconds() * timed.iterations / timed.seconds; }
};
// The rounds' iterations together, for the run's iterations per second and GFLOP/s.
TimedIterations combined(const std::vector<BenchRound>& rounds);

// The rounds' floors and fractions of their floors: the medians (of an even count, the mean of
// the two middle values), the least and the most.
struct FloorSummary {
  double floor, least_floor, most_floor;  // seconds per iteration
  double fraction, least_fraction, most_fraction;
  double in_work;              // the median of the rounds' ComputeFloor::seconds_in_work
  const ComputeFloor* middle;  // the round's floor nearest the median, for the kinds' times
};
// Throws std::invalid_argument for no rounds.
FloorSummary summarize(const std::vector<BenchRound>& rounds);

class BenchIteration {
 public:
  // model "mlp" (the paper's, k = 1, SGD with momentum 0.5) or "dcgan" (dcgan28, k = 1, Adam 2e-4,
  // beta1 0.5), with loss "" (non-saturating); or "dcgan" with loss "wgan-gp" (k = 5 critic steps
  // with the gradient penalty, weight 10, Adam 1e-4, betas (0.5, 0.9)). `seed` seeds the default
  // generator (the weights, dropout masks) and the noise and data.
  BenchIteration(const std::string& model, const std::string& loss, int64_t batch, uint64_t seed);
  BenchIteration(const BenchIteration&) = delete;  // the trainer holds references to members
  BenchIteration& operator=(const BenchIteration&) = delete;

  // The batch the bench uses for `model`: the paper's 100 for the MLP, PyTorch's example's 64 for
  // DCGAN. Throws std::invalid_argument for a model and loss the bench has no recipe for.
  static int64_t default_batch(const std::string& model, const std::string& loss);
  // Whether the bench has a recipe for `model` with `loss`, and the ones it has
  // ("mlp, dcgan or dcgan --loss wgan-gp").
  static bool has_model(const std::string& model, const std::string& loss);
  static std::string models();

  void step() { trainer_->step(); }

  // Runs one step while recording its GEMM and convolution calls and timing each as it runs,
  // then times each distinct call alone (the median of at least 5 runs and `seconds_per_call`)
  // and sums over the step's calls.
  // Call it after a warm-up, so that the recorded step is a steady-state one.
  ComputeFloor compute_floor(double seconds_per_call = 0.02);

 private:
  Generator gen_;
  gan::GanModel model_;  // built in the body, after seeding the default generator
  std::unique_ptr<optim::Optimizer> g_opt_, d_opt_;
  Tensor real_;
  std::unique_ptr<gan::Trainer> trainer_;
};

}  // namespace minimax::cli
