// Activation functions: unary elementwise ops (see detail::unary), each with its f''; and softmax
// and log_softmax, which normalize along a dimension.
#include <fmt/format.h>

#include <limits>
#include <stdexcept>
#include <string_view>

#include "ops/internal.h"
#include "ops/math_kernels.h"

namespace minimax {

using detail::positive_mask;
using detail::unary;
using detail::UnarySpec;
using kernels::algorithm;

namespace {
Tensor sigmoid_curvature(const Tensor& y, float, float) {
  return rsub(1.0f, mul(y, 2.0f));
}
Tensor logistic_slope(const Tensor& x) {  // sigmoid(x) * (1 - sigmoid(x))
  Tensor s = sigmoid(x);
  return mul(s, rsub(1.0f, s));
}

// alpha e^x for x <= 0, else 0. e^x is taken of min(x, 0): for x >= 89 it overflows, and 0 * inf
// would make the second derivative NaN.
Tensor elu_curvature(const Tensor& x, float alpha, float) {
  Tensor negative_part = clamp(x, std::numeric_limits<float>::lowest(), 0.0f);
  return mul(mul(rsub(1.0f, positive_mask(x)), exp(negative_part)), alpha);
}

// silu'' = sigmoid(x) sigmoid(-x) (2 + x (sigmoid(-x) - sigmoid(x))). Both sigmoids are taken, not
// 1 - sigmoid(x), which is 0 in float from x = 17 on, where silu'' is still -6e-7.
Tensor silu_curvature(const Tensor& x, float, float) {
  Tensor s = sigmoid(x), t = sigmoid(neg(x));
  return mul(mul(s, t), add(mul(x, sub(t, s)), 2.0f));
}

// gelu'' = phi(x) (2 - x^2), with x clamped to +-40, where phi is 0 in float anyway: x^2 cannot
// overflow there and make it 0 * inf.
Tensor gelu_curvature(const Tensor& x, float, float) {
  constexpr float kInvSqrt2Pi = 0.3989422804014327f;
  Tensor c = clamp(x, -40.0f, 40.0f), c2 = square(c);
  return mul(mul(exp(mul(c2, -0.5f)), kInvSqrt2Pi), rsub(2.0f, c2));
}

// The tanh form's f'' = s (1 - s) (2 z' + x z'' + x z'^2 (1 - 2 s)), with s = sigmoid(z), z =
// 2 sqrt(2/pi) (x + 0.044715 x^3): s (1 - s) and 1 - 2 s from sigmoid(z) and sigmoid(-z), as
// silu's. x is clamped to +-13, beyond which s (1 - s) < e^-177 and f'' is 0 in float, so that x^3
// cannot overflow and meet a zero.
Tensor gelu_tanh_curvature(const Tensor& x, float, float) {
  constexpr float k = 1.5957691216057308f;  // 2 sqrt(2/pi)
  constexpr float c = 0.044715f;
  Tensor xc = clamp(x, -13.0f, 13.0f), x2 = square(xc);
  Tensor z = mul(add(xc, mul(mul(x2, xc), c)), k);
  Tensor dz = mul(add(mul(x2, 3.0f * c), 1.0f), k);  // z'
  Tensor ddz = mul(xc, 6.0f * c * k);                // z''
  Tensor s = sigmoid(z), t = sigmoid(neg(z));
  Tensor bracket = add(add(mul(dz, 2.0f), mul(xc, ddz)), mul(mul(xc, square(dz)), sub(t, s)));
  return mul(mul(s, t), bracket);
}

// relu and leaky_relu with a slope >= 0 keep their output for the backward, where it is positive
// exactly where the input is: the output is kept anyway by the layer that reads it, while the input
// (often a batch norm's output) can go. A negative slope makes negative inputs positive, so that
// leaky_relu keeps its input.
void relu_forward(const float* x, float* y, int64_t n, float, float) {
  kernels::relu(x, y, n);
}
void leaky_relu_forward(const float* x, float* y, int64_t n, float slope, float) {
  kernels::leaky_relu(x, y, n, slope);
}
void relu_gradient(const float* g, const float* s, float* gx, int64_t n, float slope, float) {
  kernels::relu_backward(g, s, gx, n, slope);
}
const UnarySpec kRelu{"relu",
                      "relu_backward",
                      algorithm::eltwise_relu,
                      algorithm::eltwise_relu_use_dst_for_bwd,
                      true,
                      nullptr,
                      relu_forward,
                      relu_gradient};
const UnarySpec kLeakyRelu{"leaky_relu",
                           "leaky_relu_backward",
                           algorithm::eltwise_relu,
                           algorithm::eltwise_relu_use_dst_for_bwd,
                           true,
                           nullptr,
                           leaky_relu_forward,
                           relu_gradient};
const UnarySpec kLeakyReluNegativeSlope{"leaky_relu",
                                        "leaky_relu_backward",
                                        algorithm::eltwise_relu,
                                        algorithm::eltwise_relu,
                                        false,
                                        nullptr,
                                        leaky_relu_forward,
                                        relu_gradient};
const UnarySpec kSigmoid{"sigmoid",
                         "sigmoid_backward",
                         algorithm::eltwise_logistic,
                         algorithm::eltwise_logistic_use_dst_for_bwd,
                         true,
                         sigmoid_curvature};
const UnarySpec kTanh{"tanh",
                      "tanh_backward",
                      algorithm::eltwise_tanh,
                      algorithm::eltwise_tanh_use_dst_for_bwd,
                      true,
                      [](const Tensor& y, float, float) { return mul(y, -2.0f); }};
const UnarySpec kSoftplus{
    "softplus",
    "softplus_backward",
    algorithm::eltwise_soft_relu,
    algorithm::eltwise_soft_relu,
    false,
    [](const Tensor& x, float, float) { return logistic_slope(x); },
    [](const float* x, float* y, int64_t n, float, float) { kernels::softplus(x, y, n); }};
const UnarySpec kLogSigmoid{
    "log_sigmoid",
    "log_sigmoid_backward",
    algorithm::eltwise_logsigmoid,
    algorithm::eltwise_logsigmoid,
    false,
    [](const Tensor& x, float, float) { return neg(logistic_slope(x)); },
    [](const float* x, float* y, int64_t n, float, float) { kernels::log_sigmoid(x, y, n); }};
const UnarySpec kElu{
    "elu",
    "elu_backward",
    algorithm::eltwise_elu,
    algorithm::eltwise_elu,
    false,
    elu_curvature,
    [](const float* x, float* y, int64_t n, float alpha, float) { kernels::elu(x, y, n, alpha); }};
// oneDNN's swish and gelu_erf are named for what they compute; our kernels run both passes.
const UnarySpec kSilu{
    "silu",
    "silu_backward",
    algorithm::eltwise_swish,
    algorithm::eltwise_swish,
    false,
    silu_curvature,
    [](const float* x, float* y, int64_t n, float, float) { kernels::silu(x, y, n); },
    [](const float* g, const float* x, float* gx, int64_t n, float, float) {
      kernels::silu_backward(g, x, gx, n);
    }};
const UnarySpec kGelu{
    "gelu",
    "gelu_backward",
    algorithm::eltwise_gelu_erf,
    algorithm::eltwise_gelu_erf,
    false,
    gelu_curvature,
    [](const float* x, float* y, int64_t n, float, float) { kernels::gelu(x, y, n); },
    [](const float* g, const float* x, float* gx, int64_t n, float, float) {
      kernels::gelu_backward(g, x, gx, n);
    }};
const UnarySpec kGeluTanh{
    "gelu_tanh",
    "gelu_tanh_backward",
    algorithm::eltwise_gelu_tanh,
    algorithm::eltwise_gelu_tanh,
    false,
    gelu_tanh_curvature,
    [](const float* x, float* y, int64_t n, float, float) { kernels::gelu_tanh(x, y, n); },
    [](const float* g, const float* x, float* gx, int64_t n, float, float) {
      kernels::gelu_tanh_backward(g, x, gx, n);
    }};
}  // namespace

Tensor relu(const Tensor& x) {
  return unary(kRelu, x);
}
Tensor leaky_relu(const Tensor& x, float negative_slope) {
  if (negative_slope == 0.0f) return relu(x);
  return unary(negative_slope > 0.0f ? kLeakyRelu : kLeakyReluNegativeSlope, x, negative_slope);
}
Tensor detail::leaky_relu_grad_at_output(const Tensor& g, const Tensor& y, float negative_slope) {
  return unary_grad(negative_slope == 0.0f ? kRelu : kLeakyRelu, g, y, negative_slope);
}
Tensor sigmoid(const Tensor& x) {
  return unary(kSigmoid, x);
}
Tensor tanh(const Tensor& x) {
  return unary(kTanh, x);
}
Tensor softplus(const Tensor& x) {
  return unary(kSoftplus, x);
}
Tensor log_sigmoid(const Tensor& x) {
  return unary(kLogSigmoid, x);
}
Tensor elu(const Tensor& x, float alpha) {
  return unary(kElu, x, alpha);
}
Tensor silu(const Tensor& x) {
  return unary(kSilu, x);
}
Tensor gelu(const Tensor& x, std::string_view approximate) {
  if (approximate == "none") return unary(kGelu, x);
  if (approximate == "tanh") return unary(kGeluTanh, x);
  throw std::invalid_argument(
      fmt::format("gelu: approximate is \"none\" or \"tanh\", not \"{}\"", approximate));
}

// ---- softmax and log_softmax ----
//
// Each forward and its backward are oneDNN softmax primitives; the backward is an op of its own in
// terms of the output y (as sigmoid's), whose backward is written with ops, so it differentiates
// again.

namespace {

// gx = y * (g - sum(g * y)) for softmax, g - exp(y) * sum(g) for log_softmax (y the output).
Tensor softmax_grad(bool log, const Tensor& g, const Tensor& y, int dim) {
  Tensor gx = Tensor::empty(y.shape());
  kernels::softmax_backward(log, g, y, gx, dim);
  const char* name = log ? "log_softmax_backward" : "softmax_backward";
  return record(name, std::move(gx), {saved(g), saved(y)},
                [log, g, y, dim](const Tensor& gg, Node& n) {
                  TensorList r(2);
                  const Dims axis{dim};
                  if (log) {
                    // In g the transposed map gg - sum(p * gg); in y only p = exp(y) varies.
                    Tensor p = exp(y);
                    if (n.needs_input_grad(0)) r[0] = sub(gg, sum(mul(p, gg), axis, true));
                    if (n.needs_input_grad(1)) r[1] = neg(mul(mul(gg, p), sum(g, axis, true)));
                    return r;
                  }
                  // The map g -> y * (g - sum(g * y)) is symmetric, so in g it is its own
                  // transpose; in y the product rule gives gg * (g - sum(g * y)) - g * sum(gg * y).
                  if (n.needs_input_grad(0)) r[0] = softmax_grad(false, gg, y, dim);
                  if (n.needs_input_grad(1)) {
                    Tensor centred = sub(g, sum(mul(g, y), axis, true));
                    r[1] = sub(mul(gg, centred), mul(g, sum(mul(gg, y), axis, true)));
                  }
                  return r;
                });
}

Tensor softmax_op(bool log, const Tensor& x, int dim) {
  const char* name = log ? "log_softmax" : "softmax";
  detail::check_defined(x, name, "input");
  if (x.dim() == 0)
    throw std::invalid_argument(
        fmt::format("{}: input must have a dimension to normalize along, "
                    "got shape {}",
                    name, x.shape().str()));
  const int d = normalize_dim(dim, x.dim(), name);
  Tensor y = Tensor::empty(x.shape());
  if (log)  // our own kernel: oneDNN's softmax_log uses its inexact log
    kernels::log_softmax(x, y, d);
  else
    kernels::softmax_forward(x, y, d);
  return record(
      name, std::move(y), {x},
      [log, d](const Tensor& g, Node& n) -> TensorList {
        return {softmax_grad(log, g, n.saved_output(), d)};
      },
      SaveOutput::kYes);
}

}  // namespace

Tensor softmax(const Tensor& x, int dim) {
  return softmax_op(false, x, dim);
}
Tensor log_softmax(const Tensor& x, int dim) {
  return softmax_op(true, x, dim);
}

}  // namespace minimax
