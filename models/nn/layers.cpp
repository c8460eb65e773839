#include "models/nn/layers.h"

#include <cxxabi.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <typeinfo>

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
  const char* mode = o.padding_mode == PadMode::kReflect     ? " reflect"
                     : o.padding_mode == PadMode::kReplicate ? " replicate"
                                                             : "";
  return fmt::format("stride {}, padding {}{}, dilation {}{}{}", o.stride, o.padding, mode,
                     o.dilation,
                     o.output_padding ? fmt::format(", output_padding {}", o.output_padding) : "",
                     o.groups != 1 ? fmt::format(", groups {}", o.groups) : "");
}

// The checks every convolution layer makes of its sizes: positive, and channels in whole groups.
void check_conv_sizes(int64_t in, int64_t out, int64_t k, const Conv2dOptions& o,
                      const char* layer) {
  check_positive(in, layer, "in_channels");
  check_positive(out, layer, "out_channels");
  check_positive(k, layer, "kernel_size");
  check_positive(o.groups, layer, "groups");
  if (in % o.groups != 0 || out % o.groups != 0)
    throw std::invalid_argument(
        fmt::format("{}: in_channels {} and out_channels {} must both divide by groups {}", layer,
                    in, out, o.groups));
}

void check_eps(float eps, const char* layer) {
  if (!(eps >= 0.0f && std::isfinite(eps)))
    throw std::invalid_argument(
        fmt::format("{}: eps {} must be finite and non-negative", layer, eps));
}

void check_momentum(float momentum, const char* layer) {
  if (!(momentum >= 0.0f && momentum <= 1.0f))
    throw std::invalid_argument(fmt::format("{}: momentum {} must be in [0, 1]", layer, momentum));
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
  check_conv_sizes(in, out, k, o, "Conv2d");
  weight = register_parameter("weight", Tensor::empty({out, in / o.groups, k, k}));
  if (with_bias) bias = register_parameter("bias", Tensor::empty({out}));
  default_init(weight, bias, in / o.groups * k * k);
}

Tensor Conv2d::forward(const Tensor& x) {
  return conv2d(x, weight, bias, options);
}

std::string Conv2d::describe() const {
  return fmt::format("Conv2d({} -> {}, kernel {}, {})", weight.size(1) * options.groups,
                     weight.size(0), weight.size(2), conv_options(options));
}

ConvTranspose2d::ConvTranspose2d(int64_t in, int64_t out, int64_t k, Conv2dOptions o,
                                 bool with_bias)
    : Module("ConvTranspose2d"), options(o) {
  check_conv_sizes(in, out, k, o, "ConvTranspose2d");
  if (o.padding_mode != PadMode::kConstant)
    throw std::invalid_argument("ConvTranspose2d: padding_mode must be zeros, as in PyTorch");
  weight = register_parameter("weight", Tensor::empty({in, out / o.groups, k, k}));
  if (with_bias) bias = register_parameter("bias", Tensor::empty({out}));
  default_init(weight, bias, out / o.groups * k * k);  // PyTorch's fan_in: weight.size(1) * k * k
}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  return conv_transpose2d(x, weight, bias, options);
}

std::string ConvTranspose2d::describe() const {
  return fmt::format("ConvTranspose2d({} -> {}, kernel {}, {})", weight.size(0),
                     weight.size(1) * options.groups, weight.size(2), conv_options(options));
}

BatchNorm::BatchNorm(int64_t features, int rank, BatchNormOptions o)
    : Module(rank == 2 ? "BatchNorm1d" : "BatchNorm2d"), rank_(rank) {
  if (rank != 2 && rank != 4)
    throw std::invalid_argument(fmt::format(
        "BatchNorm: rank {} (2 for BatchNorm1d's [N, C], 4 for BatchNorm2d's [N, C, H, W])", rank));
  check_positive(features, type_name().c_str(), "features");
  check_eps(o.eps, type_name().c_str());
  check_momentum(o.momentum, type_name().c_str());
  if (o.affine) {
    weight = register_parameter("weight", Tensor::ones({features}));
    bias = register_parameter("bias", Tensor::zeros({features}));
  }
  running_mean = register_buffer("running_mean", Tensor::zeros({features}));
  running_var = register_buffer("running_var", Tensor::ones({features}));
  state_ = BatchNormState{running_mean, running_var, o.momentum, o.eps};
}

void BatchNorm::check_rank(const Tensor& x) const {
  if (x.defined() && x.dim() != rank_)
    throw std::invalid_argument(
        fmt::format("{}: expects a rank-{} input, got {}", type_name(), rank_, x.shape().str()));
}

Tensor BatchNorm::forward(const Tensor& x) {
  check_rank(x);
  return batch_norm(x, weight, bias, state_, is_training());
}

Tensor BatchNorm::forward_leaky_relu(const Tensor& x, float negative_slope) {
  check_rank(x);
  return batch_norm_leaky_relu(x, weight, bias, state_, is_training(), negative_slope);
}

void BatchNorm::set_momentum(float momentum) {
  check_momentum(momentum, type_name().c_str());
  state_.momentum = momentum;
}

std::string BatchNorm::describe() const {
  return fmt::format("{}({}, eps {}, momentum {})", type_name(), running_mean.size(0), state_.eps,
                     state_.momentum);
}

LayerNorm::LayerNorm(Shape normalized_shape, LayerNormOptions o)
    : Module("LayerNorm"), normalized_shape_(normalized_shape), eps_(o.eps) {
  if (normalized_shape.size() == 0 || normalized_shape.numel() <= 0)
    throw std::invalid_argument(fmt::format(
        "LayerNorm: normalized_shape {} must have positive extents", normalized_shape.str()));
  check_eps(o.eps, "LayerNorm");
  if (o.elementwise_affine) {
    weight = register_parameter("weight", Tensor::ones(normalized_shape));
    bias = register_parameter("bias", Tensor::zeros(normalized_shape));
  }
}

Tensor LayerNorm::forward(const Tensor& x) {
  return layer_norm(x, normalized_shape_, weight, bias, eps_);
}

std::string LayerNorm::describe() const {
  return fmt::format("LayerNorm({}, eps {}{})", normalized_shape_.str(), eps_,
                     weight.defined() ? "" : ", no affine");
}

GroupNorm::GroupNorm(int64_t num_groups, int64_t num_channels, GroupNormOptions o)
    : Module("GroupNorm"), groups_(num_groups), channels_(num_channels), eps_(o.eps) {
  check_positive(num_groups, "GroupNorm", "num_groups");
  check_positive(num_channels, "GroupNorm", "num_channels");
  if (num_channels % num_groups != 0)
    throw std::invalid_argument(fmt::format("GroupNorm: {} channels do not split into {} groups",
                                            num_channels, num_groups));
  check_eps(o.eps, "GroupNorm");
  if (o.affine) {
    weight = register_parameter("weight", Tensor::ones({num_channels}));
    bias = register_parameter("bias", Tensor::zeros({num_channels}));
  }
}

Tensor GroupNorm::forward(const Tensor& x) {
  if (x.defined() && (x.dim() < 2 || x.size(1) != channels_))
    throw std::invalid_argument(
        fmt::format("GroupNorm: expects [N, {}, ...], got {}", channels_, x.shape().str()));
  return group_norm(x, groups_, weight, bias, eps_);
}

std::string GroupNorm::describe() const {
  return fmt::format("GroupNorm({} groups of {} channels, eps {})", groups_, channels_, eps_);
}

InstanceNorm2d::InstanceNorm2d(int64_t num_features, InstanceNormOptions o)
    : Module("InstanceNorm2d"), features_(num_features), eps_(o.eps) {
  check_positive(num_features, "InstanceNorm2d", "num_features");
  check_eps(o.eps, "InstanceNorm2d");
  if (o.affine) {
    weight = register_parameter("weight", Tensor::ones({num_features}));
    bias = register_parameter("bias", Tensor::zeros({num_features}));
  }
}

// Group normalization with one channel per group.
Tensor InstanceNorm2d::forward(const Tensor& x) {
  if (x.defined() && (x.dim() != 4 || x.size(1) != features_))
    throw std::invalid_argument(
        fmt::format("InstanceNorm2d: expects [N, {}, H, W], got {}", features_, x.shape().str()));
  return group_norm(x, features_, weight, bias, eps_);
}

std::string InstanceNorm2d::describe() const {
  return fmt::format("InstanceNorm2d({}, eps {}{})", features_, eps_,
                     weight.defined() ? ", affine" : "");
}

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim) : Module("Embedding") {
  check_positive(num_embeddings, "Embedding", "num_embeddings");
  check_positive(embedding_dim, "Embedding", "embedding_dim");
  weight = register_parameter("weight", Tensor::empty({num_embeddings, embedding_dim}));
  init::normal_(weight, 0.0f, 1.0f);
}

Tensor Embedding::forward(const Tensor& indices) {
  return embedding(weight, indices);
}

std::string Embedding::describe() const {
  return fmt::format("Embedding({}, {})", weight.size(0), weight.size(1));
}

Pooling2d::Pooling2d(const char* name, PoolOp op, int64_t kernel_size, Pool2dOptions options)
    : Module(name), op_(op), kernel_(kernel_size), options_(options) {
  check_pool2d_window(kernel_, options_.stride, options_.padding, name);
}

Tensor Pooling2d::forward(const Tensor& x) {
  return op_(x, kernel_, options_.stride, options_.padding);
}

std::string Pooling2d::describe() const {
  return fmt::format("{}(kernel {}, stride {}, padding {})", type_name(), kernel_,
                     options_.stride == 0 ? kernel_ : options_.stride, options_.padding);
}

Padding2d::Padding2d(const char* name, Pad2d padding, PadMode mode, float value)
    : Module(name), padding_(padding), mode_(mode), value_(value) {
  check_pad2d_sizes(padding_, name);
}

std::string Padding2d::describe() const {
  return fmt::format("{}(left {}, right {}, top {}, bottom {})", type_name(), padding_.left,
                     padding_.right, padding_.top, padding_.bottom);
}

Upsample::Upsample(int64_t scale_factor, UpsampleMode mode)
    : Module("Upsample"), scale_(scale_factor), mode_(mode) {
  check_positive(scale_factor, "Upsample", "scale_factor");
}

Tensor Upsample::forward(const Tensor& x) {
  return mode_ == UpsampleMode::kNearest ? upsample_nearest2d(x, scale_)
                                         : upsample_bilinear2d(x, scale_);
}

std::string Upsample::describe() const {
  return fmt::format("Upsample(x{}, {})", scale_,
                     mode_ == UpsampleMode::kNearest ? "nearest" : "bilinear");
}

PixelShuffle::PixelShuffle(int64_t upscale_factor) : Module("PixelShuffle"), r_(upscale_factor) {
  check_positive(upscale_factor, "PixelShuffle", "upscale_factor");
}

std::string PixelShuffle::describe() const {
  return fmt::format("PixelShuffle({})", r_);
}

MinibatchStdDev::MinibatchStdDev(int64_t group_size)
    : Module("MinibatchStdDev"), group_size_(group_size) {
  check_positive(group_size, "MinibatchStdDev", "group_size");
}

Tensor MinibatchStdDev::forward(const Tensor& x) {
  if (x.dim() < 2)
    throw std::invalid_argument(
        fmt::format("MinibatchStdDev: expects [N, C, ...], got {}", x.shape().str()));
  const int64_t n = x.size(0);
  if (n == 0) throw std::invalid_argument("MinibatchStdDev: the batch is empty");
  const int64_t members = std::min(group_size_, n);
  if (n % members != 0)
    throw std::invalid_argument(
        fmt::format("MinibatchStdDev: a batch of {} does not split into groups of {}", n, members));
  const int64_t groups = n / members;
  // [members, groups, rest]: member j of group g is sample j * groups + g.
  Tensor grouped = reshape(x, {members, groups, -1});
  Tensor centred = sub(grouped, mean(grouped, {0}, true));
  Tensor spread = sqrt(add(mean(square(centred), {0}), 1e-8f));  // [groups, rest]
  Tensor per_group = mean(spread, {1}, true);                    // [groups, 1]
  // The channel: [N, 1, spatial...], sample j * groups + g holding its group's value.
  Shape channel = x.shape();
  channel[1] = 1;
  Shape spread_out{members, groups, channel.numel() / n};
  Tensor filled = expand(reshape(per_group, {1, groups, 1}), spread_out);
  return concat({x, reshape(filled, channel)}, 1);
}

std::string MinibatchStdDev::describe() const {
  return fmt::format("MinibatchStdDev(group size {})", group_size_);
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
  check_positive(in, "Maxout", "in_features");
  check_positive(units, "Maxout", "units");
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

GELU::GELU(std::string approximate) : Module("GELU"), approximate_(std::move(approximate)) {
  if (approximate_ != "none" && approximate_ != "tanh")
    throw std::invalid_argument(
        fmt::format("GELU: approximate is \"none\" or \"tanh\", not \"{}\"", approximate_));
}

std::string GELU::describe() const {
  return approximate_ == "none" ? "GELU" : fmt::format("GELU(approximate={})", approximate_);
}

Functional::Functional(std::function<Tensor(const Tensor&)> f)
    : Module("Functional"), f_(std::move(f)) {
  if (!f_) throw std::invalid_argument("Functional: the function is empty");
}

ModuleList::ModuleList(std::initializer_list<std::shared_ptr<Module>> modules) : ModuleList() {
  for (const auto& m : modules) push_back(m);
}

void ModuleList::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(size()), std::move(module));
}

const std::shared_ptr<Module>& ModuleList::operator[](size_t i) const {
  if (i >= size())
    throw std::out_of_range(
        fmt::format("{}: index {} is past its {} modules", type_name(), i, size()));
  return named_children()[i].second;
}

void ModuleList::throw_wrong_type(size_t i, const char* mangled) const {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> wanted(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  throw std::invalid_argument(fmt::format("{}: module {} is a {}, not a {}", type_name(), i,
                                          (*this)[i]->type_name(),
                                          status == 0 ? wanted.get() : mangled));
}

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) : Sequential() {
  for (const auto& m : modules) push_back(m);
}

namespace {

// The negative slope of `m` when it is exactly a ReLU (0) or a LeakyReLU.
std::optional<float> leaky_relu_slope(const Module& m) {
  if (typeid(m) == typeid(ReLU)) return 0.0f;
  if (typeid(m) == typeid(LeakyReLU)) return static_cast<const LeakyReLU&>(m).negative_slope();
  return std::nullopt;
}

bool is_plain_batch_norm(const Module& m) {
  return typeid(m) == typeid(BatchNorm2d) || typeid(m) == typeid(BatchNorm1d) ||
         typeid(m) == typeid(BatchNorm);
}

}  // namespace

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  const auto& children = named_children();
  for (size_t i = 0; i < children.size(); ++i) {
    Module& m = *children[i].second;
    std::optional<float> slope;
    if (i + 1 < children.size() && is_plain_batch_norm(m))
      slope = leaky_relu_slope(*children[i + 1].second);
    if (!slope) {
      h = m(h);
      continue;
    }
    auto& norm = static_cast<BatchNorm&>(m);
    h = norm.named_errors([&] { return norm.forward_leaky_relu(h, *slope); });
    ++i;  // the activation ran in batch norm's pass
  }
  return h;
}

}  // namespace minimax::nn
