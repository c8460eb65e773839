// Pooling on oneDNN. Each backward is linear in the incoming gradient and is an op of its own whose
// backward is the transposed map, so gradients of any order go through:
//   avg: y = A x; backward A^T g (oneDNN pooling backward); its backward A gg, the forward again.
//   max: y = P x, P picking each window's winner; backward P^T g (oneDNN, from the forward's
//        workspace); its backward P gg, a gather at the winners, whose backward is P^T again.
// The winners are piecewise constant in x, so no gradient reaches x through either backward.
#include <fmt/format.h>

#include <stdexcept>

#include "ops/dnnl/nn_kernels.h"
#include "ops/internal.h"

namespace minimax {

using kernels::PoolGeometry;
using kernels::PoolKind;
using kernels::PoolWorkspace;

void check_pool2d_window(int64_t kernel, int64_t stride, int64_t padding, const char* op) {
  if (kernel < 1 || stride < 0 || padding < 0)
    throw std::invalid_argument(
        fmt::format("{}: kernel {} must be positive, stride {} and padding {} non-negative", op,
                    kernel, stride, padding));
  // PyTorch's rule. It also keeps every window on some input element, so a max always exists.
  if (padding > kernel / 2)
    throw std::invalid_argument(
        fmt::format("{}: padding {} must be at most half the kernel size {}", op, padding, kernel));
}

namespace {

PoolGeometry check_pool(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding,
                        const char* op) {
  detail::check_rank(x, 4, op, "input");
  check_pool2d_window(kernel, stride, padding, op);
  for (int i = 2; i < 4; ++i)
    if (x.size(i) + 2 * padding < kernel)
      throw std::invalid_argument(
          fmt::format("{}: kernel {} is larger than the input {} padded by {}", op, kernel,
                      x.shape().str(), padding));
  return {kernel, stride == 0 ? kernel : stride, padding};
}

Shape pool_output_shape(const Shape& x, const PoolGeometry& g) {
  auto extent = [&](int64_t in) { return (in + 2 * g.padding - g.kernel) / g.stride + 1; };
  return {x[0], x[1], extent(x[2]), extent(x[3])};
}

// ---- average ----

Tensor avg_pool(const Tensor& x, const PoolGeometry& g);

Tensor avg_pool_backward(const Tensor& gy, const Shape& x_shape, const PoolGeometry& g) {
  Tensor gx = Tensor::empty(x_shape);
  kernels::pool2d_backward(PoolKind::kAvg, gy, gx, g, nullptr);
  return record("avg_pool2d_backward", std::move(gx), {gy},
                [g](const Tensor& gg, Node&) -> TensorList { return {avg_pool(gg, g)}; });
}

Tensor avg_pool(const Tensor& x, const PoolGeometry& g) {
  Tensor y = Tensor::empty(pool_output_shape(x.shape(), g));
  kernels::pool2d_forward(PoolKind::kAvg, x, y, g, nullptr);
  return record("avg_pool2d", std::move(y), {x},
                [g, s = x.shape()](const Tensor& gy, Node&) -> TensorList {
                  return {avg_pool_backward(gy, s, g)};
                });
}

// ---- max: x is the forward's input without history, needed only to find the winners ----

// What a max pooling's backward passes need besides the gradient: the forward's input, the
// geometry, oneDNN's workspace, and whether x holds a NaN (then our own scatter routes each
// window's gradient to its NaN, as PyTorch does; oneDNN's workspace names a number).
struct MaxPoolWinners {
  Tensor x;
  PoolGeometry g;
  PoolWorkspace ws;
  bool has_nan = false;
};

Tensor max_pool_backward(const Tensor& gy, const MaxPoolWinners& w);

Tensor max_pool_gather(const Tensor& v, const MaxPoolWinners& w) {
  Tensor out = Tensor::empty(pool_output_shape(w.x.shape(), w.g));
  kernels::max_pool2d_gather(w.x, v, out, w.g);
  return record("max_pool2d_gather", std::move(out), {v},
                [w](const Tensor& gg, Node&) -> TensorList { return {max_pool_backward(gg, w)}; },
                SaveOutput::kNo, {w.x});
}

Tensor max_pool_backward(const Tensor& gy, const MaxPoolWinners& w) {
  Tensor gx = Tensor::empty(w.x.shape());
  if (w.has_nan)
    kernels::max_pool2d_scatter(w.x, gy, gx, w.g);
  else
    kernels::pool2d_backward(PoolKind::kMax, gy, gx, w.g, w.ws);
  return record("max_pool2d_backward", std::move(gx), {gy},
                [w](const Tensor& gg, Node&) -> TensorList { return {max_pool_gather(gg, w)}; },
                SaveOutput::kNo, {w.x});
}

}  // namespace

Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  PoolGeometry g = check_pool(x, kernel, stride, padding, "max_pool2d");
  Tensor y = Tensor::empty(pool_output_shape(x.shape(), g));
  // The training forward (which keeps the workspace) only when a backward can follow.
  MaxPoolWinners w{x.detach(), g, nullptr};
  bool recording = GradMode::is_enabled() && x.requires_grad();
  w.has_nan = kernels::pool2d_forward(PoolKind::kMax, x, y, g, recording ? &w.ws : nullptr);
  return record("max_pool2d", std::move(y), {saved(x)},
                [w](const Tensor& gy, Node&) -> TensorList { return {max_pool_backward(gy, w)}; });
}

Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  return avg_pool(x, check_pool(x, kernel, stride, padding, "avg_pool2d"));
}

}  // namespace minimax
