// Kernels: the non-differentiable computations behind ops, on plain row-major float buffers.
// Each dispatches to oneDNN (ops/dnnl) or OpenBLAS (ops/blas); plain loops only where neither has
// one. Ops (ops/*.cpp) call these; nothing here records on the tape.
#pragma once

#include <dnnl.hpp>

#include <vector>

#include "autograd/tensor.h"

namespace minimax::kernels {

using dnnl::algorithm;

// dst[i] = f(src[i]) for a oneDNN eltwise algorithm with its alpha, beta.
void eltwise_forward(algorithm alg, float alpha, float beta, const float* src, float* dst,
                     int64_t n);
// diff_src[i] = diff_dst[i] * f'(.) where `data` is the forward's src, or its dst when
// `data_is_output` (the *_use_dst_for_bwd algorithms; the caller's UnarySpec::saves_output says
// which, so there is one source of truth).
void eltwise_backward(algorithm alg, float alpha, float beta, const float* diff_dst,
                      const float* data, bool data_is_output, float* diff_src, int64_t n);

// y = softmax of x along `axis`, x and y of one shape. (log_softmax's forward is our own kernel,
// ops/math_kernels.h: oneDNN's softmax_log is inexact.)
void softmax_forward(const Tensor& x, const Tensor& y, int axis);
// gx = the transposed Jacobian of softmax_forward at its output y applied to gy: y * (gy -
// sum(gy * y)) for softmax, gy - exp(y) * sum(gy) for log_softmax (sums along `axis`).
void softmax_backward(bool log, const Tensor& gy, const Tensor& y, const Tensor& gx, int axis);

// out = a (op) b, where b broadcasts to out's shape and a has out's shape (same rank for all
// three).
void binary(algorithm alg, const Tensor& a, const Tensor& b, const Tensor& out);

// dst = reduce(src) over the dimensions where dst (same rank) has extent 1 and src does not.
void reduce(algorithm alg, const Tensor& src, const Tensor& dst);

// dst = src viewed with `src_strides` (elements; 0 broadcasts), copied into dst's row-major layout.
void strided_copy(const Tensor& src, const std::vector<int64_t>& src_strides, int64_t src_offset,
                  const Tensor& dst);

// The row-major src copied into dst's storage viewed with `dst_strides` at `dst_offset` (concat).
void strided_store(const Tensor& src, const Tensor& dst, const std::vector<int64_t>& dst_strides,
                   int64_t dst_offset);

// Row-major C[M,N] = alpha * op(A) op(B) + beta * C, op = transpose when the flag is set.
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
// The same GEMM, neither counted in the bench's flops nor recorded for its compute floor
// (ops/kernel_calls.h): for a sum written as one (an operand of ones: bias gradients, channel
// sums), which is a reduction, not a product of the model's tensors; and for the GEMMs inside a
// kernel that counts and records itself as one call (the Winograd convolution).
void gemm_unrecorded(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                     const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                     int64_t ldc);

// The three products of a linear layer's weight W [O, I] with a batch of M rows, split over the
// threads by W's rows: thread t of T takes rows [O t / T, O (t + 1) / T) in all three, about the
// share a static split of W's elements gives it in the optimizer's update. Each core then reads
// the rows it last wrote from its own cache, and for a thin batch reads its share of W, where a
// GEMM split by the batch makes every core read all of it. A product too small, or with too few
// rows to share, runs as one gemm threaded by the library.
// y [M,O] = x [M,I] W^T + bias (broadcast over the rows; none when null): each thread writes the
// bias into its columns of y, where its product then adds to them.
void weight_rows_forward(int64_t M, int64_t O, int64_t I, const float* x, const float* w,
                         const float* bias, float* y);
// dx [M,I] = dy [M,O] W: each thread sums over its rows of W into a part of its own, then the
// threads add the parts, each over its share of dx.
void weight_rows_input_grad(int64_t M, int64_t O, int64_t I, const float* dy, const float* w,
                            float* dx);
// dW [O,I] = dy [M,O]^T x [M,I] + beta dW: beta 1 adds the product to a gradient already in dw.
void weight_rows_weight_grad(int64_t M, int64_t O, int64_t I, const float* dy, const float* x,
                             float beta, float* dw);

}  // namespace minimax::kernels
