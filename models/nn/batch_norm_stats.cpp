#include "models/nn/batch_norm_stats.h"

#include <fmt/format.h>

#include <stdexcept>
#include <utility>

namespace minimax::nn {

namespace {

// Puts the module in eval mode, and gives back every module's training mode and every batch-norm
// layer's momentum when it goes out of scope.
class RestoreModes {
 public:
  RestoreModes(Module& module, const std::vector<BatchNorm*>& layers) : modes_(module) {
    for (BatchNorm* layer : layers) momenta_.emplace_back(layer, layer->momentum());
  }
  RestoreModes(const RestoreModes&) = delete;
  RestoreModes& operator=(const RestoreModes&) = delete;
  ~RestoreModes() {
    for (auto [layer, momentum] : momenta_) layer->set_momentum(momentum);
  }

 private:
  EvalModeGuard modes_;  // puts the module in eval mode; gives back every module's own mode
  std::vector<std::pair<BatchNorm*, float>> momenta_;
};

}  // namespace

std::vector<BatchNorm*> batch_norm_layers(Module& module) {
  std::vector<BatchNorm*> layers;
  for (auto& [name, m] : module.named_modules())
    if (auto* layer = dynamic_cast<BatchNorm*>(m)) layers.push_back(layer);
  return layers;
}

void recompute_batch_norm_statistics(Module& module, int64_t batches,
                                     const std::function<void(int64_t)>& forward) {
  if (batches < 1)
    throw std::invalid_argument(fmt::format(
        "recompute_batch_norm_statistics: {} batches, at least one is needed", batches));
  std::vector<BatchNorm*> layers = batch_norm_layers(module);
  if (layers.empty()) return;
  RestoreModes restore(module, layers);
  NoGradGuard no_grad;
  for (BatchNorm* layer : layers) {
    layer->running_mean.fill_(0.0f);
    layer->running_var.fill_(1.0f);
    layer->train();
  }
  for (int64_t b = 0; b < batches; ++b) {
    // Batch b's statistics weigh 1 / (b + 1) against the average of the b before it: an equal
    // weight for every batch. The first (momentum 1) replaces the reset values outright.
    const float momentum = static_cast<float>(1.0 / static_cast<double>(b + 1));
    for (BatchNorm* layer : layers) layer->set_momentum(momentum);
    forward(b);
  }
}

void recompute_batch_norm_statistics(Module& module, const TensorList& inputs) {
  recompute_batch_norm_statistics(module, static_cast<int64_t>(inputs.size()),
                                  [&](int64_t b) { module(inputs[static_cast<size_t>(b)]); });
}

}  // namespace minimax::nn
