// Neural-network ops built from other ops: maxout and dropout.
#include <fmt/format.h>

#include <stdexcept>

#include "ops/internal.h"

namespace minimax {

namespace {

// Maxout runs on plain loops: a max over a few adjacent floats, memory-bound, which as a generic
// max reduction cost five broadcasting oneDNN ops in its backward. Unit j of a row takes the max
// over inputs j*pieces .. j*pieces + pieces - 1 (pylearn2's grouping). `winners` holds, per output,
// the index of the winning piece (small integers, exact as floats, so it lives in a Tensor from
// the caching allocator). Ties go to the first piece, as torch.max(dim) and max pooling do.

void maxout_forward(const Tensor& x, int64_t pieces, const Tensor& y, const Tensor& winners) {
  const float* in = x.data();
  float* out = y.data();
  float* win = winners.data();
  for (int64_t u = 0, units = y.numel(); u < units; ++u) {
    const float* group = in + u * pieces;
    int64_t best = 0;
    for (int64_t k = 1; k < pieces; ++k)
      if (group[k] > group[best]) best = k;
    out[u] = group[best];
    win[u] = static_cast<float>(best);
  }
}

Tensor maxout_gather(const Tensor& v, const Tensor& winners, int64_t pieces);

// gx = gy routed to each unit's winning piece, zero elsewhere: the adjoint of maxout.
Tensor maxout_scatter(const Tensor& gy, const Tensor& winners, int64_t pieces) {
  Tensor gx = Tensor::zeros({gy.size(0), gy.size(1) * pieces});
  const float* g = gy.data();
  const float* win = winners.data();
  float* out = gx.data();
  for (int64_t u = 0, units = gy.numel(); u < units; ++u)
    out[u * pieces + static_cast<int64_t>(win[u])] = g[u];
  return record("maxout_backward", std::move(gx), {gy},
                [winners, pieces](const Tensor& gg, Node&) -> TensorList {
                  return {maxout_gather(gg, winners, pieces)};
                });
}

// out = v at each unit's winning piece: the adjoint of maxout_scatter (for second derivatives).
Tensor maxout_gather(const Tensor& v, const Tensor& winners, int64_t pieces) {
  Tensor out = Tensor::empty(winners.shape());
  const float* in = v.data();
  const float* win = winners.data();
  float* o = out.data();
  for (int64_t u = 0, units = out.numel(); u < units; ++u)
    o[u] = in[u * pieces + static_cast<int64_t>(win[u])];
  return record("maxout_gather", std::move(out), {v},
                [winners, pieces](const Tensor& g, Node&) -> TensorList {
                  return {maxout_scatter(g, winners, pieces)};
                });
}

}  // namespace

Tensor maxout(const Tensor& x, int64_t pieces) {
  detail::check_rank(x, 2, "maxout", "input");
  if (pieces <= 0 || x.size(1) % pieces != 0)
    throw std::invalid_argument(fmt::format(
        "maxout: {} features do not split into groups of {} pieces", x.size(1), pieces));
  Tensor y = Tensor::empty({x.size(0), x.size(1) / pieces});
  Tensor winners = Tensor::empty(y.shape());
  maxout_forward(x, pieces, y, winners);
  return record("maxout", std::move(y), {x}, [winners, pieces](const Tensor& gy, Node&) {
    return TensorList{maxout_scatter(gy, winners, pieces)};
  });
}

Tensor dropout(const Tensor& x, float p, bool training, Generator& gen) {
  detail::check_defined(x, "dropout", "input");
  if (!(p >= 0.0f && p < 1.0f))
    throw std::invalid_argument(fmt::format("dropout: probability {} is not in [0, 1)", p));
  if (!training || p == 0.0f) return x;
  // The mask is drawn sequentially from `gen`, so a seed fixes it; the op is then mul by a
  // constant.
  Tensor mask = Tensor::empty(x.shape());
  float keep_scale = 1.0f / (1.0f - p);
  float* m = mask.data();
  for (int64_t i = 0, n = mask.numel(); i < n; ++i) m[i] = gen.uniform() >= p ? keep_scale : 0.0f;
  return mul(x, mask);
}

}  // namespace minimax
