// Resampling: nearest and bilinear upsampling on oneDNN, and pixel shuffle (a permutation of
// elements, so a reshape, a permute and a reshape). Upsampling is linear, y = U x: its backward
// U^T g is oneDNN's resampling backward, an op whose own backward is U again, the forward; so
// gradients of any order go through (as average pooling's).
#include <fmt/format.h>

#include <stdexcept>

#include "ops/dnnl/nn_kernels.h"
#include "ops/internal.h"

namespace minimax {

using kernels::ResampleKind;

namespace {

const char* name_of(ResampleKind kind, bool backward) {
  if (kind == ResampleKind::kNearest)
    return backward ? "upsample_nearest2d_backward" : "upsample_nearest2d";
  return backward ? "upsample_bilinear2d_backward" : "upsample_bilinear2d";
}

Tensor resample(ResampleKind kind, const Tensor& x, const Shape& out);

// gx = U^T gy, for an input of x_shape.
Tensor resample_backward(ResampleKind kind, const Tensor& gy, const Shape& x_shape) {
  Tensor gx = Tensor::empty(x_shape);
  kernels::resample_backward(kind, gy, gx);
  return record(name_of(kind, true), std::move(gx), {gy},
                [kind, out = gy.shape()](const Tensor& gg, Node&) -> TensorList {
                  return {resample(kind, gg, out)};
                });
}

// y = U x, y of shape out.
Tensor resample(ResampleKind kind, const Tensor& x, const Shape& out) {
  Tensor y = Tensor::empty(out);
  kernels::resample_forward(kind, x, y);
  return record(name_of(kind, false), std::move(y), {x},
                [kind, in = x.shape()](const Tensor& g, Node&) -> TensorList {
                  return {resample_backward(kind, g, in)};
                });
}

Tensor upsample(ResampleKind kind, const Tensor& x, int64_t scale) {
  const char* op = name_of(kind, false);
  detail::check_rank(x, 4, op, "input");
  if (scale < 1)
    throw std::invalid_argument(fmt::format("{}: scale {} must be a positive integer", op, scale));
  if (scale == 1) return x;
  return resample(kind, x, {x.size(0), x.size(1), x.size(2) * scale, x.size(3) * scale});
}

}  // namespace

Tensor upsample_nearest2d(const Tensor& x, int64_t scale) {
  return upsample(ResampleKind::kNearest, x, scale);
}

Tensor upsample_bilinear2d(const Tensor& x, int64_t scale) {
  return upsample(ResampleKind::kBilinear, x, scale);
}

Tensor pixel_shuffle(const Tensor& x, int64_t r) {
  detail::check_rank(x, 4, "pixel_shuffle", "input");
  if (r < 1 || x.size(1) % (r * r) != 0)
    throw std::invalid_argument(
        fmt::format("pixel_shuffle: the {} channels of input {} do not split into blocks of "
                    "{} x {} (upscale factor {})",
                    x.size(1), x.shape().str(), r, r, r));
  if (r == 1) return x;
  const int64_t n = x.size(0), c = x.size(1) / (r * r), h = x.size(2), w = x.size(3);
  // [N, C, i, j, H, W] -> [N, C, H, i, W, j]: one copy, by a oneDNN reorder.
  Tensor blocks = permute(reshape(x, {n, c, r, r, h, w}), {0, 1, 4, 2, 5, 3});
  return reshape(blocks, {n, c, h * r, w * r});
}

}  // namespace minimax
