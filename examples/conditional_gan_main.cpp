// Trains the conditional GAN of examples/conditional_gan.cpp on ring8 and reports, per label, how
// often a sample drawn for that label lands on its mode.
#include <fmt/format.h>

#include <cstdlib>

#include "examples/conditional_gan.h"
#include "ops/runtime.h"

int main(int argc, char** argv) {
  minimax::restart_with_openmp_wait_policy(argv);  // how idle OpenMP threads wait (ops/runtime.h)
  minimax::examples::ConditionalGanOptions options;
  if (argc > 1) options.steps = std::atoi(argv[1]);
  options.log_every = 250;
  auto result = minimax::examples::train_conditional_ring8(options);
  for (size_t k = 0; k < result.label_accuracy.size(); ++k)
    fmt::print("label {}: {:.1f}% of its samples on mode {}\n", k, 100 * result.label_accuracy[k],
               k);
  fmt::print("mean: {:.1f}%\n", 100 * result.mean_accuracy);
  return 0;
}
