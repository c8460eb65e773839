// Shape ops: views (reshape) and copies through oneDNN reorders (permute, expand, slice) and its
// concat primitive.
#include <fmt/format.h>

#include <numeric>
#include <stdexcept>

#include "ops/internal.h"

namespace minimax {

Tensor detail::view(const Tensor& x, const Shape& shape) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = x.impl_ptr()->storage;
  impl->shape = shape;
  return Tensor(std::move(impl));
}

Shape detail::pad_to_rank(const Shape& shape, int rank) {
  Shape padded;
  for (int i = shape.size(); i < rank; ++i) padded.push_back(1);
  for (int64_t d : shape) padded.push_back(d);
  return padded;
}

void detail::check_rank(const Tensor& x, int rank, const char* op, const char* what) {
  check_defined(x, op, what);
  if (x.dim() != rank)
    throw std::invalid_argument(fmt::format("{}: {} must have {} dimensions, got shape {}", op,
                                            what, rank, x.shape().str()));
}

void detail::check_defined(const Tensor& x, const char* op, const char* what) {
  if (!x.defined())
    throw std::invalid_argument(fmt::format("{}: {} is an undefined tensor", op, what));
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  int rank = std::max(a.size(), b.size());
  Shape pa = detail::pad_to_rank(a, rank), pb = detail::pad_to_rank(b, rank), out;
  for (int i = 0; i < rank; ++i) {
    if (pa[i] != pb[i] && pa[i] != 1 && pb[i] != 1)
      throw std::invalid_argument(
          fmt::format("{}: shapes {} and {} do not broadcast (dimension {}: "
                      "{} vs {})",
                      op, a.str(), b.str(), i, pa[i], pb[i]));
    out.push_back(pa[i] == 1 ? pb[i] : pa[i]);
  }
  return out;
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  detail::check_defined(x, "reshape", "input");
  Shape resolved;
  int inferred = -1;
  int64_t known = 1;
  for (int i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (inferred >= 0) throw std::invalid_argument("reshape: only one extent may be -1");
      inferred = i;
      resolved.push_back(1);
    } else {
      resolved.push_back(shape[i]);
      known *= shape[i];
    }
  }
  if (inferred >= 0 && known != 0 && x.numel() % known == 0) resolved[inferred] = x.numel() / known;
  if (resolved.numel() != x.numel())
    throw std::invalid_argument(fmt::format("reshape: cannot view {} ({} elements) as {}",
                                            x.shape().str(), x.numel(), shape.str()));
  return record("reshape", detail::view(x, resolved), {x},
                [s = x.shape()](const Tensor& g, Node&) -> TensorList { return {reshape(g, s)}; });
}

Tensor flatten(const Tensor& x, int start_dim, int end_dim) {
  detail::check_defined(x, "flatten", "input");
  int start = normalize_dim(start_dim, x.dim(), "flatten");
  int end = normalize_dim(end_dim, x.dim(), "flatten");
  if (start > end)
    throw std::invalid_argument(fmt::format(
        "flatten: start_dim {} comes after end_dim {} (rank {})", start_dim, end_dim, x.dim()));
  Shape s;
  for (int i = 0; i < start; ++i) s.push_back(x.size(i));
  int64_t merged = 1;
  for (int i = start; i <= end; ++i) merged *= x.size(i);
  s.push_back(merged);
  for (int i = end + 1; i < x.dim(); ++i) s.push_back(x.size(i));
  return reshape(x, s);
}

Tensor permute(const Tensor& x, const Dims& order) {
  detail::check_defined(x, "permute", "input");
  if (static_cast<int>(order.size()) != x.dim())
    throw std::invalid_argument(fmt::format("permute: {} dimensions given for a tensor of shape {}",
                                            order.size(), x.shape().str()));
  std::vector<int64_t> in_strides = x.shape().strides(), strides;
  std::vector<bool> used(x.dim(), false);
  Dims inverse(x.dim());
  Shape out;
  for (int i = 0; i < x.dim(); ++i) {
    int d = normalize_dim(order[i], x.dim(), "permute");
    if (used[d]) throw std::invalid_argument(fmt::format("permute: dimension {} repeats", d));
    used[d] = true;
    inverse[d] = i;
    out.push_back(x.size(d));
    strides.push_back(in_strides[d]);
  }
  Tensor y = Tensor::empty(out);
  kernels::strided_copy(x, strides, 0, y);
  return record("permute", std::move(y), {x},
                [inverse](const Tensor& g, Node&) -> TensorList { return {permute(g, inverse)}; });
}

Tensor transpose(const Tensor& x, int dim0, int dim1) {
  detail::check_defined(x, "transpose", "input");
  Dims order(x.dim());
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[normalize_dim(dim0, x.dim(), "transpose")],
            order[normalize_dim(dim1, x.dim(), "transpose")]);
  return permute(x, order);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  detail::check_defined(x, "expand", "input");
  if (x.shape() == shape) return x;
  if (shape.size() < x.dim())
    throw std::invalid_argument(fmt::format("expand: cannot expand {} to the smaller rank of {}",
                                            x.shape().str(), shape.str()));
  Shape padded = detail::pad_to_rank(x.shape(), shape.size());
  std::vector<int64_t> strides = padded.strides();
  for (int i = 0; i < shape.size(); ++i) {
    if (padded[i] == shape[i]) continue;
    if (padded[i] != 1)
      throw std::invalid_argument(
          fmt::format("expand: {} does not broadcast to {}", x.shape().str(), shape.str()));
    strides[i] = 0;
  }
  Tensor y = Tensor::empty(shape);
  kernels::strided_copy(x, strides, 0, y);
  return record("expand", std::move(y), {x},
                [s = x.shape()](const Tensor& g, Node&) -> TensorList { return {sum_to(g, s)}; });
}

Tensor slice(const Tensor& x, int dim, int64_t start, int64_t end) {
  detail::check_defined(x, "slice", "input");
  int d = normalize_dim(dim, x.dim(), "slice");
  if (start < 0 || end > x.size(d) || start > end)
    throw std::invalid_argument(fmt::format("slice: [{}, {}) is not within dimension {} of {}",
                                            start, end, d, x.shape().str()));
  Shape out = x.shape();
  out[d] = end - start;
  std::vector<int64_t> strides = x.shape().strides();
  Tensor y = Tensor::empty(out);
  kernels::strided_copy(x, strides, start * strides[d], y);
  return record("slice", std::move(y), {x}, [s = x.shape(), d, start, end](const Tensor& g, Node&) {
    // The gradient is g placed at [start, end) among zeros: a concat, itself differentiable.
    std::vector<Tensor> parts;
    Shape before = s, after = s;
    before[d] = start;
    after[d] = s[d] - end;
    if (start > 0) parts.push_back(Tensor::zeros(before));
    parts.push_back(g);
    if (after[d] > 0) parts.push_back(Tensor::zeros(after));
    return TensorList{parts.size() == 1 ? g : concat(parts, d)};
  });
}

Tensor concat(const std::vector<Tensor>& xs, int dim) {
  if (xs.empty()) throw std::invalid_argument("concat: no tensors given");
  for (const Tensor& x : xs) detail::check_defined(x, "concat", "input");
  int d = normalize_dim(dim, xs[0].dim(), "concat");
  Shape out = xs[0].shape();
  out[d] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Shape& s = xs[i].shape();
    bool same = s.size() == out.size();
    for (int k = 0; same && k < s.size(); ++k) same = k == d || s[k] == out[k];
    if (!same)
      throw std::invalid_argument(
          fmt::format("concat: tensor {} has shape {}, which does not match "
                      "{} outside dimension {}",
                      i, s.str(), xs[0].shape().str(), d));
    out[d] += s[d];
  }
  Tensor y = Tensor::empty(out);
  // Each input is copied into its slab of the output: a reorder into a strided view.
  std::vector<int64_t> dst_strides = out.strides();
  int64_t offset = 0;
  std::vector<int64_t> extents;
  for (const Tensor& x : xs) {
    if (x.numel() > 0) kernels::strided_store(x, y, dst_strides, offset * dst_strides[d]);
    offset += x.size(d);
    extents.push_back(x.size(d));
  }
  return record("concat", std::move(y), TensorList(xs.begin(), xs.end()),
                [extents, d](const Tensor& g, Node& n) {
                  TensorList r(extents.size());
                  int64_t start = 0;
                  for (size_t i = 0; i < extents.size(); ++i) {
                    if (n.needs_input_grad(i)) r[i] = slice(g, d, start, start + extents[i]);
                    start += extents[i];
                  }
                  return r;
                });
}

Tensor Tensor::clone() const {
  Tensor y = Tensor::empty(shape());
  std::copy_n(data(), numel(), y.data());
  return record("clone", std::move(y), {*this},
                [](const Tensor& g, Node&) -> TensorList { return {g}; });
}

}  // namespace minimax
