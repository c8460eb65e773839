// oneDNN eltwise, softmax, binary, reduction and reorder primitives on our plain row-major tensors.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <vector>

#include "ops/dnnl/context.h"
#include "ops/kernels.h"
#include "ops/runtime.h"

namespace minimax::kernels {

using namespace dnnl_ctx;
using dnnl::memory;
using dnnl::prop_kind;

namespace {

struct EltwiseEntry {
  dnnl::eltwise_forward::primitive_desc forward_pd;
  dnnl::primitive forward;
  dnnl::primitive backward;  // built on first use
};

// Eltwise is layout-blind, so every tensor is viewed as one flat row of n floats.
EltwiseEntry& eltwise_entry(algorithm alg, float alpha, float beta, int64_t n) {
  return cached<EltwiseEntry>({static_cast<int64_t>(alg), key_of(alpha), key_of(beta), n}, [&] {
    memory::desc md = plain_desc(memory::dims{n});
    dnnl::eltwise_forward::desc d(prop_kind::forward_training, alg, md, alpha, beta);
    EltwiseEntry e{dnnl::eltwise_forward::primitive_desc(d, engine()), {}, {}};
    e.forward = dnnl::eltwise_forward(e.forward_pd);
    return e;
  });
}

}  // namespace

void eltwise_forward(algorithm alg, float alpha, float beta, const float* src, float* dst,
                     int64_t n) {
  if (n == 0) return;
  SerialBelow serial(n);
  EltwiseEntry& e = eltwise_entry(alg, alpha, beta, n);
  memory::desc md = e.forward_pd.src_desc();
  execute(e.forward, {{DNNL_ARG_SRC, wrap(md, src)}, {DNNL_ARG_DST, wrap(md, dst)}});
}

void eltwise_backward(algorithm alg, float alpha, float beta, const float* diff_dst,
                      const float* data, bool data_is_output, float* diff_src, int64_t n) {
  if (n == 0) return;
  SerialBelow serial(n);
  EltwiseEntry& e = eltwise_entry(alg, alpha, beta, n);
  memory::desc md = e.forward_pd.src_desc();
  if (!e.backward) {
    dnnl::eltwise_backward::desc d(alg, md, md, alpha, beta);
    e.backward =
        dnnl::eltwise_backward(dnnl::eltwise_backward::primitive_desc(d, engine(), e.forward_pd));
  }
  execute(e.backward, {{data_is_output ? DNNL_ARG_DST : DNNL_ARG_SRC, wrap(md, data)},
                       {DNNL_ARG_DIFF_DST, wrap(md, diff_dst)},
                       {DNNL_ARG_DIFF_SRC, wrap(md, diff_src)}});
}

namespace {

// One shape and axis: softmax_v2 with algorithm softmax_accurate or softmax_log. The backward
// needs the forward's primitive descriptor as its hint.
struct SoftmaxEntry {
  memory::desc md;
  dnnl::softmax_v2_forward::primitive_desc forward_pd;
  dnnl::primitive forward;
  dnnl::primitive backward;  // built on first use
};

SoftmaxEntry& softmax_entry(bool log, const Shape& shape, int axis) {
  CacheKey key{log, axis};
  for (int64_t d : shape) key.push_back(d);
  return cached<SoftmaxEntry>(std::move(key), [&] {
    const auto alg = log ? algorithm::softmax_log : algorithm::softmax_accurate;
    memory::desc md = plain_desc(shape);
    dnnl::softmax_v2_forward::desc d(prop_kind::forward_training, alg, md, md, axis);
    SoftmaxEntry e{md, dnnl::softmax_v2_forward::primitive_desc(d, engine()), {}, {}};
    e.forward = dnnl::softmax_v2_forward(e.forward_pd);
    return e;
  });
}

// oneDNN's softmax along the last dimension puts NaN where a row (the elements along `axis`) holds
// NaN or +inf, and computes the rest of the row as if that element were not there. As in
// torch.softmax, such a row is NaN throughout. One pass finds whether y holds a NaN at all; only
// then are rows looked at.
void spread_nan_along_rows(const Tensor& y, int axis) {
  float* p = y.data();
  const int64_t n = y.numel();
  bool any = false;
  for (int64_t i = 0; i < n; ++i) any |= p[i] != p[i];  // no early exit, so it can vectorize
  if (!any) return;
  const int64_t length = y.size(axis);
  int64_t inner = 1;
  for (int d = axis + 1; d < y.dim(); ++d) inner *= y.size(d);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t outer = 0; outer < n / (length * inner); ++outer)
    for (int64_t i = 0; i < inner; ++i) {
      float* row = p + outer * length * inner + i;
      bool has_nan = false;
      for (int64_t k = 0; k < length; ++k) has_nan |= row[k * inner] != row[k * inner];
      if (has_nan)
        for (int64_t k = 0; k < length; ++k) row[k * inner] = nan;
    }
}

}  // namespace

void softmax_forward(const Tensor& x, const Tensor& y, int axis) {
  if (x.numel() == 0) return;
  SerialBelow serial(x.numel());
  SoftmaxEntry& e = softmax_entry(/*log=*/false, x.shape(), axis);
  execute(e.forward, {{DNNL_ARG_SRC, wrap(e.md, x.data())}, {DNNL_ARG_DST, wrap(e.md, y.data())}});
  spread_nan_along_rows(y, axis);
}

void softmax_backward(bool log, const Tensor& gy, const Tensor& y, const Tensor& gx, int axis) {
  if (y.numel() == 0) return;
  SerialBelow serial(y.numel());
  SoftmaxEntry& e = softmax_entry(log, y.shape(), axis);
  if (!e.backward) {
    const auto alg = log ? algorithm::softmax_log : algorithm::softmax_accurate;
    dnnl::softmax_v2_backward::desc d(alg, e.md, e.md, e.md, axis);
    e.backward = dnnl::softmax_v2_backward(
        dnnl::softmax_v2_backward::primitive_desc(d, engine(), e.forward_pd));
  }
  execute(e.backward, {{DNNL_ARG_DST, wrap(e.md, y.data())},
                       {DNNL_ARG_DIFF_DST, wrap(e.md, gy.data())},
                       {DNNL_ARG_DIFF_SRC, wrap(e.md, gx.data())}});
}

namespace {

// The number of leading elements of `b` when b is a's leading dimensions followed by ones
// ([N,1,1,1] over [N,C,H,W]), each of its elements then standing for a run of a; 0 otherwise.
int64_t leading_broadcast_rows(const Shape& a, const Shape& b) {
  int kept = 0;
  while (kept < b.size() && b[kept] == a[kept]) ++kept;
  for (int i = kept; i < b.size(); ++i)
    if (b[i] != 1) return 0;
  int64_t rows = b.numel();
  return rows > 1 && rows < a.numel() ? rows : 0;
}

template <class Op>
void rows_binary(const float* a, const float* b, float* out, int64_t rows, int64_t run, Op op) {
#pragma omp parallel for if (rows * run >= kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r) {
    const float br = b[r];
    const float* ar = a + r * run;
    float* outr = out + r * run;
#pragma omp simd
    for (int64_t i = 0; i < run; ++i) outr[i] = op(ar[i], br);
  }
}

// oneDNN 2.6 runs such a broadcast on its reference loop, 2 ms for [64,1,28,28] times [64,1,1,1]
// (the gradient penalty's per-sample mixing weight, 20 ms of each WGAN-GP iteration); this loop
// runs at memory speed. The comparisons give 1 or 0, as oneDNN's.
void rows_binary(algorithm alg, const Tensor& a, const Tensor& b, const Tensor& out, int64_t rows) {
  const int64_t run = a.numel() / rows;
  const float *x = a.data(), *y = b.data();
  float* z = out.data();
  switch (alg) {
    case algorithm::binary_add:
      return rows_binary(x, y, z, rows, run, std::plus<float>());
    case algorithm::binary_sub:
      return rows_binary(x, y, z, rows, run, std::minus<float>());
    case algorithm::binary_mul:
      return rows_binary(x, y, z, rows, run, std::multiplies<float>());
    case algorithm::binary_div:
      return rows_binary(x, y, z, rows, run, std::divides<float>());
    case algorithm::binary_gt:
      return rows_binary(x, y, z, rows, run, [](float p, float q) { return p > q ? 1.0f : 0.0f; });
    case algorithm::binary_eq:
      return rows_binary(x, y, z, rows, run, [](float p, float q) { return p == q ? 1.0f : 0.0f; });
    default:
      throw std::logic_error(
          fmt::format("binary: no row-broadcast loop for algorithm {}", static_cast<int>(alg)));
  }
}

}  // namespace

void binary(algorithm alg, const Tensor& a, const Tensor& b, const Tensor& out) {
  if (out.numel() == 0) return;
  if (int64_t rows = leading_broadcast_rows(a.shape(), b.shape()))
    return rows_binary(alg, a, b, out, rows);
  SerialBelow serial(out.numel());
  struct BinaryEntry {
    dnnl::primitive p;
    memory::desc a, b, out;
  };
  CacheKey key{static_cast<int64_t>(alg), a.dim()};
  for (int64_t d : a.shape()) key.push_back(d);
  for (int64_t d : b.shape()) key.push_back(d);
  BinaryEntry& e = cached<BinaryEntry>(std::move(key), [&] {
    BinaryEntry n{{}, plain_desc(a.shape()), plain_desc(b.shape()), plain_desc(out.shape())};
    dnnl::binary::desc d(alg, n.a, n.b, n.out);
    n.p = dnnl::binary(dnnl::binary::primitive_desc(d, engine()));
    return n;
  });
  execute(e.p, {{DNNL_ARG_SRC_0, wrap(e.a, a.data())},
                {DNNL_ARG_SRC_1, wrap(e.b, b.data())},
                {DNNL_ARG_DST, wrap(e.out, out.data())}});
}

namespace {

// src's extents as [outer, middle, inner] when dst keeps one run of consecutive dimensions of src
// and collapses all the others: a bias gradient's sum over the batch (inner 1), a per-channel sum
// over [N, C, H, W] (outer N, middle C, inner H W). All 1 when dst is not of that form.
struct KeptBlock {
  int64_t outer = 1, middle = 1, inner = 1;
};

KeptBlock kept_block(const Tensor& src, const Tensor& dst) {
  const int n = src.dim();
  int k = 0;
  while (k < n && dst.size(k) == 1) ++k;
  int j = k;
  while (j < n && dst.size(j) == src.size(j)) ++j;
  for (int i = j; i < n; ++i)
    if (dst.size(i) != 1) return {};
  KeptBlock b;
  for (int i = 0; i < n; ++i) (i < k ? b.outer : i < j ? b.middle : b.inner) *= src.size(i);
  return b;
}

// A row of at least n ones, for sums written as GEMMs.
const float* ones(int64_t n) {
  thread_local std::vector<float> row;
  if (static_cast<int64_t>(row.size()) < n) row.assign(n, 1.0f);
  return row.data();
}

// A column sum as a GEMM: dst [1, cols] = alpha * ones [1, rows] x src [rows, cols]. oneDNN's
// reduction has no JIT kernel for reducing the outer dimension of a plain tensor; its reference
// loop took over a millisecond for a [100, 1200] bias gradient.
void column_sum(const float* src, float* dst, int64_t rows, int64_t cols, float alpha) {
  gemm_unrecorded(false, false, 1, cols, rows, alpha, ones(rows), rows, src, cols, 0.0f, dst, cols);
}

// A sum over the outer and inner extents as two GEMMs: the rows of src [outer middle, inner]
// times a ones column, then the column sum of those [outer, middle] row sums. oneDNN's reference
// loop took 1.6-6.5 ms for the [64, 128, 7, 7] channel sums of the WGAN-GP penalty's backward
// through batch norm, some 100 of them an iteration.
void outer_inner_sum(const Tensor& src, const Tensor& dst, const KeptBlock& b, float alpha) {
  Tensor rows = Tensor::empty({b.outer * b.middle});
  gemm_unrecorded(false, false, b.outer * b.middle, 1, b.inner, 1.0f, src.data(), b.inner,
                  ones(b.inner), 1, 0.0f, rows.data(), 1);
  column_sum(rows.data(), dst.data(), b.outer, b.middle, alpha);
}

}  // namespace

void reduce(algorithm alg, const Tensor& src, const Tensor& dst) {
  if (src.shape() == dst.shape()) {  // nothing to reduce; oneDNN refuses that case
    std::memcpy(dst.data(), src.data(), src.numel() * sizeof(float));
    return;
  }
  const bool summing = alg == algorithm::reduction_sum || alg == algorithm::reduction_mean;
  if (const KeptBlock b = kept_block(src, dst); summing && b.outer > 1) {
    const float alpha = alg == algorithm::reduction_mean ? 1.0f / (b.outer * b.inner) : 1.0f;
    if (b.inner == 1)
      column_sum(src.data(), dst.data(), b.outer, b.middle, alpha);
    else
      outer_inner_sum(src, dst, b, alpha);
    return;
  }
  SerialBelow serial(src.numel());
  struct ReductionEntry {
    dnnl::primitive p;
    memory::desc src, dst;
  };
  CacheKey key{static_cast<int64_t>(alg), src.dim()};
  for (int64_t d : src.shape()) key.push_back(d);
  for (int64_t d : dst.shape()) key.push_back(d);
  ReductionEntry& e = cached<ReductionEntry>(std::move(key), [&] {
    ReductionEntry n{{}, plain_desc(src.shape()), plain_desc(dst.shape())};
    dnnl::reduction::desc d(alg, n.src, n.dst, 0.0f, 0.0f);
    n.p = dnnl::reduction(dnnl::reduction::primitive_desc(d, engine()));
    return n;
  });
  execute(e.p, {{DNNL_ARG_SRC, wrap(e.src, src.data())}, {DNNL_ARG_DST, wrap(e.dst, dst.data())}});
}

namespace {

// A reorder between a plain tensor of `shape` and a strided view of the same shape: from the
// view when strided_source, into it otherwise.
struct StridedReorder {
  dnnl::primitive p;
  memory::desc src, dst;
};

const StridedReorder& strided_reorder(const Shape& shape, const std::vector<int64_t>& strides,
                                      bool strided_source) {
  CacheKey key{strided_source, static_cast<int64_t>(shape.size())};
  for (int64_t d : shape) key.push_back(d);
  for (int64_t s : strides) key.push_back(s);
  return cached<StridedReorder>(std::move(key), [&] {
    memory::dims dims = dims_of(shape);
    memory::dims view_strides(strides.begin(), strides.end());
    if (shape.size() == 0) view_strides = {1};
    memory::desc plain = plain_desc(dims), view(dims, memory::data_type::f32, view_strides);
    StridedReorder n{{}, strided_source ? view : plain, strided_source ? plain : view};
    n.p = dnnl::reorder(dnnl::reorder::primitive_desc(engine(), n.src, engine(), n.dst));
    return n;
  });
}

// The view's dimensions with unit ones dropped and neighbours merged where the source walks them
// as one (stride[k] == stride[k+1] * size[k+1], which joins two broadcast dimensions too), so the
// innermost is as long as it can be: [64,256,3,3] from a per-channel [256] is 16,384 runs of 9
// copies of one value.
struct CollapsedView {
  // Inline, like Shape's dimensions: expand runs many times in every step, and a pair of vectors
  // would be two heap allocations each time.
  std::array<int64_t, Shape::kMaxDims> sizes{}, strides{};
  int rank = 0;
};

CollapsedView collapse(const Shape& shape, const std::vector<int64_t>& strides) {
  CollapsedView v;
  for (int k = 0; k < shape.size(); ++k) {
    if (shape[k] == 1) continue;
    if (v.rank > 0 && v.strides[v.rank - 1] == strides[k] * shape[k]) {
      v.sizes[v.rank - 1] *= shape[k];
      v.strides[v.rank - 1] = strides[k];
      continue;
    }
    v.sizes[v.rank] = shape[k];
    v.strides[v.rank] = strides[k];
    ++v.rank;
  }
  return v;
}

// dst (row-major, `shape`) = the view of src with `strides`, some of them 0 (expand, and the
// gradients of sum and mean). One output row of the collapsed view at a time, its source offset
// from the row's coordinates; within a row, a fill, a copy or a strided gather.
void broadcast_copy(const float* src, const std::vector<int64_t>& strides, const Shape& shape,
                    float* dst) {
  const CollapsedView v = collapse(shape, strides);
  if (v.rank == 0) {  // one element
    dst[0] = src[0];
    return;
  }
  const int outer = v.rank - 1;
  const int64_t run = v.sizes[outer], step = v.strides[outer], rows = shape.numel() / run;
#pragma omp parallel for if (rows * run >= kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t offset = 0;
    for (int64_t k = outer - 1, rest = r; k >= 0; --k) {
      offset += (rest % v.sizes[k]) * v.strides[k];
      rest /= v.sizes[k];
    }
    const float* s = src + offset;
    float* d = dst + r * run;
    if (step == 0)
      std::fill_n(d, run, s[0]);
    else if (step == 1)
      std::copy_n(s, run, d);
    else
      for (int64_t i = 0; i < run; ++i) d[i] = s[i * step];
  }
}

}  // namespace

void strided_copy(const Tensor& src, const std::vector<int64_t>& src_strides, int64_t src_offset,
                  const Tensor& dst) {
  if (dst.numel() == 0) return;
  bool broadcasts = false;
  for (size_t i = 0; i < src_strides.size(); ++i)
    broadcasts = broadcasts || (src_strides[i] == 0 && dst.shape()[i] > 1);
  if (broadcasts) {
    // oneDNN's reorder does not take zero strides.
    broadcast_copy(src.data() + src_offset, src_strides, dst.shape(), dst.data());
    return;
  }
  SerialBelow serial(dst.numel());
  const StridedReorder& e = strided_reorder(dst.shape(), src_strides, /*strided_source=*/true);
  execute(e.p, {{DNNL_ARG_FROM, wrap(e.src, src.data() + src_offset)},
                {DNNL_ARG_TO, wrap(e.dst, dst.data())}});
}

void strided_store(const Tensor& src, const Tensor& dst, const std::vector<int64_t>& dst_strides,
                   int64_t dst_offset) {
  SerialBelow serial(src.numel());
  const StridedReorder& e = strided_reorder(src.shape(), dst_strides, /*strided_source=*/false);
  execute(e.p, {{DNNL_ARG_FROM, wrap(e.src, src.data())},
                {DNNL_ARG_TO, wrap(e.dst, dst.data() + dst_offset)}});
}

}  // namespace minimax::kernels
