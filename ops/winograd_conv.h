// Winograd's minimal filtering for the stride-2 convolutions with a 4x4 kernel and small outputs,
// DCGAN's critic layers [64,14,14] -> [128,7,7] and [128,7,7] -> [256,3,3] (and the generator's
// layer that is the first one's backward data): before this route, those layers' oneDNN passes
// took most of a WGAN-GP iteration. Split into the input's four phases, the layer is a stride-1
// convolution with a 2x2 kernel, 4x the channels and one tile per image, which F(m x m, 2x2)
// computes with (m + 1)^2 multiplications per tile and channel pair where the direct kernel needs
// 4 m^2: 16 for 36 at m = 3 (outputs up to 3x3), 64 for 196 at m = 7 (6x6 and 7x7). The tiles and
// kernels are transformed, one GEMM per point of the transformed tile sums over the channels, and
// the products are transformed back. Backward data and backward weights are the adjoints of the
// same steps. Results differ from the direct convolution's by rounding: F(3x3, 2x2) by about as
// much as another order of summation, F(7x7, 2x2) by more, about 1e-5 of the outputs' scale (rms),
// like the F(6x6, 3x3) other libraries use, whose points it shares.
#pragma once

#include "autograd/tensor.h"
#include "ops/dnnl/nn_kernels.h"

namespace minimax::kernels {

// True when the problem x [N,C,H,W], w [O,C,4,4], y [N,O,OH,OW] takes the Winograd route: stride
// 2, no dilation, no groups, OH and OW at most 3 (or at most 7 with OH OW >= 36), and enough
// channels for the GEMMs to be worth it.
bool winograd_applies(const Shape& x, const Shape& w, const Shape& y, const ConvGeometry& g);

// The three passes of conv2d_forward / _backward_data / _backward_weights (ops/dnnl/nn_kernels.h)
// for a problem winograd_applies to.
void winograd_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                      const ConvGeometry& g);
void winograd_backward_data(const Tensor& gy, const Tensor& w, const Tensor& gx,
                            const ConvGeometry& g);
// With add, the kernel gradient is added into gw instead of written (conv2d_add_backward_weights).
void winograd_backward_weights(const Tensor& x, const Tensor& gy, const Tensor& gw,
                               const ConvGeometry& g, bool add = false);

}  // namespace minimax::kernels
