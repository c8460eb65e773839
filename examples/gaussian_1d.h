// The smallest end-to-end GAN: a 1-D Gaussian learned by two tiny MLPs written with raw ops
// (the setting of the GAN paper's Figure 1). Runs until models/ brings modules and optimizers.
#pragma once

#include <cstdint>

namespace minimax::examples {

struct Gaussian1dOptions {
  int steps = 5000;
  int batch = 128;
  uint64_t seed = 1;
  float data_mean = 3.0f, data_std = 0.5f;
  int log_every = 1000;
};

struct Gaussian1dResult {
  float sample_mean, sample_std;  // of 10,000 samples from the trained generator
};

Gaussian1dResult train_gaussian_1d(const Gaussian1dOptions& options, bool verbose);

}  // namespace minimax::examples
