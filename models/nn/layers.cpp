#include "models/nn/layers.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "models/nn/init.h"

namespace minimax::nn {

namespace {

void check_positive(int64_t v, const char* layer, const char* what) {
  if (v <= 0)
    throw std::invalid_argument(fmt::format("{}: {} must be positive, got {}", layer, what, v));
}

// PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight and the bias alike.
void default_init(Tensor& weight, Tensor& bias, int64_t fan_in) {
  float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
  init::uniform_(weight, -bound, bound);
  if (bias.defined()) init::uniform_(bias, -bound, bound);
}

std::string conv_options(const Conv2dOptions& o) {
  return fmt::format("stride {}, padding {}, dilation {}{}", o.stride, o.padding, o.dilation,
                     o.output_padding ? fmt::format(", output_padding {}", o.output_padding) : "");
}

}  // namespace

Linear::Linear(int64_t in, int64_t out, bool with_bias) : Module("Linear") {
  check_positive(in, "Linear", "in_features");
  check_positive(out, "Linear", "out_features");
  weight = register_parameter("weight", Tensor::empty({out, in}));
  if (with_bias) bias = register_parameter("bias", Tensor::empty({out}));
  default_init(weight, bias, in);
}

Tensor Linear::forward(const Tensor& x) {
  return linear(x, weight, bias);
}

std::string Linear::describe() const {
  return fmt::format("Linear({} -> {}{})", weight.size(1), weight.size(0),
                     bias.defined() ? "" : ", no bias");
}

Conv2d::Conv2d(int64_t in, int64_t out, int64_t k, Conv2dOptions o, bool with_bias)
    : Module("Conv2d"), options(o) {
  check_positive(in, "Conv2d", "in_channels");
  check_positive(out, "Conv2d", "out_channels");
  check_positive(k, "Conv2d", "kernel_size");
  weight = register_parameter("weight", Tensor::empty({out, in, k, k}));
  if (with_bias) bias = register_parameter("bias", Tensor::empty({out}));
  default_init(weight, bias, in * k * k);
}

Tensor Conv2d::forward(const Tensor& x) {
  return conv2d(x, weight, bias, options);
}

std::string Conv2d::describe() const {
  return fmt::format("Conv2d({} -> {}, kernel {}, {})", weight.size(1), weight.size(0),
                     weight.size(2), conv_options(options));
}

ConvTranspose2d::ConvTranspose2d(int64_t in, int64_t out, int64_t k, Conv2dOptions o,
                                 bool with_bias)
    : Module("ConvTranspose2d"), options(o) {
  check_positive(in, "ConvTranspose2d", "in_channels");
  check_positive(out, "ConvTranspose2d", "out_channels");
  check_positive(k, "ConvTranspose2d", "kernel_size");
  weight = register_parameter("weight", Tensor::empty({in, out, k, k}));
  if (with_bias) bias = register_parameter("bias", Tensor::empty({out}));
  default_init(weight, bias, out * k * k);
}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  return conv_transpose2d(x, weight, bias, options);
}

std::string ConvTranspose2d::describe() const {
  return fmt::format("ConvTranspose2d({} -> {}, kernel {}, {})", weight.size(0), weight.size(1),
                     weight.size(2), conv_options(options));
}

BatchNorm::BatchNorm(int64_t features, int rank, BatchNormOptions o)
    : Module(rank == 2 ? "BatchNorm1d" : "BatchNorm2d"), rank_(rank) {
  check_positive(features, type_name().c_str(), "features");
  if (o.affine) {
    weight = register_parameter("weight", Tensor::ones({features}));
    bias = register_parameter("bias", Tensor::zeros({features}));
  }
  running_mean = register_buffer("running_mean", Tensor::zeros({features}));
  running_var = register_buffer("running_var", Tensor::ones({features}));
  state_ = BatchNormState{running_mean, running_var, o.momentum, o.eps};
}

Tensor BatchNorm::forward(const Tensor& x) {
  if (x.defined() && x.dim() != rank_)
    throw std::invalid_argument(
        fmt::format("{}: expects a rank-{} input, got {}", type_name(), rank_, x.shape().str()));
  return batch_norm(x, weight, bias, state_, is_training());
}

std::string BatchNorm::describe() const {
  return fmt::format("{}({}, eps {}, momentum {})", type_name(), running_mean.size(0), state_.eps,
                     state_.momentum);
}

Dropout::Dropout(float p, Generator* gen) : Module("Dropout"), p_(p), gen_(gen) {
  if (!(p >= 0.0f && p < 1.0f))
    throw std::invalid_argument(fmt::format("Dropout: probability {} is not in [0, 1)", p));
}

Tensor Dropout::forward(const Tensor& x) {
  return dropout(x, p_, is_training(), gen_ ? *gen_ : default_generator());
}

std::string Dropout::describe() const {
  return fmt::format("Dropout(p = {})", p_);
}

Maxout::Maxout(int64_t in, int64_t units, int64_t pieces)
    : Module("Maxout"), units_(units), pieces_(pieces) {
  check_positive(pieces, "Maxout", "pieces");
  linear = register_module("linear", std::make_shared<Linear>(in, units * pieces));
}

Tensor Maxout::forward(const Tensor& x) {
  return maxout(linear->forward(x), pieces_);
}

std::string Maxout::describe() const {
  return fmt::format("Maxout({} -> {} units x {} pieces)", linear->weight.size(1), units_, pieces_);
}

std::string LeakyReLU::describe() const {
  return fmt::format("LeakyReLU({})", slope_);
}

std::string Reshape::describe() const {
  return fmt::format("Reshape({})", shape_.str());
}

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) : Sequential() {
  for (const auto& m : modules) push_back(m);
}

void Sequential::push_back(std::shared_ptr<Module> module) {
  if (!module) throw std::invalid_argument("Sequential: cannot add a null module");
  register_module(std::to_string(size()), std::move(module));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (const auto& [name, m] : named_children()) h = (*m)(h);
  return h;
}

}  // namespace minimax::nn
