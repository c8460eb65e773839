// Winograd's minimal filtering for the stride-2 convolutions with a 4x4 kernel and at most 3x3
// outputs (DCGAN's critic layer [128,7,7] -> [256,3,3]): a third of a WGAN-GP iteration ran in that
// one layer's oneDNN passes. Split into the input's four phases, the layer is a stride-1
// convolution with a 2x2 kernel, 4x the channels and one 4x4 tile per image, which F(3x3, 2x2)
// computes with 16 multiplications per tile and channel pair where the direct kernel needs 36: the
// tiles and kernels are transformed, 16 GEMMs (one per point of the transformed tile) sum over the
// channels, and the products are transformed back. Backward data and backward weights are the
// adjoints of the same steps. Results differ from the direct convolution's by rounding.
#pragma once

#include "autograd/tensor.h"
#include "ops/dnnl/nn_kernels.h"

namespace minimax::kernels {

// True when the problem x [N,C,H,W], w [O,C,4,4], y [N,O,OH,OW] takes the Winograd route: stride
// 2, no dilation, no groups, OH and OW at most 3, and enough channels for the GEMMs to be worth it.
bool winograd_applies(const Shape& x, const Shape& w, const Shape& y, const ConvGeometry& g);

// The three passes of conv2d_forward / _backward_data / _backward_weights (ops/dnnl/nn_kernels.h)
// for a problem winograd_applies to.
void winograd_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                      const ConvGeometry& g);
void winograd_backward_data(const Tensor& gy, const Tensor& w, const Tensor& gx,
                            const ConvGeometry& g);
void winograd_backward_weights(const Tensor& x, const Tensor& gy, const Tensor& gw,
                               const ConvGeometry& g);

}  // namespace minimax::kernels
