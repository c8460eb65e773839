// Activation functions: unary elementwise ops (see detail::unary), each with its f''.
#include "ops/internal.h"

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

const UnarySpec kRelu{"relu", "relu_backward", algorithm::eltwise_relu, algorithm::eltwise_relu,
                      false,  nullptr};
const UnarySpec kLeakyRelu{
    "leaky_relu", "leaky_relu_backward", algorithm::eltwise_relu, algorithm::eltwise_relu, false,
    nullptr};
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
const UnarySpec kSoftplus{"softplus",
                          "softplus_backward",
                          algorithm::eltwise_soft_relu,
                          algorithm::eltwise_soft_relu,
                          false,
                          [](const Tensor& x, float, float) { return logistic_slope(x); }};
const UnarySpec kLogSigmoid{"log_sigmoid",
                            "log_sigmoid_backward",
                            algorithm::eltwise_logsigmoid,
                            algorithm::eltwise_logsigmoid,
                            false,
                            [](const Tensor& x, float, float) { return neg(logistic_slope(x)); }};
const UnarySpec kElu{"elu",
                     "elu_backward",
                     algorithm::eltwise_elu,
                     algorithm::eltwise_elu,
                     false,
                     [](const Tensor& x, float alpha, float) {
                       return mul(mul(rsub(1.0f, positive_mask(x)), exp(x)), alpha);
                     }};
}  // namespace

Tensor relu(const Tensor& x) {
  return unary(kRelu, x);
}
Tensor leaky_relu(const Tensor& x, float negative_slope) {
  return unary(kLeakyRelu, x, negative_slope);
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

}  // namespace minimax
