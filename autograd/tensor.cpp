#include "autograd/tensor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "autograd/allocator.h"
#include "autograd/engine.h"
#include "autograd/random.h"

namespace minimax {

Storage::Storage(int64_t numel)
    : data_(static_cast<float*>(CachingAllocator::instance().allocate(numel * sizeof(float)))),
      numel_(numel) {}

Storage::~Storage() {
  CachingAllocator::instance().deallocate(data_, numel_ * sizeof(float));
}

TensorImpl* Tensor::impl() const {
  if (!impl_) throw std::logic_error("use of an undefined Tensor");
  return impl_.get();
}

Tensor Tensor::empty(const Shape& shape) {
  for (int64_t d : shape)
    if (d < 0)
      throw std::invalid_argument(fmt::format("Tensor: negative extent in shape {}", shape.str()));
  // The byte count must not wrap: a wrapped one allocates a small block that ops then overrun.
  const int64_t numel = shape.numel();
  if (numel > std::numeric_limits<int64_t>::max() / static_cast<int64_t>(sizeof(float)))
    throw std::length_error(fmt::format(
        "Tensor: shape {} has {} elements, more than memory can address", shape.str(), numel));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(numel);
  impl->shape = shape;
  return Tensor(std::move(impl));
}

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape);
  std::fill_n(t.data(), t.numel(), value);
  return t;
}

Tensor Tensor::zeros(const Shape& shape) {
  return full(shape, 0.0f);
}
Tensor Tensor::ones(const Shape& shape) {
  return full(shape, 1.0f);
}
Tensor Tensor::scalar(float value) {
  return full(Shape{}, value);
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape) {
  if (static_cast<int64_t>(values.size()) != shape.numel())
    throw std::invalid_argument(fmt::format("Tensor::from_vector: {} values do not fill shape {}",
                                            values.size(), shape.str()));
  Tensor t = empty(shape);
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

Tensor Tensor::uniform(const Shape& shape, float low, float high, Generator& gen) {
  if (!(low <= high))
    throw std::invalid_argument(fmt::format("Tensor::uniform: low {} above high {}", low, high));
  Tensor t = empty(shape);
  float* p = t.data();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = low + (high - low) * gen.uniform();
  return t;
}

Tensor Tensor::normal(const Shape& shape, float mean, float stddev, Generator& gen) {
  if (!(stddev >= 0))
    throw std::invalid_argument(fmt::format("Tensor::normal: negative stddev {}", stddev));
  Tensor t = empty(shape);
  float* p = t.data();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = mean + stddev * gen.normal();
  return t;
}

int64_t Tensor::size(int d) const {
  return shape()[normalize_dim(d, dim(), "Tensor::size")];
}

float Tensor::item() const {
  if (numel() != 1)
    throw std::invalid_argument(fmt::format(
        "Tensor::item: tensor of shape {} has {} elements, not one", shape().str(), numel()));
  return data()[0];
}

std::vector<float> Tensor::to_vector() const {
  return {data(), data() + numel()};
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  constexpr int64_t kShown = 8;
  std::vector<float> head(data(), data() + std::min(numel(), kShown));
  return fmt::format("Tensor(shape={}, values=[{}{}])", shape().str(), fmt::join(head, ", "),
                     numel() > kShown ? ", ..." : "");
}

Tensor& Tensor::requires_grad_(bool value) {
  if (!is_leaf())
    throw std::invalid_argument(
        "requires_grad_: only a leaf's flag can be set; use detach() to make a new leaf");
  impl()->requires_grad = value;
  return *this;
}

Tensor Tensor::grad() const {
  return impl()->grad ? Tensor(impl()->grad) : Tensor();
}

void Tensor::set_grad(const Tensor& g) {
  if (g.defined() && !(g.shape() == shape()))
    throw std::invalid_argument(fmt::format(
        "set_grad: gradient of shape {} for a tensor of shape {}", g.shape().str(), shape().str()));
  impl()->grad = g.impl_ptr();
}

void Tensor::zero_grad() {
  impl()->grad.reset();
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = this->impl()->storage;
  impl->shape = shape();
  return Tensor(std::move(impl));
}

void Tensor::backward(const Tensor& gradient, std::optional<bool> retain_graph,
                      bool create_graph) const {
  minimax::backward(
      {*this},
      {.grad_outputs = {gradient}, .retain_graph = retain_graph, .create_graph = create_graph});
}

void Tensor::copy_(const Tensor& src) {
  if (!(src.shape() == shape()))
    throw std::invalid_argument(fmt::format("copy_: source of shape {} into a tensor of shape {}",
                                            src.shape().str(), shape().str()));
  if (!is_leaf())
    throw std::invalid_argument("copy_: the tensor carries autograd history; detach() it first");
  if (src.data() != data()) std::memcpy(data(), src.data(), numel() * sizeof(float));
  bump_version();
}

void Tensor::fill_(float value) {
  if (!is_leaf())
    throw std::invalid_argument("fill_: the tensor carries autograd history; detach() it first");
  std::fill_n(data(), numel(), value);
  bump_version();
}

void Tensor::clamp_(float low, float high) {
  if (!(low <= high))
    throw std::invalid_argument(fmt::format("clamp_: low {} is above high {}", low, high));
  if (!is_leaf())
    throw std::invalid_argument("clamp_: the tensor carries autograd history; detach() it first");
  float* v = data();
  for (int64_t i = 0, n = numel(); i < n; ++i) v[i] = std::clamp(v[i], low, high);
  bump_version();
}

}  // namespace minimax
