#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "models/optim/loop.h"
#include "models/optim/optimizer.h"

namespace minimax::optim {

namespace {

void check_options(const AdamOptions& o, const char* name) {
  if (!(o.eps() >= 0.0))
    throw std::invalid_argument(fmt::format("{}: invalid eps {} (must be >= 0)", name, o.eps()));
  auto [beta1, beta2] = o.betas();
  if (!(beta1 >= 0.0 && beta1 < 1.0))
    throw std::invalid_argument(
        fmt::format("{}: invalid beta1 {} (must be in [0, 1))", name, beta1));
  if (!(beta2 >= 0.0 && beta2 < 1.0))
    throw std::invalid_argument(
        fmt::format("{}: invalid beta2 {} (must be in [0, 1))", name, beta2));
  if (!(o.weight_decay() >= 0.0))
    throw std::invalid_argument(
        fmt::format("{}: invalid weight_decay {} (must be >= 0)", name, o.weight_decay()));
}

// One step's constants, rounded to float once, as PyTorch passes double scalars to float kernels.
struct Coefficients {
  float step_size;  // lr / (1 - beta1^t)
  float root_bc2;   // sqrt(1 - beta2^t)
  float beta1, keep1, beta2, keep2, eps;
  // Adam folds the decay into the gradient (l2); AdamW shrinks the weights first (shrink). Each is
  // an exact identity (+ 0 * p, * 1) in the other variant, so one loop body serves both.
  float l2, shrink;
};

Coefficients coefficients(double lr, const AdamOptions& o, bool decoupled, int64_t t) {
  const auto [beta1, beta2] = o.betas();
  const double wd = o.weight_decay();
  // Bias corrections in double, as PyTorch computes them in Python.
  const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(beta2, static_cast<double>(t));
  auto f = [](double x) { return static_cast<float>(x); };
  return {.step_size = f(lr / bc1),
          .root_bc2 = f(std::sqrt(bc2)),
          .beta1 = f(beta1),
          .keep1 = f(1.0 - beta1),
          .beta2 = f(beta2),
          .keep2 = f(1.0 - beta2),
          .eps = f(o.eps()),
          .l2 = f(decoupled ? 0.0 : wd),
          .shrink = f(decoupled ? 1.0 - lr * wd : 1.0)};
}

}  // namespace

Adam::Adam(TensorList parameters, const AdamOptions& options)
    : Adam(std::move(parameters), options, /*decoupled=*/false, "Adam") {}

Adam::Adam(TensorList parameters, const AdamOptions& options, bool decoupled, const char* name)
    : Optimizer(std::move(parameters), options.lr(), name),
      options_(options),
      decoupled_(decoupled) {
  check_options(options, name);
  size_t count = this->parameters().size();
  steps_.assign(count, 0);
  exp_avg_.resize(count);
  exp_avg_sq_.resize(count);
}

AdamW::AdamW(TensorList parameters, const AdamOptions& options)
    : Adam(std::move(parameters), options, /*decoupled=*/true, "AdamW") {}

void Adam::update(size_t i, float* p, const float* g, int64_t n) {
  if (!exp_avg_[i].defined()) {
    exp_avg_[i] = Tensor::zeros(parameters()[i].shape());
    exp_avg_sq_[i] = Tensor::zeros(parameters()[i].shape());
  }
  const Coefficients c = coefficients(lr(), options_, decoupled_, ++steps_[i]);
  float* m = exp_avg_[i].data();
  float* v = exp_avg_sq_[i].data();
  detail::for_each_block<3>(
      n, {p, m, v}, [=](int64_t begin, int64_t end, const std::array<float*, 3>& dst) {
        const Coefficients k = c;  // a local copy: see detail::for_each_block
        float* new_p = dst[0];
        float* new_m = dst[1];
        float* new_v = dst[2];
#pragma omp simd
        for (int64_t e = begin; e < end; ++e) {
          const float w = p[e] * k.shrink;
          const float d = g[e] + k.l2 * w;
          const float me = k.beta1 * m[e] + k.keep1 * d;
          const float ve = k.beta2 * v[e] + k.keep2 * d * d;
          new_m[e - begin] = me;
          new_v[e - begin] = ve;
          new_p[e - begin] = w - k.step_size * me / (std::sqrt(ve) / k.root_bc2 + k.eps);
        }
      });
}

void Adam::save_extra(Checkpoint& checkpoint, const std::string& prefix) const {
  for (size_t i = 0; i < steps_.size(); ++i) {
    checkpoint.words[entry(prefix, i, "step")] = {static_cast<uint64_t>(steps_[i])};
    if (steps_[i] == 0) continue;  // no moments yet
    checkpoint.tensors[entry(prefix, i, "exp_avg")] = snapshot(exp_avg_[i]);
    checkpoint.tensors[entry(prefix, i, "exp_avg_sq")] = snapshot(exp_avg_sq_[i]);
  }
}

void Adam::load_extra(const Checkpoint& checkpoint, const std::string& prefix) {
  const size_t count = steps_.size();
  std::vector<int64_t> steps(count);
  TensorList exp_avg(count), exp_avg_sq(count);
  for (size_t i = 0; i < count; ++i) {
    steps[i] = checkpoint.count(entry(prefix, i, "step"));
    if (steps[i] == 0) continue;
    exp_avg[i] = restored(checkpoint, entry(prefix, i, "exp_avg"), i);
    exp_avg_sq[i] = restored(checkpoint, entry(prefix, i, "exp_avg_sq"), i);
  }
  steps_ = std::move(steps);
  exp_avg_ = std::move(exp_avg);
  exp_avg_sq_ = std::move(exp_avg_sq);
}

}  // namespace minimax::optim
