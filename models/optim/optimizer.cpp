#include "models/optim/optimizer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <unordered_set>

namespace minimax::optim {

namespace {

void check_parameters(const TensorList& parameters, const char* name) {
  if (parameters.empty()) throw std::invalid_argument(fmt::format("{}: no parameters", name));
  std::unordered_set<const TensorImpl*> seen;
  for (size_t i = 0; i < parameters.size(); ++i) {
    const Tensor& p = parameters[i];
    if (!p.defined())
      throw std::invalid_argument(fmt::format("{}: parameter {} is undefined", name, i));
    if (!p.is_leaf())
      throw std::invalid_argument(fmt::format(
          "{}: parameter {} (shape {}) is not a leaf; optimize the tensors the model is built from",
          name, i, p.shape().str()));
    if (!p.requires_grad())
      throw std::invalid_argument(fmt::format("{}: parameter {} (shape {}) does not require grad",
                                              name, i, p.shape().str()));
    // A parameter listed twice would be updated twice per step.
    if (!seen.insert(p.impl_ptr().get()).second)
      throw std::invalid_argument(
          fmt::format("{}: parameter {} (shape {}) is listed twice", name, i, p.shape().str()));
  }
}

}  // namespace

Optimizer::Optimizer(TensorList parameters, double lr, const char* name)
    : parameters_(std::move(parameters)), lr_(0.0), name_(name) {
  check_parameters(parameters_, name_);
  set_lr(lr);
}

void Optimizer::set_lr(double lr) {
  if (!(lr >= 0.0))  // also refuses NaN
    throw std::invalid_argument(
        fmt::format("{}: invalid learning rate {} (must be >= 0)", name_, lr));
  lr_ = lr;
}

void Optimizer::step() {
  // The update writes parameter data directly; nothing must be recorded on the tape.
  NoGradGuard no_grad;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& p = parameters_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;  // no gradient reached it: leave it and its state alone
    if (g.numel() != p.numel())
      throw std::logic_error(fmt::format("{}: parameter {} of shape {} has a gradient of shape {}",
                                         name_, i, p.shape().str(), g.shape().str()));
    update(i, p.data(), g.data(), p.numel());
    p.bump_version();
  }
  ++step_count_;
}

void Optimizer::zero_grad() {
  for (Tensor& p : parameters_) p.zero_grad();
}

// ---- checkpoints ----

std::string Optimizer::entry(const std::string& prefix, size_t i, const char* what) {
  return fmt::format("{}/{}/{}", prefix, i, what);
}

Tensor Optimizer::snapshot(const Tensor& t) {
  Tensor copy = Tensor::empty(t.shape());
  std::memcpy(copy.data(), t.data(), t.numel() * sizeof(float));
  return copy;
}

Tensor Optimizer::restored(const Checkpoint& checkpoint, const std::string& name, size_t i) const {
  const Tensor& stored = checkpoint.tensor(name);
  const Shape& expected = parameters_[i].shape();
  if (!(stored.shape() == expected))
    throw CheckpointError(fmt::format("checkpoint {}: '{}' has shape {} but parameter {} has {}",
                                      checkpoint.source, name, stored.shape().str(), i,
                                      expected.str()));
  return snapshot(stored);
}

void Optimizer::save_double(Checkpoint& checkpoint, const std::string& name, double value) {
  checkpoint.words[name] = {std::bit_cast<uint64_t>(value)};
}

double Optimizer::stored_double(const Checkpoint& checkpoint, const std::string& name) {
  return std::bit_cast<double>(checkpoint.word(name));
}

void Optimizer::check_stored(const Checkpoint& checkpoint, const std::string& name,
                             const std::function<void()>& check) {
  try {
    check();
  } catch (const std::invalid_argument& e) {
    throw CheckpointError(
        fmt::format("checkpoint {}: '{}' is not usable: {}", checkpoint.source, name, e.what()));
  }
}

void Optimizer::save_state(Checkpoint& checkpoint, const std::string& prefix) const {
  checkpoint.strings[prefix + "/type"] = name_;
  checkpoint.words[prefix + "/count"] = {parameters_.size()};
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const Shape& shape = parameters_[i].shape();
    checkpoint.words[entry(prefix, i, "shape")] = std::vector<uint64_t>(shape.begin(), shape.end());
  }
  checkpoint.words[prefix + "/step"] = {static_cast<uint64_t>(step_count_)};
  save_double(checkpoint, prefix + "/lr", lr_);
  save_extra(checkpoint, prefix);
}

void Optimizer::check_layout(const Checkpoint& checkpoint, const std::string& prefix) const {
  const std::string& type = checkpoint.string(prefix + "/type");
  if (type != name_)
    throw CheckpointError(fmt::format("checkpoint {}: '{}' holds the state of {}, not of {}",
                                      checkpoint.source, prefix, type, name_));
  uint64_t count = checkpoint.word(prefix + "/count");
  if (count != parameters_.size())
    throw CheckpointError(
        fmt::format("checkpoint {}: '{}' holds the state of {} parameters, but this {} has {}",
                    checkpoint.source, prefix, count, name_, parameters_.size()));
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const std::vector<uint64_t>& stored = checkpoint.word_list(entry(prefix, i, "shape"));
    const Shape& shape = parameters_[i].shape();
    auto same = [](uint64_t a, int64_t b) { return a == static_cast<uint64_t>(b); };
    if (!std::equal(stored.begin(), stored.end(), shape.begin(), shape.end(), same))
      throw CheckpointError(fmt::format(
          "checkpoint {}: '{}' holds parameter {} with shape [{}], but this {}'s has {}",
          checkpoint.source, prefix, i, fmt::join(stored, ", "), name_, shape.str()));
  }
}

void Optimizer::load_state(const Checkpoint& checkpoint, const std::string& prefix) {
  check_layout(checkpoint, prefix);
  const int64_t steps = checkpoint.count(prefix + "/step");
  const double lr = stored_double(checkpoint, prefix + "/lr");
  check_stored(checkpoint, prefix + "/lr", [&] {
    if (!(lr >= 0.0)) throw std::invalid_argument(fmt::format("learning rate {}", lr));
  });
  load_extra(checkpoint, prefix);  // checks all of its part before changing it
  step_count_ = steps;
  lr_ = lr;
}

}  // namespace minimax::optim
