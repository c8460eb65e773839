// Helpers shared by the op families; not part of the public API.
#pragma once

#include "autograd/node.h"
#include "ops/kernels.h"
#include "ops/ops.h"

namespace minimax::detail {

// The same storage under another shape with the same number of elements; records nothing.
Tensor view(const Tensor& x, const Shape& shape);

// `shape` with leading 1s added up to `rank`.
Shape pad_to_rank(const Shape& shape, int rank);

// Throws std::invalid_argument naming op and shapes unless x has the given rank.
void check_rank(const Tensor& x, int rank, const char* op, const char* what);

// Throws std::invalid_argument naming the op unless x is defined.
void check_defined(const Tensor& x, const char* op, const char* what);

// Throws std::invalid_argument naming op, what and the offending value unless every element of t
// is a whole number in [0, bound): class labels and embedding indices, stored as floats.
void check_indices(const Tensor& t, int64_t bound, const char* op, const char* what);

// A unary elementwise op: a oneDNN eltwise forward (or our own kernel where oneDNN's is inexact);
// its backward is a differentiable op that runs oneDNN's fused eltwise backward (g * f'(s)) and
// whose own backward needs only f'' (`curvature`).
struct UnarySpec {
  const char* name;
  const char* backward_name;
  kernels::algorithm forward;
  kernels::algorithm backward;  // a *_use_dst_for_bwd algorithm when saves_output
  bool saves_output;            // s, the tensor f' is written in, is the output (else the input)
  // d f'(s) / ds, or null where it is zero almost everywhere.
  Tensor (*curvature)(const Tensor& s, float alpha, float beta);
  // Our own forward kernel (ops/math_kernels.h), where oneDNN's `forward` is inexact or loses NaN;
  // else null.
  void (*own_forward)(const float* x, float* y, int64_t n, float alpha, float beta) = nullptr;
  // Our own gx = g f'(s), where oneDNN has no exact `backward`; else null.
  void (*own_backward)(const float* g, const float* s, float* gx, int64_t n, float alpha,
                       float beta) = nullptr;
};

Tensor unary(const UnarySpec& spec, const Tensor& x, float alpha = 0.0f, float beta = 0.0f);
// g * f'(s) as a recorded op: the backward of `unary` (s is its output when spec.saves_output,
// else its input).
Tensor unary_grad(const UnarySpec& spec, const Tensor& g, const Tensor& s, float alpha = 0.0f,
                  float beta = 0.0f);

// The gradient at leaky_relu's input (relu's at negative_slope 0) from g at its output y, as the
// recorded op leaky_relu's own backward makes: for a fused activation's backward that is itself
// recorded. negative_slope >= 0.
Tensor leaky_relu_grad_at_output(const Tensor& g, const Tensor& y, float negative_slope);

// 1 where s > 0, else 0 (a constant).
Tensor positive_mask(const Tensor& s);

}  // namespace minimax::detail
