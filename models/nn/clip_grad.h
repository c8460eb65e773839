// Gradient clipping, as torch::nn::utils: between a backward and an optimizer's step, rescale or
// clamp the accumulated .grad() of parameters in place. Parameters without a gradient are skipped.
#pragma once

#include "autograd/node.h"

namespace minimax::nn::utils {

// The norm of all the gradients together, as if they were one vector: the norm_type-norm, or the
// largest magnitude for norm_type = infinity. When it exceeds max_norm, every gradient is scaled
// by max_norm / (norm + 1e-6), as PyTorch scales. Returns the norm before clipping (0 when no
// parameter has a gradient). A NaN or infinite norm throws std::runtime_error naming it when
// error_if_nonfinite, the gradients untouched; otherwise they are scaled by NaN or 0 as in
// PyTorch, so a diverged step stays visible. Throws std::invalid_argument for a negative or NaN
// max_norm, or a norm_type that is not positive.
double clip_grad_norm_(const TensorList& parameters, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

// Clamps every gradient element to [-clip_value, clip_value] (NaN stays NaN). Throws
// std::invalid_argument for a negative or NaN clip_value.
void clip_grad_value_(const TensorList& parameters, double clip_value);

}  // namespace minimax::nn::utils
