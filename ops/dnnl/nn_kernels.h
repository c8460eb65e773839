// Kernels behind the neural-network ops (ops/conv.cpp): oneDNN primitives on plain row-major
// tensors (nchw data, oihw weights), each cached by every shape and option that shapes it. Like
// ops/kernels.h, nothing here records on the tape and nothing validates: the ops check shapes
// before calling in.
#pragma once

#include <cstdint>

#include "autograd/tensor.h"

namespace minimax::kernels {

// ---- convolution (ops/dnnl/conv.cpp) ----

// PyTorch's meaning: dilation 1 is a dense kernel; padding is added on every side.
struct ConvGeometry {
  int64_t stride = 1, padding = 0, dilation = 1;
};

// y [N,O,OH,OW] = x [N,C,H,W] correlated with w [O,C,kh,kw], plus bias [O] when it is defined.
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                    const ConvGeometry& g);
// gx [N,C,H,W] = the adjoint in x of conv2d_forward (without bias) applied to gy [N,O,OH,OW].
void conv2d_backward_data(const Tensor& gy, const Tensor& w, const Tensor& gx,
                          const ConvGeometry& g);
// gw [O,C,kh,kw] = the adjoint in w of conv2d_forward (without bias) applied to gy.
void conv2d_backward_weights(const Tensor& x, const Tensor& gy, const Tensor& gw,
                             const ConvGeometry& g);

}  // namespace minimax::kernels
