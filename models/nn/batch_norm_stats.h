// Standing statistics: batch norm's running mean and variance recomputed for a module's current
// weights, as torch.optim.swa_utils.update_bn does for an averaged model.
//
// A moving average of a network's weights (optim::ExponentialMovingAverage) also averages its
// batch-norm buffers, but an average of running statistics is not the statistics of the averaged
// weights' activations: eval mode would normalize with the wrong mean and variance. Running the
// averaged module forward on a few batches and keeping those batches' statistics fixes that.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "models/nn/layers.h"

namespace minimax::nn {

// Every batch-norm layer in `module` (itself included), depth first.
std::vector<BatchNorm*> batch_norm_layers(Module& module);

// Replaces every batch-norm layer's running statistics with the equal-weight average, over
// `batches` forward passes, of the statistics each pass's batch has at that layer: the mean, and
// the unbiased variance (as PyTorch's running_var). `forward(b)` runs module forward on batch b
// (0-based), in whatever form its forward takes (a conditional G takes labels too).
//
// The passes run under no-grad with the batch-norm layers in training mode (normalizing with each
// batch's statistics, as the module was trained) and every other module in eval mode, so dropout
// draws no random number and spectral normalization's vectors stay put. Afterwards every module's
// training mode and every layer's momentum are as before, also when `forward` throws (the
// statistics are then those of the batches run so far). A module without batch norm is left
// untouched and `forward` is not called. Throws std::invalid_argument for batches < 1.
void recompute_batch_norm_statistics(Module& module, int64_t batches,
                                     const std::function<void(int64_t)>& forward);
// The same on given inputs, one batch each: module(inputs[b]).
void recompute_batch_norm_statistics(Module& module, const TensorList& inputs);

}  // namespace minimax::nn
