// Every differentiable op. Each is defined in the ops/*.cpp file of its family with its backward
// directly below its forward; backwards are written with these same ops, so gradients of gradients
// work (grad with create_graph).
//
// Binary elementwise ops broadcast numpy-style: shapes are aligned at the right, and an extent of 1
// (or a missing leading dimension) stretches to match. Dimensions may be negative (-1 = last).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "autograd/engine.h"
#include "autograd/random.h"
#include "autograd/tensor.h"

namespace minimax {

using Dims = std::vector<int>;

// ---- elementwise (ops/elementwise.cpp) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, float b);
Tensor mul(const Tensor& a, float b);
Tensor rsub(float a, const Tensor& b);  // a - b
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor pow(const Tensor& x, float exponent);
Tensor square(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor clamp(const Tensor& x, float low, float high);
// Elementwise comparisons: 1 where true, 0 elsewhere; constant (no gradient).
Tensor gt(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Tensor& b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, float b);
Tensor operator+(float a, const Tensor& b);
Tensor operator-(const Tensor& a, float b);
Tensor operator-(float a, const Tensor& b);
Tensor operator*(const Tensor& a, float b);
Tensor operator*(float a, const Tensor& b);
Tensor operator/(const Tensor& a, float b);

// ---- activations (ops/activation.cpp) ----
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, float negative_slope = 0.01f);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor softplus(const Tensor& x);     // log(1 + e^x), stable for large |x|
Tensor log_sigmoid(const Tensor& x);  // log(sigmoid(x)) = -softplus(-x), never log(0)
Tensor elu(const Tensor& x, float alpha = 1.0f);
Tensor silu(const Tensor& x);  // x sigmoid(x), also called swish
// x Phi(x), Phi the standard normal CDF; approximate "tanh" is PyTorch's tanh form, x (1 +
// tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2. Any other approximate is std::invalid_argument.
Tensor gelu(const Tensor& x, std::string_view approximate = "none");
// exp(x) / sum(exp(x)) along dim, and its logarithm (x - logsumexp(x, dim)) computed without
// forming either exp or log of a probability.
Tensor softmax(const Tensor& x, int dim);
Tensor log_softmax(const Tensor& x, int dim);

// ---- matrix products (ops/matmul.cpp) ----
// [M,K] x [K,N] -> [M,N]; a transpose flag uses the operand as if transposed.
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);
// x [N,in], weight [out,in], bias [out] (optional) -> [N,out] = x W^T + b, as
// torch.nn.functional.linear.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
// [B,M,K] x [B,K,N] -> [B,M,N].
Tensor bmm(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);

// ---- reductions (ops/reduction.cpp) ----
Tensor sum(const Tensor& x);  // all elements -> scalar
Tensor sum(const Tensor& x, const Dims& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const Dims& dims, bool keepdim = false);
Tensor max(const Tensor& x);
Tensor max(const Tensor& x, const Dims& dims, bool keepdim = false);
Tensor logsumexp(const Tensor& x, const Dims& dims, bool keepdim = false);
// Sums a broadcast gradient back down to `shape` (the inverse of broadcasting `shape` up).
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- shape (ops/shape.cpp) ----
Tensor reshape(const Tensor& x, const Shape& shape);  // one extent may be -1
Tensor flatten(const Tensor& x, int start_dim = 1, int end_dim = -1);
Tensor permute(const Tensor& x, const Dims& order);
Tensor transpose(const Tensor& x, int dim0, int dim1);
Tensor expand(const Tensor& x, const Shape& shape);  // broadcast to shape
Tensor concat(const std::vector<Tensor>& xs, int dim);
Tensor slice(const Tensor& x, int dim, int64_t start, int64_t end);  // [start, end) along dim
// The shape that a and b broadcast to; throws naming `op` when they do not.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// ---- neural-network ops (ops/nn.cpp, ops/conv.cpp, ops/norm.cpp, ops/pool.cpp) ----
// x [N, units*pieces] -> [N, units]: the max of each unit's `pieces` consecutive inputs.
Tensor maxout(const Tensor& x, int64_t pieces);
// Zeroes each element with probability p and scales the rest by 1/(1-p); identity when !training.
Tensor dropout(const Tensor& x, float p, bool training, Generator& gen);

// Padding the last two dimensions of x (rank >= 2; ops/pad.cpp), as torch.nn.functional.pad(x,
// (left, right, top, bottom), mode, value): kConstant fills with `value`; kReflect mirrors about
// the edge without repeating it (each size smaller than the dimension it pads); kReplicate repeats
// the edge. Sizes are non-negative.
enum class PadMode { kConstant, kReflect, kReplicate };
struct Pad2d {
  int64_t left = 0, right = 0, top = 0, bottom = 0;
};
Tensor pad2d(const Tensor& x, Pad2d pad, PadMode mode = PadMode::kConstant, float value = 0.0f);
// The sizes both pad2d and the padding layers check: throws std::invalid_argument, naming `op`,
// unless all four are non-negative.
void check_pad2d_sizes(const Pad2d& pad, const char* op);

struct Conv2dOptions {
  int64_t stride = 1, padding = 0, dilation = 1;
  int64_t output_padding = 0;  // conv_transpose2d only: extra rows/cols on the bottom/right
  // Channels split into `groups` independent convolutions (groups = C: depthwise); input and
  // output channels must both divide by it.
  int64_t groups = 1;
  // conv2d only: how the padding is filled, as PyTorch's Conv2d padding_mode: zeros (kConstant),
  // reflect or replicate (the input padded by pad2d, then convolved without padding).
  PadMode padding_mode = PadMode::kConstant;
};
// x [N,C,H,W], weight [O,C/groups,kh,kw], bias [O] (optional) -> [N,O,H',W'].
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dOptions& options = {});
// x [N,C,H,W], weight [C,O/groups,kh,kw] (PyTorch's layout), bias [O] -> [N,O,H',W'].
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                        const Conv2dOptions& options = {});

// While it lives, convolutions on this thread keep the copy they make of a parameter (a leaf
// tensor that requires grad) read as their weight in their blocked layout, and reuse it in the
// scope's later passes for as long as the parameter's version (Tensor::version) is unchanged,
// where each pass would reorder it again: a training step reads D's weights in the forwards on
// the real and the fake batch and in their backward. The copies are dropped when the outermost
// scope closes. An optimizer's step inside it is seen (it counts a version), and the next pass
// reorders the changed parameter again, so a scope may span several updates: gan::Trainer holds
// one over a whole training step, where G's weights stay unchanged through the k D steps. A write
// through data() without bump_version() is not seen.
class ParameterReorderScope {
 public:
  ParameterReorderScope();
  ~ParameterReorderScope();
  ParameterReorderScope(const ParameterReorderScope&) = delete;
  ParameterReorderScope& operator=(const ParameterReorderScope&) = delete;

 private:
  bool outermost_;  // whether this scope opened the memo (an inner one shares the outer's)
};

struct BatchNormState {
  Tensor running_mean, running_var;  // [C], updated in place in training
  float momentum = 0.1f;             // running = (1 - momentum) * running + momentum * batch
  float eps = 1e-5f;
};
// x [N,C] or [N,C,H,W]; weight, bias [C] (optional). Training normalizes with the batch statistics
// (and updates state's running averages when they are defined); eval uses the running averages.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, BatchNormState& state,
                  bool training);
// leaky_relu(batch_norm(x, ...), negative_slope), relu at slope 0: the same values and gradients
// (first and higher order) as one recorded op, whose forward applies the activation as batch norm
// writes its output instead of in a pass of its own. What nn::Sequential runs for a BatchNorm
// followed by a ReLU or LeakyReLU.
Tensor batch_norm_leaky_relu(const Tensor& x, const Tensor& weight, const Tensor& bias,
                             BatchNormState& state, bool training, float negative_slope = 0.0f);

// As torch.nn.functional.layer_norm: x normalized over its trailing dimensions
// `normalized_shape` (biased variance, eps inside the square root), then times weight plus bias,
// both of shape normalized_shape and each optional.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), float eps = 1e-5f);
// As torch.nn.functional.group_norm: x [N,C,...] with its C channels in `groups` consecutive
// groups, each sample's group normalized over its channels and positions; weight, bias [C]
// (optional) per channel. groups = C is instance normalization, groups = 1 layer normalization
// over [C,...] with per-channel affine.
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), float eps = 1e-5f);

// The pooling window both ops check, and the modules at construction: throws
// std::invalid_argument, naming `op`, unless kernel >= 1, stride >= 0 and 0 <= padding <= kernel /
// 2 (PyTorch's rule).
void check_pool2d_window(int64_t kernel, int64_t stride, int64_t padding, const char* op);
// x [N,C,H,W]; kernel, stride (0 = kernel), padding.
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);
Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);

// Resampling (ops/resample.cpp). x [N,C,H,W] -> [N,C,H*scale,W*scale] for an integer scale >= 1:
// each pixel repeated, or interpolated bilinearly between pixel centres (align_corners=false,
// PyTorch's default for F.interpolate(mode='bilinear'); edges clamp to the border pixels).
Tensor upsample_nearest2d(const Tensor& x, int64_t scale);
Tensor upsample_bilinear2d(const Tensor& x, int64_t scale);
// x [N,C*r*r,H,W] -> [N,C,H*r,W*r]: channel c*r*r + i*r + j goes to rows i, columns j of each r x r
// block, as torch.nn.functional.pixel_shuffle.
Tensor pixel_shuffle(const Tensor& x, int64_t r);

// Integer indices held in float tensors (the framework is float32 only): each must be a whole
// number in [0, bound), or the op throws naming it.
// weight [V,D], indices [...] holding rows of weight -> [..., D]. The gradient reaches weight only
// (rows picked several times accumulate); indices are constant.
Tensor embedding(const Tensor& weight, const Tensor& indices);
// labels [...] holding classes in [0, n) -> [..., n] of 0s and a 1 at each label; a constant.
Tensor one_hot(const Tensor& labels, int64_t n);

// ---- losses (ops/loss.cpp) ----
// mean(softplus(l) - l * t): binary cross-entropy on logits, never log(0).
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets);
Tensor mse_loss(const Tensor& input, const Tensor& target);
// logits [N,C], labels [N] holding classes in [0, C) -> the mean over N of
// -log_softmax(logits)[n, label n], as torch.nn.functional.cross_entropy. Labels get no gradient.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels);

}  // namespace minimax
