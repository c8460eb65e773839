#include "examples/gaussian_1d.h"

#include <fmt/format.h>

#include <cmath>

#include "minimax.h"

namespace minimax::examples {

namespace {

// A two-layer perceptron as plain tensors: linear, leaky ReLU, linear.
struct Mlp {
  Tensor w1, b1, w2, b2;
  Mlp(int64_t in, int64_t hidden, int64_t out, Generator& gen) {
    float a1 = 1.0f / std::sqrt(static_cast<float>(in)),
          a2 = 1.0f / std::sqrt(static_cast<float>(hidden));
    w1 = Tensor::uniform({hidden, in}, -a1, a1, gen).requires_grad_();
    b1 = Tensor::zeros({hidden}).requires_grad_();
    w2 = Tensor::uniform({out, hidden}, -a2, a2, gen).requires_grad_();
    b2 = Tensor::zeros({out}).requires_grad_();
  }
  Tensor operator()(const Tensor& x) const {
    return linear(leaky_relu(linear(x, w1, b1), 0.2f), w2, b2);
  }
  TensorList parameters() const { return {w1, b1, w2, b2}; }
};

// Plain SGD with momentum, in place and unrecorded.
struct Sgd {
  TensorList params, velocity;
  float lr, momentum;
  Sgd(TensorList p, float lr_, float momentum_)
      : params(std::move(p)), lr(lr_), momentum(momentum_) {
    for (const Tensor& t : params) velocity.push_back(Tensor::zeros(t.shape()));
  }
  void step() {
    for (size_t i = 0; i < params.size(); ++i) {
      Tensor g = params[i].grad();
      if (!g.defined()) continue;
      float *p = params[i].data(), *v = velocity[i].data();
      const float* d = g.data();
      for (int64_t k = 0; k < params[i].numel(); ++k) {
        v[k] = momentum * v[k] + d[k];
        p[k] -= lr * v[k];
      }
      params[i].zero_grad();
    }
  }
};

std::pair<float, float> mean_std(const Tensor& x) {
  double s = 0, s2 = 0;
  for (float v : x.to_vector()) s += v, s2 += double(v) * v;
  double m = s / x.numel();
  return {static_cast<float>(m),
          static_cast<float>(std::sqrt(std::max(0.0, s2 / x.numel() - m * m)))};
}

}  // namespace

Gaussian1dResult train_gaussian_1d(const Gaussian1dOptions& o, bool verbose) {
  Generator gen(o.seed);
  Mlp g(1, 16, 1, gen), d(1, 32, 1, gen);
  Sgd g_opt(g.parameters(), 0.02f, 0.5f), d_opt(d.parameters(), 0.1f, 0.5f);
  auto noise = [&](int64_t n) { return Tensor::normal({n, 1}, 0.0f, 1.0f, gen); };
  for (int step = 1; step <= o.steps; ++step) {
    // Discriminator: ascend log D(x) + log(1 - D(G(z))), from logits without log(0).
    Tensor real = Tensor::normal({o.batch, 1}, o.data_mean, o.data_std, gen);
    Tensor fake;
    {
      NoGradGuard no_grad;
      fake = g(noise(o.batch));
    }
    Tensor d_loss = neg(add(mean(log_sigmoid(d(real))), mean(log_sigmoid(neg(d(fake))))));
    d_loss.backward();
    d_opt.step();
    // Generator: the non-saturating loss, ascend log D(G(z)).
    Tensor g_loss = neg(mean(log_sigmoid(d(g(noise(o.batch))))));
    g_loss.backward();
    for (const Tensor& p : d.parameters()) Tensor(p).zero_grad();
    g_opt.step();
    if (verbose && (step % o.log_every == 0 || step == o.steps)) {
      NoGradGuard no_grad;
      auto [m, s] = mean_std(g(noise(2000)));
      fmt::print(
          "step {:5d}  loss D {:.3f}  G {:.3f}  samples mean {:.3f} std {:.3f}  (data {} / {})\n",
          step, d_loss.item(), g_loss.item(), m, s, o.data_mean, o.data_std);
    }
  }
  NoGradGuard no_grad;
  auto [m, s] = mean_std(g(noise(10000)));
  return {m, s};
}

}  // namespace minimax::examples
