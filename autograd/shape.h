// Shape: the extents of a tensor, stored inline (no heap allocation) because shapes are built on
// every op of every training step.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

namespace minimax {

class Shape {
 public:
  static constexpr int kMaxDims = 8;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(std::span<const int64_t> dims);
  explicit Shape(const std::vector<int64_t>& dims) : Shape(std::span<const int64_t>(dims)) {}

  int size() const { return ndim_; }
  bool empty() const { return ndim_ == 0; }
  int64_t operator[](int i) const { return dims_[i]; }
  int64_t& operator[](int i) { return dims_[i]; }
  const int64_t* begin() const { return dims_.data(); }
  const int64_t* end() const { return dims_.data() + ndim_; }
  const int64_t* data() const { return dims_.data(); }
  int64_t back() const { return dims_[ndim_ - 1]; }

  void push_back(int64_t d);
  // Product of all extents; 1 for a scalar (rank 0).
  int64_t numel() const;
  // Row-major strides, in elements.
  std::vector<int64_t> strides() const;
  std::vector<int64_t> to_vector() const { return {begin(), end()}; }
  // "[2, 3, 4]"
  std::string str() const;

  friend bool operator==(const Shape& a, const Shape& b);

 private:
  std::array<int64_t, kMaxDims> dims_{};
  int ndim_ = 0;
};

// Normalizes a possibly negative dimension index against a rank; throws on out of range.
int normalize_dim(int dim, int rank, const char* op);

}  // namespace minimax
