// Convolutions. conv2d and conv_transpose2d rest on three kernel-backed ops, each bilinear in its
// two tensor inputs, whose partial derivatives are again members of the three:
//   forward      y  = conv(x, w)          oneDNN convolution forward
//   input_grad   gx = conv_w^T(gy)        backward data; this is conv_transpose2d
//   weight_grad  gw = conv_x^T(gy)        backward weights
// so gradients of any order stay inside the family and on oneDNN kernels.
#include <fmt/format.h>

#include <stdexcept>

#include "ops/dnnl/nn_kernels.h"
#include "ops/internal.h"

namespace minimax {

using kernels::ConvGeometry;

namespace {

// The size of a convolution output along one axis, when the dilated kernel fits the padded input.
int64_t conv_extent(int64_t in, int64_t kernel, const ConvGeometry& g) {
  int64_t span = g.dilation * (kernel - 1) + 1;
  return (in + 2 * g.padding - span) / g.stride + 1;
}

Shape conv_output_shape(const Shape& x, const Shape& w, const ConvGeometry& g) {
  return {x[0], w[0], conv_extent(x[2], w[2], g), conv_extent(x[3], w[3], g)};
}

Tensor input_grad(const Tensor& gy, const Tensor& w, const Shape& x_shape, const ConvGeometry& g,
                  const char* name = "conv2d_input_grad");
Tensor weight_grad(const Tensor& x, const Tensor& gy, const Shape& w_shape, const ConvGeometry& g);

// weight_grad(x, gy) added into `sum`, a weight gradient already collected that the engine offers
// to change in place (Node::running_sums), when the pass can add as it writes; returns whether
// it did. The engine then skips the addition it would make.
bool add_weight_grad(const Tensor& x, const Tensor& gy, const Tensor& sum, const ConvGeometry& g) {
  if (!kernels::conv2d_add_backward_weights(x, gy, sum, g)) return false;
  sum.bump_version();
  return true;
}

// Each op keeps the scope its kernel ran in and runs its backward in it: the backward's passes
// then reuse the forward's reordered input, and share their own (kernels::ConvReorderScope).
Tensor forward(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeometry& g) {
  Tensor y = Tensor::empty(conv_output_shape(x.shape(), w.shape(), g));
  kernels::ConvReorderScope scope;
  kernels::conv2d_forward(x, w, bias, y, g);
  auto memo = scope.memo();
  y = record("conv2d", std::move(y), {saved(x), saved(w), bias},
             [x, w, g, memo](const Tensor& gy, Node& n) {
               kernels::ConvReorderScope reuse(memo);
               TensorList r(3);
               if (n.needs_input_grad(0)) r[0] = input_grad(gy, w, x.shape(), g);
               if (n.needs_input_grad(1)) {
                 const Tensor collected = n.running_sum(1);
                 r[1] = collected.defined() && add_weight_grad(x, gy, collected, g)
                            ? collected
                            : weight_grad(x, gy, w.shape(), g);
               }
               if (n.needs_input_grad(2)) r[2] = sum(gy, {0, 2, 3});
               return r;
             });
  // A weight used by several forwards (D on the real and the fake batch) collects one gradient
  // per use; from the second on, a pass that can add as it writes adds into the sum.
  if (y.grad_fn()) y.grad_fn()->adds_into_sums = true;
  return y;
}

// <gg, input_grad(gy, w)> = <conv(gg, w), gy>: linear in gy through conv, in w through weight_grad.
Tensor input_grad(const Tensor& gy, const Tensor& w, const Shape& x_shape, const ConvGeometry& g,
                  const char* name) {
  Tensor gx = Tensor::empty(x_shape);
  kernels::ConvReorderScope scope;
  kernels::conv2d_backward_data(gy, w, gx, g);
  auto memo = scope.memo();
  return record(name, std::move(gx), {saved(gy), saved(w)},
                [gy, w, g, memo](const Tensor& gg, Node& n) {
                  kernels::ConvReorderScope reuse(memo);
                  TensorList r(2);
                  if (n.needs_input_grad(0)) r[0] = forward(gg, w, Tensor(), g);
                  if (n.needs_input_grad(1)) r[1] = weight_grad(gg, gy, w.shape(), g);
                  return r;
                });
}

// <gg, weight_grad(x, gy)> = <conv(x, gg), gy>: in x that is input_grad, in gy a convolution.
Tensor weight_grad(const Tensor& x, const Tensor& gy, const Shape& w_shape, const ConvGeometry& g) {
  Tensor gw = Tensor::empty(w_shape);
  kernels::ConvReorderScope scope;
  kernels::conv2d_backward_weights(x, gy, gw, g);
  auto memo = scope.memo();
  return record("conv2d_weight_grad", std::move(gw), {saved(x), saved(gy)},
                [x, gy, g, memo](const Tensor& gg, Node& n) {
                  kernels::ConvReorderScope reuse(memo);
                  TensorList r(2);
                  if (n.needs_input_grad(0)) r[0] = input_grad(gy, gg, x.shape(), g);
                  if (n.needs_input_grad(1)) r[1] = forward(x, gg, Tensor(), g);
                  return r;
                });
}

}  // namespace

ParameterReorderScope::ParameterReorderScope() : outermost_(kernels::open_parameter_memo()) {}

ParameterReorderScope::~ParameterReorderScope() {
  if (outermost_) kernels::close_parameter_memo();
}

namespace {

// ---- validation ----

ConvGeometry check_options(const Conv2dOptions& o, const char* op) {
  if (o.stride < 1 || o.dilation < 1 || o.groups < 1 || o.padding < 0 || o.output_padding < 0)
    throw std::invalid_argument(
        fmt::format("{}: stride {}, dilation {} and groups {} must be positive, padding {} and "
                    "output_padding {} non-negative",
                    op, o.stride, o.dilation, o.groups, o.padding, o.output_padding));
  return {o.stride, o.padding, o.dilation, o.groups};
}

// Both channel counts of a grouped convolution must split evenly into its groups.
void check_groups(const Tensor& x, const Tensor& w, int64_t in, int64_t out, int64_t groups,
                  const char* op) {
  if (in % groups != 0 || out % groups != 0)
    throw std::invalid_argument(
        fmt::format("{}: {} input and {} output channels (input {}, weight {}) must both divide "
                    "by groups {}",
                    op, in, out, x.shape().str(), w.shape().str(), groups));
}

void check_operands(const Tensor& x, const Tensor& w, const char* op) {
  detail::check_rank(x, 4, op, "input");
  detail::check_rank(w, 4, op, "weight");
  bool empty = w.numel() == 0;  // an empty batch is fine; empty channels or planes are not
  for (int i = 1; i < 4; ++i) empty = empty || x.size(i) == 0;
  if (empty)
    throw std::invalid_argument(fmt::format("{}: input {} and weight {} must not be empty", op,
                                            x.shape().str(), w.shape().str()));
}

void check_bias(const Tensor& bias, int64_t channels, const Tensor& w, const char* op) {
  if (bias.defined() && !(bias.shape() == Shape{channels}))
    throw std::invalid_argument(fmt::format("{}: bias {} does not match weight {} (expected [{}])",
                                            op, bias.shape().str(), w.shape().str(), channels));
}

// The dilated kernel must fit inside the padded input, or the output would be empty.
void check_kernel_fits(const Tensor& x, const Tensor& w, const ConvGeometry& g, const char* op) {
  for (int i = 2; i < 4; ++i) {
    int64_t span = g.dilation * (w.size(i) - 1) + 1, padded = x.size(i) + 2 * g.padding;
    if (span > padded)
      throw std::invalid_argument(fmt::format(
          "{}: kernel {}x{} (dilation {}) spans {} along dimension {} but the input {} padded by "
          "{} has only {}",
          op, w.size(2), w.size(3), g.dilation, span, i, x.shape().str(), g.padding, padded));
  }
}

// Transposed convolution's output extent: the input size a convolution maps onto `in`.
int64_t transposed_extent(int64_t in, int64_t kernel, const Conv2dOptions& o) {
  return (in - 1) * o.stride - 2 * o.padding + o.dilation * (kernel - 1) + 1 + o.output_padding;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
              const Conv2dOptions& options) {
  const char* op = "conv2d";
  ConvGeometry g = check_options(options, op);
  if (options.output_padding != 0)
    throw std::invalid_argument(fmt::format(
        "conv2d: output_padding {} applies only to conv_transpose2d", options.output_padding));
  check_operands(x, weight, op);
  check_groups(x, weight, x.size(1), weight.size(0), g.groups, op);
  if (x.size(1) != weight.size(1) * g.groups)
    throw std::invalid_argument(fmt::format(
        "conv2d: input {} has {} channels but weight {} (out, in/groups, kh, kw) with groups {} "
        "expects {}",
        x.shape().str(), x.size(1), weight.shape().str(), g.groups, weight.size(1) * g.groups));
  check_bias(bias, weight.size(0), weight, op);
  if (options.padding_mode != PadMode::kConstant && options.padding > 0) {
    // As PyTorch's Conv2d: the input padded first, then convolved without padding.
    const int64_t p = options.padding;
    Conv2dOptions unpadded = options;
    unpadded.padding = 0;
    unpadded.padding_mode = PadMode::kConstant;
    return conv2d(pad2d(x, {p, p, p, p}, options.padding_mode), weight, bias, unpadded);
  }
  check_kernel_fits(x, weight, g, op);
  return forward(x, weight, bias, g);
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const Conv2dOptions& options) {
  const char* op = "conv_transpose2d";
  ConvGeometry g = check_options(options, op);
  // PyTorch also accepts output_padding < dilation; oneDNN's backward-data cannot express an
  // output that its convolution would map to a larger input, so only the stride case is allowed.
  if (options.output_padding >= options.stride)
    throw std::invalid_argument(
        fmt::format("conv_transpose2d: output_padding {} must be smaller than stride {}",
                    options.output_padding, options.stride));
  if (options.padding_mode != PadMode::kConstant)
    throw std::invalid_argument(
        "conv_transpose2d: padding_mode must be zeros (PadMode::kConstant), as in PyTorch");
  check_operands(x, weight, op);
  if (x.size(1) != weight.size(0))
    throw std::invalid_argument(fmt::format(
        "conv_transpose2d: input {} has {} channels but weight {} (in, out/groups, kh, kw) "
        "expects {}",
        x.shape().str(), x.size(1), weight.shape().str(), weight.size(0)));
  const int64_t channels = weight.size(1) * g.groups;
  check_groups(x, weight, x.size(1), channels, g.groups, op);
  check_bias(bias, channels, weight, op);
  const int64_t height = transposed_extent(x.size(2), weight.size(2), options),
                width = transposed_extent(x.size(3), weight.size(3), options);
  if (height < 1 || width < 1)  // before a Shape, which refuses a negative extent unnamed
    throw std::invalid_argument(
        fmt::format("conv_transpose2d: padding {} leaves an empty output {} x {} for input {} and "
                    "weight {}",
                    options.padding, height, width, x.shape().str(), weight.shape().str()));
  const Shape out{x.size(0), channels, height, width};
  // The weight [in, out/groups, kh, kw] is the weight of the convolution this op transposes.
  Tensor y = input_grad(x, weight, out, g, "conv_transpose2d");
  if (!bias.defined()) return y;
  return add(y, reshape(bias, {1, channels, 1, 1}));
}

}  // namespace minimax
