// SAGAN's self-attention block (Zhang et al. 2019, "Self-Attention Generative Adversarial
// Networks"): every position of a feature map attends over all positions.
//
// For x [N, C, H, W] and its P = H * W positions, 1x1 convolutions give queries and keys of
// C / reduction channels and values of C channels; position i's output is the sum over positions
// j of value_j weighted by softmax_j(query_i . key_j). The block returns gamma * that + x, with the
// learned scalar gamma initialized to 0, so a network starts out as if the block were absent.
#pragma once

#include <memory>
#include <string>

#include "models/nn/module.h"
#include "ops/ops.h"

namespace minimax::nn {

struct SelfAttention2dOptions {
  int64_t reduction = 8;  // query and key channels: channels / reduction
  bool spectral_norm =
      false;  // wrap the three convolutions in SpectralNorm (SAGAN does, in G and D)
};

class SelfAttention2d : public Module {
 public:
  explicit SelfAttention2d(int64_t channels, SelfAttention2dOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  std::shared_ptr<Module> query, key, value;  // Conv2d 1x1, or SpectralNorm around one
  Tensor gamma;                               // [1]

 private:
  int64_t channels_, reduced_;
};

}  // namespace minimax::nn
