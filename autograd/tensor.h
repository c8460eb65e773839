// Tensor: a float32, contiguous, row-major array with an autograd history.
//
// A Tensor is a cheap-to-copy handle: copying one copies a shared pointer, never the data. Two
// handles that came from the same copy are the same tensor (same data, same .grad). Use clone() for
// a deep copy and detach() for the same data without the history.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "autograd/shape.h"

namespace minimax {

class Generator;
struct Node;

// A block of floats from the caching allocator, shared by a tensor and its views (reshape).
class Storage {
 public:
  explicit Storage(int64_t numel);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  float* data() const { return data_; }
  int64_t numel() const { return numel_; }
  // How many times the data was changed in place (see Tensor::bump_version).
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  float* data_;
  int64_t numel_;
  uint64_t version_ = 0;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  bool requires_grad = false;  // true for leaves that want .grad and for outputs of recorded ops
  std::shared_ptr<TensorImpl> grad;  // accumulated by backward() on leaves
  std::shared_ptr<Node> grad_fn;     // the node that produced this tensor; null for leaves
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (no data); defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Creation. Every new tensor is a leaf that does not require grad.
  static Tensor empty(const Shape& shape);  // uninitialized
  static Tensor zeros(const Shape& shape);
  static Tensor ones(const Shape& shape);
  static Tensor full(const Shape& shape, float value);
  static Tensor scalar(float value);
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  static Tensor uniform(const Shape& shape, float low, float high, Generator& gen);
  static Tensor normal(const Shape& shape, float mean, float stddev, Generator& gen);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl()->shape; }
  int64_t size(int dim) const;
  int dim() const { return shape().size(); }
  int64_t numel() const { return shape().numel(); }
  float* data() const { return impl()->storage->data(); }
  // The single value of a one-element tensor.
  float item() const;
  std::vector<float> to_vector() const;
  std::string str() const;  // shape and values, for messages and debugging

  // Autograd.
  bool requires_grad() const { return defined() && impl_->requires_grad; }
  // Marks a leaf as wanting a gradient; returns *this so it chains:
  // Tensor::zeros(s).requires_grad_().
  Tensor& requires_grad_(bool value = true);
  bool is_leaf() const { return impl()->grad_fn == nullptr; }
  // The gradient accumulated by backward(); undefined until then.
  Tensor grad() const;
  void set_grad(const Tensor& g);
  void zero_grad();  // drops the accumulated gradient
  const std::shared_ptr<Node>& grad_fn() const { return impl()->grad_fn; }
  // Same data, no history, does not require grad.
  Tensor detach() const;
  // A deep copy of the data, recorded on the tape (the gradient flows through to *this).
  Tensor clone() const;
  // Backpropagates from this one-element tensor (or with an explicit gradient of the same shape),
  // as libtorch's Tensor::backward: retain_graph defaults to create_graph, and with create_graph
  // the gradients accumulated into the leaves carry history.
  void backward(const Tensor& gradient = Tensor(), std::optional<bool> retain_graph = std::nullopt,
                bool create_graph = false) const;

  // In-place data updates for optimizers and initializers: never recorded, and refused on a tensor
  // that carries history (that would corrupt what its backward saved).
  void copy_(const Tensor& src);
  void fill_(float value);
  // Each element clamped to [low, high], as libtorch's clamp_ (a NaN element stays NaN).
  void clamp_(float low, float high);

  // The version counter of the data, shared with every view and detach() of it: each in-place
  // change adds one (copy_, fill_, clamp_, the optimizers' steps, the nn::init functions,
  // checkpoint restores). A recorded op notes the versions of the inputs its backward reads, and
  // backward() refuses to run it once one of them has changed, as libtorch does. Code that writes
  // through data() into a tensor it did not just create calls bump_version() after the write.
  uint64_t version() const { return impl()->storage->version(); }
  void bump_version() const { impl()->storage->bump_version(); }

  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  TensorImpl* impl() const;
  std::shared_ptr<TensorImpl> impl_;
};

}  // namespace minimax
