// The layers. Default initializations follow PyTorch's:
// - Linear, Conv2d: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in * kh * kw.
// - ConvTranspose2d: the same with PyTorch's fan_in for its [in, out, kh, kw] weight (out * kh *
// kw).
// - Grouped convolutions: the same with fan_in over one group's channels.
// - BatchNorm, LayerNorm, GroupNorm, InstanceNorm2d (affine): weight 1, bias 0; batch norm's
//   running mean 0, running variance 1.
// - Embedding: N(0, 1).
// - Maxout: its Linear's default.
// Reinitialize with models/nn/init.h (e.g. the GAN paper's U(-0.05, 0.05)).
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <typeinfo>

#include "models/nn/module.h"
#include "ops/ops.h"

namespace minimax::nn {

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Tensor weight, bias;  // [out, in], [out] (undefined without bias)
};

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, Conv2dOptions options = {},
         bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Tensor weight, bias;  // [out, in/groups, k, k], [out]
  Conv2dOptions options;
};

class ConvTranspose2d : public Module {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                  Conv2dOptions options = {}, bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Tensor weight, bias;  // [in, out/groups, k, k], [out]
  Conv2dOptions options;
};

struct BatchNormOptions {
  float eps = 1e-5f;
  float momentum = 0.1f;
  bool affine = true;
};

// Batch normalization over [N, C] (rank 2) or [N, C, H, W] (rank 4) inputs.
class BatchNorm : public Module {
 public:
  BatchNorm(int64_t features, int rank, BatchNormOptions options = {});
  Tensor forward(const Tensor& x) override;
  // leaky_relu(forward(x), negative_slope), relu at 0, the activation applied as batch norm writes
  // its output (batch_norm_leaky_relu): what Sequential runs for this module followed by a ReLU or
  // a LeakyReLU.
  Tensor forward_leaky_relu(const Tensor& x, float negative_slope);
  std::string describe() const override;
  // The weight of a training batch's statistics in the running ones: running = (1 - momentum)
  // running + momentum batch. set_momentum throws std::invalid_argument outside [0, 1].
  float momentum() const { return state_.momentum; }
  void set_momentum(float momentum);
  Tensor weight, bias, running_mean, running_var;

 private:
  void check_rank(const Tensor& x) const;
  int rank_;
  BatchNormState state_;
};

class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t features, BatchNormOptions options = {})
      : BatchNorm(features, 2, options) {}
};

class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t features, BatchNormOptions options = {})
      : BatchNorm(features, 4, options) {}
};

// As torch::nn::LayerNorm: normalizes over the trailing dimensions `normalized_shape`, with a
// weight and bias of that shape when elementwise_affine.
struct LayerNormOptions {
  float eps = 1e-5f;
  bool elementwise_affine = true;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, LayerNormOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Tensor weight, bias;  // normalized_shape (undefined without elementwise_affine)

 private:
  Shape normalized_shape_;
  float eps_;
};

struct GroupNormOptions {
  float eps = 1e-5f;
  bool affine = true;
};

// As torch::nn::GroupNorm: an [N, C, ...] input's C channels in num_groups groups, each normalized
// over its channels and positions per sample, then a per-channel weight and bias.
class GroupNorm : public Module {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, GroupNormOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Tensor weight, bias;  // [C] (undefined without affine)

 private:
  int64_t groups_, channels_;
  float eps_;
};

struct InstanceNormOptions {
  float eps = 1e-5f;
  bool affine = false;  // PyTorch's default
};

// As torch::nn::InstanceNorm2d with its default track_running_stats = false: every channel of every
// sample of an [N, C, H, W] input normalized over its own positions, in training and eval alike.
class InstanceNorm2d : public Module {
 public:
  explicit InstanceNorm2d(int64_t num_features, InstanceNormOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Tensor weight, bias;  // [C] when affine

 private:
  int64_t features_;
  float eps_;
};

// A lookup table of num_embeddings rows of embedding_dim: indices [...] (whole numbers held in
// floats, as class labels are) -> [..., embedding_dim].
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim);
  Tensor forward(const Tensor& indices) override;
  std::string describe() const override;
  Tensor weight;  // [num_embeddings, embedding_dim]
};

// A pooling window's step and padding: stride 0 is the kernel size (PyTorch's default); the
// padding on each side is at most half the kernel.
struct Pool2dOptions {
  int64_t stride = 0;
  int64_t padding = 0;
};

// Pooling [N, C, H, W] in windows of kernel_size x kernel_size, floor mode, by max_pool2d or
// avg_pool2d; MaxPool2d and AvgPool2d name the two.
class Pooling2d : public Module {
 public:
  using PoolOp = Tensor (*)(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding);
  Pooling2d(const char* name, PoolOp op, int64_t kernel_size, Pool2dOptions options);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  PoolOp op_;
  int64_t kernel_;
  Pool2dOptions options_;
};

// Each window's maximum (the padding -inf).
class MaxPool2d : public Pooling2d {
 public:
  explicit MaxPool2d(int64_t kernel_size, Pool2dOptions options = {})
      : Pooling2d("MaxPool2d", max_pool2d, kernel_size, options) {}
};

// Each window's mean, the zero padding counted in the divisor (PyTorch's count_include_pad).
class AvgPool2d : public Pooling2d {
 public:
  explicit AvgPool2d(int64_t kernel_size, Pool2dOptions options = {})
      : Pooling2d("AvgPool2d", avg_pool2d, kernel_size, options) {}
};

// Padding the last two dimensions (pad2d), as libtorch's padding layers: one size for every side,
// or Pad2d{left, right, top, bottom}. Reflection suits image-to-image generators (CycleGAN's
// ResNet blocks), whose borders zero padding would darken.
class Padding2d : public Module {
 public:
  Padding2d(const char* name, Pad2d padding, PadMode mode, float value = 0.0f);
  Tensor forward(const Tensor& x) override { return pad2d(x, padding_, mode_, value_); }
  std::string describe() const override;

 private:
  Pad2d padding_;
  PadMode mode_;
  float value_;
};

class ReflectionPad2d : public Padding2d {
 public:
  explicit ReflectionPad2d(Pad2d padding)
      : Padding2d("ReflectionPad2d", padding, PadMode::kReflect) {}
  explicit ReflectionPad2d(int64_t padding)
      : ReflectionPad2d(Pad2d{padding, padding, padding, padding}) {}
};

class ReplicationPad2d : public Padding2d {
 public:
  explicit ReplicationPad2d(Pad2d padding)
      : Padding2d("ReplicationPad2d", padding, PadMode::kReplicate) {}
  explicit ReplicationPad2d(int64_t padding)
      : ReplicationPad2d(Pad2d{padding, padding, padding, padding}) {}
};

class ZeroPad2d : public Padding2d {
 public:
  explicit ZeroPad2d(Pad2d padding) : Padding2d("ZeroPad2d", padding, PadMode::kConstant) {}
  explicit ZeroPad2d(int64_t padding) : ZeroPad2d(Pad2d{padding, padding, padding, padding}) {}
};

enum class UpsampleMode { kNearest, kBilinear };  // bilinear: align_corners = false

// [N, C, H, W] -> [N, C, H * scale_factor, W * scale_factor].
class Upsample : public Module {
 public:
  explicit Upsample(int64_t scale_factor, UpsampleMode mode = UpsampleMode::kNearest);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  int64_t scale_;
  UpsampleMode mode_;
};

// [N, C * r * r, H, W] -> [N, C, H * r, W * r] (sub-pixel convolution's rearrangement).
class PixelShuffle : public Module {
 public:
  explicit PixelShuffle(int64_t upscale_factor);
  Tensor forward(const Tensor& x) override { return pixel_shuffle(x, r_); }
  std::string describe() const override;

 private:
  int64_t r_;
};

// Minibatch standard deviation (Karras et al. 2018, "Progressive growing of GANs"): appends one
// channel holding how much the samples of a group differ, so that D can see a generator that
// makes the same sample for every z. The batch splits into groups of group_size (or the whole
// batch when it is smaller); sample n belongs to group n mod (N / group size). Each group's
// standard deviation over its members (biased, plus 1e-8 under the root), averaged over every
// feature, fills the new channel of its members: [N, C, ...] -> [N, C + 1, ...]. N must divide by
// the group size.
class MinibatchStdDev : public Module {
 public:
  explicit MinibatchStdDev(int64_t group_size = 4);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  int64_t group_size_;
};

// Zeroes inputs with probability p in training mode (identity in eval), drawing from `gen` (the
// default generator when null; it must outlive the module).
class Dropout : public Module {
 public:
  explicit Dropout(float p, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  float p_;
  Generator* gen_;
};

// A Linear to units * pieces features followed by the max over each unit's pieces.
class Maxout : public Module {
 public:
  Maxout(int64_t in_features, int64_t units, int64_t pieces);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  std::shared_ptr<Linear> linear;

 private:
  int64_t units_, pieces_;
};

// ---- activations and reshaping ----

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override { return relu(x); }
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(float negative_slope = 0.01f) : Module("LeakyReLU"), slope_(negative_slope) {}
  Tensor forward(const Tensor& x) override { return leaky_relu(x, slope_); }
  float negative_slope() const { return slope_; }
  std::string describe() const override;

 private:
  float slope_;
};

class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Tensor forward(const Tensor& x) override { return sigmoid(x); }
};

class Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Tensor forward(const Tensor& x) override { return tanh(x); }
};

class ELU : public Module {
 public:
  explicit ELU(float alpha = 1.0f) : Module("ELU"), alpha_(alpha) {}
  Tensor forward(const Tensor& x) override { return elu(x, alpha_); }

 private:
  float alpha_;
};

class Softplus : public Module {
 public:
  Softplus() : Module("Softplus") {}
  Tensor forward(const Tensor& x) override { return softplus(x); }
};

class SiLU : public Module {
 public:
  SiLU() : Module("SiLU") {}
  Tensor forward(const Tensor& x) override { return silu(x); }
};

// approximate "none" (the exact form) or "tanh", as gelu's; another is std::invalid_argument.
class GELU : public Module {
 public:
  explicit GELU(std::string approximate = "none");
  Tensor forward(const Tensor& x) override { return gelu(x, approximate_); }
  std::string describe() const override;

 private:
  std::string approximate_;
};

class Flatten : public Module {
 public:
  explicit Flatten(int start_dim = 1, int end_dim = -1)
      : Module("Flatten"), start_(start_dim), end_(end_dim) {}
  Tensor forward(const Tensor& x) override { return flatten(x, start_, end_); }

 private:
  int start_, end_;
};

// Reshapes to `shape`, where one extent may be -1 (typically the batch: {-1, 1, 28, 28}).
class Reshape : public Module {
 public:
  explicit Reshape(Shape shape) : Module("Reshape"), shape_(shape) {}
  Tensor forward(const Tensor& x) override { return reshape(x, shape_); }
  std::string describe() const override;

 private:
  Shape shape_;
};

// Returns its input: a placeholder where a block may or may not transform (a skip connection
// whose channels already match).
class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

// A function as a module, for a Sequential: Functional(relu), or with the arguments after the
// input bound, Functional(leaky_relu, 0.2f) for leaky_relu(x, 0.2f), as libtorch's.
class Functional : public Module {
 public:
  explicit Functional(std::function<Tensor(const Tensor&)> f);
  template <class F, class... Args>
  requires(sizeof...(Args) > 0) Functional(F f, Args... args)
      : Functional(std::function<Tensor(const Tensor&)>(
            [f, args...](const Tensor& x) { return f(x, args...); })) {}
  Tensor forward(const Tensor& x) override { return f_(x); }

 private:
  std::function<Tensor(const Tensor&)> f_;
};

// Holds modules registered as "0", "1", ..., in order, without calling them: the blocks of a
// network whose own forward decides how they connect (libtorch's ModuleList).
class ModuleList : public Module {
 public:
  ModuleList() : ModuleList("ModuleList") {}
  ModuleList(std::initializer_list<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> module);
  size_t size() const { return named_children().size(); }
  bool empty() const { return size() == 0; }
  // The i-th module; std::out_of_range past the end.
  const std::shared_ptr<Module>& operator[](size_t i) const;
  // The i-th module as an M: ModuleList::at<Linear>(0). std::invalid_argument when it is another
  // type, naming both.
  template <class M>
  std::shared_ptr<M> at(size_t i) const {
    std::shared_ptr<M> m = std::dynamic_pointer_cast<M>((*this)[i]);
    if (!m) throw_wrong_type(i, typeid(M).name());
    return m;
  }

 protected:
  explicit ModuleList(std::string type_name) : Module(std::move(type_name)) {}

 private:
  [[noreturn]] void throw_wrong_type(size_t i, const char* mangled) const;
};

// A ModuleList whose forward applies its modules in order.
class Sequential : public ModuleList {
 public:
  Sequential() : ModuleList("Sequential") {}
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  // Each child's forward in turn, except that a BatchNorm followed by a ReLU or a LeakyReLU (of
  // those exact types) runs as one op, batch_norm_leaky_relu: the same values and gradients with
  // one pass fewer over the activations in the forward. A subclass of either, which may override
  // forward, runs as written.
  Tensor forward(const Tensor& x) override;
};

// A shared Sequential, for registering as a submodule: register_module("body", sequential({...})).
inline std::shared_ptr<Sequential> sequential(
    std::initializer_list<std::shared_ptr<Module>> modules) {
  return std::make_shared<Sequential>(modules);
}

}  // namespace minimax::nn
