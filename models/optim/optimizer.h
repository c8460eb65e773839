// Optimizers: SGD (with momentum, dampening, Nesterov, weight decay), Adam, AdamW and RMSprop
// (with momentum, centering, weight decay), with exactly PyTorch 1.13's update rules.
//
// An optimizer holds its own list of parameters (Tensor handles sharing the model's data), each a
// leaf that requires grad. step() updates every parameter whose .grad() is defined, in place and
// without recording, in one fused pass over its data; parameters no gradient reached are skipped
// (their state does not advance). After the first step, a step allocates nothing.
//
// Hyperparameters are doubles, as in PyTorch: schedules compute them in double (an lr divided by
// 1.000004 per update needs more than float's 7 digits), and each step rounds them to float once.
//
// Checkpoints (save_state / load_state) store, under a caller-chosen prefix P:
//   strings  P/type                  "SGD", "Adam", "AdamW" or "RMSprop"
//   words    P/count                 the number of parameters
//            P/<i>/shape             parameter i's extents
//            P/step                  step() calls so far
//            P/lr, P/momentum        hyperparameters that schedules change, as IEEE-754 double bits
//            P/<i>/has_momentum_buffer (SGD), P/<i>/step (Adam, RMSprop)    per-parameter counters
//   tensors  P/<i>/momentum_buffer, P/<i>/exp_avg, P/<i>/exp_avg_sq (Adam),
//            P/<i>/square_avg, P/<i>/grad_avg (RMSprop)  (once they exist)
// Construction options that schedules do not change (weight decay, betas, ...) are not stored: a
// resumed run constructs its optimizer with the same options.

#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "autograd/node.h"
#include "models/io/checkpoint.h"

namespace minimax::optim {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient.
  void step();
  // Drops every parameter's gradient (the next backward starts from nothing).
  void zero_grad();

  double lr() const { return lr_; }
  void set_lr(double lr);
  // step() calls so far: the step a schedule is evaluated at.
  int64_t step_count() const { return step_count_; }
  const TensorList& parameters() const { return parameters_; }
  const char* name() const { return name_; }

  // Copies the optimizer's state into `checkpoint` under `prefix` (layout above). The copies are a
  // snapshot: later steps do not change them.
  void save_state(Checkpoint& checkpoint, const std::string& prefix) const;
  // Restores a state saved by the same kind of optimizer over parameters of the same shapes. Throws
  // CheckpointError naming the entry on any mismatch; the optimizer is unchanged when it throws.
  void load_state(const Checkpoint& checkpoint, const std::string& prefix);

 protected:
  // Throws std::invalid_argument for an empty list, an undefined tensor, a non-leaf, a tensor that
  // does not require grad, a parameter listed twice, or a negative learning rate.
  Optimizer(TensorList parameters, double lr, const char* name);
  // Updates parameter i (its data, its gradient `grad`, both numel floats).
  virtual void update(size_t i, float* param, const float* grad, int64_t numel) = 0;
  // The optimizer's own part of the state. load_extra must check everything before it changes
  // anything, so that a failed load leaves the optimizer as it was.
  virtual void save_extra(Checkpoint& checkpoint, const std::string& prefix) const = 0;
  virtual void load_extra(const Checkpoint& checkpoint, const std::string& prefix) = 0;

  // Helpers for save_extra / load_extra.
  // prefix/i/what: the name of parameter i's entry `what`.
  static std::string entry(const std::string& prefix, size_t i, const char* what);
  // A copy that shares no data with `t`.
  static Tensor snapshot(const Tensor& t);
  // A snapshot of the stored tensor `name`, which must have parameter i's shape.
  Tensor restored(const Checkpoint& checkpoint, const std::string& name, size_t i) const;
  // A double as one word holding its bits: exact, unlike a decimal or a float.
  static void save_double(Checkpoint& checkpoint, const std::string& name, double value);
  static double stored_double(const Checkpoint& checkpoint, const std::string& name);
  // Runs `check` on a value read from the checkpoint; its std::invalid_argument becomes a
  // CheckpointError naming the file and the entry.
  static void check_stored(const Checkpoint& checkpoint, const std::string& name,
                           const std::function<void()>& check);

 private:
  // CheckpointError unless the state under prefix is this kind of optimizer's, over parameters of
  // the same count and shapes.
  void check_layout(const Checkpoint& checkpoint, const std::string& prefix) const;

  TensorList parameters_;
  double lr_;
  int64_t step_count_ = 0;
  const char* name_;
};

// ---- SGD ----

// PyTorch's SGD options; setters chain: SGDOptions(0.1).momentum(0.5).nesterov(true).
class SGDOptions {
 public:
  explicit SGDOptions(double lr) : lr_(lr) {}
  SGDOptions& lr(double v) { return set(lr_, v); }
  SGDOptions& momentum(double v) { return set(momentum_, v); }
  SGDOptions& dampening(double v) { return set(dampening_, v); }
  SGDOptions& weight_decay(double v) { return set(weight_decay_, v); }
  SGDOptions& nesterov(bool v) { return set(nesterov_, v); }
  double lr() const { return lr_; }
  double momentum() const { return momentum_; }
  double dampening() const { return dampening_; }
  double weight_decay() const { return weight_decay_; }
  bool nesterov() const { return nesterov_; }

 private:
  template <class T>
  SGDOptions& set(T& field, T value) {
    field = value;
    return *this;
  }
  double lr_;
  double momentum_ = 0.0;
  double dampening_ = 0.0;
  double weight_decay_ = 0.0;
  bool nesterov_ = false;
};

// d = g + weight_decay * p
// buf = d on the first step with momentum, then buf = momentum * buf + (1 - dampening) * d
// d = d + momentum * buf (nesterov) or d = buf
// p = p - lr * d
class SGD : public Optimizer {
 public:
  // Throws std::invalid_argument for a negative lr, momentum, dampening or weight decay, and for
  // nesterov without a positive momentum and zero dampening (as PyTorch refuses).
  SGD(TensorList parameters, const SGDOptions& options);

  // The options in force: the constructor's, with the current lr and momentum.
  SGDOptions options() const { return SGDOptions(options_).lr(lr()); }
  double momentum() const { return options_.momentum(); }
  // For momentum schedules; validated like the constructor's.
  void set_momentum(double momentum);

 protected:
  void update(size_t i, float* param, const float* grad, int64_t numel) override;
  void save_extra(Checkpoint& checkpoint, const std::string& prefix) const override;
  void load_extra(const Checkpoint& checkpoint, const std::string& prefix) override;

 private:
  SGDOptions options_;
  TensorList momentum_buffers_;  // undefined until parameter i's first step with momentum
};

// ---- Adam and AdamW ----

// PyTorch's Adam options: AdamOptions(2e-4).betas({0.5, 0.999}).weight_decay(1e-4).
class AdamOptions {
 public:
  explicit AdamOptions(double lr = 1e-3) : lr_(lr) {}
  AdamOptions& lr(double v) { return set(lr_, v); }
  AdamOptions& betas(std::pair<double, double> v) { return set(betas_, v); }
  AdamOptions& eps(double v) { return set(eps_, v); }
  AdamOptions& weight_decay(double v) { return set(weight_decay_, v); }
  double lr() const { return lr_; }
  std::pair<double, double> betas() const { return betas_; }
  double eps() const { return eps_; }
  double weight_decay() const { return weight_decay_; }

 private:
  template <class T>
  AdamOptions& set(T& field, T value) {
    field = value;
    return *this;
  }
  double lr_;
  std::pair<double, double> betas_{0.9, 0.999};
  double eps_ = 1e-8;
  double weight_decay_ = 0.0;
};

// AdamW's options differ only in the default weight decay, 1e-2 (as PyTorch's).
class AdamWOptions : public AdamOptions {
 public:
  explicit AdamWOptions(double lr = 1e-3) : AdamOptions(lr) { weight_decay(1e-2); }
};

// Adam: g = grad + weight_decay * p (L2), t = this parameter's step count (from 1),
//   m = beta1 m + (1 - beta1) g,  v = beta2 v + (1 - beta2) g^2,
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
// AdamW: the same with g = grad, after decaying the weights decoupled: p = p * (1 - lr
// weight_decay).
class Adam : public Optimizer {
 public:
  // Throws std::invalid_argument for a negative lr, eps or weight decay, or a beta outside [0, 1).
  explicit Adam(TensorList parameters, const AdamOptions& options = AdamOptions());

  // The options in force: the constructor's, with the current lr.
  AdamOptions options() const { return AdamOptions(options_).lr(lr()); }

 protected:
  Adam(TensorList parameters, const AdamOptions& options, bool decoupled, const char* name);
  void update(size_t i, float* param, const float* grad, int64_t numel) override;
  void save_extra(Checkpoint& checkpoint, const std::string& prefix) const override;
  void load_extra(const Checkpoint& checkpoint, const std::string& prefix) override;

 private:
  AdamOptions options_;
  bool decoupled_;                   // AdamW
  std::vector<int64_t> steps_;       // per parameter: updates so far
  TensorList exp_avg_, exp_avg_sq_;  // undefined until parameter i's first update
};

class AdamW : public Adam {
 public:
  // Pass AdamWOptions (weight decay 1e-2 by default); plain AdamOptions default to no decay.
  explicit AdamW(TensorList parameters, const AdamOptions& options = AdamWOptions());
};

// ---- RMSprop ----

// PyTorch's RMSprop options: RMSpropOptions(5e-5) (WGAN's),
// .alpha(0.9).momentum(0.9).centered(true).
class RMSpropOptions {
 public:
  explicit RMSpropOptions(double lr = 1e-2) : lr_(lr) {}
  RMSpropOptions& lr(double v) { return set(lr_, v); }
  RMSpropOptions& alpha(double v) { return set(alpha_, v); }
  RMSpropOptions& eps(double v) { return set(eps_, v); }
  RMSpropOptions& weight_decay(double v) { return set(weight_decay_, v); }
  RMSpropOptions& momentum(double v) { return set(momentum_, v); }
  RMSpropOptions& centered(bool v) { return set(centered_, v); }
  double lr() const { return lr_; }
  double alpha() const { return alpha_; }
  double eps() const { return eps_; }
  double weight_decay() const { return weight_decay_; }
  double momentum() const { return momentum_; }
  bool centered() const { return centered_; }

 private:
  template <class T>
  RMSpropOptions& set(T& field, T value) {
    field = value;
    return *this;
  }
  double lr_;
  double alpha_ = 0.99;
  double eps_ = 1e-8;
  double weight_decay_ = 0.0;
  double momentum_ = 0.0;
  bool centered_ = false;
};

// g = grad + weight_decay * p,  s = alpha s + (1 - alpha) g^2  (s starts at 0),
// centered: a = alpha a + (1 - alpha) g, avg = sqrt(s - a^2) + eps;  else avg = sqrt(s) + eps,
// momentum: buf = momentum buf + g / avg (buf starts at 0), p = p - lr buf;  else p = p - lr g /
// avg.
class RMSprop : public Optimizer {
 public:
  // Throws std::invalid_argument for a negative lr, eps, weight decay or momentum, or an alpha
  // outside [0, 1] (PyTorch takes any alpha >= 0; above 1 the average of squares goes negative).
  explicit RMSprop(TensorList parameters, const RMSpropOptions& options = RMSpropOptions());

  // The options in force: the constructor's, with the current lr.
  RMSpropOptions options() const { return RMSpropOptions(options_).lr(lr()); }

 protected:
  void update(size_t i, float* param, const float* grad, int64_t numel) override;
  void save_extra(Checkpoint& checkpoint, const std::string& prefix) const override;
  void load_extra(const Checkpoint& checkpoint, const std::string& prefix) override;

 private:
  RMSpropOptions options_;
  std::vector<int64_t> steps_;  // per parameter: updates so far
  // Undefined until parameter i's first update; the last two only with momentum or centering.
  TensorList square_avg_, momentum_buffer_, grad_avg_;
};

}  // namespace minimax::optim
