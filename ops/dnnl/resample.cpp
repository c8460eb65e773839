// oneDNN resampling (nearest and linear), forward and backward, on plain nchw tensors. oneDNN's
// linear resampling maps output pixel centres to input coordinates as (o + 0.5) / factor - 0.5 and
// clamps at the borders: PyTorch's bilinear with align_corners=false. Its nearest picks the input
// pixel whose centre is nearest, which for integer factors is PyTorch's floor(o / factor).
#include <dnnl.hpp>

#include "ops/dnnl/context.h"
#include "ops/dnnl/nn_kernels.h"

namespace minimax::kernels {

using namespace dnnl_ctx;
using dnnl::memory;
using dnnl::prop_kind;

namespace {

dnnl::algorithm algorithm_of(ResampleKind kind) {
  return kind == ResampleKind::kNearest ? dnnl::algorithm::resampling_nearest
                                        : dnnl::algorithm::resampling_linear;
}

// One problem: kind, input and output shapes (the factors follow from them). The training
// forward's primitive descriptor is the backward's hint.
struct ResampleEntry {
  memory::desc x, y;
  dnnl::resampling_forward::primitive_desc forward_pd;
  dnnl::primitive forward, backward;  // backward built on first use
};

ResampleEntry& resample_entry(ResampleKind kind, const Shape& x, const Shape& y) {
  CacheKey key{static_cast<int64_t>(kind)};
  for (int64_t d : x) key.push_back(d);
  for (int64_t d : y) key.push_back(d);
  return cached<ResampleEntry>(std::move(key), [&] {
    ResampleEntry e{plain_desc(x), plain_desc(y), {}, {}, {}};
    dnnl::resampling_forward::desc d(prop_kind::forward_training, algorithm_of(kind), e.x, e.y);
    e.forward_pd = dnnl::resampling_forward::primitive_desc(d, engine());
    e.forward = dnnl::resampling_forward(e.forward_pd);
    return e;
  });
}

}  // namespace

void resample_forward(ResampleKind kind, const Tensor& x, const Tensor& y) {
  if (y.numel() == 0) return;
  ResampleEntry& e = resample_entry(kind, x.shape(), y.shape());
  execute(e.forward, {{DNNL_ARG_SRC, wrap(e.x, x.data())}, {DNNL_ARG_DST, wrap(e.y, y.data())}});
}

void resample_backward(ResampleKind kind, const Tensor& gy, const Tensor& gx) {
  if (gx.numel() == 0) return;
  ResampleEntry& e = resample_entry(kind, gx.shape(), gy.shape());
  if (!e.backward) {
    dnnl::resampling_backward::desc d(algorithm_of(kind), e.x, e.y);
    e.backward = dnnl::resampling_backward(
        dnnl::resampling_backward::primitive_desc(d, engine(), e.forward_pd));
  }
  execute(e.backward,
          {{DNNL_ARG_DIFF_DST, wrap(e.y, gy.data())}, {DNNL_ARG_DIFF_SRC, wrap(e.x, gx.data())}});
}

}  // namespace minimax::kernels
