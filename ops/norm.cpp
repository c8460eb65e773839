// Normalizations: batch normalization (our own kernel), layer normalization (oneDNN's), and group
// normalization (oneDNN has none: it is a layer normalization of each sample's group, then a
// per-channel affine map in ops). Each forward is one kernel pass (batch norm: batch statistics in
// training, the running ones in eval). The backward runs the kernel's fused pass when it is not
// itself being recorded (backward without create_graph, the usual case); when it is, the same
// gradient is written with differentiable ops (mean, sub, mul, ...) so that it can be
// differentiated again.
#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "ops/dnnl/nn_kernels.h"
#include "ops/internal.h"

namespace minimax {

namespace {

const Dims kPerChannel{0, 2, 3};  // the dimensions statistics reduce over, in the [N,C,H,W] view

// [N,C] is normalized as [N,C,1,1], so one code path serves both ranks.
Shape as_nchw(const Shape& s) {
  return s.size() == 2 ? Shape{s[0], s[1], 1, 1} : s;
}

// A [C] tensor shaped to broadcast over [N,C,H,W].
Tensor per_channel(const Tensor& t) {
  return reshape(t, {1, t.size(0), 1, 1});
}

// A copy without history: eval's backward must see the statistics its forward used, even if a
// later training step updates the running ones in place.
Tensor snapshot(const Tensor& t) {
  Tensor copy = Tensor::empty(t.shape());
  copy.copy_(t.detach());
  return copy;
}

void check_channels(const Tensor& t, int64_t channels, const Tensor& x, const char* what) {
  if (t.defined() && !(t.shape() == Shape{channels}))
    throw std::invalid_argument(
        fmt::format("batch_norm: {} {} does not match the {} channels of input {} (expected [{}])",
                    what, t.shape().str(), channels, x.shape().str(), channels));
}

void check_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                      const BatchNormState& state, bool training) {
  detail::check_defined(x, "batch_norm", "input");
  if (x.dim() != 2 && x.dim() != 4)
    throw std::invalid_argument(
        fmt::format("batch_norm: input must be [N,C] or [N,C,H,W], got shape {}", x.shape().str()));
  int64_t c = x.size(1);
  if (c == 0)
    throw std::invalid_argument(
        fmt::format("batch_norm: input {} has no channels", x.shape().str()));
  check_channels(weight, c, x, "weight");
  check_channels(bias, c, x, "bias");
  check_channels(state.running_mean, c, x, "running_mean");
  check_channels(state.running_var, c, x, "running_var");
  if (state.running_mean.defined() != state.running_var.defined())
    throw std::invalid_argument(
        "batch_norm: running_mean and running_var must both be defined "
        "or both undefined");
  if (!(state.eps >= 0.0f) || !(state.momentum >= 0.0f && state.momentum <= 1.0f))
    throw std::invalid_argument(
        fmt::format("batch_norm: eps {} must be non-negative and momentum {} in [0, 1]", state.eps,
                    state.momentum));
  if (training && x.numel() / c <= 1)
    throw std::invalid_argument(
        fmt::format("batch_norm: training needs more than one value per channel, got input {}",
                    x.shape().str()));
  if (!training && !state.running_mean.defined())
    throw std::invalid_argument(
        "batch_norm: eval mode normalizes with running_mean and running_var, which are undefined");
}

// Where a normalization standardizes, for the backward written with ops: x and its gradient viewed
// as `view`, statistics over `stats`, the weight reshaped to `weight_view` to broadcast over the
// view, the parameter gradients summed over `params` and given the parameters' `param_shape`.
struct Layout {
  Shape view;
  Dims stats, params;
  Shape weight_view, param_shape;
};

// x viewed as l.view, standardized over l.stats with ops: xhat = (x - mean) rstd, and rstd.
struct Standardized {
  Tensor xhat, rstd;
};

Standardized standardize(const Tensor& xv, float eps, const Layout& l) {
  Tensor xc = sub(xv, mean(xv, l.stats, true));
  Tensor rstd = pow(add(mean(square(xc), l.stats, true), eps), -0.5f);
  return {mul(xc, rstd), rstd};
}

// q without its components along 1 and along xhat, means over `stats`: P q = q - mean(q) - xhat
// mean(q xhat). Standardizing's Jacobian is rstd P, and P is symmetric.
Tensor project_out(const Tensor& q, const Tensor& xhat, const Dims& stats) {
  return sub(sub(q, mean(q, stats, true)), mul(xhat, mean(mul(q, xhat), stats, true)));
}

// The gradients of y = xhat * weight + bias (weight undefined: 1), xhat = (x - mean) / sqrt(var +
// eps), with ops; x's only when `with_input`. The statistics are recomputed from x so that their
// dependence on x is part of the graph.
TensorList standardized_backward(const Tensor& g, const Tensor& x, const Tensor& weight, float eps,
                                 const Layout& l, Node& n, bool with_input = true) {
  Tensor gv = reshape(g, l.view);
  TensorList r(3);
  const bool input = with_input && n.needs_input_grad(0);
  if (input || n.needs_input_grad(1)) {
    const auto [xhat, rstd] = standardize(reshape(x, l.view), eps, l);
    if (input) {
      Tensor gxhat = weight.defined() ? mul(gv, reshape(weight, l.weight_view)) : gv;
      r[0] = reshape(mul(rstd, project_out(gxhat, xhat, l.stats)), x.shape());
    }
    if (n.needs_input_grad(1)) r[1] = reshape(sum(mul(gv, xhat), l.params), l.param_shape);
  }
  if (n.needs_input_grad(2)) r[2] = reshape(sum(gv, l.params), l.param_shape);
  return r;
}

struct Saved {
  Tensor x, weight;  // with their history, for the recorded backward
  bool has_bias;     // whether the fused pass computes the bias's gradient
  Tensor mu, var;
  bool training;
  float eps;
};

// The fused pass: gx, and the weight's and the bias's gradients where `weight_grad` and
// `bias_grad` ask for them (and the layer has them).
TensorList fused_backward(const Tensor& g, const Saved& s, bool weight_grad, bool bias_grad) {
  Shape s4 = as_nchw(s.x.shape());
  int64_t c = s.x.size(1);
  Tensor gx = Tensor::empty(s.x.shape());
  Tensor gw = weight_grad && s.weight.defined() ? Tensor::empty({c}) : Tensor();
  Tensor gb = bias_grad && s.has_bias ? Tensor::empty({c}) : Tensor();
  kernels::batch_norm_backward(detail::view(s.x, s4), detail::view(g, s4), s.weight, s.mu, s.var,
                               detail::view(gx, s4), gw, gb, s.eps, s.training);
  return {gx, gw, gb};
}

// Batch norm in training standardizes each channel over the batch and the positions.
Layout batch_layout(const Shape& x) {
  return {as_nchw(x), kPerChannel, kPerChannel, {1, x[1], 1, 1}, {x[1]}};
}

// x viewed as [N,C,H,W], or undefined when t is.
Tensor nchw_view(const Tensor& t, const Shape& s4) {
  return t.defined() ? detail::view(t, s4) : Tensor();
}

// The gradients of training batch norm's gx = scale r P g (see standardize) with respect to g, x
// and the weight, given u at gx, with ops: a third derivative through batch norm. The fused
// kernel (kernels::batch_norm_double_backward) derives the same formulas.
TensorList input_grad_backward_ops(const Tensor& u, const Tensor& g, const Saved& s, Node& n) {
  const Layout l = batch_layout(s.x.shape());
  Tensor gv = reshape(g, l.view), uv = reshape(u, l.view);
  const auto [xhat, rstd] = standardize(reshape(s.x, l.view), s.eps, l);
  Tensor k = s.weight.defined() ? mul(reshape(s.weight, l.weight_view), rstd) : rstd;
  Tensor pg = project_out(gv, xhat, l.stats);
  TensorList r(3);
  if (n.needs_input_grad(0)) r[0] = reshape(mul(k, project_out(uv, xhat, l.stats)), s.x.shape());
  if (n.needs_input_grad(1)) {
    Tensor m = mean(mul(gv, xhat), l.stats, true), b = mean(mul(uv, xhat), l.stats, true);
    Tensor c = mean(mul(uv, pg), l.stats, true);
    Tensor inner = add(mul(c, xhat), project_out(add(mul(m, uv), mul(b, gv)), xhat, l.stats));
    r[1] = reshape(neg(mul(mul(k, rstd), inner)), s.x.shape());
  }
  if (n.needs_input_grad(2)) r[2] = reshape(sum(mul(mul(uv, pg), rstd), l.params), l.param_shape);
  return r;
}

TensorList input_grad_backward_fused(const Tensor& u, const Tensor& g, const Saved& s, Node& n) {
  const Shape s4 = as_nchw(s.x.shape());
  TensorList r(3);
  if (n.needs_input_grad(0)) r[0] = Tensor::empty(s.x.shape());
  if (n.needs_input_grad(1)) r[1] = Tensor::empty(s.x.shape());
  if (n.needs_input_grad(2)) r[2] = Tensor::empty({s.x.size(1)});
  kernels::batch_norm_double_backward(detail::view(s.x, s4), detail::view(g, s4),
                                      detail::view(u, s4), s.weight, s.mu, s.var, s.eps,
                                      nchw_view(r[0], s4), nchw_view(r[1], s4), r[2]);
  return r;
}

// Training batch norm's gx as one recorded node, for a backward that is itself recorded (a
// gradient penalty through a batch-norm critic): its value from the fused backward, its own
// gradient from the fused double backward, or from ops when that too is recorded. Written as
// ops, the gradient would be some fifteen recorded ops here and twice as many in their backward.
Tensor recorded_input_grad(const Tensor& g, const Saved& s) {
  Tensor gx = fused_backward(g, s, false, false)[0];
  return record("batch_norm_backward", std::move(gx), {saved(g), saved(s.x), saved(s.weight)},
                [s, g](const Tensor& u, Node& n) -> TensorList {
                  if (!GradMode::is_enabled()) return input_grad_backward_fused(u, g, s, n);
                  return input_grad_backward_ops(u, g, s, n);
                });
}

// The eval gradient with ops: the statistics are constants, so it is affine in x.
TensorList running_stats_backward(const Tensor& g, const Saved& s, Node& n) {
  Shape s4 = as_nchw(s.x.shape());
  Tensor x4 = reshape(s.x, s4), g4 = reshape(g, s4);
  Tensor rstd = per_channel(pow(add(s.var, s.eps), -0.5f));
  TensorList r(3);
  if (n.needs_input_grad(0)) {
    Tensor scale = s.weight.defined() ? mul(per_channel(s.weight), rstd) : rstd;
    r[0] = reshape(mul(g4, scale), s.x.shape());
  }
  if (n.needs_input_grad(1))
    r[1] = sum(mul(g4, mul(sub(x4, per_channel(s.mu)), rstd)), kPerChannel);
  if (n.needs_input_grad(2)) r[2] = sum(g4, kPerChannel);
  return r;
}

// Batch norm's gradients from g at its normalized output, as batch_norm's node returns them.
TensorList batch_norm_gradients(const Tensor& g, const Saved& s, Node& n) {
  // Two paths to one gradient: the fused pass is one kernel instead of a dozen ops, but records
  // nothing, so a backward that is itself recorded (create_graph: a gradient penalty through a
  // batch-norm critic) takes the differentiable one. "nn: batch_norm recorded backward equals the
  // fused one" ties them together.
  if (!GradMode::is_enabled())
    return fused_backward(g, s, n.needs_input_grad(1), n.needs_input_grad(2));
  if (!s.training) return running_stats_backward(g, s, n);
  TensorList r =
      standardized_backward(g, s.x, s.weight, s.eps, batch_layout(s.x.shape()), n, false);
  if (n.needs_input_grad(0)) r[0] = recorded_input_grad(g, s);
  return r;
}

// batch_norm, then the activation when it is enabled, which the forward applies as it writes.
Tensor normalize_batch(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       BatchNormState& state, bool training, kernels::NormActivation activation) {
  check_batch_norm(x, weight, bias, state, training);
  Shape s4 = as_nchw(x.shape());
  int64_t c = x.size(1);
  Tensor mu = training ? Tensor::empty({c}) : snapshot(state.running_mean);
  Tensor var = training ? Tensor::empty({c}) : snapshot(state.running_var);
  Tensor y = Tensor::empty(x.shape());
  kernels::batch_norm_forward(detail::view(x, s4), weight, bias, mu, var, detail::view(y, s4),
                              state.eps, training, activation);
  if (training && state.running_mean.defined()) {
    kernels::batch_norm_update_running(state.running_mean, state.running_var, mu, var,
                                       state.momentum, x.numel() / c);
    state.running_mean.bump_version();
    state.running_var.bump_version();
  }
  Saved kept{x, weight, bias.defined(), mu, var, training, state.eps};
  if (!activation.enabled)
    return record("batch_norm", std::move(y), {saved(x), saved(weight), bias},
                  [kept](const Tensor& g, Node& n) { return batch_norm_gradients(g, kept, n); });
  // The activation's gradient is taken from its output, kept by the node (slope >= 0: the output
  // is positive exactly where the normalized value is), by leaky_relu's own backward. The backward
  // keeps that pass of its own: folded into batch norm's two passes, which read it from memory
  // twice in short runs, it was slower from cold caches (docs/performance-log.md).
  return record(
      "batch_norm_leaky_relu", std::move(y), {saved(x), saved(weight), bias},
      [kept, slope = activation.negative_slope](const Tensor& g, Node& n) -> TensorList {
        Tensor normalized_grad = detail::leaky_relu_grad_at_output(g, n.saved_output(), slope);
        return batch_norm_gradients(normalized_grad, kept, n);
      },
      SaveOutput::kYes);
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, BatchNormState& state,
                  bool training) {
  return normalize_batch(x, weight, bias, state, training, {});
}

Tensor batch_norm_leaky_relu(const Tensor& x, const Tensor& weight, const Tensor& bias,
                             BatchNormState& state, bool training, float negative_slope) {
  if (negative_slope < 0.0f || std::isnan(negative_slope))  // the output would not tell the sign
    return leaky_relu(batch_norm(x, weight, bias, state, training), negative_slope);
  return normalize_batch(x, weight, bias, state, training, {true, negative_slope});
}

// ---- layer and group normalization: oneDNN's layer normalization of the rows of a matrix ----

namespace {

struct RowsSaved {
  Tensor x, weight;  // with their history, for the recorded backward
  Tensor bias;       // without: only the fused kernel reads it
  Tensor mu, var;    // [rows]
  Shape rows;        // [M,K]: x's view
  Shape param_shape;
  float eps;
};

TensorList fused_rows_backward(const Tensor& g, const RowsSaved& s, Node& n) {
  Tensor gx = Tensor::empty(s.x.shape());
  Tensor gw = s.weight.defined() ? Tensor::empty(s.param_shape) : Tensor();
  Tensor gb = s.bias.defined() ? Tensor::empty(s.param_shape) : Tensor();
  kernels::layer_norm_backward(detail::view(s.x, s.rows), detail::view(g, s.rows), s.weight, s.bias,
                               s.mu, s.var, detail::view(gx, s.rows), gw, gb, s.eps);
  return {gx, n.needs_input_grad(1) ? gw : Tensor(), n.needs_input_grad(2) ? gb : Tensor()};
}

// x viewed as `rows` [M,K], each row standardized, then times weight plus bias (each of
// param_shape, K elements, or undefined). Recorded as `name`.
Tensor normalize_rows(const char* name, const Tensor& x, const Shape& rows, const Tensor& weight,
                      const Tensor& bias, const Shape& param_shape, float eps) {
  Tensor mu = Tensor::empty({rows[0]}), var = Tensor::empty({rows[0]});
  Tensor y = Tensor::empty(x.shape());
  kernels::layer_norm_forward(detail::view(x, rows), weight, bias, mu, var, detail::view(y, rows),
                              eps);
  RowsSaved kept{x,           weight, bias.defined() ? bias.detach() : Tensor(), mu, var, rows,
                 param_shape, eps};
  return record(name, std::move(y), {saved(x), saved(weight), bias},
                [kept](const Tensor& g, Node& n) -> TensorList {
                  // As batch_norm's: oneDNN's fused pass unless the backward is being recorded.
                  if (!GradMode::is_enabled()) return fused_rows_backward(g, kept, n);
                  Layout l{kept.rows, {1}, {0}, {kept.rows[1]}, kept.param_shape};
                  return standardized_backward(g, kept.x, kept.weight, kept.eps, l, n);
                });
}

void check_eps(float eps, const char* op) {
  if (!(eps >= 0.0f && std::isfinite(eps)))
    throw std::invalid_argument(fmt::format("{}: eps {} must be finite and non-negative", op, eps));
}

void check_layer_norm(const Tensor& x, const Shape& normalized, const Tensor& weight,
                      const Tensor& bias, float eps) {
  detail::check_defined(x, "layer_norm", "input");
  bool trailing = normalized.size() >= 1 && normalized.size() <= x.dim() && normalized.numel() > 0;
  for (int i = 0; trailing && i < normalized.size(); ++i)
    trailing = x.size(x.dim() - normalized.size() + i) == normalized[i];
  if (!trailing)
    throw std::invalid_argument(
        fmt::format("layer_norm: normalized_shape {} must be the non-empty trailing dimensions "
                    "of input {}",
                    normalized.str(), x.shape().str()));
  for (const Tensor* t : {&weight, &bias})
    if (t->defined() && !(t->shape() == normalized))
      throw std::invalid_argument(fmt::format("layer_norm: {} {} must have normalized_shape {}",
                                              t == &weight ? "weight" : "bias", t->shape().str(),
                                              normalized.str()));
  check_eps(eps, "layer_norm");
}

// The elements of one sample of x [N,...].
int64_t per_sample(const Tensor& x) {
  int64_t count = 1;
  for (int i = 1; i < x.dim(); ++i) count *= x.size(i);
  return count;
}

void check_group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                      float eps) {
  detail::check_defined(x, "group_norm", "input");
  if (x.dim() < 2 || per_sample(x) == 0)
    throw std::invalid_argument(
        fmt::format("group_norm: input must be [N,C,...] with channels and positions, got shape {}",
                    x.shape().str()));
  const int64_t c = x.size(1);
  if (groups < 1 || c % groups != 0)
    throw std::invalid_argument(
        fmt::format("group_norm: {} channels of input {} do not split into {} groups", c,
                    x.shape().str(), groups));
  for (const Tensor* t : {&weight, &bias})
    if (t->defined() && !(t->shape() == Shape{c}))
      throw std::invalid_argument(
          fmt::format("group_norm: {} {} must be [{}], one per channel of "
                      "input {}",
                      t == &weight ? "weight" : "bias", t->shape().str(), c, x.shape().str()));
  check_eps(eps, "group_norm");
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, float eps) {
  check_layer_norm(x, normalized_shape, weight, bias, eps);
  const int64_t k = normalized_shape.numel();
  return normalize_rows("layer_norm", x, {x.numel() / k, k}, weight, bias, normalized_shape, eps);
}

Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                  float eps) {
  check_group_norm(x, groups, weight, bias, eps);
  const Shape rows{x.size(0) * groups, per_sample(x) / groups};
  Tensor y = normalize_rows("group_norm", x, rows, Tensor(), Tensor(), {}, eps);
  // The affine map is per channel, which is not per column of the [N*groups, K] rows: ops.
  Shape channel = detail::pad_to_rank({}, x.dim());
  channel[1] = x.size(1);
  if (weight.defined()) y = mul(y, reshape(weight, channel));
  if (bias.defined()) y = add(y, reshape(bias, channel));
  return y;
}

}  // namespace minimax
