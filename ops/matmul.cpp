// Matrix products on GEMM (ops/blas/gemm.cpp).
#include <fmt/format.h>

#include <stdexcept>

#include "ops/internal.h"

namespace minimax {

namespace {

struct MatDims {
  int64_t m, k, n;
};

// Checks op(a) [M,K] x op(b) [K,N] and returns M, K, N.
MatDims matmul_dims(const Tensor& a, const Tensor& b, bool ta, bool tb, int batch_dims,
                    const char* op) {
  detail::check_rank(a, 2 + batch_dims, op, "first operand");
  detail::check_rank(b, 2 + batch_dims, op, "second operand");
  int r = batch_dims;
  int64_t m = ta ? a.size(r + 1) : a.size(r), ka = ta ? a.size(r) : a.size(r + 1);
  int64_t kb = tb ? b.size(r + 1) : b.size(r), n = tb ? b.size(r) : b.size(r + 1);
  if (ka != kb)
    throw std::invalid_argument(fmt::format("{}: inner dimensions differ: {}{} x {}{} ({} vs {})",
                                            op, a.shape().str(), ta ? "^T" : "", b.shape().str(),
                                            tb ? "^T" : "", ka, kb));
  return {m, ka, n};
}

void gemm_into(const float* a, const float* b, float* c, const MatDims& d, bool ta, bool tb,
               float beta) {
  kernels::gemm(ta, tb, d.m, d.n, d.k, 1.0f, a, ta ? d.m : d.k, b, tb ? d.k : d.n, beta, c, d.n);
}

// A linear layer's two backward products, as ops of their own so that each runs split by the
// weight's rows (kernels::weight_rows_*) and has a backward: dx = g W, dW = g^T x. The three ops
// are each other's backward: <gg, g W> is linear(gg, W) in g and g^T gg in W; <gw, g^T x> is
// x gw^T = linear(x, gw) in g and g gw in x.
Tensor linear_input_grad(const Tensor& g, const Tensor& weight);
Tensor linear_weight_grad(const Tensor& g, const Tensor& x);

// g^T x added into `sum`, a weight gradient already collected that the engine offers to change in
// place (Node::running_sums): the GEMM's beta = 1 adds as it writes, where a separate addition
// would read both gradients and write a third. Returned, so that the engine skips its addition.
Tensor add_linear_weight_grad(const Tensor& g, const Tensor& x, const Tensor& sum) {
  kernels::weight_rows_weight_grad(g.size(0), g.size(1), x.size(1), g.data(), x.data(), 1.0f,
                                   sum.data());
  sum.bump_version();
  return sum;
}

Tensor linear_input_grad(const Tensor& g, const Tensor& weight) {
  const int64_t m = g.size(0), o = weight.size(0), i = weight.size(1);
  Tensor dx = Tensor::empty({m, i});
  kernels::weight_rows_input_grad(m, o, i, g.data(), weight.data(), dx.data());
  return record("linear_input_grad", std::move(dx), {saved(g), saved(weight)},
                [g, weight](const Tensor& gg, Node& n) {
                  TensorList r(2);
                  if (n.needs_input_grad(0)) r[0] = linear(gg, weight);
                  if (n.needs_input_grad(1)) r[1] = linear_weight_grad(g, gg);
                  return r;
                });
}

Tensor linear_weight_grad(const Tensor& g, const Tensor& x) {
  const int64_t m = g.size(0), o = g.size(1), i = x.size(1);
  Tensor dw = Tensor::empty({o, i});
  kernels::weight_rows_weight_grad(m, o, i, g.data(), x.data(), 0.0f, dw.data());
  return record("linear_weight_grad", std::move(dw), {saved(g), saved(x)},
                [g, x](const Tensor& gw, Node& n) {
                  TensorList r(2);
                  if (n.needs_input_grad(0)) r[0] = linear(x, gw);
                  if (n.needs_input_grad(1)) r[1] = linear_input_grad(g, gw);
                  return r;
                });
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  MatDims d = matmul_dims(a, b, ta, tb, 0, "matmul");
  Tensor c = Tensor::empty({d.m, d.n});
  gemm_into(a.data(), b.data(), c.data(), d, ta, tb, 0.0f);
  return record("matmul", std::move(c), {saved(a), saved(b)},
                [a, b, ta, tb](const Tensor& g, Node& n) {
                  TensorList r(2);
                  if (n.needs_input_grad(0))
                    r[0] = ta ? matmul(b, g, tb, true) : matmul(g, b, false, !tb);
                  if (n.needs_input_grad(1))
                    r[1] = tb ? matmul(g, a, true, ta) : matmul(a, g, !ta, false);
                  return r;
                });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  detail::check_rank(x, 2, "linear", "input");
  detail::check_rank(weight, 2, "linear", "weight");
  if (x.size(1) != weight.size(1))
    throw std::invalid_argument(
        fmt::format("linear: input {} has {} features but weight {} expects {}", x.shape().str(),
                    x.size(1), weight.shape().str(), weight.size(1)));
  MatDims d{x.size(0), x.size(1), weight.size(0)};
  Tensor y = Tensor::empty({d.m, d.n});
  if (bias.defined() && !(bias.shape() == Shape{d.n}))
    throw std::invalid_argument(
        fmt::format("linear: bias {} does not match weight {} (expected [{}])", bias.shape().str(),
                    weight.shape().str(), d.n));
  // The bias is written into y's rows as the GEMM's C, which the product adds to with beta = 1:
  // no separate pass (weight_rows_forward, ops/kernels.h).
  kernels::weight_rows_forward(d.m, d.n, d.k, x.data(), weight.data(),
                               bias.defined() ? bias.data() : nullptr, y.data());
  y = record("linear", std::move(y), {saved(x), saved(weight), bias},
             [x, weight](const Tensor& g, Node& n) {
               TensorList r(3);
               if (n.needs_input_grad(0)) r[0] = linear_input_grad(g, weight);
               if (n.needs_input_grad(1)) {
                 const Tensor collected = n.running_sum(1);
                 r[1] = collected.defined() ? add_linear_weight_grad(g, x, collected)
                                            : linear_weight_grad(g, x);
               }
               if (n.needs_input_grad(2)) r[2] = sum(g, {0});
               return r;
             });
  // A weight used by several forwards (D on the real and the fake batch) collects one gradient
  // per use; from the second on, the GEMM adds into the sum.
  if (y.grad_fn()) y.grad_fn()->adds_into_sums = true;
  return y;
}

Tensor bmm(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  MatDims d = matmul_dims(a, b, ta, tb, 1, "bmm");
  if (a.size(0) != b.size(0))
    throw std::invalid_argument(
        fmt::format("bmm: batch sizes differ: {} vs {}", a.shape().str(), b.shape().str()));
  int64_t batch = a.size(0);
  Tensor c = Tensor::empty({batch, d.m, d.n});
  for (int64_t i = 0; i < batch; ++i)
    gemm_into(a.data() + i * d.m * d.k, b.data() + i * d.k * d.n, c.data() + i * d.m * d.n, d, ta,
              tb, 0.0f);
  return record("bmm", std::move(c), {saved(a), saved(b)},
                [a, b, ta, tb](const Tensor& g, Node& n) {
                  TensorList r(2);
                  if (n.needs_input_grad(0))
                    r[0] = ta ? bmm(b, g, tb, true) : bmm(g, b, false, !tb);
                  if (n.needs_input_grad(1))
                    r[1] = tb ? bmm(g, a, true, ta) : bmm(a, g, !ta, false);
                  return r;
                });
}

}  // namespace minimax
