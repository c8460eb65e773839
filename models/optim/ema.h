// An exponential moving average of a module's weights (Karras et al. 2018; Yazici et al. 2019):
// after each optimizer step, update() moves every parameter and buffer of an `average` module
// toward the trained one, average = decay * average + (1 - decay) * model. The average is a second
// module of the same architecture, so it is sampled, evaluated and saved as any module is; a GAN
// draws its samples from G's average, which is smoother than G itself.
//
// The decay warms up: update t (from 0) uses min(decay, (1 + t) / (10 + t)), as TensorFlow's
// ExponentialMovingAverage with num_updates. Without it a short run's average keeps the initial
// weights' share decay^t: 33% after 1,100 steps at 0.999, which ruins the samples (a DCGAN's
// FID went from 4.8 to 116 on Fashion-MNIST).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/io/checkpoint.h"
#include "models/nn/module.h"

namespace minimax::optim {

class ExponentialMovingAverage {
 public:
  // Copies `model`'s values into `average`, which must hold the same parameters and buffers (names
  // and shapes): std::invalid_argument names the first that differs, or a decay outside [0, 1).
  // Both modules must outlive this object.
  ExponentialMovingAverage(const nn::Module& model, nn::Module& average, double decay);

  // One step of the average, without recording anything. Allocates nothing.
  void update();

  double decay() const { return decay_; }
  // The decay update number `update` (0 for the first) uses: the warmed-up one.
  double decay_at(int64_t update) const;
  int64_t updates() const { return updates_; }
  nn::Module& average() { return average_; }

  // The average module under prefix + "/" (as Module::save) and the update count and decay.
  void save(Checkpoint& checkpoint, const std::string& prefix) const;
  // Restores them; a checkpoint saved with another decay is a CheckpointError.
  void load(const Checkpoint& checkpoint, const std::string& prefix);

 private:
  nn::Module& average_;
  TensorList sources_, targets_;  // model's and average's parameters then buffers, paired
  double decay_;
  int64_t updates_ = 0;
};

}  // namespace minimax::optim
