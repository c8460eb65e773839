#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "models/optim/loop.h"
#include "models/optim/optimizer.h"

namespace minimax::optim {

namespace {

void check_options(const RMSpropOptions& o) {
  auto refuse = [](const char* what, double value, const char* rule) {
    throw std::invalid_argument(
        fmt::format("RMSprop: invalid {} {} (must be {})", what, value, rule));
  };
  if (!(o.alpha() >= 0.0 && o.alpha() <= 1.0)) refuse("alpha", o.alpha(), "in [0, 1]");
  if (!(o.eps() >= 0.0)) refuse("eps", o.eps(), ">= 0");
  if (!(o.weight_decay() >= 0.0)) refuse("weight_decay", o.weight_decay(), ">= 0");
  if (!(o.momentum() >= 0.0)) refuse("momentum", o.momentum(), ">= 0");
}

// One step's constants, rounded to float once, as PyTorch passes double scalars to float kernels.
struct Coefficients {
  float lr, alpha, keep, eps, weight_decay, momentum;  // keep = 1 - alpha
};

// The state arrays a variant rewrites, in this order: the parameter, the average of squares, the
// average of gradients (centered), the momentum buffer (momentum).
template <bool kCentered, bool kMomentum>
constexpr size_t kArrays = 2 + (kCentered ? 1 : 0) + (kMomentum ? 1 : 0);

// Both choices are template parameters so that the loop has no branch and vectorizes. With no
// weight decay, weight_decay * p adds an exact zero (p finite), so one body serves both cases.
template <bool kCentered, bool kMomentum>
void rmsprop_update(const Coefficients& c, float* p, const float* g,
                    const std::array<float*, kArrays<kCentered, kMomentum>>& state, int64_t n) {
  constexpr size_t W = kArrays<kCentered, kMomentum>;
  constexpr size_t kGradAvg = 2, kBuffer = kCentered ? 3 : 2;
  const float* s = state[1];
  const float* a = nullptr;
  const float* b = nullptr;
  if constexpr (kCentered) a = state[kGradAvg];
  if constexpr (kMomentum) b = state[kBuffer];
  auto block = [=](int64_t begin, int64_t end, const std::array<float*, W>& dst) {
    const Coefficients k = c;  // a local copy: see detail::for_each_block
#pragma omp simd
    for (int64_t e = begin; e < end; ++e) {
      const float d = g[e] + k.weight_decay * p[e];
      const float se = k.alpha * s[e] + k.keep * (d * d);
      dst[1][e - begin] = se;
      float variance = se;
      if constexpr (kCentered) {
        const float ae = k.alpha * a[e] + k.keep * d;
        dst[kGradAvg][e - begin] = ae;
        variance = se - ae * ae;
      }
      const float step = d / (std::sqrt(variance) + k.eps);
      if constexpr (kMomentum) {
        const float be = k.momentum * b[e] + step;
        dst[kBuffer][e - begin] = be;
        dst[0][e - begin] = p[e] - k.lr * be;
      } else {
        dst[0][e - begin] = p[e] - k.lr * step;
      }
    }
  };
  detail::for_each_block<W>(n, state, block);
}

}  // namespace

RMSprop::RMSprop(TensorList parameters, const RMSpropOptions& options)
    : Optimizer(std::move(parameters), options.lr(), "RMSprop"), options_(options) {
  check_options(options);
  const size_t count = this->parameters().size();
  steps_.assign(count, 0);
  square_avg_.resize(count);
  momentum_buffer_.resize(count);
  grad_avg_.resize(count);
}

void RMSprop::update(size_t i, float* p, const float* g, int64_t n) {
  const bool centered = options_.centered(), momentum = options_.momentum() > 0.0;
  if (!square_avg_[i].defined()) {  // PyTorch starts every average and the buffer at zero
    const Shape& shape = parameters()[i].shape();
    square_avg_[i] = Tensor::zeros(shape);
    if (centered) grad_avg_[i] = Tensor::zeros(shape);
    if (momentum) momentum_buffer_[i] = Tensor::zeros(shape);
  }
  ++steps_[i];
  auto f = [](double x) { return static_cast<float>(x); };
  const Coefficients c{f(lr()),           f(options_.alpha()),        f(1.0 - options_.alpha()),
                       f(options_.eps()), f(options_.weight_decay()), f(options_.momentum())};
  float* s = square_avg_[i].data();
  float* a = centered ? grad_avg_[i].data() : nullptr;
  float* b = momentum ? momentum_buffer_[i].data() : nullptr;
  if (centered && momentum) return rmsprop_update<true, true>(c, p, g, {p, s, a, b}, n);
  if (centered) return rmsprop_update<true, false>(c, p, g, {p, s, a}, n);
  if (momentum) return rmsprop_update<false, true>(c, p, g, {p, s, b}, n);
  rmsprop_update<false, false>(c, p, g, {p, s}, n);
}

void RMSprop::save_extra(Checkpoint& checkpoint, const std::string& prefix) const {
  for (size_t i = 0; i < steps_.size(); ++i) {
    checkpoint.words[entry(prefix, i, "step")] = {static_cast<uint64_t>(steps_[i])};
    if (steps_[i] == 0) continue;  // no averages yet
    checkpoint.tensors[entry(prefix, i, "square_avg")] = snapshot(square_avg_[i]);
    if (grad_avg_[i].defined())
      checkpoint.tensors[entry(prefix, i, "grad_avg")] = snapshot(grad_avg_[i]);
    if (momentum_buffer_[i].defined())
      checkpoint.tensors[entry(prefix, i, "momentum_buffer")] = snapshot(momentum_buffer_[i]);
  }
}

void RMSprop::load_extra(const Checkpoint& checkpoint, const std::string& prefix) {
  // Centering and momentum are construction options, not stored: a resumed run constructs its
  // RMSprop as the saved one, and this one's options say which averages the file must hold.
  const size_t count = steps_.size();
  std::vector<int64_t> steps(count);
  TensorList square_avg(count), grad_avg(count), momentum_buffer(count);
  for (size_t i = 0; i < count; ++i) {
    steps[i] = checkpoint.count(entry(prefix, i, "step"));
    if (steps[i] == 0) continue;
    square_avg[i] = restored(checkpoint, entry(prefix, i, "square_avg"), i);
    if (options_.centered()) grad_avg[i] = restored(checkpoint, entry(prefix, i, "grad_avg"), i);
    if (options_.momentum() > 0.0)
      momentum_buffer[i] = restored(checkpoint, entry(prefix, i, "momentum_buffer"), i);
  }
  steps_ = std::move(steps);
  square_avg_ = std::move(square_avg);
  grad_avg_ = std::move(grad_avg);
  momentum_buffer_ = std::move(momentum_buffer);
}

}  // namespace minimax::optim
