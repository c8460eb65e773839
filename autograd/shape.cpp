#include "autograd/shape.h"

#include <fmt/format.h>

#include <stdexcept>

namespace minimax {

Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::span<const int64_t>(dims)) {}

Shape::Shape(std::span<const int64_t> dims) {
  for (int64_t d : dims) push_back(d);
}

void Shape::push_back(int64_t d) {
  if (ndim_ == kMaxDims)
    throw std::invalid_argument(
        fmt::format("Shape: at most {} dimensions are supported", kMaxDims));
  // -1 is allowed as reshape's "infer this extent"; a tensor never has it (Tensor::empty checks).
  if (d < -1) throw std::invalid_argument(fmt::format("Shape: negative extent {}", d));
  dims_[ndim_++] = d;
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim_; ++i)
    if (__builtin_mul_overflow(n, dims_[i], &n))
      throw std::length_error(fmt::format("Shape {}: more elements than an int64 counts", str()));
  return n;
}

std::vector<int64_t> Shape::strides() const {
  std::vector<int64_t> s(ndim_);
  int64_t stride = 1;
  for (int i = ndim_ - 1; i >= 0; --i) {
    s[i] = stride;
    stride *= dims_[i];
  }
  return s;
}

std::string Shape::str() const {
  return fmt::format("[{}]", fmt::join(begin(), end(), ", "));
}

bool operator==(const Shape& a, const Shape& b) {
  if (a.ndim_ != b.ndim_) return false;
  for (int i = 0; i < a.ndim_; ++i)
    if (a.dims_[i] != b.dims_[i]) return false;
  return true;
}

int normalize_dim(int dim, int rank, const char* op) {
  int d = dim < 0 ? dim + rank : dim;
  if (d < 0 || d >= rank)
    throw std::invalid_argument(
        fmt::format("{}: dimension {} is out of range for a tensor of rank {}", op, dim, rank));
  return d;
}

}  // namespace minimax
