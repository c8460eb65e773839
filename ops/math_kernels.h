// Our own float kernels for the functions where oneDNN 2.6's JIT is inexact: its log is about 1e-6
// off (log(1) = -1.43e-6, log(2) 24 ulps low), and soft_relu, logsigmoid and softmax_log use it;
// its elu computes exp(x) - 1, which loses the relative accuracy of small negative results; its
// exp gives +inf for NaN, and below AVX2 it loses about an ulp per unit of |x|.
//
// Each evaluates in double (exp and log by range reduction and a polynomial, gelu's normal CDF by
// a fitted series, no libm call, so the loops vectorize: AVX-512 or AVX2 where the CPU has them,
// ops/vector_clones.h) and rounds once to float: the double result is within about 1e-14
// relative of the exact value, so the float result is the correctly rounded one but for a result
// lying within that distance of a rounding midpoint, where it is off by one ulp at most. Edge cases
// follow IEEE 754 and PyTorch: NaN in, NaN out; log(0) = -inf, log(x < 0) = NaN, log(+inf) = +inf;
// denormal inputs are ordinary doubles, so they need no special path; softplus and log_sigmoid are
// exact for any |x| (softplus(-100) is the denormal e^-100 rounded, not 0).
#pragma once

#include <cstdint>

#include "autograd/tensor.h"

namespace minimax::kernels {

// y[i] = f(x[i]) for i < n; x and y may be the same buffer.
void log(const float* x, float* y, int64_t n);
void softplus(const float* x, float* y, int64_t n);     // log(1 + e^x)
void log_sigmoid(const float* x, float* y, int64_t n);  // -softplus(-x)
void elu(const float* x, float* y, int64_t n, float alpha);
void exp(const float* x, float* y, int64_t n);
void silu(const float* x, float* y, int64_t n);  // x sigmoid(x)
void gelu(const float* x, float* y, int64_t n);  // x Phi(x), Phi the normal CDF
// x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2, PyTorch's gelu(approximate="tanh")
void gelu_tanh(const float* x, float* y, int64_t n);
// gx[i] = g[i] f'(x[i]) for silu and both gelus, also evaluated in double and rounded once. At
// +-inf, where PyTorch's formulas meet inf * 0, the derivatives are NaN, as PyTorch's are, and so
// are silu(-inf) and gelu(-inf).
void silu_backward(const float* g, const float* x, float* gx, int64_t n);
void gelu_backward(const float* g, const float* x, float* gx, int64_t n);
void gelu_tanh_backward(const float* g, const float* x, float* gx, int64_t n);

// One element of relu and of leaky_relu (slope > 0): the definitions the kernels below and batch
// norm's fused activation (ops/dnnl/norm.cpp) share.
inline float relu_value(float v) {
  return v > 0.0f || v != v ? v : 0.0f;
}
inline float leaky_relu_value(float v, float slope) {
  return v > 0.0f ? v : v * slope;
}

// oneDNN's relu and clip take max(x, bound), which turns NaN into the bound; these keep NaN, as
// PyTorch does, and are as memory-bound as oneDNN's.
void relu(const float* x, float* y, int64_t n);
void leaky_relu(const float* x, float* y, int64_t n, float slope);  // x > 0 ? x : slope x
void clamp(const float* x, float* y, int64_t n, float low, float high);
// gx = s > 0 ? g : slope g, the gradient of relu (slope 0) and leaky_relu at s, their input or,
// for slope >= 0, their output, which is positive where the input is. Exact, so it is taken in
// float: a third faster than oneDNN's eltwise backward on a 3 MiB tensor (docs/performance-log.md).
void relu_backward(const float* g, const float* s, float* gx, int64_t n, float slope);

// y = log_softmax of x along `axis`: x - max - log(sum(exp(x - max))), each row in double.
void log_softmax(const Tensor& x, const Tensor& y, int axis);

}  // namespace minimax::kernels
