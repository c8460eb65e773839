// Neural-network ops on plain loops or built from other ops: maxout, dropout, embedding, one_hot.
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>

#include "autograd/random.h"
#include "ops/internal.h"
#include "ops/runtime.h"
#include "ops/thread_ranges.h"
#include "ops/vector_clones.h"

namespace minimax {

namespace {

// Maxout runs on plain loops: a max over a few adjacent floats, memory-bound, which as a generic
// max reduction cost five broadcasting oneDNN ops in its backward. Unit j of a row takes the max
// over inputs j*pieces .. j*pieces + pieces - 1 (pylearn2's grouping). `winners` holds, per output,
// the index of the winning piece (small integers, exact as floats, so it lives in a Tensor from
// the caching allocator). Ties go to the first piece, as torch.max(dim) and max pooling do.
//
// Each loop runs over units in in_ranges' shares, judged by the wide side (the input's pieces):
// the paper MLP's maxout reads 120,000 floats but writes 24,000, and on one thread it left the
// other core idle long enough to fall asleep before the next layer's GEMM woke it.
template <class Range>
void for_unit_ranges(int64_t units, int64_t pieces, Range range) {
  kernels::in_ranges(units, units * pieces >= kParallelMinElements, range);
}

template <class Unit>
void for_each_unit(int64_t units, int64_t pieces, Unit unit) {
  for_unit_ranges(units, pieces, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) unit(u);
  });
}

void maxout_forward(const Tensor& x, int64_t pieces, const Tensor& y, const Tensor& winners) {
  const float* in = x.data();
  float* out = y.data();
  float* win = winners.data();
  for_each_unit(y.numel(), pieces, [=](int64_t u) {
    // Selects rather than branches: which piece wins is data, and a branch on it mispredicts.
    const float* group = in + u * pieces;
    float top = group[0];
    int64_t best = 0;
    for (int64_t k = 1; k < pieces; ++k) {
      const bool higher = group[k] > top;
      top = higher ? group[k] : top;
      best = higher ? k : best;
    }
    out[u] = top;
    win[u] = static_cast<float>(best);
  });
}

Tensor maxout_gather(const Tensor& v, const Tensor& winners, int64_t pieces);

// gx = gy routed to each unit's winning piece, zero elsewhere: the adjoint of maxout. Each thread
// zeroes its share of gx in one fill, then stores its winners while the share is still in cache.
// A fill per group was a library call for a few floats: 1% of the paper MLP's samples in memset.
Tensor maxout_scatter(const Tensor& gy, const Tensor& winners, int64_t pieces) {
  Tensor gx = Tensor::empty({gy.size(0), gy.size(1) * pieces});
  const float* g = gy.data();
  const float* win = winners.data();
  float* out = gx.data();
  for_unit_ranges(gy.numel(), pieces, [=](int64_t u0, int64_t u1) {
    std::fill(out + u0 * pieces, out + u1 * pieces, 0.0f);
    for (int64_t u = u0; u < u1; ++u) out[u * pieces + static_cast<int64_t>(win[u])] = g[u];
  });
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
  for_each_unit(out.numel(), pieces,
                [=](int64_t u) { o[u] = in[u * pieces + static_cast<int64_t>(win[u])]; });
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

namespace {

struct DropoutArgs {
  const float* x;
  float* y;
  float* mask;  // written only when a backward will read it
  uint64_t key;
  uint32_t threshold, keep_bits;
};

// y = x * mask on [begin, end), with mask[i] 0 or 1 / (1 - p) from the counter-based stream
// `key`: element i is kept when keyed_bits24(key, i) >= threshold. Branch-free (all ones or zeros
// masking the scale's bits): a branch on a random comparison mispredicts up to half the time, which
// cost more than drawing the number.
template <bool kWriteMask>
MINIMAX_VECTOR_CLONES void dropout_range(const DropoutArgs& a, int64_t begin, int64_t end) {
  const float* x = a.x;
  float* y = a.y;
  float* mask = a.mask;
  const uint64_t key = a.key;
  const uint32_t threshold = a.threshold, keep_bits = a.keep_bits;
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    const uint32_t keep = 0u - static_cast<uint32_t>(keyed_bits24(key, i) >= threshold);
    const float m = std::bit_cast<float>(keep_bits & keep);
    y[i] = x[i] * m;
    if constexpr (kWriteMask) mask[i] = m;
  }
}

// Drawing an element's bit is a chain of 64-bit multiplies. The baseline x86-64 target has no
// vector 64-bit multiply, so there it costs about 1.9 ns per element on one core, some ten times an
// elementwise pass's memory traffic; the AVX-512 clone (whose x86-64-v4 level has vpmullq) draws
// eight at a time, in 0.19 ns, and the pass costs about what a memory pass does. So it goes
// parallel at the memory passes' size. The eighth of it that the baseline's cost had needed ran the
// paper MLP no faster: 67.1 / 67.1 / 66.0 it/s, against 67.0 / 66.9 / 66.6 at the full size.
template <bool kWriteMask>
void dropout_kernel(const DropoutArgs& a, int64_t n) {
  kernels::in_ranges(n, n >= kParallelMinElements,
                     [&](int64_t begin, int64_t end) { dropout_range<kWriteMask>(a, begin, end); });
}

}  // namespace

Tensor dropout(const Tensor& x, float p, bool training, Generator& gen) {
  detail::check_defined(x, "dropout", "input");
  if (!(p >= 0.0f && p < 1.0f))
    throw std::invalid_argument(fmt::format("dropout: probability {} is not in [0, 1)", p));
  if (!training || p == 0.0f) return x;
  // One draw from `gen` keys the mask's counter-based stream: a seed fixes the mask, which is
  // then made in parallel and is the same at every thread count. Mask and product come from one
  // pass: the product x * mask, rounded as mul(x, mask) rounds it, and the mask only when the
  // backward (gy * mask) will need it.
  const uint32_t keep_bits = std::bit_cast<uint32_t>(1.0f / (1.0f - p));
  // keyed_uniform(key, i) >= p, in integers: p * 2^24 is exact, so the 24 bits must reach its
  // ceiling.
  const auto threshold = static_cast<uint32_t>(std::ceil(p * 0x1.0p24f));
  const uint64_t key = gen.next_u64();
  Tensor y = Tensor::empty(x.shape());
  const bool recording = GradMode::is_enabled() && x.requires_grad();
  if (!recording) {
    dropout_kernel<false>({x.data(), y.data(), nullptr, key, threshold, keep_bits}, x.numel());
    return y;
  }
  Tensor mask = Tensor::empty(x.shape());
  dropout_kernel<true>({x.data(), y.data(), mask.data(), key, threshold, keep_bits}, x.numel());
  return record("dropout", std::move(y), {x},
                [mask](const Tensor& gy, Node&) { return TensorList{mul(gy, mask)}; });
}

// ---- indices held in floats: embedding and one_hot ----

void detail::check_indices(const Tensor& t, int64_t bound, const char* op, const char* what) {
  check_defined(t, op, what);
  const float* v = t.data();
  for (int64_t i = 0, n = t.numel(); i < n; ++i)
    if (!(v[i] >= 0.0f && v[i] < static_cast<float>(bound) && v[i] == std::floor(v[i])))
      throw std::invalid_argument(
          fmt::format("{}: {} {} holds {} at flat index {}, which is not a whole number in [0, {})",
                      op, what, t.shape().str(), v[i], i, bound));
}

namespace {

// indices' shape with one more trailing extent, or an error naming op when that exceeds the rank
// a Shape holds.
Shape append_extent(const Tensor& indices, int64_t extent, const char* op, const char* what) {
  if (indices.dim() >= Shape::kMaxDims)
    throw std::invalid_argument(
        fmt::format("{}: {} {} leave no room for the output's extra dimension (at most {})", op,
                    what, indices.shape().str(), Shape::kMaxDims));
  Shape s = indices.shape();
  s.push_back(extent);
  return s;
}

// Embedding is a row gather and its backward a row scatter-add: each is the other's adjoint, so
// they differentiate into each other (as maxout's scatter and gather). Plain loops: oneDNN 2.6 has
// no gather. `indices` are validated and hold whole numbers in [0, rows).

Tensor embedding_scatter(const Tensor& g, const Tensor& indices, int64_t rows);

// out [..., D] = weight [rows, D] at each index.
Tensor embedding_gather(const Tensor& weight, const Tensor& indices, const char* name) {
  const int64_t d = weight.size(1), count = indices.numel();
  Tensor out = Tensor::empty(append_extent(indices, d, name, "indices"));
  const float* idx = indices.data();
  const float* w = weight.data();
  float* o = out.data();
#pragma omp parallel for if (count * d >= kParallelMinElements)
  for (int64_t i = 0; i < count; ++i)
    std::copy_n(w + static_cast<int64_t>(idx[i]) * d, d, o + i * d);
  return record(name, std::move(out), {weight},
                [indices, rows = weight.size(0)](const Tensor& g, Node&) -> TensorList {
                  return {embedding_scatter(g, indices, rows)};
                });
}

// gw [rows, D] = the sum of g's rows [..., D] landing on each index; repeated indices accumulate.
// Sequential over the indices, so the sums are deterministic.
Tensor embedding_scatter(const Tensor& g, const Tensor& indices, int64_t rows) {
  const int64_t d = g.size(g.dim() - 1), count = indices.numel();
  Tensor gw = Tensor::zeros({rows, d});
  const float* idx = indices.data();
  const float* src = g.data();
  float* dst = gw.data();
  for (int64_t i = 0; i < count; ++i) {
    float* row = dst + static_cast<int64_t>(idx[i]) * d;
    const float* add = src + i * d;
#pragma omp simd
    for (int64_t k = 0; k < d; ++k) row[k] += add[k];
  }
  return record("embedding_backward", std::move(gw), {g},
                [indices](const Tensor& gg, Node&) -> TensorList {
                  return {embedding_gather(gg, indices, "embedding_gather")};
                });
}

}  // namespace

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  detail::check_rank(weight, 2, "embedding", "weight");
  detail::check_indices(indices, weight.size(0), "embedding", "indices");
  // A backward reads the indices later: it gets its own copy, because a caller may refill the
  // tensor it passed (a batch sampler's label buffer) before backpropagating.
  bool recording = GradMode::is_enabled() && weight.requires_grad();
  Tensor idx = indices;
  if (recording) {
    idx = Tensor::empty(indices.shape());
    std::copy_n(indices.data(), indices.numel(), idx.data());
  }
  return embedding_gather(weight, idx, "embedding");
}

Tensor one_hot(const Tensor& labels, int64_t n) {
  if (n < 1) throw std::invalid_argument(fmt::format("one_hot: {} classes; need at least one", n));
  detail::check_indices(labels, n, "one_hot", "labels");
  Tensor out = Tensor::zeros(append_extent(labels, n, "one_hot", "labels"));
  const float* l = labels.data();
  float* o = out.data();
  for (int64_t i = 0, count = labels.numel(); i < count; ++i)
    o[i * n + static_cast<int64_t>(l[i])] = 1.0f;
  return out;
}

}  // namespace minimax
