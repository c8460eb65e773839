// oneDNN max and average pooling, forward and backward, on plain nchw tensors; and the gather that
// transposes max pooling's backward.
#include <dnnl.hpp>

#include <algorithm>
#include <limits>

#include "ops/dnnl/context.h"
#include "ops/dnnl/nn_kernels.h"
#include "ops/runtime.h"

namespace minimax::kernels {

using namespace dnnl_ctx;
using dnnl::memory;
using dnnl::prop_kind;

namespace {

dnnl::algorithm algorithm_of(PoolKind kind) {
  // PyTorch's avg_pool2d default (count_include_pad=True) divides by the full window.
  return kind == PoolKind::kMax ? dnnl::algorithm::pooling_max
                                : dnnl::algorithm::pooling_avg_include_padding;
}

// One problem's descriptors. The training forward's primitive descriptor is the hint the backward
// requires, and for max pooling it also defines the workspace.
struct PoolEntry {
  memory::desc x, y;
  memory::dims strides, kernel, pad_l, pad_r;
  dnnl::pooling_forward::primitive_desc training;
  dnnl::primitive forward_training, forward_inference, backward;  // built on first use
};

PoolEntry make_entry(PoolKind kind, const Shape& x, const Shape& y, const PoolGeometry& g) {
  PoolEntry e;
  e.x = plain_desc(x);
  e.y = plain_desc(y);
  e.strides = {g.stride, g.stride};
  e.kernel = {g.kernel, g.kernel};
  // As in convolution, oneDNN floors the output size, so the far side takes the same padding.
  e.pad_l = e.pad_r = {g.padding, g.padding};
  dnnl::pooling_forward::desc d(prop_kind::forward_training, algorithm_of(kind), e.x, e.y,
                                e.strides, e.kernel, e.pad_l, e.pad_r);
  e.training = dnnl::pooling_forward::primitive_desc(d, engine());
  return e;
}

// The entry for x's shape; y's is determined by it and the geometry.
PoolEntry& pool_entry(PoolKind kind, const Shape& x, const Shape& y, const PoolGeometry& g) {
  CacheKey key{static_cast<int64_t>(kind), g.kernel, g.stride, g.padding};
  for (int64_t d : x) key.push_back(d);
  return cached<PoolEntry>(std::move(key), [&] { return make_entry(kind, x, y, g); });
}

dnnl::primitive inference_forward(PoolKind kind, const PoolEntry& e) {
  dnnl::pooling_forward::desc d(prop_kind::forward_inference, algorithm_of(kind), e.x, e.y,
                                e.strides, e.kernel, e.pad_l, e.pad_r);
  return dnnl::pooling_forward(dnnl::pooling_forward::primitive_desc(d, engine()));
}

memory workspace_memory(const PoolEntry& e, const PoolWorkspace& workspace) {
  return memory(e.training.workspace_desc(), engine(), workspace->data());
}

// The flat index in an H x W plane of the winner of window (oh, ow): its last NaN if it holds one,
// else its first maximum (PyTorch's rule); padding never wins.
int64_t window_argmax(const float* plane, int64_t H, int64_t W, int64_t oh, int64_t ow,
                      const PoolGeometry& g) {
  int64_t best = -1;
  for (int64_t kh = 0; kh < g.kernel; ++kh) {
    int64_t ih = oh * g.stride - g.padding + kh;
    if (ih < 0 || ih >= H) continue;
    for (int64_t kw = 0; kw < g.kernel; ++kw) {
      int64_t iw = ow * g.stride - g.padding + kw;
      if (iw < 0 || iw >= W) continue;
      int64_t i = ih * W + iw;
      if (best < 0 || plane[i] > plane[best] || plane[i] != plane[i]) best = i;
    }
  }
  return best;
}

// oneDNN's max pooling skips NaN and starts from the lowest float. As in PyTorch, a window that
// holds a NaN gives NaN, and a window of -inf gives -inf. One pass over x shows whether it holds a
// NaN at all; only then, or where y holds the lowest float, are the windows read again. Returns
// whether x holds a NaN.
bool mend_max_pool(const Tensor& x, const Tensor& y, const PoolGeometry& g) {
  const float* xs = x.data();
  float* ys = y.data();
  const int64_t n = x.numel(), m = y.numel();
  bool any_nan = false;
  for (int64_t i = 0; i < n; ++i) any_nan |= xs[i] != xs[i];  // no early exit, so it can vectorize
  const float lowest = std::numeric_limits<float>::lowest();
  if (!any_nan && std::find(ys, ys + m, lowest) == ys + m) return false;
  const int64_t H = x.size(2), W = x.size(3), OH = y.size(2), OW = y.size(3);
  for (int64_t o = 0; o < m; ++o) {
    if (!any_nan && ys[o] != lowest) continue;
    const float* plane = xs + o / (OH * OW) * H * W;
    const int64_t oh = o / OW % OH, ow = o % OW;
    bool nan = false, all_minus_inf = true;
    for (int64_t ih = oh * g.stride - g.padding, kh = 0; kh < g.kernel; ++kh, ++ih)
      for (int64_t iw = ow * g.stride - g.padding, kw = 0; kw < g.kernel; ++kw, ++iw) {
        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;  // padding never wins
        const float v = plane[ih * W + iw];
        nan |= v != v;
        all_minus_inf &= v == -std::numeric_limits<float>::infinity();
      }
    if (nan)
      ys[o] = std::numeric_limits<float>::quiet_NaN();
    else if (all_minus_inf && ys[o] == lowest)
      ys[o] = -std::numeric_limits<float>::infinity();
  }
  return any_nan;
}

}  // namespace

bool pool2d_forward(PoolKind kind, const Tensor& x, const Tensor& y, const PoolGeometry& g,
                    PoolWorkspace* workspace) {
  if (y.numel() == 0) return false;
  PoolEntry& e = pool_entry(kind, x.shape(), y.shape(), g);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(e.x, x.data())},
                                       {DNNL_ARG_DST, wrap(e.y, y.data())}};
  if (kind == PoolKind::kMax && workspace) {
    if (!e.forward_training) e.forward_training = dnnl::pooling_forward(e.training);
    *workspace = std::make_shared<std::vector<uint8_t>>(e.training.workspace_desc().get_size());
    args.emplace(DNNL_ARG_WORKSPACE, workspace_memory(e, *workspace));
    execute(e.forward_training, args);
  } else {
    if (!e.forward_inference) e.forward_inference = inference_forward(kind, e);
    execute(e.forward_inference, args);
  }
  return kind == PoolKind::kMax && mend_max_pool(x, y, g);
}

void pool2d_backward(PoolKind kind, const Tensor& gy, const Tensor& gx, const PoolGeometry& g,
                     const PoolWorkspace& workspace) {
  if (gx.numel() == 0) return;
  PoolEntry& e = pool_entry(kind, gx.shape(), gy.shape(), g);
  if (!e.backward) {
    dnnl::pooling_backward::desc d(algorithm_of(kind), e.x, e.y, e.strides, e.kernel, e.pad_l,
                                   e.pad_r);
    e.backward =
        dnnl::pooling_backward(dnnl::pooling_backward::primitive_desc(d, engine(), e.training));
  }
  std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, wrap(e.y, gy.data())},
                                       {DNNL_ARG_DIFF_SRC, wrap(e.x, gx.data())}};
  if (kind == PoolKind::kMax) args.emplace(DNNL_ARG_WORKSPACE, workspace_memory(e, workspace));
  execute(e.backward, args);
}

void max_pool2d_gather(const Tensor& x, const Tensor& v, const Tensor& out, const PoolGeometry& g) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OH = out.size(2), OW = out.size(3);
  const float* xs = x.data();
  const float* vs = v.data();
  float* o = out.data();
#pragma omp parallel for if (planes * OH * OW >= kParallelMinElements)
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        o[(p * OH + oh) * OW + ow] = vs[p * H * W + window_argmax(xs + p * H * W, H, W, oh, ow, g)];
  }
}

void max_pool2d_scatter(const Tensor& x, const Tensor& gy, const Tensor& gx,
                        const PoolGeometry& g) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OH = gy.size(2), OW = gy.size(3);
  const float* xs = x.data();
  const float* gys = gy.data();
  float* gxs = gx.data();
  std::fill_n(gxs, gx.numel(), 0.0f);
#pragma omp parallel for if (planes * OH * OW >= kParallelMinElements)
  for (int64_t p = 0; p < planes; ++p) {  // each plane's windows write only that plane
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        gxs[p * H * W + window_argmax(xs + p * H * W, H, W, oh, ow, g)] +=
            gys[(p * OH + oh) * OW + ow];
  }
}

}  // namespace minimax::kernels
