#include <fmt/format.h>

#include <stdexcept>

#include "models/optim/loop.h"
#include "models/optim/optimizer.h"

namespace minimax::optim {

namespace {

void check_non_negative(double value, const char* what) {
  if (!(value >= 0.0))
    throw std::invalid_argument(fmt::format("SGD: invalid {} {} (must be >= 0)", what, value));
}

void check_nesterov(const SGDOptions& o) {
  if (o.nesterov() && (o.momentum() <= 0.0 || o.dampening() != 0.0))
    throw std::invalid_argument(fmt::format(
        "SGD: nesterov momentum requires a momentum > 0 and zero dampening (momentum {}, "
        "dampening {})",
        o.momentum(), o.dampening()));
}

struct Coefficients {
  float lr, weight_decay, momentum, keep;  // keep = 1 - dampening
  bool nesterov;
};

// In every body, weight_decay * p adds an exact zero when there is no weight decay (p finite), so
// one body serves both cases. Each body copies the coefficients into locals (see
// detail::for_each_block).
void plain_update(const Coefficients& c, float* p, const float* g, int64_t n) {
  detail::for_each_block<1>(n, {p},
                            [=](int64_t begin, int64_t end, const std::array<float*, 1>& dst) {
                              const float lr = c.lr, weight_decay = c.weight_decay;
                              float* new_p = dst[0];
#pragma omp simd
                              for (int64_t k = begin; k < end; ++k)
                                new_p[k - begin] = p[k] - lr * (g[k] + weight_decay * p[k]);
                            });
}

// PyTorch starts the momentum buffer at the first gradient itself, undamped. kFirst selects that
// step's update; kNesterov the Nesterov form. Both are template parameters so that the loop has no
// branch and vectorizes.
template <bool kFirst, bool kNesterov>
void momentum_update(const Coefficients& c, float* p, const float* g, float* buf, int64_t n) {
  detail::for_each_block<2>(
      n, {p, buf}, [=](int64_t begin, int64_t end, const std::array<float*, 2>& dst) {
        const float lr = c.lr, weight_decay = c.weight_decay, momentum = c.momentum, keep = c.keep;
        float* new_p = dst[0];
        float* new_buf = dst[1];
#pragma omp simd
        for (int64_t k = begin; k < end; ++k) {
          const float d = g[k] + weight_decay * p[k];
          const float b = kFirst ? d : momentum * buf[k] + keep * d;
          new_buf[k - begin] = b;
          new_p[k - begin] = p[k] - lr * (kNesterov ? d + momentum * b : b);
        }
      });
}

template <bool kFirst>
void momentum_update(const Coefficients& c, float* p, const float* g, float* buf, int64_t n) {
  if (c.nesterov) return momentum_update<kFirst, true>(c, p, g, buf, n);
  momentum_update<kFirst, false>(c, p, g, buf, n);
}

}  // namespace

SGD::SGD(TensorList parameters, const SGDOptions& options)
    : Optimizer(std::move(parameters), options.lr(), "SGD"), options_(options) {
  check_non_negative(options.momentum(), "momentum");
  check_non_negative(options.dampening(), "dampening");
  check_non_negative(options.weight_decay(), "weight_decay");
  check_nesterov(options);
  momentum_buffers_.resize(this->parameters().size());
}

void SGD::set_momentum(double momentum) {
  check_non_negative(momentum, "momentum");
  SGDOptions changed = SGDOptions(options_).momentum(momentum);
  check_nesterov(changed);
  options_ = changed;
}

void SGD::update(size_t i, float* p, const float* g, int64_t n) {
  // Coefficients rounded to float once, as PyTorch does when it passes a double alpha to a kernel.
  const Coefficients c{static_cast<float>(lr()), static_cast<float>(options_.weight_decay()),
                       static_cast<float>(options_.momentum()),
                       static_cast<float>(1.0 - options_.dampening()), options_.nesterov()};
  if (options_.momentum() == 0.0) return plain_update(c, p, g, n);
  Tensor& buffer = momentum_buffers_[i];
  if (buffer.defined()) return momentum_update<false>(c, p, g, buffer.data(), n);
  buffer = Tensor::empty(parameters()[i].shape());
  momentum_update<true>(c, p, g, buffer.data(), n);
}

void SGD::save_extra(Checkpoint& checkpoint, const std::string& prefix) const {
  save_double(checkpoint, prefix + "/momentum", options_.momentum());
  for (size_t i = 0; i < momentum_buffers_.size(); ++i) {
    const Tensor& buffer = momentum_buffers_[i];
    checkpoint.words[entry(prefix, i, "has_momentum_buffer")] = {buffer.defined() ? 1u : 0u};
    if (buffer.defined())
      checkpoint.tensors[entry(prefix, i, "momentum_buffer")] = snapshot(buffer);
  }
}

void SGD::load_extra(const Checkpoint& checkpoint, const std::string& prefix) {
  const double momentum = stored_double(checkpoint, prefix + "/momentum");
  const SGDOptions options = SGDOptions(options_).momentum(momentum);
  check_stored(checkpoint, prefix + "/momentum", [&] {
    check_non_negative(momentum, "momentum");
    check_nesterov(options);
  });
  TensorList buffers(momentum_buffers_.size());
  for (size_t i = 0; i < buffers.size(); ++i) {
    const std::string has = entry(prefix, i, "has_momentum_buffer");
    const uint64_t flag = checkpoint.word(has);
    if (flag > 1)
      throw CheckpointError(
          fmt::format("checkpoint {}: '{}' is {}, not 0 or 1", checkpoint.source, has, flag));
    if (flag == 1) buffers[i] = restored(checkpoint, entry(prefix, i, "momentum_buffer"), i);
  }
  options_ = options;
  momentum_buffers_ = std::move(buffers);
}

}  // namespace minimax::optim
