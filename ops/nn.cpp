// Neural-network ops built from other ops: maxout and dropout.
#include <fmt/format.h>

#include <stdexcept>

#include "ops/internal.h"

namespace minimax {

Tensor maxout(const Tensor& x, int64_t pieces) {
  detail::check_rank(x, 2, "maxout", "input");
  if (pieces <= 0 || x.size(1) % pieces != 0)
    throw std::invalid_argument(fmt::format(
        "maxout: {} features do not split into groups of {} pieces", x.size(1), pieces));
  // Unit j takes the max over inputs j*pieces .. j*pieces + pieces - 1 (pylearn2's grouping).
  return max(reshape(x, {x.size(0), x.size(1) / pieces, pieces}), {2});
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
