// Padding the last two dimensions, as torch.nn.functional.pad with four sizes. Each output pixel
// copies one input pixel or holds the constant, so y = P x (+ the constant's fill): the backward
// is P^T g, a scatter-add of the gradient onto the pixels each output copied (an edge pixel
// reflected or repeated several times gathers several), and its own backward is P again, the
// forward with a zero fill; gradients of any order go through. Plain loops: oneDNN 2.6 pads
// nothing but inside its convolutions.
#include <fmt/format.h>

#include <stdexcept>

#include "ops/internal.h"
#include "ops/runtime.h"

namespace minimax {

namespace {

// For each output index along a dimension of `size` padded by `before` and `after`, the input
// index it copies, or -1 where the constant goes.
std::vector<int64_t> source_indices(int64_t size, int64_t before, int64_t after, PadMode mode) {
  std::vector<int64_t> from(size + before + after);
  for (int64_t o = 0; o < static_cast<int64_t>(from.size()); ++o) {
    const int64_t i = o - before;
    if (i >= 0 && i < size)
      from[o] = i;
    else if (mode == PadMode::kConstant)
      from[o] = -1;
    else if (mode == PadMode::kReflect)  // about the edge, which is not repeated
      from[o] = i < 0 ? -i : 2 * (size - 1) - i;
    else  // kReplicate
      from[o] = i < 0 ? 0 : size - 1;
  }
  return from;
}

// The map P between one plane of the input [H, W] and one of the output [Ho, Wo].
struct PadMap {
  std::vector<int64_t> rows, cols;  // source_indices of each dimension
  int64_t planes, in_plane, in_width;
};

PadMap pad_map(const Shape& x, const Pad2d& p, PadMode mode) {
  const int64_t h = x[x.size() - 2], w = x[x.size() - 1];
  int64_t planes = 1;  // the leading dimensions: an empty plane may still pad to a full one
  for (int i = 0; i + 2 < x.size(); ++i) planes *= x[i];
  return {source_indices(h, p.top, p.bottom, mode), source_indices(w, p.left, p.right, mode),
          planes, h * w, w};
}

// y = P x, with `fill` where the map gives no source.
void gather(const PadMap& m, const float* x, float* y, float fill) {
  const int64_t out_plane = static_cast<int64_t>(m.rows.size() * m.cols.size());
#pragma omp parallel for if (m.planes * out_plane >= kParallelMinElements)
  for (int64_t p = 0; p < m.planes; ++p) {
    const float* xp = x + p * m.in_plane;
    float* yp = y + p * out_plane;
    for (int64_t r : m.rows)
      for (int64_t c : m.cols) *yp++ = r < 0 || c < 0 ? fill : xp[r * m.in_width + c];
  }
}

// gx = P^T gy: each output pixel's gradient added onto the input pixel it copied.
void scatter_add(const PadMap& m, const float* gy, float* gx) {
  const int64_t out_plane = static_cast<int64_t>(m.rows.size() * m.cols.size());
#pragma omp parallel for if (m.planes * out_plane >= kParallelMinElements)
  for (int64_t p = 0; p < m.planes; ++p) {
    float* gxp = gx + p * m.in_plane;
    std::fill(gxp, gxp + m.in_plane, 0.0f);
    const float* gyp = gy + p * out_plane;
    for (int64_t r : m.rows)
      for (int64_t c : m.cols) {
        const float g = *gyp++;
        if (r >= 0 && c >= 0) gxp[r * m.in_width + c] += g;
      }
  }
}

Shape padded_shape(Shape s, const Pad2d& p) {
  s[s.size() - 2] += p.top + p.bottom;
  s[s.size() - 1] += p.left + p.right;
  return s;
}

Tensor pad_linear(const Tensor& x, const Pad2d& p, PadMode mode, float fill);

// P^T gy, for an input of x_shape.
Tensor pad_backward(const Tensor& gy, const Shape& x_shape, const Pad2d& p, PadMode mode) {
  Tensor gx = Tensor::empty(x_shape);
  scatter_add(pad_map(x_shape, p, mode), gy.data(), gx.data());
  return record(
      "pad2d_backward", std::move(gx), {gy},
      [p, mode](const Tensor& gg, Node&) -> TensorList { return {pad_linear(gg, p, mode, 0.0f)}; });
}

Tensor pad_linear(const Tensor& x, const Pad2d& p, PadMode mode, float fill) {
  Tensor y = Tensor::empty(padded_shape(x.shape(), p));
  gather(pad_map(x.shape(), p, mode), x.data(), y.data(), fill);
  return record("pad2d", std::move(y), {x},
                [p, mode, in = x.shape()](const Tensor& g, Node&) -> TensorList {
                  return {pad_backward(g, in, p, mode)};
                });
}

const char* mode_name(PadMode mode) {
  return mode == PadMode::kConstant  ? "constant"
         : mode == PadMode::kReflect ? "reflect"
                                     : "replicate";
}

// PyTorch's rules: no negative size; a reflection smaller than its dimension (the edge is not
// repeated, so a size-d dimension has d - 1 pixels to mirror); a replication of a non-empty one.
void check_pad(const Tensor& x, const Pad2d& p, PadMode mode) {
  detail::check_defined(x, "pad2d", "input");
  if (x.dim() < 2)
    throw std::invalid_argument(
        fmt::format("pad2d: input {} has no two dimensions to pad", x.shape().str()));
  check_pad2d_sizes(p, "pad2d");
  const int64_t h = x.size(x.dim() - 2), w = x.size(x.dim() - 1);
  const bool reflect = mode == PadMode::kReflect;
  auto fits = [&](int64_t size, int64_t before, int64_t after) {
    if (before == 0 && after == 0) return true;
    return reflect ? before < size && after < size : mode != PadMode::kReplicate || size > 0;
  };
  if (!fits(h, p.top, p.bottom) || !fits(w, p.left, p.right))
    throw std::invalid_argument(fmt::format(
        "pad2d: {} padding (left {}, right {}, top {}, bottom {}) does not fit input {}: {}",
        mode_name(mode), p.left, p.right, p.top, p.bottom, x.shape().str(),
        reflect ? "each size must be smaller than the dimension it pads"
                : "a dimension padded by repeating its edge must not be empty"));
}

}  // namespace

void check_pad2d_sizes(const Pad2d& p, const char* op) {
  if (p.left < 0 || p.right < 0 || p.top < 0 || p.bottom < 0)
    throw std::invalid_argument(
        fmt::format("{}: sizes (left {}, right {}, top {}, bottom {}) must be non-negative", op,
                    p.left, p.right, p.top, p.bottom));
}

Tensor pad2d(const Tensor& x, Pad2d pad, PadMode mode, float value) {
  check_pad(x, pad, mode);
  if (pad.left == 0 && pad.right == 0 && pad.top == 0 && pad.bottom == 0) return x;
  return pad_linear(x, pad, mode, value);
}

}  // namespace minimax
