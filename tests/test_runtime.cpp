// Steady state: a repeated training step builds no new oneDNN primitive and asks the system for no
// new tensor memory (counts, not times).
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "examples/cli/bench_iteration.h"
#include "minimax.h"
#include "ops/denormals.h"
#include "ops/dnnl/context.h"
#include "ops/thread_ranges.h"

using namespace minimax;

namespace {

// One D step and one G step of a small MLP GAN, with plain SGD.
struct TinyGan {
  Generator gen{11};
  Tensor gw1 = Tensor::uniform({32, 8}, -0.3f, 0.3f, gen).requires_grad_();
  Tensor gw2 = Tensor::uniform({16, 32}, -0.3f, 0.3f, gen).requires_grad_();
  Tensor dw1 = Tensor::uniform({40, 16}, -0.3f, 0.3f, gen).requires_grad_();
  Tensor db1 = Tensor::zeros({40}).requires_grad_();
  Tensor dw2 = Tensor::uniform({1, 10}, -0.3f, 0.3f, gen).requires_grad_();

  Tensor g(const Tensor& z) { return sigmoid(linear(relu(linear(z, gw1)), gw2)); }
  Tensor d(const Tensor& x) {
    Generator drop(3);
    return linear(maxout(dropout(linear(x, dw1, db1), 0.5f, true, drop), 4), dw2);
  }
  void sgd(TensorList params) {
    NoGradGuard no_grad;
    for (Tensor& p : params) {
      p.copy_(sub(p, mul(p.grad(), 0.01f)));
      p.zero_grad();
    }
  }
  void step() {
    Tensor real = Tensor::uniform({20, 16}, 0, 1, gen);
    Tensor fake;
    {
      NoGradGuard no_grad;
      fake = g(Tensor::uniform({20, 8}, -1, 1, gen));
    }
    Tensor d_loss = neg(add(mean(log_sigmoid(d(real))), mean(log_sigmoid(neg(d(fake))))));
    d_loss.backward();
    sgd({dw1, db1, dw2});
    Tensor g_loss = neg(mean(log_sigmoid(d(g(Tensor::uniform({20, 8}, -1, 1, gen))))));
    g_loss.backward();
    for (Tensor p : {dw1, db1, dw2}) p.zero_grad();
    sgd({gw1, gw2});
  }
};

}  // namespace

TEST_CASE("a repeated training step builds no primitive and allocates no tensor memory") {
  TinyGan gan;
  gan.step();
  gan.step();
  int64_t primitives = dnnl_ctx::primitives_created();
  int64_t allocations = CachingAllocator::instance().stats().system_allocations;
  for (int i = 0; i < 5; ++i) gan.step();
  CHECK(dnnl_ctx::primitives_created() == primitives);
  CHECK(CachingAllocator::instance().stats().system_allocations == allocations);
}

// The ops GANs since DCGAN use (issue 13): a step through each of them, with a gradient penalty so
// that the recorded backwards run too, reaches the same steady state.
TEST_CASE("a repeated step through the newer GAN ops builds no primitive and allocates nothing") {
  Generator gen(5);
  Tensor embed = Tensor::uniform({10, 4}, -1, 1, gen).requires_grad_();
  Tensor conv_w = Tensor::uniform({8, 2, 3, 3}, -0.3f, 0.3f, gen).requires_grad_();  // groups 2
  Tensor gn_w = Tensor::ones({8}).requires_grad_(), gn_b = Tensor::zeros({8}).requires_grad_();
  Tensor head = Tensor::uniform({10, 32}, -0.3f, 0.3f, gen).requires_grad_();
  Tensor labels = Tensor::from_vector({3, 1, 4, 1, 5, 9}, {6});
  auto step = [&] {
    Tensor x = Tensor::uniform({6, 4, 2, 2}, -1, 1, gen).requires_grad_();
    Tensor h = add(x, reshape(embedding(embed, labels), {6, 4, 1, 1}));
    h = conv2d(upsample_nearest2d(h, 2), conv_w, Tensor(), {.padding = 1, .groups = 2});
    h = pixel_shuffle(leaky_relu(group_norm(h, 4, gn_w, gn_b), 0.2f), 2);  // [6, 2, 8, 8]
    h = upsample_bilinear2d(avg_pool2d(h, 4), 2);                          // [6, 2, 4, 4]
    Tensor logits = linear(layer_norm(flatten(h), {32}), head);
    Tensor loss = add(cross_entropy(logits, labels), mean(softmax(logits, 1)));
    Tensor gx = grad({loss}, {x}, {.create_graph = true})[0];
    add(loss, mean(square(gx))).backward();
    for (Tensor p : {embed, conv_w, gn_w, gn_b, head}) p.zero_grad();
  };
  step();
  step();
  int64_t primitives = dnnl_ctx::primitives_created();
  int64_t allocations = CachingAllocator::instance().stats().system_allocations;
  for (int i = 0; i < 3; ++i) step();
  CHECK(dnnl_ctx::primitives_created() == primitives);
  CHECK(CachingAllocator::instance().stats().system_allocations == allocations);
}

// An exception must not leave an OpenMP region (the runtime would terminate the program):
// in_ranges carries a share's out of the region, after every share has run.
TEST_CASE("in_ranges rethrows what a share throws once every share has ended") {
  const ScopedThreads two(2);
  std::atomic<int> finished{0};
  auto second_share_fails = [&](int64_t begin, int64_t) {
    if (begin > 0) throw std::runtime_error("the second share failed");
    finished.fetch_add(1);
  };
  CHECK_THROWS_WITH_AS(kernels::in_ranges(10, true, second_share_fails), "the second share failed",
                       std::runtime_error);
  CHECK(finished.load() == 1);
  kernels::in_ranges(10, true, [&](int64_t, int64_t) { finished.fetch_add(1); });
  CHECK(finished.load() == 3);  // and the pool still runs regions afterwards
}

TEST_CASE("set_num_threads rejects a non-positive count and is honoured") {
  CHECK_THROWS_AS(set_num_threads(0), std::invalid_argument);
  const ScopedThreads three(3);  // a count the tests do not start with
  CHECK(num_threads() == 3);
  {
    const ScopedThreads one(1);
    CHECK(num_threads() == 1);
  }
  CHECK(num_threads() == 3);  // ScopedThreads restores the count it found
}

namespace {

// How many of the pool's threads (at 2) take a denormal input as zero and flush a denormal product
// to zero: DAZ and FTZ, observed, not read from the register.
int threads_flushing_denormals() {
  int flushing = 0;
  volatile float denormal = 1e-39f, half = 0.5f, small = 1e-37f, tenth = 0.1f;
#pragma omp parallel num_threads(2) reduction(+ : flushing)
  flushing += (denormal * 1.0f == 0.0f) && (small * half * tenth == 0.0f);
  return flushing;
}

}  // namespace

TEST_CASE("set_flush_denormals turns flush-to-zero on and off on every pool thread") {
  const ScopedThreads two(2);
  threads_flushing_denormals();  // the pool exists before the mode is set
  REQUIRE(set_flush_denormals(true));
  CHECK(threads_flushing_denormals() == 2);
  set_flush_denormals(false);  // the library's and the tests' default: IEEE's
  CHECK(threads_flushing_denormals() == 0);
}

// `minimax bench`'s iterations at a small batch: the same ops, layouts and optimizers, and for
// WGAN-GP the penalty's double backward through the critic in each of its 5 steps.
TEST_CASE(
    "a steady-state training step of the paper MLP, DCGAN and WGAN-GP allocates nothing new") {
  for (auto [model, loss] : {std::pair{"mlp", ""}, {"dcgan", ""}, {"dcgan", "wgan-gp"}}) {
    CAPTURE(model);
    CAPTURE(loss);
    cli::BenchIteration iteration(model, loss, 6, 4);
    iteration.step();
    iteration.step();
    int64_t primitives = dnnl_ctx::primitives_created();
    int64_t allocations = CachingAllocator::instance().stats().system_allocations;
    for (int i = 0; i < 3; ++i) iteration.step();
    CHECK(dnnl_ctx::primitives_created() == primitives);
    CHECK(CachingAllocator::instance().stats().system_allocations == allocations);
  }
}

TEST_CASE("the bench iteration names a model it does not have") {
  CHECK_THROWS_WITH_AS(cli::BenchIteration("resnet", "", 6, 1),
                       "BenchIteration: model 'resnet' (mlp, dcgan or dcgan --loss wgan-gp)",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cli::BenchIteration("mlp", "wgan-gp", 6, 1),
                       "BenchIteration: model 'mlp' with loss 'wgan-gp' (mlp, dcgan or dcgan "
                       "--loss wgan-gp)",
                       std::invalid_argument);
}

namespace {

// A made-up cgroup root holding the given files (relative path, contents).
struct FakeCgroup {
  std::filesystem::path root =
      std::filesystem::temp_directory_path() / ("minimax-cgroup-" + std::to_string(::getpid()));
  explicit FakeCgroup(std::initializer_list<std::pair<const char*, const char*>> files) {
    std::filesystem::remove_all(root);
    std::filesystem::create_directories(root / "cpu");
    for (auto [name, contents] : files) std::ofstream(root / name) << contents;
  }
  ~FakeCgroup() { std::filesystem::remove_all(root); }
};

}  // namespace

TEST_CASE("the cgroup CPU quota is read from cgroup v2's cpu.max, else v1's cfs files") {
  CHECK(cgroup_cpu_quota(FakeCgroup({{"cpu.max", "max 100000\n"}}).root) == std::nullopt);
  CHECK(cgroup_cpu_quota(FakeCgroup({{"cpu.max", "200000 100000\n"}}).root) == 2);
  CHECK(cgroup_cpu_quota(FakeCgroup({{"cpu.max", "150000 100000\n"}}).root) == 2);  // rounded up
  CHECK(cgroup_cpu_quota(FakeCgroup({{"cpu.max", "10000 100000\n"}}).root) == 1);   // at least 1
  CHECK(cgroup_cpu_quota(
            FakeCgroup({{"cpu/cpu.cfs_quota_us", "-1\n"}, {"cpu/cpu.cfs_period_us", "100000\n"}})
                .root) == std::nullopt);
  CHECK(cgroup_cpu_quota(FakeCgroup({{"cpu/cpu.cfs_quota_us", "300000\n"},
                                     {"cpu/cpu.cfs_period_us", "100000\n"}})
                             .root) == 3);
  CHECK(cgroup_cpu_quota(FakeCgroup({{"cpu/cpu.cfs_quota_us", "50000\n"}}).root) ==
        std::nullopt);                                           // no period: no quota to compute
  CHECK(cgroup_cpu_quota(FakeCgroup({}).root) == std::nullopt);  // no file at all
  CHECK(cgroup_cpu_quota("/nonexistent/minimax") == std::nullopt);
}

TEST_CASE("the default thread count is the affinity mask capped by the quota, and says why") {
  CoreBudget b = available_cores();
  cpu_set_t set;
  REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
  CHECK(b.affinity == CPU_COUNT(&set));
  CHECK(b.cores == (b.quota ? std::min(b.affinity, *b.quota) : b.affinity));
  const ScopedThreads restore(num_threads());  // use_threads changes the count
  CHECK(use_threads(0) ==
        fmt::format("{} thread{} ({})", b.cores, b.cores == 1 ? "" : "s", b.why()));
  CHECK(num_threads() == b.cores);
  CHECK(use_threads(1) == "1 thread (requested)");
  CHECK(num_threads() == 1);
  CHECK(CoreBudget{.cores = 1, .affinity = 4, .quota = 1}.why() ==
        "affinity 4 cores, cgroup quota 1 core");
  CHECK_THROWS_AS(use_threads(-1), std::invalid_argument);
}

// SerialBelow: a memory-bound primitive under kParallelMinElements is built and run on one thread
// whatever the pool size, so the pool size does not change its cache key; a larger one follows
// the pool (one primitive per thread count).
TEST_CASE("small oneDNN primitives run on one thread, large ones on the pool") {
  const ScopedThreads restore(num_threads());  // built_by changes the count
  auto built_by = [](int threads, int64_t n) {
    set_num_threads(threads);
    int64_t primitives = dnnl_ctx::primitives_created();
    tanh(Tensor::full({n}, -1.0f));  // a oneDNN eltwise
    return dnnl_ctx::primitives_created() - primitives;
  };
  const int64_t small = kParallelMinElements - 7, large = kParallelMinElements + 7;
  CHECK(built_by(2, small) == 1);
  CHECK(built_by(1, small) == 0);  // the same one-thread primitive
  CHECK(built_by(3, small) == 0);
  CHECK(built_by(2, large) == 1);
  CHECK(built_by(1, large) == 1);  // another pool size, another primitive
  CHECK(built_by(2, large) == 0);
}
