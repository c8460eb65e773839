// Trains the conditional GAN of examples/conditional_gan.cpp on ring8 and reports, per label, how
// often a sample drawn for that label lands on its mode.
//
//   conditional_gan [STEPS]     (default: 1500 steps)
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <exception>

#include "examples/conditional_gan.h"
#include "ops/runtime.h"

int main(int argc, char** argv) try {
  minimax::restart_with_openmp_wait_policy(argv);  // how idle OpenMP threads wait (ops/runtime.h)
  minimax::examples::ConditionalGanOptions options;
  CLI::App app{"a conditional GAN on ring8: how often each label's samples land on its mode"};
  app.add_option("STEPS", options.steps, "training steps")->check(CLI::Range(1, 1000000000));
  CLI11_PARSE(app, argc, argv);
  options.log_every = 250;
  auto result = minimax::examples::train_conditional_ring8(options);
  for (size_t k = 0; k < result.label_accuracy.size(); ++k)
    fmt::print("label {}: {:.1f}% of its samples on mode {}\n", k, 100 * result.label_accuracy[k],
               k);
  fmt::print("mean: {:.1f}%\n", 100 * result.mean_accuracy);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "conditional_gan: {}\n", e.what());
  return 1;
}
