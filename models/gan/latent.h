// Walks in G's latent space (the GAN paper's Figure 3: samples along a line between two z).
#pragma once

#include <cstdint>

#include "autograd/tensor.h"

namespace minimax::gan {

// Points along the straight line from each row of `from` to the same row of `to` (both [r, d]):
// `steps` (at least 2) evenly spaced points per row, both ends included, as [r * steps, d], row
// r's walk first. Point i of a row is (1 - t) from + t to with t = i / (steps - 1).
Tensor interpolate_latents(const Tensor& from, const Tensor& to, int64_t steps);

}  // namespace minimax::gan
