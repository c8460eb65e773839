// nn::recompute_batch_norm_statistics (standing statistics): every batch-norm layer's running
// mean and variance become the equal-weight average of its batches' statistics, computed here
// independently in double; modes, momenta and everything else are left as they were.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "minimax.h"

using namespace minimax;
using namespace minimax::nn;

namespace {

struct ChannelStats {
  std::vector<double> mean, var;  // var unbiased
};

// Per channel of x ([N, C] or [N, C, H, W]), in double.
ChannelStats channel_stats(const Tensor& x) {
  const int64_t n = x.size(0), c = x.size(1), inner = x.numel() / (n * c);
  const double count = static_cast<double>(n * inner);
  ChannelStats s{std::vector<double>(c), std::vector<double>(c)};
  for (int64_t ch = 0; ch < c; ++ch) {
    auto value = [&](int64_t i, int64_t j) { return double{x.data()[(i * c + ch) * inner + j]}; };
    double sum = 0, squares = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < inner; ++j) sum += value(i, j);
    s.mean[ch] = sum / count;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < inner; ++j) squares += std::pow(value(i, j) - s.mean[ch], 2);
    s.var[ch] = squares / (count - 1);
  }
  return s;
}

// The average of per-batch statistics, accumulated one batch at a time.
struct AverageStats {
  ChannelStats sum;
  int batches = 0;
  void add(const ChannelStats& s) {
    if (sum.mean.empty())
      sum = ChannelStats{std::vector<double>(s.mean.size()), std::vector<double>(s.mean.size())};
    for (size_t c = 0; c < s.mean.size(); ++c) {
      sum.mean[c] += s.mean[c];
      sum.var[c] += s.var[c];
    }
    ++batches;
  }
  void check(const BatchNorm& layer) const {
    for (size_t c = 0; c < sum.mean.size(); ++c) {
      INFO("channel " << c);
      CHECK(layer.running_mean.data()[c] == doctest::Approx(sum.mean[c] / batches).epsilon(2e-5));
      CHECK(layer.running_var.data()[c] == doctest::Approx(sum.var[c] / batches).epsilon(2e-5));
    }
  }
};

// Training-mode batch norm of x [N, C] written out: (x - mean) / sqrt(biased var + eps) * w + b.
Tensor normalized(const Tensor& x, const BatchNorm& layer) {
  ChannelStats s = channel_stats(x);
  const int64_t n = x.size(0), c = x.size(1);
  Tensor out = Tensor::empty(x.shape());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch) {
      double biased = s.var[ch] * static_cast<double>(n - 1) / static_cast<double>(n);
      double xhat = (x.data()[i * c + ch] - s.mean[ch]) / std::sqrt(biased + 1e-5);
      out.data()[i * c + ch] =
          static_cast<float>(xhat * layer.weight.data()[ch] + layer.bias.data()[ch]);
    }
  return out;
}

// Batches that differ in their means and spreads, so that a momentum-weighted average of their
// statistics is far from the equal-weight one.
TensorList spread_batches(int count, const Shape& shape, Generator& gen) {
  TensorList batches;
  for (int b = 0; b < count; ++b)
    batches.push_back(Tensor::normal(shape, 2.0f * b - 3.0f, 1.0f + b, gen));
  return batches;
}

bool same_values(const NamedTensors& a, const NamedTensors& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].second.to_vector() != b[i].second.to_vector()) return false;
  return a.size() == b.size();
}

NamedTensors copies(const NamedTensors& tensors) {
  NamedTensors out;
  for (const auto& [name, t] : tensors) {
    Tensor copy = Tensor::empty(t.shape());
    copy.copy_(t.detach());
    out.emplace_back(name, copy);
  }
  return out;
}

}  // namespace

TEST_CASE("recompute_batch_norm_statistics: each layer's running stats average its batches'") {
  Generator gen(11);
  manual_seed(11);
  auto lin1 = std::make_shared<Linear>(3, 6), lin2 = std::make_shared<Linear>(6, 4);
  auto bn1 = std::make_shared<BatchNorm1d>(6);
  auto bn2 = std::make_shared<BatchNorm1d>(4, BatchNormOptions{.momentum = 0.3f});
  auto net =
      sequential({lin1, bn1, std::make_shared<ReLU>(), std::make_shared<Dropout>(0.5f), lin2, bn2});
  // bn1's affine map shapes bn2's input, so it must run on batch statistics to match.
  bn1->weight.detach().copy_(Tensor::uniform({6}, 0.5f, 1.5f, gen));
  bn1->bias.detach().copy_(Tensor::uniform({6}, -0.5f, 0.5f, gen));
  TensorList batches = spread_batches(5, {8, 3}, gen);

  AverageStats expect1, expect2;
  {
    NoGradGuard no_grad;
    for (const Tensor& x : batches) {
      Tensor a1 = (*lin1)(x);
      expect1.add(channel_stats(a1));
      expect2.add(channel_stats((*lin2)(relu(normalized(a1, *bn1)))));  // dropout off
    }
  }
  NamedTensors parameters = copies(net->named_parameters());
  Generator::State dropout_stream = default_generator().state();
  net->train();
  recompute_batch_norm_statistics(*net, batches);

  expect1.check(*bn1);
  expect2.check(*bn2);
  CHECK(same_values(net->named_parameters(), parameters));
  CHECK(default_generator().state() == dropout_stream);  // dropout ran in eval mode
  for (auto& [name, m] : net->named_modules()) CHECK(m->is_training());
  CHECK(bn1->momentum() == 0.1f);
  CHECK(bn2->momentum() == 0.3f);
}

TEST_CASE("recompute_batch_norm_statistics: BatchNorm2d averages over batch, height and width") {
  Generator gen(5);
  manual_seed(5);
  auto conv = std::make_shared<Conv2d>(2, 3, 3);
  auto bn = std::make_shared<BatchNorm2d>(3);
  auto net = sequential({conv, bn});
  TensorList batches = spread_batches(4, {4, 2, 6, 6}, gen);
  AverageStats expect;
  {
    NoGradGuard no_grad;
    for (const Tensor& x : batches) expect.add(channel_stats((*conv)(x)));
  }
  net->eval();
  recompute_batch_norm_statistics(*net, batches);
  expect.check(*bn);
  for (auto& [name, m] : net->named_modules()) CHECK_FALSE(m->is_training());
}

TEST_CASE("recompute_batch_norm_statistics restores mixed modes and momenta, also on a throw") {
  auto bn = std::make_shared<BatchNorm1d>(3);
  auto dropout = std::make_shared<Dropout>(0.5f);
  auto net = sequential({std::make_shared<Linear>(2, 3), bn, dropout});
  net->eval();
  dropout->train();
  Generator gen(3);
  Tensor x = Tensor::normal({5, 2}, 0.0f, 1.0f, gen);
  int calls = 0;
  auto failing = [&](int64_t b) {
    ++calls;
    (*net)(x);
    if (b == 1) throw std::runtime_error("batch 1");
  };
  CHECK_THROWS_WITH_AS(recompute_batch_norm_statistics(*net, 3, failing), "batch 1",
                       std::runtime_error);
  CHECK(calls == 2);
  CHECK_FALSE(net->is_training());
  CHECK_FALSE(bn->is_training());
  CHECK(dropout->is_training());
  CHECK(bn->momentum() == 0.1f);
  CHECK_THROWS_AS(recompute_batch_norm_statistics(*net, 0, failing), std::invalid_argument);
  CHECK_THROWS_AS(bn->set_momentum(1.5f), std::invalid_argument);
  CHECK_THROWS_AS(bn->set_momentum(-0.1f), std::invalid_argument);
}

TEST_CASE("recompute_batch_norm_statistics leaves a module without batch norm untouched") {
  manual_seed(2);
  auto net = sequential({std::make_shared<SpectralNorm>(std::make_shared<Linear>(2, 4)),
                         std::make_shared<ReLU>(), std::make_shared<Linear>(4, 1)});
  NamedTensors parameters = copies(net->named_parameters()), buffers = copies(net->named_buffers());
  REQUIRE_FALSE(buffers.empty());  // spectral norm's u and v, which a training forward advances
  int calls = 0;
  net->train();
  recompute_batch_norm_statistics(*net, 4, [&](int64_t) { ++calls; });
  CHECK(calls == 0);
  CHECK(batch_norm_layers(*net).empty());
  CHECK(same_values(net->named_parameters(), parameters));
  CHECK(same_values(net->named_buffers(), buffers));
  CHECK(net->is_training());
}
