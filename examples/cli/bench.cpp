// `minimax bench`: training iterations per second, and the GFLOP/s they reach.
#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "examples/cli/commands.h"
#include "models/gan/models.h"
#include "models/gan/trainer.h"
#include "ops/runtime.h"

namespace minimax::cli {

int bench(const BenchOptions& o) {
  if (o.model != "mlp" && o.model != "dcgan")
    throw UsageError(fmt::format("--model '{}': choose mlp or dcgan", o.model));
  if (o.threads < 1) throw UsageError(fmt::format("--threads {} must be positive", o.threads));
  if (!(o.seconds > 0)) throw UsageError(fmt::format("--seconds {} must be positive", o.seconds));
  set_num_threads(o.threads);
  manual_seed(1);
  Generator gen(1);
  bool mlp = o.model == "mlp";
  gan::GanModel m = mlp ? gan::paper_mnist_mlp() : gan::dcgan28();
  const int64_t batch = mlp ? 100 : 64;
  std::unique_ptr<optim::Optimizer> g_opt, d_opt;
  if (mlp) {
    g_opt = std::make_unique<optim::SGD>(m.generator->parameters(),
                                         optim::SGDOptions(0.1).momentum(0.5));
    d_opt = std::make_unique<optim::SGD>(m.discriminator->parameters(),
                                         optim::SGDOptions(0.1).momentum(0.5));
  } else {
    g_opt = std::make_unique<optim::Adam>(m.generator->parameters(),
                                          optim::AdamOptions(2e-4).betas({0.5, 0.999}));
    d_opt = std::make_unique<optim::Adam>(m.discriminator->parameters(),
                                          optim::AdamOptions(2e-4).betas({0.5, 0.999}));
  }
  Tensor real = mlp ? Tensor::uniform({batch, 784}, 0, 1, gen)
                    : Tensor::uniform({batch, 1, 28, 28}, -1, 1, gen);
  gan::TrainerOptions topts;
  topts.batch = batch;
  gan::Trainer trainer([&](const Tensor& z) { return m.generator->forward(z); },
                       [&](const Tensor& x) { return m.discriminator->forward(x); }, *g_opt, *d_opt,
                       m.prior, [&](int64_t) { return real; }, gen, topts);
  for (int i = 0; i < 5; ++i) trainer.step();  // warm-up: primitives built, memory cached

  using clock = std::chrono::steady_clock;
  int64_t flops_before = flops_counted(), iterations = 0;
  auto start = clock::now();
  double elapsed = 0;
  while (elapsed < o.seconds || iterations < 5) {
    trainer.step();
    ++iterations;
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
  }
  double its = iterations / elapsed;
  double gflops = static_cast<double>(flops_counted() - flops_before) / elapsed * 1e-9;
  fmt::print(
      "{}: {} iterations in {:.2f} s with {} thread(s): {:.2f} it/s, {:.2f} ms/iter, {:.1f} "
      "GFLOP/s\n",
      o.model, iterations, elapsed, o.threads, its, 1000 / its, gflops);
  fmt::print("{}\n", nlohmann::json{{"model", o.model},
                                    {"batch", batch},
                                    {"threads", o.threads},
                                    {"iters_per_s", its},
                                    {"ms_per_iter", 1000 / its},
                                    {"gflops_per_s", gflops}}
                         .dump());
  return 0;
}

}  // namespace minimax::cli
