// Kernels behind the convolution, normalization, pooling and resampling ops (ops/conv.cpp,
// norm.cpp, pool.cpp, resample.cpp) on plain row-major tensors (nchw data, oihw weights): oneDNN
// primitives, each cached by every shape and option that shapes it, but for batch normalization
// and max_pool2d_gather, which are our own loops. Like ops/kernels.h, nothing here records on the
// tape and nothing validates: the ops check shapes before calling in.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <dnnl.hpp>
#include "autograd/tensor.h"

namespace minimax::kernels {

// ---- convolution (ops/dnnl/conv.cpp) ----

// PyTorch's meaning: dilation 1 is a dense kernel; padding is added on every side; groups split
// the channels into independent convolutions.
struct ConvGeometry {
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
};

// y [N,O,OH,OW] = x [N,C,H,W] correlated with w [O,C/groups,kh,kw] (output channels
// o*O/groups.. of group o see input channels o*C/groups..), plus bias [O] when it is defined.
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                    const ConvGeometry& g);
// gx [N,C,H,W] = the adjoint in x of conv2d_forward (without bias) applied to gy [N,O,OH,OW].
void conv2d_backward_data(const Tensor& gy, const Tensor& w, const Tensor& gx,
                          const ConvGeometry& g);
// gw [O,C/groups,kh,kw] = the adjoint in w of conv2d_forward (without bias) applied to gy.
void conv2d_backward_weights(const Tensor& x, const Tensor& gy, const Tensor& gw,
                             const ConvGeometry& g);
// Adds that adjoint into gw, a weight gradient already collected, where the pass can add as it
// writes (the Winograd route: its last transform), and returns true; else returns false and
// changes nothing.
bool conv2d_add_backward_weights(const Tensor& x, const Tensor& gy, const Tensor& gw,
                                 const ConvGeometry& g);

// Convolution passes want activations in oneDNN's blocked layouts and ours are plain, so each pass
// reorders its inputs. Passes often read the same activation: backward data and backward weights
// both read gy, and backward weights reads the forward's x again. Within a ConvReorderScope a
// pass reuses the blocked copy an earlier pass made of the same tensor in the same layout.
//
// Only activations (a pass's source and output gradient) are kept, never weights, which the
// optimizer changes in place (the parameter memo, below, keeps parameters, each copy tied to its
// source's version). A copy keeps its source's storage alive, so its address cannot be
// reused for another tensor while the copy is remembered; the op layer must not open a scope
// around a tensor that changes in place during it.
class ConvReorderMemo;
using ConvReorderMemoPtr = std::shared_ptr<ConvReorderMemo>;

class ConvReorderScope {
 public:
  // A scope on `memo`, or on a new one. Lookups search this scope's memo, then the enclosing
  // scopes'; a copy made or found is remembered by every open scope. A forward keeps its scope's
  // memo() and opens its backward on it, handing over its reordered x.
  explicit ConvReorderScope(ConvReorderMemoPtr memo = nullptr);
  ~ConvReorderScope();
  ConvReorderScope(const ConvReorderScope&) = delete;
  ConvReorderScope& operator=(const ConvReorderScope&) = delete;
  const ConvReorderMemoPtr& memo() const { return memo_; }

 private:
  ConvReorderMemoPtr memo_;
};

// The memo behind ParameterReorderScope (ops/ops.h): while it is open on this thread, a pass
// that reads a parameter (a leaf tensor that requires grad) as its weight keeps the reordered copy
// for the later passes, as ConvReorderScope does for activations; a copy is used only while its
// source's version is the one it was made from. open_parameter_memo returns false, and opens
// nothing, when it is already open (the outer opening covers the inner); close_parameter_memo
// drops the copies, and is called once for each opening that returned true.
bool open_parameter_memo();
void close_parameter_memo();

// Copies of `t` in layouts of our own (the Winograd route's transforms), each named by `layout`,
// whose size it has, and written by `write`, kept like reordered copies. parameter_copy: while
// the parameter memo is open and t is a parameter, the copy of t's current version is made once
// and returned again. activation_copy: a copy the open ConvReorderScopes remember is returned
// again, and a new one is remembered by them. Otherwise each call makes a new copy.
Tensor parameter_copy(const Tensor& t, const dnnl::memory::desc& layout,
                      const std::function<void(float*)>& write);
Tensor activation_copy(const Tensor& t, const dnnl::memory::desc& layout,
                       const std::function<void(float*)>& write);

// How many operands convolution passes have copied into another layout since the start: reordered
// into oneDNN's, or transformed for the Winograd route (inputs only; outputs back to plain are not
// counted). Tests use it to see copies reused.
int64_t conv_input_reorders();

// ---- pooling (ops/dnnl/pool.cpp) ----

enum class PoolKind { kMax, kAvg };  // kAvg divides by the whole window, padding included

struct PoolGeometry {
  int64_t kernel = 1, stride = 1, padding = 0;
};

// Where max pooling's forward records which element won each window, for its backward. Opaque:
// its layout is oneDNN's.
using PoolWorkspace = std::shared_ptr<std::vector<uint8_t>>;

// y [N,C,OH,OW] = pool(x [N,C,H,W]). For kMax, a non-null `workspace` runs the training forward
// and stores the workspace there (the backward needs it); null runs the cheaper inference forward.
// Returns whether x holds a NaN (kMax only; false for kAvg): oneDNN's workspace then names another
// winner than PyTorch's, and the backward is max_pool2d_scatter.
bool pool2d_forward(PoolKind kind, const Tensor& x, const Tensor& y, const PoolGeometry& g,
                    PoolWorkspace* workspace);
// gx [N,C,H,W] = the adjoint of pool2d_forward applied to gy: for kMax each window's gradient goes
// to its winner (from `workspace`), for kAvg it is spread evenly over the window.
void pool2d_backward(PoolKind kind, const Tensor& gy, const Tensor& gx, const PoolGeometry& g,
                     const PoolWorkspace& workspace);
// out [N,C,OH,OW] = v at each max-pooling window's winner in x [N,C,H,W] (v has x's shape): the
// transpose of the kMax backward, for second derivatives. A plain loop: oneDNN has no gather by
// workspace. Ties go to the first maximum in row-major window order, as oneDNN's CPU pooling does;
// a window holding NaN is won by its last NaN, as in PyTorch.
void max_pool2d_gather(const Tensor& x, const Tensor& v, const Tensor& out, const PoolGeometry& g);
// gx [N,C,H,W] = each window's gradient gy [N,C,OH,OW] added at its winner (max_pool2d_gather's
// rule): the kMax backward for an x that holds NaN, which oneDNN's skips.
void max_pool2d_scatter(const Tensor& x, const Tensor& gy, const Tensor& gx, const PoolGeometry& g);

// ---- batch normalization (ops/dnnl/norm.cpp; plain loops, not oneDNN) ----

// The activation batch_norm_forward can apply as it writes: leaky_relu with negative_slope >= 0,
// relu at 0 (the bits of kernels::relu and kernels::leaky_relu).
struct NormActivation {
  bool enabled = false;
  float negative_slope = 0.0f;
};

// y = (x - mean) / sqrt(var + eps) * scale + shift per channel of x [N,C,H,W], then the
// activation when it is enabled; scale and shift [C] are each optional (undefined). With
// batch_stats the batch's mean and biased variance are computed into `mean` and `var` [C] (in
// double, then rounded); otherwise they are read from there (running statistics).
void batch_norm_forward(const Tensor& x, const Tensor& scale, const Tensor& shift,
                        const Tensor& mean, const Tensor& var, const Tensor& y, float eps,
                        bool batch_stats, NormActivation activation = {});
// The fused gradients of batch_norm_forward: gx, and gscale / gshift when they are defined (given
// exactly when the forward had scale / shift; shift itself is not needed). With
// batch_stats mean and var are the batch's and their dependence on x is included; otherwise they
// are constants.
void batch_norm_backward(const Tensor& x, const Tensor& gy, const Tensor& scale, const Tensor& mean,
                         const Tensor& var, const Tensor& gx, const Tensor& gscale,
                         const Tensor& gshift, float eps, bool batch_stats);

// The gradients of batch_norm_backward's gx in training (batch statistics) with respect to gy,
// x and scale, given `ggx`, the gradient arriving at gx: the second derivative a gradient penalty
// through a batch-norm critic needs. `mean` and `var` are the forward's batch statistics (as
// batch_norm_forward wrote them); the sums correct the mean's rounding as batch_norm_backward's
// do. Writes each of d_gy, d_x ([N,C,H,W]) and d_scale ([C]) that is defined.
void batch_norm_double_backward(const Tensor& x, const Tensor& gy, const Tensor& ggx,
                                const Tensor& scale, const Tensor& mean, const Tensor& var,
                                float eps, const Tensor& d_gy, const Tensor& d_x,
                                const Tensor& d_scale);

// PyTorch's running statistics after a training batch with `mean` and biased `var` over `count`
// elements per channel: running = (1 - momentum) running + momentum batch, the variance unbiased
// (times count / (count - 1)). One loop for both, where ops took eight calls per batch norm.
void batch_norm_update_running(const Tensor& running_mean, const Tensor& running_var,
                               const Tensor& mean, const Tensor& var, float momentum,
                               int64_t count);

// ---- layer normalization (ops/dnnl/norm.cpp) ----

// y = (x - mean) / sqrt(var + eps) * scale + shift along each row of x [M,K], with the row's mean
// and biased variance, which are written to mean and var [M]; scale and shift [K] are each
// optional (undefined).
void layer_norm_forward(const Tensor& x, const Tensor& scale, const Tensor& shift,
                        const Tensor& mean, const Tensor& var, const Tensor& y, float eps);
// The fused gradients of layer_norm_forward (mean, var its outputs): gx, and gscale / gshift,
// given exactly when scale / shift are.
void layer_norm_backward(const Tensor& x, const Tensor& gy, const Tensor& scale,
                         const Tensor& shift, const Tensor& mean, const Tensor& var,
                         const Tensor& gx, const Tensor& gscale, const Tensor& gshift, float eps);

// ---- resampling (ops/dnnl/resample.cpp) ----

enum class ResampleKind { kNearest, kBilinear };  // bilinear: align_corners=false, edges clamped

// y [N,C,OH,OW] = x [N,C,H,W] resampled by the factors OH/H and OW/W.
void resample_forward(ResampleKind kind, const Tensor& x, const Tensor& y);
// gx [N,C,H,W] = the adjoint of resample_forward applied to gy [N,C,OH,OW].
void resample_backward(ResampleKind kind, const Tensor& gy, const Tensor& gx);

}  // namespace minimax::kernels
