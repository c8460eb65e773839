// oneDNN convolution forward, backward-data and backward-weights on plain nchw / oihw tensors.
#include <dnnl.hpp>

#include <algorithm>

#include "ops/dnnl/context.h"
#include "ops/dnnl/nn_kernels.h"
#include "ops/runtime.h"

namespace minimax::kernels {

using namespace dnnl_ctx;
using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;

namespace {

// Everything for one problem (x shape, w shape, geometry): the three passes share the descriptors,
// and the bias-free forward's primitive descriptor is the hint both backward passes require.
struct ConvEntry {
  memory::desc x, w, y, bias;
  memory::dims strides, dilates, pad_l, pad_r;
  dnnl::convolution_forward::primitive_desc hint;
  dnnl::primitive forward, forward_bias, backward_data, backward_weights;  // built on first use
};

ConvEntry make_entry(const Shape& x, const Shape& w, const Shape& y, const ConvGeometry& g) {
  ConvEntry e;
  e.x = plain_desc(x);
  e.w = plain_desc(w);
  e.y = plain_desc(y);
  e.bias = plain_desc(Shape{w[0]});
  e.strides = {g.stride, g.stride};
  e.dilates = {g.dilation - 1, g.dilation - 1};  // oneDNN counts the gaps: 0 is dense
  // The same padding on the far side: oneDNN, like PyTorch, floors the output size, so the rows a
  // stride does not reach are simply never read.
  e.pad_l = e.pad_r = {g.padding, g.padding};
  dnnl::convolution_forward::desc d(prop_kind::forward_training, algorithm::convolution_direct, e.x,
                                    e.w, e.y, e.strides, e.dilates, e.pad_l, e.pad_r);
  e.hint = dnnl::convolution_forward::primitive_desc(d, engine());
  return e;
}

// The entry for x, w and y's shapes. y is determined by the other two, so it is not in the key.
ConvEntry& conv_entry(const Shape& x, const Shape& w, const Shape& y, const ConvGeometry& g) {
  CacheKey key{20, g.stride, g.padding, g.dilation};
  for (int64_t d : x) key.push_back(d);
  for (int64_t d : w) key.push_back(d);
  return cached<ConvEntry>(std::move(key), [&] { return make_entry(x, w, y, g); });
}

dnnl::primitive forward_with_bias(const ConvEntry& e) {
  dnnl::convolution_forward::desc d(prop_kind::forward_training, algorithm::convolution_direct, e.x,
                                    e.w, e.bias, e.y, e.strides, e.dilates, e.pad_l, e.pad_r);
  return dnnl::convolution_forward(dnnl::convolution_forward::primitive_desc(d, engine()));
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                    const ConvGeometry& g) {
  count_flops(2 * y.numel() * w.size(1) * w.size(2) * w.size(3));
  if (y.numel() == 0) return;
  ConvEntry& e = conv_entry(x.shape(), w.shape(), y.shape(), g);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(e.x, x.data())},
                                       {DNNL_ARG_WEIGHTS, wrap(e.w, w.data())},
                                       {DNNL_ARG_DST, wrap(e.y, y.data())}};
  if (bias.defined()) {
    if (!e.forward_bias) e.forward_bias = forward_with_bias(e);
    args.emplace(DNNL_ARG_BIAS, wrap(e.bias, bias.data()));
    execute(e.forward_bias, args);
    return;
  }
  if (!e.forward) e.forward = dnnl::convolution_forward(e.hint);
  execute(e.forward, args);
}

void conv2d_backward_data(const Tensor& gy, const Tensor& w, const Tensor& gx,
                          const ConvGeometry& g) {
  count_flops(2 * gy.numel() * w.size(1) * w.size(2) * w.size(3));
  if (gx.numel() == 0) return;
  ConvEntry& e = conv_entry(gx.shape(), w.shape(), gy.shape(), g);
  if (!e.backward_data) {
    dnnl::convolution_backward_data::desc d(algorithm::convolution_direct, e.x, e.w, e.y, e.strides,
                                            e.dilates, e.pad_l, e.pad_r);
    e.backward_data = dnnl::convolution_backward_data(
        dnnl::convolution_backward_data::primitive_desc(d, engine(), e.hint));
  }
  execute(e.backward_data, {{DNNL_ARG_DIFF_DST, wrap(e.y, gy.data())},
                            {DNNL_ARG_WEIGHTS, wrap(e.w, w.data())},
                            {DNNL_ARG_DIFF_SRC, wrap(e.x, gx.data())}});
}

void conv2d_backward_weights(const Tensor& x, const Tensor& gy, const Tensor& gw,
                             const ConvGeometry& g) {
  count_flops(2 * gy.numel() * gw.size(1) * gw.size(2) * gw.size(3));
  if (gw.numel() == 0) return;
  if (x.numel() == 0) {  // an empty batch contributes nothing
    std::fill_n(gw.data(), gw.numel(), 0.0f);
    return;
  }
  ConvEntry& e = conv_entry(x.shape(), gw.shape(), gy.shape(), g);
  if (!e.backward_weights) {
    dnnl::convolution_backward_weights::desc d(algorithm::convolution_direct, e.x, e.w, e.y,
                                               e.strides, e.dilates, e.pad_l, e.pad_r);
    e.backward_weights = dnnl::convolution_backward_weights(
        dnnl::convolution_backward_weights::primitive_desc(d, engine(), e.hint));
  }
  execute(e.backward_weights, {{DNNL_ARG_SRC, wrap(e.x, x.data())},
                               {DNNL_ARG_DIFF_DST, wrap(e.y, gy.data())},
                               {DNNL_ARG_DIFF_WEIGHTS, wrap(e.w, gw.data())}});
}

}  // namespace minimax::kernels
