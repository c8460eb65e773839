// Reductions on oneDNN's reduction primitive. Each reduces into a "kept" shape (the reduced
// dimensions set to 1) and then drops those dimensions unless keepdim.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "ops/internal.h"

namespace minimax {

using kernels::algorithm;

namespace {

struct Reduction {
  Shape kept;         // input shape with reduced dims set to 1
  Shape out;          // kept, or with the reduced dims removed
  int64_t count = 1;  // elements per output
};

Reduction plan(const Tensor& x, const Dims& dims, bool keepdim, const char* op) {
  detail::check_defined(x, op, "input");
  std::vector<bool> reduced(x.dim(), dims.empty());
  for (int d : dims) {
    int nd = normalize_dim(d, x.dim(), op);
    if (reduced[nd])
      throw std::invalid_argument(fmt::format("{}: dimension {} is listed twice", op, d));
    reduced[nd] = true;
  }
  Reduction r;
  for (int i = 0; i < x.dim(); ++i) {
    r.kept.push_back(reduced[i] ? 1 : x.size(i));
    if (reduced[i]) r.count *= x.size(i);
    if (!reduced[i] || keepdim) r.out.push_back(reduced[i] ? 1 : x.size(i));
  }
  if (r.count == 0 && x.numel() == 0)
    throw std::invalid_argument(
        fmt::format("{}: cannot reduce over an empty dimension of {}", op, x.shape().str()));
  return r;
}

Tensor reduce(algorithm alg, const Tensor& x, const Reduction& r) {
  Tensor kept = Tensor::empty(r.kept);
  kernels::reduce(alg, x, kept);
  return detail::view(kept, r.out);
}

// The gradient of an output of shape r.out, broadcast back over x's shape.
Tensor spread(const Tensor& g, const Reduction& r, const Shape& x_shape) {
  return expand(reshape(g, r.kept), x_shape);
}

}  // namespace

Tensor sum(const Tensor& x, const Dims& dims, bool keepdim) {
  Reduction r = plan(x, dims, keepdim, "sum");
  return record(
      "sum", reduce(algorithm::reduction_sum, x, r), {x},
      [r, s = x.shape()](const Tensor& g, Node&) -> TensorList { return {spread(g, r, s)}; });
}

Tensor sum(const Tensor& x) {
  return sum(x, {}, false);
}

Tensor mean(const Tensor& x, const Dims& dims, bool keepdim) {
  Reduction r = plan(x, dims, keepdim, "mean");
  return record("mean", reduce(algorithm::reduction_mean, x, r), {x},
                [r, s = x.shape()](const Tensor& g, Node&) -> TensorList {
                  return {mul(spread(g, r, s), 1.0f / static_cast<float>(r.count))};
                });
}

Tensor mean(const Tensor& x) {
  return mean(x, {}, false);
}

namespace {

// oneDNN's max skips NaN and starts from the lowest float. As torch.amax, a group that holds a NaN
// gets NaN and a group of -inf gets -inf. A sum finds the groups worth a second look (NaN
// propagates through it), so a group of numbers costs one pass more.
void mend_max(const Tensor& x, const Reduction& r, Tensor& out) {
  NoGradGuard no_grad;
  const Tensor v = x.detach();
  float* o = out.data();
  const int64_t n = out.numel();
  const std::vector<float> sums = reduce(algorithm::reduction_sum, v, r).to_vector();
  if (std::any_of(sums.begin(), sums.end(), [](float s) { return s != s; })) {
    // Counting the NaN, not the numbers: a float count of 2^24 numbers and more is not exact, but
    // a count of NaN is 0 only when there is none.
    const std::vector<float> nans =
        reduce(algorithm::reduction_sum, rsub(1.0f, eq(v, v)), r).to_vector();
    for (int64_t i = 0; i < n; ++i)
      if (nans[i] > 0.0f) o[i] = std::numeric_limits<float>::quiet_NaN();
  }
  const float lowest = std::numeric_limits<float>::lowest();
  if (std::none_of(o, o + n, [&](float m) { return m == lowest; })) return;
  const std::vector<float> lows =
      reduce(algorithm::reduction_sum, eq(v, Tensor::full({1}, lowest)), r).to_vector();
  for (int64_t i = 0; i < n; ++i)
    if (o[i] == lowest && lows[i] == 0.0f) o[i] = -std::numeric_limits<float>::infinity();
}

}  // namespace

Tensor max(const Tensor& x, const Dims& dims, bool keepdim) {
  Reduction r = plan(x, dims, keepdim, "max");
  Tensor out = reduce(algorithm::reduction_max, x, r);
  mend_max(x, r, out);
  Tensor out_kept = detail::view(out, r.kept);  // no history: captured without a cycle
  return record("max", std::move(out), {saved(x)},
                [r, x, out_kept, dims](const Tensor& g, Node&) -> TensorList {
                  // Where several elements tie for the max they share its gradient equally (as
                  // torch.amax).
                  Tensor winners = eq(x.detach(), out_kept);
                  Tensor share = div(winners, sum(winners, dims, true));
                  return {mul(spread(g, r, x.shape()), share)};
                },
                SaveOutput::kNo, {out_kept});
}

Tensor max(const Tensor& x) {
  return max(x, {}, false);
}

Tensor logsumexp(const Tensor& x, const Dims& dims, bool keepdim) {
  const Reduction r = plan(x, dims, keepdim, "logsumexp");  // its errors name this op
  // Shifting by the (constant) max keeps exp from overflowing; the shift cancels in the gradient.
  // An infinite max shifts by 0 instead: -inf - -inf would be NaN where the answer is -inf.
  Tensor m = max(x.detach(), dims, true);
  float* shift = m.data();
  for (int64_t i = 0; i < m.numel(); ++i)
    if (std::isinf(shift[i])) shift[i] = 0.0f;
  Tensor out = add(log(sum(exp(sub(x, m)), dims, true)), m);
  return keepdim ? out : reshape(out, r.out);
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  if (shape.size() > x.dim())
    throw std::invalid_argument(fmt::format("sum_to: cannot sum {} to the larger rank of {}",
                                            x.shape().str(), shape.str()));
  Shape target = detail::pad_to_rank(shape, x.dim());
  Dims dims;
  for (int i = 0; i < x.dim(); ++i) {
    if (target[i] == x.size(i)) continue;
    if (target[i] != 1)
      throw std::invalid_argument(
          fmt::format("sum_to: {} does not broadcast to {}", shape.str(), x.shape().str()));
    dims.push_back(i);
  }
  if (dims.empty()) return reshape(x, shape);
  return reshape(sum(x, dims, true), shape);
}

}  // namespace minimax
