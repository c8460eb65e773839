// Elementwise arithmetic with broadcasting, and the unary math functions.
#include <fmt/format.h>

#include <stdexcept>

#include "ops/internal.h"
#include "ops/math_kernels.h"

namespace minimax {

using kernels::algorithm;

namespace {

// Runs a oneDNN binary primitive on broadcast operands. oneDNN broadcasts only its second source,
// so a first operand smaller than the result is swapped (commutative ops) or materialized.
Tensor binary_kernel(algorithm alg, const Tensor& a, const Tensor& b, const char* op,
                     bool commutative) {
  detail::check_defined(a, op, "first operand");
  detail::check_defined(b, op, "second operand");
  Shape out = broadcast_shapes(a.shape(), b.shape(), op);
  int rank = std::max(out.size(), 1);
  Tensor x = detail::view(a, detail::pad_to_rank(a.shape(), rank));
  Tensor y = detail::view(b, detail::pad_to_rank(b.shape(), rank));
  Shape full = detail::pad_to_rank(out, rank);
  if (!(x.shape() == full)) {
    if (commutative && y.shape() == full) {
      std::swap(x, y);
    } else {
      x = expand(x.detach(), full);
    }
  }
  Tensor result = Tensor::empty(full);
  kernels::binary(alg, x, y, result);
  return detail::view(result, out);
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_kernel(algorithm::binary_add, a, b, "add", true);
  return record("add", std::move(out), {a, b},
                [sa = a.shape(), sb = b.shape()](const Tensor& g, Node& n) {
                  TensorList r(2);
                  if (n.needs_input_grad(0)) r[0] = sum_to(g, sa);
                  if (n.needs_input_grad(1)) r[1] = sum_to(g, sb);
                  return r;
                });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_kernel(algorithm::binary_sub, a, b, "sub", false);
  return record("sub", std::move(out), {a, b},
                [sa = a.shape(), sb = b.shape()](const Tensor& g, Node& n) {
                  TensorList r(2);
                  if (n.needs_input_grad(0)) r[0] = sum_to(g, sa);
                  if (n.needs_input_grad(1)) r[1] = sum_to(neg(g), sb);
                  return r;
                });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_kernel(algorithm::binary_mul, a, b, "mul", true);
  return record("mul", std::move(out), {saved(a), saved(b)}, [a, b](const Tensor& g, Node& n) {
    TensorList r(2);
    if (n.needs_input_grad(0)) r[0] = sum_to(mul(g, b), a.shape());
    if (n.needs_input_grad(1)) r[1] = sum_to(mul(g, a), b.shape());
    return r;
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_kernel(algorithm::binary_div, a, b, "div", false);
  return record("div", std::move(out), {saved(a), saved(b)}, [a, b](const Tensor& g, Node& n) {
    TensorList r(2);
    Tensor g_over_b = div(g, b);
    if (n.needs_input_grad(0)) r[0] = sum_to(g_over_b, a.shape());
    if (n.needs_input_grad(1)) r[1] = sum_to(neg(mul(g_over_b, div(a, b))), b.shape());
    return r;
  });
}

Tensor gt(const Tensor& a, const Tensor& b) {
  // oneDNN's gt is "not less or equal", true where either side is NaN; its lt is an ordered
  // comparison, false there, as IEEE's and PyTorch's a > b are.
  detail::check_defined(a, "gt", "first operand");
  detail::check_defined(b, "gt", "second operand");
  broadcast_shapes(a.shape(), b.shape(), "gt");
  return binary_kernel(algorithm::binary_lt, b, a, "gt", false);
}

Tensor eq(const Tensor& a, const Tensor& b) {
  return binary_kernel(algorithm::binary_eq, a, b, "eq", true);
}

// ---- affine maps with a scalar: one oneDNN `linear` eltwise, y = scale * x + shift ----

namespace {
Tensor affine(const Tensor& x, float scale, float shift, const char* op) {
  detail::check_defined(x, op, "input");
  Tensor y = Tensor::empty(x.shape());
  kernels::eltwise_forward(algorithm::eltwise_linear, scale, shift, x.data(), y.data(), x.numel());
  return record(op, std::move(y), {x}, [scale](const Tensor& g, Node&) -> TensorList {
    return {scale == 1.0f ? g : mul(g, scale)};
  });
}
}  // namespace

Tensor add(const Tensor& a, float b) {
  return affine(a, 1.0f, b, "add_scalar");
}
Tensor mul(const Tensor& a, float b) {
  return affine(a, b, 0.0f, "mul_scalar");
}
Tensor rsub(float a, const Tensor& b) {
  return affine(b, -1.0f, a, "rsub_scalar");
}
Tensor neg(const Tensor& x) {
  return affine(x, -1.0f, 0.0f, "neg");
}

// ---- unary functions (detail::unary; the specs of the activations are in activation.cpp) ----

using detail::UnarySpec;

Tensor detail::unary_grad(const UnarySpec& spec, const Tensor& g, const Tensor& s, float alpha,
                          float beta) {
  Tensor gx = Tensor::empty(s.shape());
  if (spec.own_backward)
    spec.own_backward(g.data(), s.data(), gx.data(), s.numel(), alpha, beta);
  else
    kernels::eltwise_backward(spec.backward, alpha, beta, g.data(), s.data(), spec.saves_output,
                              gx.data(), s.numel());
  return record(spec.backward_name, std::move(gx), {saved(g), saved(s)},
                [&spec, g, s, alpha, beta](const Tensor& gg, Node& n) {
                  TensorList r(2);
                  if (n.needs_input_grad(0)) r[0] = unary_grad(spec, gg, s, alpha, beta);
                  if (n.needs_input_grad(1) && spec.curvature)
                    r[1] = mul(mul(gg, g), spec.curvature(s, alpha, beta));
                  return r;
                });
}

Tensor detail::unary(const UnarySpec& spec, const Tensor& x, float alpha, float beta) {
  detail::check_defined(x, spec.name, "input");
  Tensor y = Tensor::empty(x.shape());
  if (spec.own_forward)
    spec.own_forward(x.data(), y.data(), x.numel(), alpha, beta);
  else
    kernels::eltwise_forward(spec.forward, alpha, beta, x.data(), y.data(), x.numel());
  Tensor saved_input = spec.saves_output ? Tensor() : x;
  return record(
      spec.name, std::move(y), {spec.saves_output ? Input(x) : saved(x)},
      [&spec, saved_input, alpha, beta](const Tensor& g, Node& n) -> TensorList {
        Tensor s = spec.saves_output ? n.saved_output() : saved_input;
        return {unary_grad(spec, g, s, alpha, beta)};
      },
      spec.saves_output ? SaveOutput::kYes : SaveOutput::kNo);
}

Tensor detail::positive_mask(const Tensor& s) {
  return gt(s, Tensor::zeros({1}));
}

namespace {
using detail::unary;

const UnarySpec kExp{
    "exp",
    "exp_backward",
    algorithm::eltwise_exp,
    algorithm::eltwise_exp_use_dst_for_bwd,
    true,
    [](const Tensor& y, float, float) { return Tensor::ones(y.shape()); },
    [](const float* x, float* y, int64_t n, float, float) { kernels::exp(x, y, n); }};
const UnarySpec kLog{
    "log",
    "log_backward",
    algorithm::eltwise_log,
    algorithm::eltwise_log,
    false,
    [](const Tensor& x, float, float) { return neg(pow(x, -2.0f)); },
    [](const float* x, float* y, int64_t n, float, float) { kernels::log(x, y, n); }};
const UnarySpec kSqrt{"sqrt",
                      "sqrt_backward",
                      algorithm::eltwise_sqrt,
                      algorithm::eltwise_sqrt_use_dst_for_bwd,
                      true,
                      [](const Tensor& y, float, float) { return mul(pow(y, -2.0f), -0.5f); }};
const UnarySpec kPow{
    "pow",
    "pow_backward",
    algorithm::eltwise_pow,
    algorithm::eltwise_pow,
    false,
    [](const Tensor& x, float, float p) { return mul(pow(x, p - 2.0f), p * (p - 1.0f)); }};
const UnarySpec kSquare{
    "square",
    "square_backward",
    algorithm::eltwise_square,
    algorithm::eltwise_square,
    false,
    [](const Tensor& x, float, float) { return Tensor::full(x.shape(), 2.0f); }};
const UnarySpec kAbs{"abs", "abs_backward", algorithm::eltwise_abs, algorithm::eltwise_abs,
                     false, nullptr};
const UnarySpec kClamp{"clamp",
                       "clamp_backward",
                       algorithm::eltwise_clip,
                       algorithm::eltwise_clip,
                       false,
                       nullptr,
                       [](const float* x, float* y, int64_t n, float low, float high) {
                         kernels::clamp(x, y, n, low, high);
                       }};

}  // namespace

Tensor exp(const Tensor& x) {
  return unary(kExp, x);
}
Tensor log(const Tensor& x) {
  return unary(kLog, x);
}
Tensor sqrt(const Tensor& x) {
  return unary(kSqrt, x);
}
Tensor pow(const Tensor& x, float exponent) {
  if (exponent == 1.0f) return mul(x, 1.0f);
  if (exponent == 2.0f) return square(x);
  return unary(kPow, x, 1.0f, exponent);
}
Tensor square(const Tensor& x) {
  return unary(kSquare, x);
}
Tensor abs(const Tensor& x) {
  return unary(kAbs, x);
}
Tensor clamp(const Tensor& x, float low, float high) {
  if (!(low <= high))
    throw std::invalid_argument(fmt::format("clamp: low {} is above high {}", low, high));
  return unary(kClamp, x, low, high);
}

// ---- operators ----

Tensor operator+(const Tensor& a, const Tensor& b) {
  return add(a, b);
}
Tensor operator-(const Tensor& a, const Tensor& b) {
  return sub(a, b);
}
Tensor operator*(const Tensor& a, const Tensor& b) {
  return mul(a, b);
}
Tensor operator/(const Tensor& a, const Tensor& b) {
  return div(a, b);
}
Tensor operator-(const Tensor& x) {
  return neg(x);
}
Tensor operator+(const Tensor& a, float b) {
  return add(a, b);
}
Tensor operator+(float a, const Tensor& b) {
  return add(b, a);
}
Tensor operator-(const Tensor& a, float b) {
  return add(a, -b);
}
Tensor operator-(float a, const Tensor& b) {
  return rsub(a, b);
}
Tensor operator*(const Tensor& a, float b) {
  return mul(a, b);
}
Tensor operator*(float a, const Tensor& b) {
  return mul(b, a);
}
Tensor operator/(const Tensor& a, float b) {
  return mul(a, 1.0f / b);
}

}  // namespace minimax
