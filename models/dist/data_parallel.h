// Data-parallel training over a Communicator: every rank holds the whole model, computes gradients
// on its own rows of the global batch, and averages them before each update, so that every rank
// applies the same update to the same parameters and the replicas never drift apart.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "autograd/node.h"
#include "models/dist/communicator.h"
#include "models/nn/module.h"
#include "models/optim/optimizer.h"

namespace minimax::dist {

// Averages the gradients of a fixed list of parameters over all ranks with one allreduce_mean of
// one contiguous buffer: a model of many small tensors costs one collective call per update, not
// one per tensor (each call pays the network's latency). The buffer is allocated once.
class GradientAverager {
 public:
  GradientAverager(Communicator& world, TensorList parameters);

  // Packs every gradient, averages, unpacks in place. A parameter without a gradient contributes
  // zeros and stays without one, so the optimizer still skips it (every rank runs the same graph,
  // so it is the same parameters on every rank). Throws std::logic_error for a gradient whose size
  // is not its parameter's.
  void average();
  int64_t floats() const { return static_cast<int64_t>(buffer_.size()); }

 private:
  Communicator& world_;
  TensorList parameters_;
  std::vector<float> buffer_;
};

// The trainer's sync_gradients hook (gan::TrainerOptions): averages the gradients of whichever of
// `optimizers` is about to step, with one GradientAverager (one fused buffer) per optimizer. Throws
// std::logic_error when called with another optimizer.
std::function<void(optim::Optimizer&)> gradient_sync(
    Communicator& world, const std::vector<optim::Optimizer*>& optimizers);

// Copies rank 0's parameters and buffers (batch-norm running statistics) of `modules` over every
// other rank's, in one broadcast: the replicas start identical whatever each rank initialized or
// loaded.
void broadcast_state(Communicator& world, const std::vector<nn::Module*>& modules);

// Replaces every buffer of `modules` by its mean over the ranks, in one allreduce; does nothing for
// modules without buffers. Each rank's batch-norm running statistics follow its own batches; their
// update is affine and the same on every rank, so averaging them at any step gives what averaging
// at every step would have (up to rounding): the statistics of the global batches.
void average_buffers(Communicator& world, const std::vector<nn::Module*>& modules);

// A 64-bit hash of the bytes of every parameter and buffer of `modules`, in registration order:
// equal on every rank of a healthy data-parallel run (any one differing float changes it).
uint64_t state_hash(const std::vector<nn::Module*>& modules);

}  // namespace minimax::dist
