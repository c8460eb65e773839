#include "models/optim/optimizer.h"

#include <fmt/format.h>

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
  }
  ++step_count_;
}

void Optimizer::zero_grad() {
  for (Tensor& p : parameters_) p.zero_grad();
}

}  // namespace minimax::optim
