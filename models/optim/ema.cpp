#include "models/optim/ema.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <stdexcept>

#include "models/optim/loop.h"

namespace minimax::optim {

namespace {

// Appends the tensors of `a` and `b` pairwise; their names and shapes must agree.
void pair_up(const nn::NamedTensors& a, const nn::NamedTensors& b, const char* what,
             TensorList& from, TensorList& to) {
  if (a.size() != b.size())
    throw std::invalid_argument(fmt::format(
        "ExponentialMovingAverage: the model has {} {}, the average {}", a.size(), what, b.size()));
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first || !(a[i].second.shape() == b[i].second.shape()))
      throw std::invalid_argument(fmt::format(
          "ExponentialMovingAverage: the model's {} {} {} differs from the average's {} {}", what,
          a[i].first, a[i].second.shape().str(), b[i].first, b[i].second.shape().str()));
    from.push_back(a[i].second.detach());
    to.push_back(b[i].second.detach());
  }
}

}  // namespace

ExponentialMovingAverage::ExponentialMovingAverage(const nn::Module& model, nn::Module& average,
                                                   double decay)
    : average_(average), decay_(decay) {
  if (!(decay >= 0.0 && decay < 1.0))
    throw std::invalid_argument(
        fmt::format("ExponentialMovingAverage: decay {} must be in [0, 1)", decay));
  pair_up(model.named_parameters(), average.named_parameters(), "parameter", sources_, targets_);
  pair_up(model.named_buffers(), average.named_buffers(), "buffer", sources_, targets_);
  for (size_t i = 0; i < sources_.size(); ++i) targets_[i].copy_(sources_[i]);
}

double ExponentialMovingAverage::decay_at(int64_t update) const {
  const double t = static_cast<double>(update);
  return std::min(decay_, (1.0 + t) / (10.0 + t));
}

void ExponentialMovingAverage::update() {
  // As an optimizer's hyperparameters: rounded to float once per step.
  const double decay = decay_at(updates_);
  const float keep = static_cast<float>(decay), take = static_cast<float>(1.0 - decay);
  for (size_t i = 0; i < sources_.size(); ++i) {
    const float* from = sources_[i].data();
    float* to = targets_[i].data();
    detail::for_each_element(targets_[i].numel(),
                             [=](int64_t k) { to[k] = keep * to[k] + take * from[k]; });
  }
  ++updates_;
}

void ExponentialMovingAverage::save(Checkpoint& checkpoint, const std::string& prefix) const {
  average_.save(checkpoint, prefix);
  checkpoint.words[prefix + "#updates"] = {static_cast<uint64_t>(updates_)};
  checkpoint.words[prefix + "#decay"] = {std::bit_cast<uint64_t>(decay_)};
}

void ExponentialMovingAverage::load(const Checkpoint& checkpoint, const std::string& prefix) {
  double saved = std::bit_cast<double>(checkpoint.word(prefix + "#decay"));
  if (saved != decay_)
    throw CheckpointError(
        fmt::format("checkpoint: the moving average '{}' was saved with decay {}, not {}", prefix,
                    saved, decay_));
  average_.load(checkpoint, prefix);
  updates_ = static_cast<int64_t>(checkpoint.word(prefix + "#updates"));
}

}  // namespace minimax::optim
