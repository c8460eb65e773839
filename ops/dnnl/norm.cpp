// oneDNN batch normalization (plain nchw tensors) and layer normalization (rows of a plain [M,K]
// matrix), forward and fused backward.
#include <dnnl.hpp>

#include <algorithm>

#include "ops/dnnl/context.h"
#include "ops/dnnl/nn_kernels.h"

namespace minimax::kernels {

using namespace dnnl_ctx;
using dnnl::memory;
using dnnl::normalization_flags;
using dnnl::prop_kind;

namespace {

normalization_flags flags_for(bool scale, bool shift, bool batch_stats) {
  auto f = static_cast<unsigned>(normalization_flags::none);
  if (scale) f |= static_cast<unsigned>(normalization_flags::use_scale);
  if (shift) f |= static_cast<unsigned>(normalization_flags::use_shift);
  if (!batch_stats) f |= static_cast<unsigned>(normalization_flags::use_global_stats);
  return static_cast<normalization_flags>(f);
}

// One problem: shape, eps and flags. The forward is always a training-kind one, also with global
// statistics, because the backward needs a training forward as its hint.
struct NormEntry {
  memory::desc data, stat;
  normalization_flags flags;
  float eps;
  dnnl::batch_normalization_forward::primitive_desc forward_pd;
  dnnl::primitive forward, backward;  // backward built on first use
};

NormEntry& norm_entry(const Shape& x, float eps, normalization_flags flags) {
  CacheKey key{key_of(eps), static_cast<int64_t>(flags)};
  for (int64_t d : x) key.push_back(d);
  return cached<NormEntry>(std::move(key), [&] {
    NormEntry e{plain_desc(x), plain_desc(Shape{x[1]}), flags, eps, {}, {}, {}};
    dnnl::batch_normalization_forward::desc d(prop_kind::forward_training, e.data, eps, flags);
    e.forward_pd = dnnl::batch_normalization_forward::primitive_desc(d, engine());
    e.forward = dnnl::batch_normalization_forward(e.forward_pd);
    return e;
  });
}

dnnl::primitive make_backward(const NormEntry& e, bool affine) {
  // Plain backward_data when there is no scale or shift to differentiate.
  dnnl::batch_normalization_backward::desc d(
      affine ? prop_kind::backward : prop_kind::backward_data, e.data, e.data, e.eps, e.flags);
  return dnnl::batch_normalization_backward(
      dnnl::batch_normalization_backward::primitive_desc(d, engine(), e.forward_pd));
}

}  // namespace

void batch_norm_forward(const Tensor& x, const Tensor& scale, const Tensor& shift,
                        const Tensor& mean, const Tensor& var, const Tensor& y, float eps,
                        bool batch_stats) {
  if (x.numel() == 0) return;
  NormEntry& e =
      norm_entry(x.shape(), eps, flags_for(scale.defined(), shift.defined(), batch_stats));
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(e.data, x.data())},
                                       {DNNL_ARG_DST, wrap(e.data, y.data())},
                                       {DNNL_ARG_MEAN, wrap(e.stat, mean.data())},
                                       {DNNL_ARG_VARIANCE, wrap(e.stat, var.data())}};
  if (scale.defined()) args.emplace(DNNL_ARG_SCALE, wrap(e.stat, scale.data()));
  if (shift.defined()) args.emplace(DNNL_ARG_SHIFT, wrap(e.stat, shift.data()));
  execute(e.forward, args);
}

void batch_norm_backward(const Tensor& x, const Tensor& gy, const Tensor& scale,
                         const Tensor& shift, const Tensor& mean, const Tensor& var,
                         const Tensor& gx, const Tensor& gscale, const Tensor& gshift, float eps,
                         bool batch_stats) {
  if (x.numel() == 0) {  // an empty batch: nothing to scale or shift
    for (const Tensor& g : {gscale, gshift})
      if (g.defined()) std::fill_n(g.data(), g.numel(), 0.0f);
    return;
  }
  NormEntry& e =
      norm_entry(x.shape(), eps, flags_for(scale.defined(), shift.defined(), batch_stats));
  if (!e.backward) e.backward = make_backward(e, scale.defined() || shift.defined());
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(e.data, x.data())},
                                       {DNNL_ARG_DIFF_DST, wrap(e.data, gy.data())},
                                       {DNNL_ARG_MEAN, wrap(e.stat, mean.data())},
                                       {DNNL_ARG_VARIANCE, wrap(e.stat, var.data())},
                                       {DNNL_ARG_DIFF_SRC, wrap(e.data, gx.data())}};
  if (scale.defined()) {
    args.emplace(DNNL_ARG_SCALE, wrap(e.stat, scale.data()));
    args.emplace(DNNL_ARG_DIFF_SCALE, wrap(e.stat, gscale.data()));
  }
  if (shift.defined()) {
    args.emplace(DNNL_ARG_SHIFT, wrap(e.stat, shift.data()));
    args.emplace(DNNL_ARG_DIFF_SHIFT, wrap(e.stat, gshift.data()));
  }
  execute(e.backward, args);
}

namespace {

// Layer normalization of one [M,K] problem, eps and flags (which of scale and shift).
struct LayerNormEntry {
  memory::desc data, stat, param;
  normalization_flags flags;
  float eps;
  dnnl::layer_normalization_forward::primitive_desc forward_pd;
  dnnl::primitive forward, backward;  // backward built on first use
};

LayerNormEntry& layer_norm_entry(const Shape& x, float eps, normalization_flags flags) {
  return cached<LayerNormEntry>({key_of(eps), static_cast<int64_t>(flags), x[0], x[1]}, [&] {
    LayerNormEntry e{
        plain_desc(x), plain_desc(Shape{x[0]}), plain_desc(Shape{x[1]}), flags, eps, {}, {}, {}};
    dnnl::layer_normalization_forward::desc d(prop_kind::forward_training, e.data, e.stat, eps,
                                              flags);
    e.forward_pd = dnnl::layer_normalization_forward::primitive_desc(d, engine());
    e.forward = dnnl::layer_normalization_forward(e.forward_pd);
    return e;
  });
}

// The arguments every pass shares: data, statistics and the affine parameters that are given.
std::unordered_map<int, memory> layer_norm_args(const LayerNormEntry& e, const Tensor& x,
                                                const Tensor& scale, const Tensor& shift,
                                                const Tensor& mean, const Tensor& var) {
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(e.data, x.data())},
                                       {DNNL_ARG_MEAN, wrap(e.stat, mean.data())},
                                       {DNNL_ARG_VARIANCE, wrap(e.stat, var.data())}};
  if (scale.defined()) args.emplace(DNNL_ARG_SCALE, wrap(e.param, scale.data()));
  if (shift.defined()) args.emplace(DNNL_ARG_SHIFT, wrap(e.param, shift.data()));
  return args;
}

}  // namespace

void layer_norm_forward(const Tensor& x, const Tensor& scale, const Tensor& shift,
                        const Tensor& mean, const Tensor& var, const Tensor& y, float eps) {
  if (x.numel() == 0) return;
  LayerNormEntry& e =
      layer_norm_entry(x.shape(), eps, flags_for(scale.defined(), shift.defined(), true));
  auto args = layer_norm_args(e, x, scale, shift, mean, var);
  args.emplace(DNNL_ARG_DST, wrap(e.data, y.data()));
  execute(e.forward, args);
}

void layer_norm_backward(const Tensor& x, const Tensor& gy, const Tensor& scale,
                         const Tensor& shift, const Tensor& mean, const Tensor& var,
                         const Tensor& gx, const Tensor& gscale, const Tensor& gshift, float eps) {
  if (x.numel() == 0) {  // no rows: nothing to scale or shift
    for (const Tensor& g : {gscale, gshift})
      if (g.defined()) std::fill_n(g.data(), g.numel(), 0.0f);
    return;
  }
  LayerNormEntry& e =
      layer_norm_entry(x.shape(), eps, flags_for(scale.defined(), shift.defined(), true));
  if (!e.backward) {
    const bool affine = scale.defined() || shift.defined();
    dnnl::layer_normalization_backward::desc d(
        affine ? prop_kind::backward : prop_kind::backward_data, e.data, e.data, e.stat, e.eps,
        e.flags);
    e.backward = dnnl::layer_normalization_backward(
        dnnl::layer_normalization_backward::primitive_desc(d, engine(), e.forward_pd));
  }
  auto args = layer_norm_args(e, x, scale, shift, mean, var);
  args.emplace(DNNL_ARG_DIFF_DST, wrap(e.data, gy.data()));
  args.emplace(DNNL_ARG_DIFF_SRC, wrap(e.data, gx.data()));
  if (gscale.defined()) args.emplace(DNNL_ARG_DIFF_SCALE, wrap(e.param, gscale.data()));
  if (gshift.defined()) args.emplace(DNNL_ARG_DIFF_SHIFT, wrap(e.param, gshift.data()));
  execute(e.backward, args);
}

}  // namespace minimax::kernels
