// Optimizers and schedules: hand-computed steps, input validation, skipped parameters, the
// parallel loop, steady-state allocation, the GAN paper's schedules, and checkpointed state.
// Agreement with PyTorch over whole trajectories is tests/test_optim_reference.cpp.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "minimax.h"
#include "models/optim/loop.h"
#include "temp_dir.h"

using namespace minimax;
using namespace minimax::optim;
using doctest::Contains;

using minimax::testing::TempDir;

namespace {

Tensor parameter(const std::vector<float>& values) {
  return Tensor::from_vector(values, {static_cast<int64_t>(values.size())}).requires_grad_();
}

void set_grad(Tensor& p, const std::vector<float>& values) {
  p.set_grad(Tensor::from_vector(values, p.shape()));
}

bool allocator_untouched_by(const std::function<void()>& work) {
  AllocatorStats before = CachingAllocator::instance().stats();
  work();
  AllocatorStats after = CachingAllocator::instance().stats();
  return after.system_allocations == before.system_allocations &&
         after.cache_hits == before.cache_hits;
}

}  // namespace

// ---- updates computed by hand ----

TEST_CASE("SGD with momentum: the buffer starts at the first gradient") {
  Tensor p = parameter({1.0f});
  SGD sgd({p}, SGDOptions(0.1).momentum(0.9).dampening(0.5));
  set_grad(p, {0.5f});
  sgd.step();  // buf = 0.5 (undamped), p = 1 - 0.1 * 0.5
  CHECK(p.item() == doctest::Approx(0.95));
  sgd.step();  // buf = 0.9 * 0.5 + 0.5 * 0.5 = 0.7, p = 0.95 - 0.07
  CHECK(p.item() == doctest::Approx(0.88));
  CHECK(sgd.step_count() == 2);
}

TEST_CASE("SGD with nesterov looks ahead along the buffer") {
  Tensor p = parameter({0.0f});
  SGD sgd({p}, SGDOptions(1.0).momentum(0.5).nesterov(true));
  set_grad(p, {1.0f});
  sgd.step();  // buf = 1, d = 1 + 0.5 * 1
  CHECK(p.item() == doctest::Approx(-1.5));
  sgd.step();  // buf = 0.5 + 1 = 1.5, d = 1 + 0.75
  CHECK(p.item() == doctest::Approx(-3.25));
}

TEST_CASE("Adam's first step moves each element by lr against the gradient's sign") {
  // With bias correction, m^ = g and v^ = g^2 after one step: p -= lr * g / (|g| + eps).
  Tensor p = parameter({1.0f, -2.0f, 3.0f});
  Adam adam({p}, AdamOptions(0.01));
  set_grad(p, {0.5f, -4.0f, 1e-3f});
  adam.step();
  CHECK(p.to_vector()[0] == doctest::Approx(0.99));
  CHECK(p.to_vector()[1] == doctest::Approx(-1.99));
  CHECK(p.to_vector()[2] == doctest::Approx(2.99));
}

TEST_CASE(
    "AdamW shrinks the weights by lr * weight_decay, and Adam adds the decay to the gradient") {
  Tensor p = parameter({2.0f}), q = parameter({2.0f});
  AdamW adamw({p}, AdamWOptions(0.1).weight_decay(0.5));
  Adam adam({q}, AdamOptions(0.1).weight_decay(0.5));
  set_grad(p, {1.0f});
  set_grad(q, {1.0f});
  adamw.step();  // p = 2 * (1 - 0.05) - 0.1
  adam.step();   // g = 1 + 0.5 * 2, and the first step is still lr * sign(g)
  CHECK(p.item() == doctest::Approx(1.8));
  CHECK(q.item() == doctest::Approx(1.9));
}

TEST_CASE("RMSprop's first step moves each element by lr / sqrt(1 - alpha) against its sign") {
  // s = (1 - alpha) g^2 after one step: p -= lr * g / (sqrt(1 - alpha) |g| + eps).
  Tensor p = parameter({1.0f, -2.0f, 3.0f});
  RMSprop rmsprop({p}, RMSpropOptions(0.01).alpha(0.75));
  set_grad(p, {0.5f, -4.0f, 1e-3f});
  rmsprop.step();
  CHECK(p.to_vector()[0] == doctest::Approx(0.98));
  CHECK(p.to_vector()[1] == doctest::Approx(-1.98));
  CHECK(p.to_vector()[2] == doctest::Approx(2.98));
  // The second, with the same gradient: s = (1 - alpha^2) g^2, so the step is lr / sqrt(0.4375).
  set_grad(p, {0.5f, -4.0f, 1e-3f});
  rmsprop.step();
  CHECK(p.to_vector()[0] == doctest::Approx(0.98 - 0.01 / std::sqrt(0.4375)));
}

TEST_CASE("centered RMSprop divides by the deviation; its momentum buffer starts at zero") {
  // Centered, one step: s = (1 - a) g^2 and m = (1 - a) g, so s - m^2 = a (1 - a) g^2.
  // With momentum 0.5 the buffer is 0.5 * 0 + g / avg, the same as the step without it.
  Tensor p = parameter({1.0f}), q = parameter({1.0f});
  RMSprop centered({p}, RMSpropOptions(0.1).alpha(0.5).centered(true));
  RMSprop with_momentum({q}, RMSpropOptions(0.1).alpha(0.5).centered(true).momentum(0.5));
  set_grad(p, {2.0f});
  set_grad(q, {2.0f});
  centered.step();
  with_momentum.step();
  CHECK(p.item() == doctest::Approx(1.0 - 0.1 * 2.0 / std::sqrt(0.25 * 4.0)));  // 0.8
  CHECK(q.item() == doctest::Approx(p.item()));
  // Second step, same gradient: s = 0.75 g^2, m = 0.75 g, deviation sqrt(0.1875) g; the buffer
  // adds half of the first step's g / avg = 2.
  set_grad(p, {2.0f});
  set_grad(q, {2.0f});
  centered.step();
  with_momentum.step();
  const double second = 1.0 / std::sqrt(0.75 - 0.5625);
  CHECK(p.item() == doctest::Approx(0.8 - 0.1 * second));
  CHECK(q.item() == doctest::Approx(0.8 - 0.1 * (0.5 * 2.0 + second)));
}

// ---- bookkeeping ----

TEST_CASE("a parameter without a gradient is skipped and its state does not advance") {
  Tensor p = parameter({1.0f}), q = parameter({1.0f});
  Adam adam({p, q}, AdamOptions(0.01));
  set_grad(p, {1.0f});
  adam.step();
  adam.step();
  CHECK(q.item() == 1.0f);
  // q's first update is a first Adam step (bias correction with t = 1), not a third.
  set_grad(q, {2.0f});
  adam.step();
  CHECK(q.item() == doctest::Approx(0.99));
}

TEST_CASE("zero_grad drops every gradient, and step records nothing") {
  Tensor w = parameter({1.0f, 2.0f}), b = parameter({0.5f});
  SGD sgd({w, b}, SGDOptions(0.1));
  sum(mul(w, b)).backward();
  REQUIRE(w.grad().defined());
  sgd.step();
  CHECK(w.is_leaf());
  CHECK(b.is_leaf());
  CHECK(GradMode::is_enabled());
  sgd.zero_grad();
  CHECK_FALSE(w.grad().defined());
  CHECK_FALSE(b.grad().defined());
}

// The classic mistake: D's optimizer steps between D's loss and a backward through D again.
TEST_CASE("a step between a forward and its backward makes the backward an error") {
  Tensor w = parameter({1.0f, 2.0f}), b = parameter({0.5f});
  SGD sgd({w, b}, SGDOptions(0.1));
  Tensor loss = sum(mul(w, b));
  loss.backward(Tensor(), true);
  const uint64_t before = w.version();
  sgd.step();
  CHECK(w.version() == before + 1);
  CHECK(b.version() == before + 1);
  try {
    loss.backward();
    FAIL("the backward after the step ran");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("changed in place") != std::string::npos);
  }
}

TEST_CASE("options() reports the options in force") {
  Tensor p = parameter({1.0f});
  SGD sgd({p}, SGDOptions(0.1).momentum(0.5).weight_decay(1e-4));
  sgd.set_lr(0.05);
  sgd.set_momentum(0.7);
  CHECK(sgd.options().lr() == 0.05);
  CHECK(sgd.options().momentum() == 0.7);
  CHECK(sgd.options().weight_decay() == 1e-4);
  AdamW adamw({p});
  CHECK(adamw.options().weight_decay() == 1e-2);  // PyTorch's AdamW default
  CHECK(adamw.options().betas() == std::pair{0.9, 0.999});
}

TEST_CASE("a large parameter gives the same result on one thread and on several") {
  // 1 << 17 elements: above the size where the loop goes parallel.
  const int64_t n = int64_t{1} << 17;
  Generator gen(5);
  Tensor start = Tensor::uniform({n}, -1, 1, gen), grad = Tensor::uniform({n}, -1, 1, gen);
  auto run = [&](int threads, bool adam) {
    const ScopedThreads count(threads);
    Tensor p = start.clone().requires_grad_();
    p.set_grad(grad);
    std::unique_ptr<Optimizer> opt;
    if (adam)
      opt = std::make_unique<AdamW>(TensorList{p}, AdamWOptions(0.01));
    else
      opt = std::make_unique<SGD>(TensorList{p}, SGDOptions(0.1).momentum(0.9).nesterov(true));
    for (int i = 0; i < 3; ++i) opt->step();
    return p.to_vector();
  };
  for (bool adam : {false, true}) {
    CAPTURE(adam);
    std::vector<float> one = run(1, adam), two = run(2, adam);
    CHECK(one == two);
    // SGD: three identical gradients with nesterov move by lr * g * (1.9 + 2.71 + 3.439).
    if (!adam)
      CHECK(one[123] == doctest::Approx(start.to_vector()[123] -
                                        0.1 * grad.to_vector()[123] * (1.9 + 2.71 + 3.439)));
  }
}

// The update loop of every optimizer (models/optim/loop.h) takes three paths: one block with
// ordinary stores below the parallel size, streaming stores for whole cache lines of line-aligned
// arrays above it (the rest of the elements in one block after them), and line-sized blocks with
// ordinary stores for arrays that are not line-aligned.
TEST_CASE("the update loop writes every element once, on each of its paths and thread counts") {
  const int64_t big = kParallelMinElements + 5;  // whole lines, then a tail of 5
  for (int64_t n : {int64_t{37}, big, int64_t{4} * kParallelMinElements}) {
    for (int64_t offset : {0, 1}) {  // 1: one float past a line boundary
      for (int threads : {1, 2}) {
        CAPTURE(n);
        CAPTURE(offset);
        CAPTURE(threads);
        std::vector<float> a_store(n + 32), b_store(n + 32), in(n);
        // Line-aligned starts, as the caching allocator's blocks are, then offset.
        auto line_start = [](std::vector<float>& v) {
          auto address = reinterpret_cast<uintptr_t>(v.data());
          return v.data() + (64 - address % 64) % 64 / sizeof(float);
        };
        float* a = line_start(a_store) + offset;
        float* b = line_start(b_store) + offset;
        for (int64_t k = 0; k < n; ++k) {
          a[k] = static_cast<float>(k % 1000);
          b[k] = -1.0f;
          in[k] = 0.5f * static_cast<float>(k % 7);
        }
        const float* x = in.data();
        {
          const ScopedThreads count(threads);
          optim::detail::for_each_block<2>(
              n, {a, b}, [=](int64_t begin, int64_t end, const std::array<float*, 2>& dst) {
                for (int64_t k = begin; k < end; ++k) {
                  dst[0][k - begin] = 2.0f * a[k] + x[k];  // reads the old value it replaces
                  dst[1][k - begin] = static_cast<float>(k);
                }
              });
        }
        int64_t wrong = 0;
        for (int64_t k = 0; k < n; ++k)
          wrong += a[k] != 2.0f * static_cast<float>(k % 1000) + 0.5f * static_cast<float>(k % 7) ||
                   b[k] != static_cast<float>(k);
        CHECK(wrong == 0);
      }
    }
  }
}

TEST_CASE("a large parameter's update is bit for bit the same as its pieces' updates") {
  // One parameter above the parallel size (streaming stores, then a tail) against the same values
  // as parameters below it (one block each, ordinary stores), through every optimizer's loop.
  const int64_t piece = 16'000, pieces = 5, n = piece * pieces + 3;
  Generator gen(11);
  Tensor start = Tensor::uniform({n}, -1, 1, gen), grad = Tensor::uniform({n}, -1, 1, gen);
  using Make = std::function<std::unique_ptr<Optimizer>(TensorList)>;
  const std::vector<std::pair<std::string, Make>> optimizers = {
      {"SGD",
       [](TensorList ps) {
         return std::make_unique<SGD>(ps, SGDOptions(0.1).momentum(0.9).weight_decay(1e-3));
       }},
      {"SGD nesterov",
       [](TensorList ps) {
         return std::make_unique<SGD>(ps, SGDOptions(0.1).momentum(0.9).nesterov(true));
       }},
      {"SGD plain", [](TensorList ps) { return std::make_unique<SGD>(ps, SGDOptions(0.1)); }},
      {"Adam",
       [](TensorList ps) {
         return std::make_unique<Adam>(ps, AdamOptions(0.01).weight_decay(1e-3));
       }},
      {"AdamW", [](TensorList ps) { return std::make_unique<AdamW>(ps, AdamWOptions(0.01)); }},
      {"RMSprop",
       [](TensorList ps) {
         return std::make_unique<RMSprop>(ps, RMSpropOptions(0.01).weight_decay(1e-3));
       }},
      {"RMSprop centered momentum", [](TensorList ps) {
         return std::make_unique<RMSprop>(ps, RMSpropOptions(0.01).centered(true).momentum(0.9));
       }}};
  for (const auto& [name, make] : optimizers) {
    CAPTURE(name);
    Tensor whole = start.clone().requires_grad_();
    whole.set_grad(grad);
    TensorList parts;
    for (int64_t i = 0; i * piece < n; ++i) {
      const int64_t end = std::min(n, (i + 1) * piece);
      Tensor part = slice(start, 0, i * piece, end).clone().requires_grad_();
      part.set_grad(slice(grad, 0, i * piece, end).clone());
      parts.push_back(part);
    }
    std::unique_ptr<Optimizer> one = make({whole}), many = make(parts);
    for (int step = 0; step < 3; ++step) {  // the first step and two after it
      one->step();
      many->step();
    }
    std::vector<float> joined;
    for (const Tensor& part : parts) {
      std::vector<float> values = part.to_vector();
      joined.insert(joined.end(), values.begin(), values.end());
    }
    CHECK(whole.to_vector() == joined);
    CHECK(whole.to_vector() != start.to_vector());
  }
}

TEST_CASE("a steady-state step allocates nothing") {
  Generator gen(9);
  // One parameter large enough for the parallel loop, one small.
  Tensor w = Tensor::uniform({64, 1024}, -0.1f, 0.1f, gen).requires_grad_();
  Tensor b = Tensor::zeros({64}).requires_grad_();
  Tensor x = Tensor::uniform({8, 1024}, -1, 1, gen);
  SGD sgd({w, b}, SGDOptions(0.01).momentum(0.9).nesterov(true).weight_decay(1e-4));
  Adam adam({w, b}, AdamOptions(1e-3).weight_decay(1e-4));
  AdamW adamw({w, b}, AdamWOptions(1e-3));
  RMSprop rmsprop({w, b}, RMSpropOptions(1e-3).centered(true).momentum(0.9));
  for (Optimizer* opt : std::initializer_list<Optimizer*>{&sgd, &adam, &adamw, &rmsprop}) {
    INFO(std::string(opt->name()));
    auto train_step = [&] {
      opt->zero_grad();
      mean(square(linear(x, w, b))).backward();
      opt->step();
    };
    train_step();  // creates the optimizer's state
    train_step();
    int64_t allocations = CachingAllocator::instance().stats().system_allocations;
    for (int i = 0; i < 5; ++i) train_step();
    CHECK(CachingAllocator::instance().stats().system_allocations == allocations);
    // step() itself does not even take a block from the cache.
    CHECK(allocator_untouched_by([&] {
      for (int i = 0; i < 5; ++i) opt->step();
    }));
  }
}

// ---- validation ----

TEST_CASE("SGD refuses bad hyperparameters, naming them") {
  TensorList p = {parameter({1.0f})};
  auto refuses = [&](const SGDOptions& o, const char* what) {
    INFO(std::string(what));
    CHECK_THROWS_WITH_AS(SGD(p, o), Contains(what), std::invalid_argument);
  };
  refuses(SGDOptions(-0.1), "learning rate");
  refuses(SGDOptions(std::nan("")), "learning rate");
  refuses(SGDOptions(0.1).momentum(-0.5), "momentum");
  refuses(SGDOptions(0.1).dampening(-1), "dampening");
  refuses(SGDOptions(0.1).weight_decay(-1e-4), "weight_decay");
  // PyTorch: "Nesterov momentum requires a momentum and zero dampening".
  refuses(SGDOptions(0.1).nesterov(true), "nesterov");
  refuses(SGDOptions(0.1).momentum(0.9).dampening(0.1).nesterov(true), "nesterov");

  SGD sgd(p, SGDOptions(0.1).momentum(0.9).nesterov(true));
  CHECK_THROWS_WITH_AS(sgd.set_lr(-1), Contains("learning rate"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(sgd.set_momentum(-0.1), Contains("momentum"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(sgd.set_momentum(0), Contains("nesterov"), std::invalid_argument);
  CHECK(sgd.lr() == 0.1);  // a refused change changes nothing
  CHECK(sgd.momentum() == 0.9);
}

TEST_CASE("Adam and AdamW refuse bad hyperparameters, naming them") {
  TensorList p = {parameter({1.0f})};
  for (bool decoupled : {false, true}) {
    auto refuses = [&](const AdamOptions& o, const char* what) {
      INFO(std::string(what));
      // "Adam: invalid beta1 1 (must be in [0, 1))", and "AdamW: ..." for AdamW.
      std::string message = std::string(decoupled ? "AdamW" : "Adam") + ": invalid " + what;
      auto make = [&] { decoupled ? (void)AdamW(p, o) : (void)Adam(p, o); };
      CHECK_THROWS_WITH_AS(make(), Contains(message.c_str()), std::invalid_argument);
    };
    refuses(AdamOptions(-1e-3), "learning rate");
    refuses(AdamOptions().betas({1.0, 0.999}), "beta1");
    refuses(AdamOptions().betas({-0.1, 0.999}), "beta1");
    refuses(AdamOptions().betas({0.9, 1.5}), "beta2");
    refuses(AdamOptions().eps(-1e-8), "eps");
    refuses(AdamOptions().weight_decay(-0.01), "weight_decay");
  }
}

TEST_CASE("RMSprop refuses bad hyperparameters, naming them") {
  TensorList p = {parameter({1.0f})};
  auto refuses = [&](const RMSpropOptions& o, const char* message) {
    CHECK_THROWS_WITH_AS(RMSprop(p, o), Contains(message), std::invalid_argument);
  };
  refuses(RMSpropOptions(-1e-3), "RMSprop: invalid learning rate");
  refuses(RMSpropOptions().alpha(-0.1), "RMSprop: invalid alpha -0.1 (must be in [0, 1])");
  refuses(RMSpropOptions().alpha(1.5), "RMSprop: invalid alpha 1.5 (must be in [0, 1])");
  refuses(RMSpropOptions().eps(-1e-8), "RMSprop: invalid eps");
  refuses(RMSpropOptions().weight_decay(-0.01), "RMSprop: invalid weight_decay");
  refuses(RMSpropOptions().momentum(-0.5), "RMSprop: invalid momentum");
  CHECK_NOTHROW(RMSprop(p, RMSpropOptions().alpha(0.0)));
  CHECK_NOTHROW(RMSprop(p, RMSpropOptions().alpha(1.0)));
}

TEST_CASE("an optimizer refuses parameters it cannot update") {
  Tensor p = parameter({1.0f});
  auto refuses = [](TensorList params, const char* what) {
    INFO(std::string(what));
    CHECK_THROWS_WITH_AS(SGD(std::move(params), SGDOptions(0.1)), Contains(what),
                         std::invalid_argument);
  };
  refuses({}, "no parameters");
  refuses({p, Tensor()}, "parameter 1 is undefined");
  refuses({mul(p, 2.0f)}, "not a leaf");
  refuses({Tensor::zeros({3})}, "does not require grad");
  refuses({p, p}, "listed twice");
}

// ---- schedules ----

TEST_CASE("the GAN paper's learning rate: 0.1 divided by 1.000004 per update, floor 1e-6") {
  Schedule lr = exponential_decay(0.1, 1.000004, 1e-6);
  // Expected values: 0.1 / 1.000004^t in 50-digit decimal arithmetic. double's pow of the rounded
  // factor 1.000004 drifts by about t * 1.1e-16 relative, hence the looser bound at large t.
  CHECK(lr(0) == 0.1);
  CHECK(lr(1) == doctest::Approx(0.0999996000015999936).epsilon(1e-15));
  CHECK(lr(1000) == doctest::Approx(0.0996007997312034171).epsilon(1e-13));
  CHECK(lr(250000) == doctest::Approx(0.0367880176929098402).epsilon(1e-10));
  CHECK(lr(1000000) == doctest::Approx(0.00183157854140406566).epsilon(1e-9));
  // 0.1 / 1.000004^t reaches 1e-6 at t = ln(1e5) / ln(1.000004) = 2878237.12.
  CHECK(lr(2878237) == doctest::Approx(1.0000004908049467e-6).epsilon(1e-9));
  CHECK(lr(2878238) == 1e-6);
  CHECK(lr(10000000) == 1e-6);
}

TEST_CASE("the GAN paper's momentum: 0.5 rising linearly to 0.7, then constant") {
  Schedule momentum = linear_ramp(0.5, 0.7, 250);
  CHECK(momentum(0) == 0.5);
  CHECK(momentum(50) == doctest::Approx(0.54));  // 0.5 + 0.2 * 50 / 250
  CHECK(momentum(125) == doctest::Approx(0.6));  // halfway
  CHECK(momentum(249) == doctest::Approx(0.6992));
  CHECK(momentum(250) == 0.7);
  CHECK(momentum(1000000) == 0.7);
}

TEST_CASE("schedules set SGD's lr and momentum from its step count") {
  Tensor p = parameter({1.0f});
  SGD sgd({p}, SGDOptions(1.0).momentum(0.0));
  CHECK_THROWS_WITH_AS(schedule_lr(sgd, Schedule()), "schedule_lr: the schedule is empty",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(schedule_momentum(sgd, nullptr), "schedule_momentum: the schedule is empty",
                       std::invalid_argument);
  Schedule lr = exponential_decay(0.1, 2.0, 0.02), momentum = linear_ramp(0.5, 0.7, 2);
  std::vector<std::pair<double, double>> seen;
  for (int i = 0; i < 4; ++i) {
    schedule_lr(sgd, lr);
    schedule_momentum(sgd, momentum);
    seen.emplace_back(sgd.lr(), sgd.momentum());
    set_grad(p, {1.0f});
    sgd.step();
  }
  CHECK(seen ==
        std::vector<std::pair<double, double>>{{0.1, 0.5}, {0.05, 0.6}, {0.025, 0.7}, {0.02, 0.7}});
  // Composition is a lambda: e.g. a warm start that holds the first value for 10 steps.
  Schedule delayed = [&](int64_t t) { return lr(std::max<int64_t>(0, t - 10)); };
  CHECK(delayed(5) == 0.1);
  CHECK(delayed(11) == 0.05);
}

TEST_CASE("schedules refuse bad parameters and negative steps") {
  CHECK_THROWS_WITH_AS(exponential_decay(-0.1, 1.1, 0), Contains("initial"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(exponential_decay(0.1, 0.5, 0), Contains("factor"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(exponential_decay(0.1, 1.1, -1), Contains("floor"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(linear_ramp(0.5, 0.7, 0), Contains("steps"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(linear_ramp(0.5, 0.7, 10)(-1), Contains("negative step"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(constant(1.0)(-3), Contains("negative step"), std::invalid_argument);
}

// ---- checkpoints ----

namespace {

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(const TensorList&)>;

// A small regression MLP trained with full batches. b2 gets no gradient for the first 4 updates,
// so at 3 updates the optimizer has no state for it yet; schedules set lr (and SGD's momentum).
struct Training {
  TensorList params;
  std::unique_ptr<Optimizer> opt;
  Schedule lr;
  Tensor x, y;

  Training(const MakeOptimizer& make, uint64_t init_seed) {
    Generator data(1), init(init_seed);
    x = Tensor::uniform({10, 3}, -1, 1, data);
    y = Tensor::uniform({10, 1}, -1, 1, data);
    for (Shape s : {Shape{6, 3}, Shape{6}, Shape{1, 6}, Shape{1}})
      params.push_back(Tensor::uniform(s, -0.5f, 0.5f, init).requires_grad_());
    opt = make(params);
    lr = exponential_decay(opt->lr(), 1.05, 0.001);
  }
  void train(int updates) {
    for (int u = 0; u < updates; ++u) {
      schedule_lr(*opt, lr);
      if (auto* sgd = dynamic_cast<SGD*>(opt.get()))
        schedule_momentum(*sgd, linear_ramp(0.5, 0.9, 5));
      opt->zero_grad();
      mse_loss(linear(tanh(linear(x, params[0], params[1])), params[2], params[3]), y).backward();
      if (opt->step_count() < 4) params[3].zero_grad();
      opt->step();
    }
  }
};

const std::vector<std::pair<const char*, MakeOptimizer>>& optimizers() {
  static const std::vector<std::pair<const char*, MakeOptimizer>> all = {
      {"SGD",
       [](const TensorList& p) -> std::unique_ptr<Optimizer> {
         return std::make_unique<SGD>(
             p, SGDOptions(0.1).momentum(0.5).nesterov(true).weight_decay(1e-3));
       }},
      {"Adam",
       [](const TensorList& p) -> std::unique_ptr<Optimizer> {
         return std::make_unique<Adam>(p, AdamOptions(0.01).betas({0.5, 0.99}).weight_decay(1e-3));
       }},
      {"AdamW",
       [](const TensorList& p) -> std::unique_ptr<Optimizer> {
         return std::make_unique<AdamW>(p, AdamWOptions(0.01));
       }},
      {"RMSprop",
       [](const TensorList& p) -> std::unique_ptr<Optimizer> {
         return std::make_unique<RMSprop>(
             p, RMSpropOptions(0.01).centered(true).momentum(0.5).weight_decay(1e-3));
       }},
  };
  return all;
}

// Loading must throw a CheckpointError whose message contains `expected`.
void check_load_error(Optimizer& opt, const Checkpoint& c, const std::string& prefix,
                      const std::string& expected) {
  std::string error = "(no error)";
  try {
    opt.load_state(c, prefix);
  } catch (const CheckpointError& e) {
    error = e.what();
  }
  CHECK_MESSAGE(error.find(expected) != std::string::npos,
                "expected \"" << expected << "\" in: " << error);
}

}  // namespace

TEST_CASE("a run resumed from a checkpoint is bit for bit the uninterrupted run") {
  TempDir dir;
  for (const auto& [name, make] : optimizers()) {
    INFO(std::string(name));
    Training uninterrupted(make, 7);
    uninterrupted.train(7);

    Training first(make, 7);
    first.train(3);
    Checkpoint saved;
    first.opt->save_state(saved, "opt");
    for (size_t i = 0; i < first.params.size(); ++i)
      saved.tensors["model/" + std::to_string(i)] = first.params[i].detach().clone();
    save_checkpoint(saved, dir.path / "run.ckpt");

    Training resumed(make, 99);  // other initial values: everything must come from the file
    Checkpoint loaded = load_checkpoint(dir.path / "run.ckpt");
    for (size_t i = 0; i < resumed.params.size(); ++i)
      loaded.restore("model/" + std::to_string(i), resumed.params[i]);
    resumed.opt->load_state(loaded, "opt");
    CHECK(resumed.opt->step_count() == 3);
    CHECK(resumed.opt->lr() == first.opt->lr());
    resumed.train(4);

    for (size_t i = 0; i < resumed.params.size(); ++i)
      CHECK(resumed.params[i].to_vector() == uninterrupted.params[i].to_vector());
  }
}

TEST_CASE("saved optimizer state is a snapshot") {
  Training run(optimizers()[0].second, 7);
  run.train(1);
  Checkpoint c;
  run.opt->save_state(c, "opt");
  std::vector<float> buffer = c.tensor("opt/0/momentum_buffer").to_vector();
  CHECK(c.word("opt/3/has_momentum_buffer") == 0);  // b2 has had no gradient yet
  run.train(2);
  CHECK(c.tensor("opt/0/momentum_buffer").to_vector() == buffer);
}

TEST_CASE("loading another optimizer's state is a CheckpointError naming the mismatch") {
  Training sgd(optimizers()[0].second, 7), adam(optimizers()[1].second, 7);
  sgd.train(2);
  adam.train(2);
  Checkpoint c;
  sgd.opt->save_state(c, "opt");
  check_load_error(*adam.opt, c, "opt", "holds the state of SGD, not of Adam");

  Tensor a = Tensor::zeros({6, 3}).requires_grad_(), b = Tensor::zeros({6}).requires_grad_();
  SGD fewer({a, b}, SGDOptions(0.1).momentum(0.5));
  check_load_error(fewer, c, "opt", "holds the state of 4 parameters, but this SGD has 2");

  TensorList transposed = {
      Tensor::zeros({3, 6}).requires_grad_(), Tensor::zeros({6}).requires_grad_(),
      Tensor::zeros({1, 6}).requires_grad_(), Tensor::zeros({1}).requires_grad_()};
  SGD reshaped(transposed, SGDOptions(0.1).momentum(0.5));
  check_load_error(reshaped, c, "opt", "parameter 0 with shape [6, 3], but this SGD's has [3, 6]");

  check_load_error(*sgd.opt, c, "elsewhere", "no string named 'elsewhere/type'");
}

TEST_CASE("a failed load leaves the optimizer as it was") {
  const MakeOptimizer& make = optimizers()[0].second;
  Training target(make, 7), twin(make, 7);
  target.train(2);
  twin.train(2);
  Checkpoint c;
  target.opt->save_state(c, "opt");
  c.words["opt/step"] = {100};
  c.words["opt/momentum"] = {std::bit_cast<uint64_t>(0.25)};
  c.tensors["opt/2/momentum_buffer"] =
      Tensor::zeros({6, 1});  // wrong shape, read after the step count and the momentum
  check_load_error(*target.opt, c, "opt", "'opt/2/momentum_buffer' has shape [6, 1]");
  CHECK(target.opt->step_count() == 2);
  target.train(3);
  twin.train(3);
  for (size_t i = 0; i < target.params.size(); ++i)
    CHECK(target.params[i].to_vector() == twin.params[i].to_vector());

  // A stored momentum this (nesterov) SGD cannot use.
  target.opt->save_state(c, "opt");
  c.words["opt/momentum"] = {std::bit_cast<uint64_t>(0.0)};
  check_load_error(*target.opt, c, "opt", "'opt/momentum' is not usable");
}

TEST_CASE("ema: the average moves toward the model by 1 - decay, buffers included") {
  manual_seed(3);
  nn::Sequential model({std::make_shared<nn::Linear>(3, 2), std::make_shared<nn::BatchNorm1d>(2)});
  manual_seed(4);
  nn::Sequential average(
      {std::make_shared<nn::Linear>(3, 2), std::make_shared<nn::BatchNorm1d>(2)});
  ExponentialMovingAverage ema(model, average, 0.9);
  // It starts as a copy of the model.
  for (size_t i = 0; i < model.named_parameters().size(); ++i)
    CHECK(average.named_parameters()[i].second.to_vector() ==
          model.named_parameters()[i].second.to_vector());
  // Change the model (a parameter and a batch-norm running mean), then average once.
  Tensor w = model.named_parameters()[0].second;
  std::vector<float> before = w.to_vector();
  w.fill_(1.0f);
  model(Tensor::uniform({4, 3}, -1, 1, default_generator()));  // updates running statistics
  ema.update();  // the first update's decay is the warm-up's 1/10
  std::vector<float> averaged = average.named_parameters()[0].second.to_vector();
  for (size_t i = 0; i < before.size(); ++i)
    CHECK(averaged[i] == doctest::Approx(0.1 * before[i] + 0.9 * 1.0));
  float model_mean = model.named_buffers()[0].second.to_vector()[0];
  CHECK(average.named_buffers()[0].second.to_vector()[0] == doctest::Approx(0.9 * model_mean));
  CHECK(ema.updates() == 1);
}

TEST_CASE("ema: the decay warms up from 1/10 to its own value") {
  nn::Linear model(3, 2), average(3, 2);
  ExponentialMovingAverage ema(model, average, 0.99);
  CHECK(ema.decay_at(0) == doctest::Approx(0.1));
  CHECK(ema.decay_at(10) == doctest::Approx(11.0 / 20.0));
  CHECK(ema.decay_at(890) == doctest::Approx(0.99));  // (1 + t) / (10 + t) reaches 0.99 there
  CHECK(ema.decay_at(100000) == 0.99);
  // 1,000 updates at 0.999 toward a constant model leave nothing of the initial weights; a plain
  // 0.999^t would keep 37% of them.
  nn::Linear slow_average(3, 2);
  ExponentialMovingAverage slow(model, slow_average, 0.999);
  model.weight.fill_(3.0f);
  for (int i = 0; i < 1000; ++i) slow.update();
  for (float w : slow_average.weight.to_vector()) CHECK(w == doctest::Approx(3.0f).epsilon(1e-4));
}

TEST_CASE("ema: refuses another architecture or decay, and round-trips through a checkpoint") {
  nn::Linear model(3, 2), other(3, 4), average(3, 2);
  CHECK_THROWS_WITH_AS(ExponentialMovingAverage(model, other, 0.99),
                       Contains("ExponentialMovingAverage: the model (the source) and its average "
                                "differ: Linear: copy_state_from: the source's parameter weight "
                                "[2, 3] differs from this one's weight [4, 3]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(ExponentialMovingAverage(model, average, 1.0), Contains("decay 1"),
                       std::invalid_argument);
  ExponentialMovingAverage ema(model, average, 0.99);
  model.named_parameters()[0].second.fill_(2.0f);
  ema.update();
  ema.update();
  Checkpoint c;
  ema.save(c, "G_ema");
  nn::Linear restored_model(3, 2), restored_average(3, 2);
  ExponentialMovingAverage restored(restored_model, restored_average, 0.99);
  restored.load(c, "G_ema");
  CHECK(restored.updates() == 2);
  CHECK(restored_average.named_parameters()[0].second.to_vector() ==
        average.named_parameters()[0].second.to_vector());
  nn::Linear m3(3, 2), a3(3, 2);
  ExponentialMovingAverage other_decay(m3, a3, 0.5);
  CHECK_THROWS_WITH_AS(other_decay.load(c, "G_ema"), Contains("decay 0.99"), CheckpointError);
  // A count beyond int64 read as a negative number of updates, after the average had changed.
  c.words["G_ema#updates"] = {~uint64_t{0}};
  nn::Linear m4(3, 2), a4(3, 2);
  ExponentialMovingAverage corrupt(m4, a4, 0.99);
  const std::vector<float> before = a4.weight.to_vector();
  CHECK_THROWS_WITH_AS(corrupt.load(c, "G_ema"), Contains("too large a count"), CheckpointError);
  CHECK(a4.weight.to_vector() == before);
  CHECK(corrupt.updates() == 0);
}

TEST_CASE("RMSprop refuses a state without the averages its options need") {
  // Centering and momentum are construction options: a centered RMSprop needs the gradient
  // averages a plain one never kept, and a checkpoint without them is named, not read as zeros.
  auto make = [](bool centered, double momentum) -> MakeOptimizer {
    return [=](const TensorList& p) -> std::unique_ptr<Optimizer> {
      return std::make_unique<RMSprop>(p,
                                       RMSpropOptions(0.01).centered(centered).momentum(momentum));
    };
  };
  Training plain(make(false, 0.0), 7), centered(make(true, 0.0), 7), moving(make(false, 0.9), 7);
  plain.train(2);
  Checkpoint c;
  plain.opt->save_state(c, "opt");
  check_load_error(*centered.opt, c, "opt", "'opt/0/grad_avg'");
  check_load_error(*moving.opt, c, "opt", "'opt/0/momentum_buffer'");
  CHECK(centered.opt->step_count() == 0);
}

// ---- gradient clipping (models/nn/clip_grad.h); the values are PyTorch 1.13's ----

namespace {

struct ClipCase {
  Tensor a = parameter({0.0f, 0.0f}), b = parameter({0.0f}), none = parameter({0.0f});
  ClipCase(float a0 = 3.0f, float a1 = 4.0f) {
    set_grad(a, {a0, a1});
    set_grad(b, {-12.0f});
  }
  TensorList all() const { return {a, b, none}; }  // `none` has no gradient: skipped
};

}  // namespace

TEST_CASE("clip_grad_norm_ scales every gradient by max_norm / norm when the norm is larger") {
  ClipCase c;
  CHECK(nn::utils::clip_grad_norm_(c.all(), 6.5) == 13.0);  // sqrt(9 + 16 + 144)
  CHECK(c.a.grad().to_vector()[0] == doctest::Approx(1.4999998807907104).epsilon(1e-7));
  CHECK(c.a.grad().to_vector()[1] == doctest::Approx(1.9999998807907104).epsilon(1e-7));
  CHECK(c.b.grad().to_vector()[0] == doctest::Approx(-5.999999523162842).epsilon(1e-7));
  CHECK_FALSE(c.none.grad().defined());

  ClipCase inf;  // the largest magnitude
  CHECK(nn::utils::clip_grad_norm_(inf.all(), 6.5, std::numeric_limits<double>::infinity()) ==
        12.0);
  CHECK(inf.a.grad().to_vector()[1] == doctest::Approx(2.1666665077209473).epsilon(1e-7));

  ClipCase l1;  // within the bound: the gradients are left as they are
  CHECK(nn::utils::clip_grad_norm_(l1.all(), 100.0, 1.0) == 19.0);
  CHECK(l1.a.grad().to_vector() == std::vector<float>{3.0f, 4.0f});

  ClipCase cubic;
  CHECK(nn::utils::clip_grad_norm_(cubic.all(), 100.0, 3.0) ==
        doctest::Approx(std::cbrt(27.0 + 64.0 + 1728.0)));
  CHECK(nn::utils::clip_grad_norm_({parameter({1.0f})}, 1.0) == 0.0);  // no gradient at all
}

TEST_CASE("clip_grad_norm_ on a NaN or infinite norm: as PyTorch, or an error naming it") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  ClipCase with_nan(3.0f, nan);
  CHECK(std::isnan(nn::utils::clip_grad_norm_(with_nan.all(), 1.0)));
  CHECK(std::isnan(with_nan.b.grad().item()));  // every gradient scaled by NaN
  ClipCase nan_max(nan, 4.0f);  // the largest magnitude of a NaN is NaN, not the largest number
  CHECK(std::isnan(
      nn::utils::clip_grad_norm_(nan_max.all(), 1.0, std::numeric_limits<double>::infinity())));
  ClipCase with_inf(3.0f, inf);
  CHECK(std::isinf(nn::utils::clip_grad_norm_(with_inf.all(), 1.0)));
  CHECK(with_inf.a.grad().to_vector()[0] == 0.0f);  // scaled by 0
  CHECK(std::isnan(with_inf.a.grad().to_vector()[1]));
  ClipCase refused(3.0f, inf);
  CHECK_THROWS_WITH_AS(nn::utils::clip_grad_norm_(refused.all(), 1.0, 2.0, true),
                       Contains("the total norm of order 2 of the gradients is inf"),
                       std::runtime_error);
  CHECK(refused.a.grad().to_vector()[0] == 3.0f);  // untouched
  ClipCase bad;
  CHECK_THROWS_WITH_AS(nn::utils::clip_grad_norm_(bad.all(), -1.0),
                       Contains("max_norm -1 must be >= 0"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(nn::utils::clip_grad_norm_(bad.all(), 1.0, 0.0),
                       Contains("norm_type 0 must be positive"), std::invalid_argument);
  CHECK_THROWS_AS(nn::utils::clip_grad_norm_(bad.all(), std::nan("")), std::invalid_argument);
  CHECK(bad.a.grad().to_vector()[0] == 3.0f);
}

TEST_CASE("clip_grad_value_ clamps every gradient element, and refuses a negative bound") {
  ClipCase c;
  nn::utils::clip_grad_value_(c.all(), 3.5);
  CHECK(c.a.grad().to_vector() == std::vector<float>{3.0f, 3.5f});
  CHECK(c.b.grad().to_vector() == std::vector<float>{-3.5f});
  CHECK_THROWS_WITH_AS(nn::utils::clip_grad_value_(c.all(), -0.5),
                       Contains("clip_value -0.5 must be >= 0"), std::invalid_argument);
}
