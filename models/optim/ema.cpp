#include "models/optim/ema.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <stdexcept>

#include "models/optim/loop.h"

namespace minimax::optim {

ExponentialMovingAverage::ExponentialMovingAverage(const nn::Module& model, nn::Module& average,
                                                   double decay)
    : average_(average), decay_(decay) {
  if (!(decay >= 0.0 && decay < 1.0))
    throw std::invalid_argument(
        fmt::format("ExponentialMovingAverage: decay {} must be in [0, 1)", decay));
  try {
    average.copy_state_from(model);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(fmt::format(
        "ExponentialMovingAverage: the model (the source) and its average differ: {}", e.what()));
  }
  // copy_state_from checked that the two lists pair up.
  for (const auto& [name, t] : model.named_state_tensors()) sources_.push_back(t.detach());
  for (const auto& [name, t] : average.named_state_tensors()) targets_.push_back(t.detach());
}

double ExponentialMovingAverage::decay_at(int64_t update) const {
  const double t = static_cast<double>(update);
  return std::min(decay_, (1.0 + t) / (10.0 + t));
}

namespace {

// to = keep * to + take * from, elementwise.
void blend(float* to, const float* from, float keep, float take, int64_t n) {
  detail::for_each_block<1>(
      n, {to}, [=](int64_t begin, int64_t end, const std::array<float*, 1>& dst) {
        const float keep_local = keep, take_local = take;  // see detail::for_each_block
        float* new_to = dst[0];
#pragma omp simd
        for (int64_t k = begin; k < end; ++k)
          new_to[k - begin] = keep_local * to[k] + take_local * from[k];
      });
}

}  // namespace

void ExponentialMovingAverage::update() {
  // As an optimizer's hyperparameters: rounded to float once per step.
  const double decay = decay_at(updates_);
  const float keep = static_cast<float>(decay), take = static_cast<float>(1.0 - decay);
  for (size_t i = 0; i < sources_.size(); ++i) {
    const float* from = sources_[i].data();
    float* to = targets_[i].data();
    blend(to, from, keep, take, targets_[i].numel());
    targets_[i].bump_version();
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
  const int64_t updates = checkpoint.count(prefix + "#updates");  // read before anything changes
  average_.load(checkpoint, prefix);
  updates_ = updates;
}

}  // namespace minimax::optim
