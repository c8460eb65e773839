// A conditional GAN on ring8: G(z, label) and D(x, label) are hand-written modules (not Sequential)
// that embed a one-hot label and concatenate it to the noise and to the point. After training,
// samples drawn for label k should land on mode k.
#pragma once

#include <cstdint>
#include <vector>

namespace minimax::examples {

struct ConditionalGanOptions {
  int steps = 1500;
  int batch = 256;
  uint64_t seed = 1;
  int log_every = 0;  // 0: silent
};

struct ConditionalGanResult {
  // Per mode: the fraction of 500 samples drawn for that label whose nearest mode is that label.
  std::vector<float> label_accuracy;
  float mean_accuracy;
};

ConditionalGanResult train_conditional_ring8(const ConditionalGanOptions& options);

}  // namespace minimax::examples
