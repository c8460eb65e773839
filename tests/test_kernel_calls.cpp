// The kernel-call recorder behind `minimax bench`'s compute floor: it sees every GEMM and
// convolution pass of a step, each as it ran, and each can be run again alone.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <set>

#include "examples/cli/bench_iteration.h"
#include "minimax.h"
#include "ops/kernel_calls.h"

using namespace minimax;
using kernels::KernelCall;
using kernels::KernelCallRecorder;

namespace {

std::vector<std::string> shapes_of(const std::vector<KernelCall>& calls) {
  std::vector<std::string> shapes;
  for (const KernelCall& c : calls) shapes.push_back(c.kind + " " + c.shape);
  return shapes;
}

int64_t flops_of(const std::vector<KernelCall>& calls) {
  int64_t flops = 0;
  for (const KernelCall& c : calls) flops += c.flops;
  return flops;
}

}  // namespace

// The GEMMs of the model's products, in order; not the sums the reductions compute as GEMMs with a
// ones operand (the loss's sum, the bias gradient), which are no product of the model's.
TEST_CASE("the recorder sees the GEMMs of a two-layer MLP forward and backward, in order") {
  Generator gen(3);
  Tensor x = Tensor::uniform({8, 5}, -1, 1, gen);  // no gradient wanted: no GEMM for it
  Tensor w1 = Tensor::uniform({6, 5}, -1, 1, gen).requires_grad_();
  Tensor b1 = Tensor::uniform({6}, -1, 1, gen).requires_grad_();
  Tensor w2 = Tensor::uniform({3, 6}, -1, 1, gen).requires_grad_();
  CHECK_FALSE(kernels::recording_kernel_calls());
  int64_t flops_before = flops_counted();
  std::vector<KernelCall> calls;
  {
    KernelCallRecorder recorder;
    CHECK(kernels::recording_kernel_calls());
    sum(linear(relu(linear(x, w1, b1)), w2)).backward();
    calls = recorder.calls();
  }
  CHECK_FALSE(kernels::recording_kernel_calls());
  const std::vector<std::string> expected = {
      "gemm NT M=8 N=6 K=5 beta 1",  // linear 1, its bias the GEMM's C
      "gemm NT M=8 N=3 K=6 beta 0",  // linear 2
      "gemm NN M=8 N=6 K=3 beta 0",  // d/dh = g w2
      "gemm TN M=3 N=6 K=8 beta 0",  // d/dw2 = g^T h
      "gemm TN M=6 N=5 K=8 beta 0",  // d/dw1 = g1^T x
  };
  CHECK(shapes_of(calls) == expected);
  CHECK(flops_of(calls) == flops_counted() - flops_before);
  for (const KernelCall& c : calls) CHECK(c.threads == num_threads());
}

TEST_CASE("the recorder sees each convolution pass with its shapes, and nothing once it is gone") {
  Generator gen(4);
  Tensor x = Tensor::uniform({2, 3, 8, 8}, -1, 1, gen).requires_grad_();
  Tensor w = Tensor::uniform({4, 3, 3, 3}, -1, 1, gen).requires_grad_();
  int64_t flops_before = flops_counted();
  std::vector<KernelCall> calls;
  {
    KernelCallRecorder recorder;
    CHECK_THROWS_AS(KernelCallRecorder(), std::logic_error);  // one at a time
    // A sum over all but the channel axis keeps the loss's own GEMM out of the way.
    sum(conv2d(x, w, Tensor(), {.padding = 1}), {0, 2, 3}).backward(Tensor::ones({4}));
    calls = recorder.calls();
  }
  const std::string shape =
      "x [2, 3, 8, 8] w [4, 3, 3, 3] y [2, 4, 8, 8] stride 1 pad 1 dilation 1";
  const std::vector<std::string> expected = {"conv forward " + shape, "conv backward data " + shape,
                                             "conv backward weights " + shape};
  CHECK(shapes_of(calls) == expected);
  CHECK(flops_of(calls) == flops_counted() - flops_before);
  CHECK(flops_of(calls) == 3 * 2 * (2 * 4 * 8 * 8) * (3 * 3 * 3));
  CHECK_FALSE(kernels::recording_kernel_calls());
  conv2d(x, w, Tensor(), {.padding = 1});  // unrecorded: a new recorder starts empty
  KernelCallRecorder later;
  CHECK(later.calls().empty());
}

// Narrow stride-2 convolutions: with a 4x4 kernel, at most 3x3 outputs and 16 or more output
// channels, all three passes take the Winograd route (ops/winograd_conv.cpp); with 4 output
// columns, forward and backward data run as the stride-1 convolution of the input's four phases and
// backward weights stays direct (ops/dnnl/conv.cpp); with 5, all three are direct. The flops are
// the original convolution's on every route. The Winograd route's operand transforms are calls of
// their own, with no flops: outside a ParameterReorderScope the kernel is transformed for each
// pass, and the op keeps the input's and the output gradient's tiles for backward weights.
TEST_CASE("the recorder sees the Winograd and phase-split passes of narrow stride-2 convolutions") {
  Generator gen(6);
  for (int64_t width : {7, 9, 11}) {
    CAPTURE(width);
    Tensor x = Tensor::uniform({2, 8, 7, width}, -1, 1, gen).requires_grad_();
    Tensor w = Tensor::uniform({16, 8, 4, 4}, -1, 1, gen).requires_grad_();
    const int64_t columns = (width + 2 - 4) / 2 + 1;
    int64_t flops_before = flops_counted();
    std::vector<KernelCall> calls;
    {
      KernelCallRecorder recorder;
      sum(conv2d(x, w, Tensor(), {.stride = 2, .padding = 1}), {0, 2, 3})
          .backward(Tensor::ones({16}));
      calls = recorder.calls();
    }
    const std::string direct =
        fmt::format("x [2, 8, 7, {}] w [16, 8, 4, 4] y [2, 16, 3, {}] stride 2 pad 1 dilation 1",
                    width, columns);
    const std::string split = fmt::format(
        "x [2, 32, 4, {}] w [16, 32, 2, 2] y [2, 16, 3, {}] stride 1 pad 0 dilation 1 (the phases "
        "of a stride-2 convolution)",
        columns + 1, columns);
    const std::string winograd =
        "x [2, 8, 7, 7] w [16, 8, 4, 4] y [2, 16, 3, 3] stride 2 pad 1 dilation 1 (Winograd "
        "F(3x3, 2x2))";
    const std::string data = columns == 4 ? split : direct;
    const std::vector<std::string> expected =
        columns <= 3
            ? std::vector<std::string>{"winograd transform kernel, " + winograd,
                                       "winograd transform input, " + winograd,
                                       "conv forward " + winograd,
                                       "winograd transform kernel, " + winograd,
                                       "winograd transform output gradient, " + winograd,
                                       "conv backward data " + winograd,
                                       "conv backward weights " + winograd}
            : std::vector<std::string>{"conv forward " + data, "conv backward data " + data,
                                       "conv backward weights " + direct};
    CHECK(shapes_of(calls) == expected);
    CHECK(flops_of(calls) == flops_counted() - flops_before);
    CHECK(flops_of(calls) == 3 * 2 * (2 * 16 * 3 * columns) * (8 * 4 * 4));
  }
}

TEST_CASE("a recorded call runs again alone on its own buffers and takes time") {
  Generator gen(5);
  Tensor x = Tensor::uniform({4, 2, 6, 6}, -1, 1, gen);
  Tensor w = Tensor::uniform({3, 2, 3, 3}, -1, 1, gen);
  Tensor a = Tensor::uniform({16, 32}, -1, 1, gen), b = Tensor::uniform({32, 8}, -1, 1, gen);
  std::vector<KernelCall> calls;
  {
    KernelCallRecorder recorder;
    conv2d(x, w, Tensor(), {.stride = 2});
    matmul(a, b);
    calls = recorder.calls();
  }
  REQUIRE(calls.size() == 2);
  int64_t flops_before = flops_counted();
  for (const KernelCall& c : calls) {
    CAPTURE(c.kind);
    double seconds = kernels::time_alone(c, 3, 0.001);
    CHECK(seconds > 0);
    // A tiny problem: even on a loaded machine, a second would mean the runs were not what we
    // think.
    CHECK(seconds < 1.0);
  }
  CHECK(flops_counted() == flops_before);  // timing alone counts nothing toward a bench's GFLOP/s
}

// Each recorded call is timed where the work runs it, into its own record: a large product's
// time is its own, not a small one's recorded beside it, and lies within the time around the work.
TEST_CASE("the recorder times each call as the work runs it, into that call's record") {
  Generator gen(6);
  Tensor big_a = Tensor::uniform({384, 384}, -1, 1, gen),
         big_b = Tensor::uniform({384, 384}, -1, 1, gen);
  Tensor small_a = Tensor::uniform({2, 3}, -1, 1, gen),
         small_b = Tensor::uniform({3, 2}, -1, 1, gen);
  matmul(small_a, small_b);  // the first GEMM of a process starts the BLAS: not in the records
  matmul(big_a, big_b);
  std::vector<KernelCall> calls;
  double seconds_around = 0;
  {
    KernelCallRecorder recorder;
    const auto start = std::chrono::steady_clock::now();
    matmul(small_a, small_b);
    matmul(big_a, big_b);
    matmul(small_a, small_b);
    seconds_around =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    calls = recorder.calls();
  }
  REQUIRE(shapes_of(calls) == std::vector<std::string>{"gemm NN M=2 N=2 K=3 beta 0",
                                                       "gemm NN M=384 N=384 K=384 beta 0",
                                                       "gemm NN M=2 N=2 K=3 beta 0"});
  // 113 MFLOP against 24 flops: even a loaded machine keeps them five times apart.
  CHECK(calls[1].seconds_in_work > 5 * calls[0].seconds_in_work);
  CHECK(calls[1].seconds_in_work > 5 * calls[2].seconds_in_work);
  double in_work = 0;
  for (const KernelCall& c : calls) {
    CHECK(c.seconds_in_work > 0);
    in_work += c.seconds_in_work;
  }
  CHECK(in_work <= seconds_around);
}

// The floor is the iteration's own GEMMs and convolutions: as many calls as a recorded step makes,
// each timed, summed by kind; for the convolutional models it holds every kind of pass. (Whether
// the floor is below a measured step is a timing, which a loaded machine can reverse; `minimax
// bench` reports that fraction instead of a test asserting it.)
TEST_CASE("the compute floor of the bench iterations counts each GEMM and convolution of a step") {
  for (auto [name, loss_name] : {std::pair{"mlp", ""}, {"dcgan", ""}, {"dcgan", "wgan-gp"}}) {
    const std::string model = name, loss = loss_name;
    CAPTURE(model);
    CAPTURE(loss);
    cli::BenchIteration iteration(model, loss, 8, 4);
    iteration.step();
    std::vector<KernelCall> step_calls;
    {
      KernelCallRecorder recorder;
      iteration.step();
      step_calls = recorder.calls();
    }
    cli::ComputeFloor floor = iteration.compute_floor(0.001);
    CHECK(floor.calls() == static_cast<int64_t>(step_calls.size()));
    CHECK(floor.seconds() > 0);
    CHECK(!floor.distinct.empty());
    CHECK(static_cast<int64_t>(floor.distinct.size()) <= floor.calls());
    // Each distinct call was timed alone and inside the recorded step.
    for (const cli::ComputeFloor::Call& c : floor.distinct) {
      CAPTURE(c.shape);
      CHECK(c.seconds > 0);
      CHECK(c.seconds_in_work > 0);
    }
    std::set<std::string> kinds;
    int64_t calls = 0;
    double seconds = 0;
    for (const cli::ComputeFloor::Kind& k : floor.kinds()) {
      kinds.insert(k.kind);
      calls += k.calls;
      seconds += k.seconds;
    }
    CHECK(calls == floor.calls());
    CHECK(seconds == doctest::Approx(floor.seconds()));
    if (std::string(model) == "dcgan")
      CHECK(kinds == std::set<std::string>{"gemm", "conv forward", "conv backward data",
                                           "conv backward weights", "winograd transform"});
  }
}

// A floor is its distinct calls; its totals and its times by kind are sums over them.
TEST_CASE("the compute floor's totals and kinds are sums over its distinct calls") {
  cli::ComputeFloor floor;
  floor.distinct = {{"gemm", "NT M=4 N=4 K=4", 3, 0.003, 0.004},
                    {"conv forward", "x [2, 1, 4, 4]", 1, 0.010, 0.020},
                    {"gemm", "NN M=8 N=8 K=8", 2, 0.005, 0.006}};
  CHECK(floor.calls() == 6);
  CHECK(floor.seconds() == doctest::Approx(0.018));
  CHECK(floor.seconds_in_work() == doctest::Approx(0.030));
  const std::vector<cli::ComputeFloor::Kind> kinds = floor.kinds();
  REQUIRE(kinds.size() == 2);  // in order of first appearance
  CHECK(kinds[0].kind == "gemm");
  CHECK(kinds[0].calls == 5);
  CHECK(kinds[0].seconds == doctest::Approx(0.008));
  CHECK(kinds[1].kind == "conv forward");
  CHECK(kinds[1].calls == 1);
  CHECK(kinds[1].seconds == doctest::Approx(0.010));
  CHECK(cli::ComputeFloor{}.kinds().empty());
  CHECK(cli::ComputeFloor{}.seconds() == 0);
}

// `minimax bench` pairs each round's iterations with a floor timed right after them and reports
// the medians; made-up rounds show which values it picks.
TEST_CASE("the bench's rounds: median floor and fraction, their range, the middle round's kinds") {
  auto round = [](double floor_ms, int64_t iterations, double seconds) {
    cli::BenchRound r;
    r.timed = {iterations, seconds, 1000 * iterations};
    r.floor.distinct = {{"gemm", "NN M=2 N=2 K=2", 2, floor_ms / 2000, floor_ms / 1600},
                        {"conv forward", "x [1, 1, 2, 2]", 1, floor_ms / 2000, floor_ms / 1600}};
    return r;
  };
  // Fractions 40 ms x 20 it/s = 0.8, 0.3 (30 x 10), 0.7 (35 x 20); the floors' median is 35 ms.
  std::vector<cli::BenchRound> rounds{round(40, 40, 2), round(30, 10, 1), round(35, 20, 1)};
  const cli::TimedIterations all = cli::combined(rounds);
  CHECK(all.iterations == 70);
  CHECK(all.seconds == doctest::Approx(4));
  CHECK(all.flops == 70000);
  cli::FloorSummary s = cli::summarize(rounds);
  CHECK(s.in_work == doctest::Approx(1.25 * 0.035));
  CHECK(s.floor == doctest::Approx(0.035));
  CHECK(s.least_floor == doctest::Approx(0.030));
  CHECK(s.most_floor == doctest::Approx(0.040));
  CHECK(s.fraction == doctest::Approx(0.7));
  CHECK(s.least_fraction == doctest::Approx(0.3));
  CHECK(s.most_fraction == doctest::Approx(0.8));
  CHECK(s.middle == &rounds[2].floor);
  // Of an even count, the mean of the two middle values: floors 30 and 35, fractions 0.3 and 0.7.
  rounds.erase(rounds.begin());
  s = cli::summarize(rounds);
  CHECK(s.floor == doctest::Approx(0.0325));
  CHECK(s.fraction == doctest::Approx(0.5));
  CHECK(s.in_work == doctest::Approx(1.25 * 0.0325));
  CHECK_THROWS_WITH_AS(cli::summarize({}), "summarize: no bench rounds", std::invalid_argument);
}
