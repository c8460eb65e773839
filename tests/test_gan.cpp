// models/gan: the paper's theory holds in code, the losses are right, the trainer trains.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <set>

#include "minimax.h"
#include "models/data/batches.h"
#include "models/data/mixture.h"
#include "models/gan/conditional.h"
#include "models/gan/latent.h"
#include "models/gan/losses.h"
#include "models/gan/models.h"
#include "models/gan/trainer.h"
#include "ops/kernel_calls.h"

using namespace minimax;
using namespace minimax::nn;

namespace {

double normal_pdf(double x, double mean, double stddev) {
  double z = (x - mean) / stddev;
  return std::exp(-0.5 * z * z) / (stddev * std::sqrt(2 * std::numbers::pi));
}

std::shared_ptr<Sequential> mlp_1d(int64_t hidden, int64_t inputs = 1) {
  return sequential({std::make_shared<Linear>(inputs, hidden), std::make_shared<Tanh>(),
                     std::make_shared<Linear>(hidden, hidden), std::make_shared<Tanh>(),
                     std::make_shared<Linear>(hidden, 1)});
}

std::pair<double, double> mean_std(const Tensor& x) {
  double s = 0, s2 = 0;
  for (float v : x.to_vector()) s += v, s2 += double(v) * v;
  double m = s / x.numel();
  return {m, std::sqrt(s2 / x.numel() - m * m)};
}

}  // namespace

TEST_CASE("V(D, G) is -log 4 when D outputs 1/2 everywhere (the global optimum)") {
  Tensor zero_logits = Tensor::zeros({16, 1});
  CHECK(gan::value_function(zero_logits, zero_logits).item() == doctest::Approx(-std::log(4.0)));
}

TEST_CASE("Proposition 1: with G fixed, the trained D approaches p_data / (p_data + p_g)") {
  manual_seed(3);
  Generator gen(3);
  // p_data = N(0, 1); G fixed so that p_g = N(1.5, 1).
  auto d = mlp_1d(32);
  optim::Adam opt(d->parameters(), optim::AdamOptions(3e-3));
  for (int step = 0; step < 1500; ++step) {
    Tensor real = Tensor::normal({256, 1}, 0.0f, 1.0f, gen);
    Tensor fake = Tensor::normal({256, 1}, 1.5f, 1.0f, gen);
    opt.zero_grad();
    gan::minimax_loss().discriminator(d->forward(real), d->forward(fake)).backward();
    opt.step();
  }
  NoGradGuard no_grad;
  double worst = 0;
  for (double x = -1.5; x <= 3.0; x += 0.25) {
    double optimal = normal_pdf(x, 0, 1) / (normal_pdf(x, 0, 1) + normal_pdf(x, 1.5, 1));
    double trained = sigmoid(d->forward(Tensor::full({1, 1}, static_cast<float>(x)))).item();
    worst = std::max(worst, std::abs(trained - optimal));
  }
  CHECK(worst < 0.05);
}

TEST_CASE("with p_g = p_data the trained D stays near 1/2 and V near -log 4") {
  manual_seed(4);
  Generator gen(4);
  auto d = mlp_1d(16);
  optim::Adam opt(d->parameters(), optim::AdamOptions(1e-3));
  Tensor real, fake;
  for (int step = 0; step < 600; ++step) {
    real = Tensor::normal({256, 1}, 0.0f, 1.0f, gen);
    fake = Tensor::normal({256, 1}, 0.0f, 1.0f, gen);
    opt.zero_grad();
    gan::minimax_loss().discriminator(d->forward(real), d->forward(fake)).backward();
    opt.step();
  }
  NoGradGuard no_grad;
  real = Tensor::normal({4096, 1}, 0.0f, 1.0f, gen);
  fake = Tensor::normal({4096, 1}, 0.0f, 1.0f, gen);
  CHECK(gan::value_function(d->forward(real), d->forward(fake)).item() ==
        doctest::Approx(-std::log(4.0)).epsilon(0.02));
}

TEST_CASE("a 1-D Gaussian GAN learns the data's mean and variance (the paper's Figure 1 setting)") {
  manual_seed(5);
  Generator gen(5);
  auto g = mlp_1d(16), d = mlp_1d(32);
  // G learns five times slower than D: with equal rates the pair orbits the optimum instead.
  optim::Adam g_opt(g->parameters(), optim::AdamOptions(2e-4).betas({0.5, 0.999}));
  optim::Adam d_opt(d->parameters(), optim::AdamOptions(1e-3).betas({0.5, 0.999}));
  gan::TrainerOptions options;
  options.batch = 256;
  gan::Trainer trainer([&](const Tensor& z) { return g->forward(z); },
                       [&](const Tensor& x) { return d->forward(x); }, g_opt, d_opt,
                       gan::NoisePrior::gaussian(1),
                       [&](int64_t n) {
                         return Tensor::normal({n, 1}, 2.0f, 0.5f, gen);
                       },
                       gen, options);
  for (int i = 0; i < 3000; ++i) trainer.step();
  NoGradGuard no_grad;
  auto [mean, stddev] = mean_std(g->forward(Tensor::normal({20000, 1}, 0, 1, gen)));
  CHECK(mean == doctest::Approx(2.0).epsilon(0.05));
  CHECK(stddev == doctest::Approx(0.5).epsilon(0.2));
}

// One case per loss: its values on a fixed batch, from its definition.
namespace {
const Tensor kReal = Tensor::from_vector({2.0f, -1.0f}, {2, 1});
const Tensor kFake = Tensor::from_vector({0.5f, -3.0f}, {2, 1});
double log_sig(double l) {
  return -std::log1p(std::exp(-l));
}
double value_of_game() {
  return (log_sig(2) + log_sig(-1)) / 2 + (log_sig(-0.5) + log_sig(3)) / 2;
}
}  // namespace

TEST_CASE("loss: V(D, G) and the minimax game") {
  CHECK(gan::value_function(kReal, kFake).item() == doctest::Approx(value_of_game()));
  gan::Loss loss = gan::minimax_loss();
  CHECK(loss.discriminator(kReal, kFake).item() == doctest::Approx(-value_of_game()));
  CHECK(loss.generator(kFake).item() == doctest::Approx((log_sig(-0.5) + log_sig(3)) / 2));
  CHECK(loss.logits);
}
TEST_CASE("loss: nonsaturating") {
  gan::Loss loss = gan::nonsaturating_loss();
  CHECK(loss.discriminator(kReal, kFake).item() == doctest::Approx(-value_of_game()));
  CHECK(loss.generator(kFake).item() == doctest::Approx(-(log_sig(0.5) + log_sig(-3)) / 2));
  CHECK(loss.mean_output(kReal) ==
        doctest::Approx((1 / (1 + std::exp(-2.0)) + 1 / (1 + std::exp(1.0))) / 2));
}
TEST_CASE("loss: wgan-gp") {
  gan::Loss loss = gan::wgan_gp_loss(3);
  CHECK(loss.discriminator(kReal, kFake).item() == doctest::Approx(-1.25 - 0.5));
  CHECK(loss.generator(kFake).item() == doctest::Approx(1.25));
  CHECK(loss.gradient_penalty == 3);
  CHECK(gan::find_loss("wgan-gp").gradient_penalty == 10);  // the paper's lambda
  CHECK(loss.mean_output(kReal) == doctest::Approx(0.5));   // raw scores
}
TEST_CASE("loss: wgan") {
  gan::Loss loss = gan::wgan_loss(0.05f);
  CHECK(loss.discriminator(kReal, kFake).item() == doctest::Approx(-1.25 - 0.5));
  CHECK(loss.generator(kFake).item() == doctest::Approx(1.25));
  CHECK(loss.weight_clip == 0.05f);
  CHECK(loss.gradient_penalty == 0);
  CHECK(gan::find_loss("wgan").weight_clip == 0.01f);  // the paper's c
  CHECK(gan::find_loss("wgan-gp").weight_clip == 0);   // the penalty replaces the clipping
  CHECK_FALSE(loss.logits);
  for (float bad : {0.0f, -0.01f, std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::quiet_NaN()})
    CHECK_THROWS_WITH_AS(gan::wgan_loss(bad), doctest::Contains("wgan_loss: weight clip"),
                         std::invalid_argument);
}
TEST_CASE("loss: hinge") {
  gan::Loss loss = gan::hinge_loss();
  CHECK(loss.discriminator(kReal, kFake).item() ==
        doctest::Approx((0 + 2) / 2.0 + (1.5 + 0) / 2.0));
  CHECK(loss.generator(kFake).item() == doctest::Approx(1.25));
  CHECK_FALSE(loss.logits);
}
TEST_CASE("loss: lsgan") {
  gan::Loss loss = gan::lsgan_loss();
  CHECK(loss.discriminator(kReal, kFake).item() ==
        doctest::Approx(0.5 * ((1 + 4) / 2.0 + (0.25 + 9) / 2.0)));
  CHECK(loss.generator(kFake).item() == doctest::Approx(0.5 * (0.25 + 16) / 2.0));
}

TEST_CASE("loss: the registry finds every loss by name, refuses others, and none gives log(0)") {
  std::set<std::string> names;
  Tensor huge = Tensor::full({1, 1}, 200.0f);
  for (const gan::Loss& loss : gan::registered_losses()) {
    CAPTURE(loss.name);
    CHECK(names.insert(loss.name).second);
    CHECK(&gan::find_loss(loss.name) == &loss);
    CHECK_FALSE(loss.summary.empty());
    // Saturated outputs on either side stay finite.
    CHECK(std::isfinite(loss.discriminator(huge, neg(huge)).item()));
    CHECK(std::isfinite(loss.discriminator(neg(huge), huge).item()));
    CHECK(std::isfinite(loss.generator(neg(huge)).item()));
  }
  CHECK(names.size() == 6);
  CHECK_THROWS_WITH_AS(gan::find_loss("bogus"), doctest::Contains("bogus"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(gan::find_loss("bogus"), doctest::Contains(gan::loss_names().c_str()),
                       std::invalid_argument);
}

TEST_CASE("the WGAN-GP and R1 penalties' gradients pass a finite-difference check") {
  Generator init(8);
  Tensor w1 = Tensor::uniform({6, 3}, -1, 1, init).requires_grad_();
  Tensor w2 = Tensor::uniform({1, 6}, -1, 1, init).requires_grad_();
  Tensor real = Tensor::uniform({5, 3}, -1, 1, init), fake = Tensor::uniform({5, 3}, -1, 1, init);
  auto critic = [](const Tensor& a, const Tensor& b) {
    return [a, b](const Tensor& x) { return linear(tanh(linear(x, a)), b); };
  };
  DifferentiableFn gp = [&](const TensorList& w) {
    Generator eps_gen(1);  // the same interpolation points at every evaluation
    return gan::gradient_penalty(critic(w[0], w[1]), real, fake, eps_gen);
  };
  GradcheckResult r = gradcheck(gp, {w1, w2});
  INFO(r.message);
  CHECK(r.ok);
  DifferentiableFn r1 = [&](const TensorList& w) {
    return gan::r1_penalty(critic(w[0], w[1]), real, 10.0f);
  };
  r = gradcheck(r1, {w1, w2});
  INFO(r.message);
  CHECK(r.ok);
}

TEST_CASE("R1 from the loss's own forward equals R1 from a fresh one, and needs x to need grad") {
  Generator init(9);
  Tensor w1 = Tensor::uniform({6, 3}, -1, 1, init).requires_grad_();
  Tensor w2 = Tensor::uniform({1, 6}, -1, 1, init).requires_grad_();
  Tensor real = Tensor::uniform({5, 3}, -1, 1, init);
  auto d = [&](const Tensor& x) { return linear(tanh(linear(x, w1)), w2); };
  Tensor fresh = gan::r1_penalty(d, real, 10.0f);
  TensorList expected = grad({fresh}, {w1, w2});
  Tensor x = real.detach().requires_grad_();
  Tensor at = gan::r1_penalty_at(x, d(x), 10.0f);
  TensorList got = grad({at}, {w1, w2});
  CHECK(at.item() == fresh.item());
  CHECK(at.item() > 0);
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i].to_vector() == expected[i].to_vector());
  CHECK_THROWS_WITH_AS(gan::r1_penalty_at(real, d(real), 10.0f),
                       doctest::Contains("does not require grad"), std::invalid_argument);
}

// One D step with R1, against the same update worked out by hand from the batch D saw.
TEST_CASE("the trainer's R1 runs D once on the real batch and steps D by the penalized loss") {
  manual_seed(7);
  Generator gen(7);
  auto model = gan::mixture_mlp();
  optim::SGD g_opt(model.generator->parameters(), optim::SGDOptions(0.01));
  optim::SGD d_opt(model.discriminator->parameters(), optim::SGDOptions(0.05));
  gan::TrainerOptions options;
  options.batch = 8;
  options.r1_gamma = 10;
  auto ring = data::GaussianMixture::ring8();
  Tensor real, fake;
  int d_calls = 0;
  gan::Trainer trainer(
      [&](const Tensor& z) {
        Tensor x = model.generator->forward(z);
        if (!fake.defined()) fake = x.detach();  // the D step's batch comes first
        return x;
      },
      [&](const Tensor& x) {
        ++d_calls;
        return model.discriminator->forward(x);
      },
      g_opt, d_opt, model.prior, [&](int64_t n) { return real = ring.sample(n, gen); }, gen,
      options);
  TensorList params = model.discriminator->parameters(), before;
  for (const Tensor& p : params) before.push_back(p.detach().clone());
  trainer.step();
  CHECK(d_calls == 3);  // real and fake in D's step, fake in G's: no second forward for R1

  TensorList after;
  for (const Tensor& p : params) after.push_back(p.detach().clone());

  // By hand: back to the weights before the step, the penalized loss's gradients, SGD's update.
  for (size_t i = 0; i < params.size(); ++i)
    std::copy_n(before[i].data(), before[i].numel(), params[i].data());
  auto d = [&](const Tensor& x) { return model.discriminator->forward(x); };
  Tensor loss = add(options.loss.discriminator(d(real), d(fake)), gan::r1_penalty(d, real, 10.0f));
  TensorList g = grad({loss}, params);
  for (size_t i = 0; i < params.size(); ++i) {
    std::vector<float> p0 = before[i].to_vector(), gi = g[i].to_vector(), p1 = after[i].to_vector();
    for (size_t j = 0; j < p0.size(); ++j) CHECK(p1[j] == doctest::Approx(p0[j] - 0.05f * gi[j]));
  }
}

TEST_CASE("the trainer runs k discriminator steps per generator step and reports its statistics") {
  manual_seed(6);
  Generator gen(6);
  auto model = gan::mixture_mlp();
  optim::SGD g_opt(model.generator->parameters(), optim::SGDOptions(0.01));
  optim::SGD d_opt(model.discriminator->parameters(), optim::SGDOptions(0.01));
  gan::TrainerOptions options;
  options.k = 3;
  options.batch = 8;
  auto ring = data::GaussianMixture::ring8();
  gan::Trainer trainer([&](const Tensor& z) { return model.generator->forward(z); },
                       [&](const Tensor& x) { return model.discriminator->forward(x); }, g_opt,
                       d_opt, model.prior, [&](int64_t n) { return ring.sample(n, gen); }, gen,
                       options);
  int hooked = 0;
  trainer.on_step = [&](const gan::StepStats& s) { hooked = static_cast<int>(s.step); };
  gan::StepStats s = trainer.step();
  s = trainer.step();
  CHECK(hooked == 2);
  CHECK(d_opt.step_count() == 6);
  CHECK(g_opt.step_count() == 2);
  CHECK(s.d_real > 0);
  CHECK(s.d_real < 1);
  CHECK(s.d_fake > 0);
  CHECK(std::isfinite(s.g_loss));
}

// G and D each hold one convolution on the Winograd route, whose kernel transform the recorder sees
// as a call of its own (tests/test_kernel_calls.cpp): D's weight changes with each D step, G's
// only at the G step, so a step of k D steps transforms D's k + 1 times and G's once.
TEST_CASE("a training step transforms each convolution weight once per version") {
  manual_seed(9);
  Generator gen(9);
  Tensor g_weight = Tensor::uniform({16, 8, 4, 4}, -0.1f, 0.1f, gen).requires_grad_();
  Tensor d_weight = Tensor::uniform({32, 8, 4, 4}, -0.1f, 0.1f, gen).requires_grad_();
  optim::SGD g_opt({g_weight}, optim::SGDOptions(0.01)), d_opt({d_weight}, optim::SGDOptions(0.01));
  gan::TrainerOptions options;
  options.k = 3;
  options.batch = 4;
  const Conv2dOptions halving{.stride = 2, .padding = 1};
  gan::Trainer trainer(
      [&](const Tensor& z) {  // [N, 144] -> [N, 8, 6, 6]
        return conv_transpose2d(reshape(z, {z.size(0), 16, 3, 3}), g_weight, Tensor(), halving);
      },
      [&](const Tensor& x) {  // [N, 8, 6, 6] -> [N, 32, 3, 3] -> [N, 1]
        return reshape(sum(conv2d(x, d_weight, Tensor(), halving), {1, 2, 3}), {x.size(0), 1});
      },
      g_opt, d_opt, gan::NoisePrior::gaussian(144),
      [&](int64_t n) {
        return Tensor::uniform({n, 8, 6, 6}, -1, 1, gen);
      },
      gen, options);
  auto kernel_transforms = [](const std::vector<kernels::KernelCall>& calls,
                              const std::string& weight) {
    return std::count_if(calls.begin(), calls.end(), [&](const kernels::KernelCall& c) {
      return c.kind == "winograd transform" && c.shape.starts_with("kernel, ") &&
             c.shape.find("w " + weight) != std::string::npos;
    });
  };
  for (int step = 0; step < 2; ++step) {
    kernels::KernelCallRecorder recorder;
    trainer.step();
    CHECK(kernel_transforms(recorder.calls(), "[16, 8, 4, 4]") == 1);  // G's
    CHECK(kernel_transforms(recorder.calls(), "[32, 8, 4, 4]") == 4);  // D's
  }
}

TEST_CASE("the wgan loss clamps D's parameters after each of its updates, and leaves G's alone") {
  manual_seed(8);
  Generator gen(8);
  auto model = gan::mixture_mlp();  // PyTorch's default init: many weights beyond 0.02
  optim::RMSprop g_opt(model.generator->parameters(), optim::RMSpropOptions(5e-5));
  optim::RMSprop d_opt(model.discriminator->parameters(), optim::RMSpropOptions(5e-5));
  gan::TrainerOptions options;
  options.loss = gan::wgan_loss(0.02f);
  options.k = 2;
  options.batch = 8;
  auto ring = data::GaussianMixture::ring8();
  TensorList d_params = model.discriminator->parameters();
  auto largest = [](const TensorList& params) {
    float m = 0;
    for (const Tensor& p : params)
      for (float v : p.to_vector()) m = std::max(m, std::abs(v));
    return m;
  };
  REQUIRE(largest(d_params) > 0.02f);
  // The clamp runs after every D update: D's second forward of a step already sees it.
  int d_calls = 0;
  float largest_seen_by_second_d_step = 0;
  gan::Trainer trainer([&](const Tensor& z) { return model.generator->forward(z); },
                       [&](const Tensor& x) {
                         if (++d_calls == 3) largest_seen_by_second_d_step = largest(d_params);
                         return model.discriminator->forward(x);
                       },
                       g_opt, d_opt, model.prior, [&](int64_t n) { return ring.sample(n, gen); },
                       gen, options);
  const float g_before = largest(model.generator->parameters());
  REQUIRE(g_before > 0.02f);
  trainer.step();
  CHECK(largest_seen_by_second_d_step <= 0.02f);
  CHECK(largest(d_params) <= 0.02f);
  CHECK(largest(d_params) == 0.02f);  // some weights sit on the bound
  CHECK(largest(model.generator->parameters()) > 0.02f);
  CHECK(largest(model.generator->parameters()) == doctest::Approx(g_before).epsilon(1e-3));

  gan::TrainerOptions negative;
  negative.loss = gan::wgan_loss();
  negative.loss.weight_clip = -1.0f;
  CHECK_THROWS_WITH_AS(
      gan::Trainer([&](const Tensor& z) { return model.generator->forward(z); },
                   [&](const Tensor& x) { return model.discriminator->forward(x); }, g_opt, d_opt,
                   model.prior, [&](int64_t n) { return ring.sample(n, gen); }, gen, negative),
      doctest::Contains("the loss's weight clip -1 must be >= 0"), std::invalid_argument);
}

// The label as one more input column: [N, 1] labels beside [N, d] data.
Tensor with_label(const Tensor& x, const Tensor& labels) {
  return concat({x, reshape(labels, {labels.numel(), 1})}, 1);
}

TEST_CASE("a conditional trainer gives D each batch with its own labels, real or drawn for G") {
  Generator gen(8);
  std::vector<float> g_labels, d_labels, real_labels;
  auto record = [](std::vector<float>& to, const Tensor& labels) {
    to.insert(to.end(), labels.data(), labels.data() + labels.numel());
  };
  Tensor w = Tensor::ones({1, 2}).requires_grad_(), v = Tensor::ones({1, 2}).requires_grad_();
  optim::SGD g_opt({w}, optim::SGDOptions(0.01)), d_opt({v}, optim::SGDOptions(0.01));
  gan::TrainerOptions options;
  options.batch = 64;
  options.classes = 3;
  gan::Trainer trainer(
      [&](const Tensor& z, const Tensor& y) {
        record(g_labels, y);
        return linear(with_label(z, y), w);
      },
      [&](const Tensor& x, const Tensor& y) {
        record(d_labels, y);
        return linear(with_label(x, y), v);
      },
      g_opt, d_opt, gan::NoisePrior::gaussian(1),
      [&](int64_t n) {
        Tensor labels = Tensor::full({n}, 2.0f);
        record(real_labels, labels);
        return gan::LabelledBatch{Tensor::normal({n, 1}, 0, 1, gen), labels};
      },
      gen, options);
  trainer.step();
  // D step: D(real, real labels), D(G(z, y), y); G step: D(G(z, y'), y').
  REQUIRE(g_labels.size() == 128);
  REQUIRE(d_labels.size() == 192);
  CHECK(std::equal(real_labels.begin(), real_labels.end(), d_labels.begin()));
  CHECK(std::equal(g_labels.begin(), g_labels.end(), d_labels.begin() + 64));
  std::set<float> drawn(g_labels.begin(), g_labels.end());
  CHECK(drawn == std::set<float>{0.0f, 1.0f, 2.0f});  // uniform over 3 classes: all appear
  CHECK(g_labels != std::vector<float>(d_labels.begin(), d_labels.begin() + 128));  // not reused
}

TEST_CASE("a conditional trainer refuses to run without classes, an unconditional one with them") {
  Generator gen(9);
  Tensor w = Tensor::ones({1, 1}).requires_grad_(), v = Tensor::ones({1, 1}).requires_grad_();
  optim::SGD g_opt({w}, optim::SGDOptions(0.1)), d_opt({v}, optim::SGDOptions(0.1));
  auto net = [](const Tensor& x, const Tensor&) { return x; };
  auto labelled = [](int64_t n) { return gan::LabelledBatch{Tensor::zeros({n, 1}), Tensor()}; };
  CHECK_THROWS_WITH_AS(
      gan::Trainer(net, net, g_opt, d_opt, gan::NoisePrior::gaussian(1), labelled, gen, {}),
      doctest::Contains("conditional training needs classes > 0"), std::invalid_argument);
  gan::TrainerOptions options;
  options.classes = 4;
  auto plain = [](const Tensor& x) { return x; };
  CHECK_THROWS_WITH_AS(gan::Trainer(
                           plain, plain, g_opt, d_opt, gan::NoisePrior::gaussian(1),
                           [](int64_t n) {
                             return Tensor::zeros({n, 1});
                           },
                           gen, options),
                       doctest::Contains("unconditional networks with 4 classes"),
                       std::invalid_argument);
}

TEST_CASE(
    "a trainer refuses one optimizer for both networks, an empty part and a negative penalty") {
  Generator gen(9);
  Tensor w = Tensor::ones({1, 1}).requires_grad_(), v = Tensor::ones({1, 1}).requires_grad_();
  optim::SGD both({w, v}, optim::SGDOptions(0.1)), d_opt({v}, optim::SGDOptions(0.1));
  optim::SGD g_opt({w}, optim::SGDOptions(0.1));
  auto net = [](const Tensor& x) { return x; };
  auto data = [](int64_t n) { return Tensor::zeros({n, 1}); };
  const auto prior = gan::NoisePrior::gaussian(1);
  // G's step would move D's weight too, to lower G's own loss.
  CHECK_THROWS_WITH_AS(gan::Trainer(net, net, both, both, prior, data, gen, {}),
                       doctest::Contains("D's optimizer's parameter 0 [1, 1] is also G's"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(gan::Trainer(net, net, both, d_opt, prior, data, gen, {}),
                       doctest::Contains("D's optimizer's parameter 0 [1, 1] is also G's"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(gan::Trainer(net, net, g_opt, d_opt, prior, nullptr, gen, {}),
                       "Trainer: the data source is empty", std::invalid_argument);
  CHECK_THROWS_WITH_AS(gan::Trainer(nullptr, net, g_opt, d_opt, prior, data, gen, {}),
                       "Trainer: the generator is empty", std::invalid_argument);
  gan::TrainerOptions no_loss;
  no_loss.loss = gan::Loss{};
  CHECK_THROWS_WITH_AS(gan::Trainer(net, net, g_opt, d_opt, prior, data, gen, no_loss),
                       doctest::Contains("the loss's discriminator part is empty"),
                       std::invalid_argument);
  gan::TrainerOptions negative;
  negative.r1_gamma = -1.0f;
  CHECK_THROWS_WITH_AS(gan::Trainer(net, net, g_opt, d_opt, prior, data, gen, negative),
                       doctest::Contains("must be >= 0 (R1 -1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(gan::wgan_gp_loss(-1.0f), doctest::Contains("penalty weight -1"),
                       std::invalid_argument);
  CHECK_NOTHROW(gan::Trainer(net, net, g_opt, d_opt, prior, data, gen, {}));
}

TEST_CASE("a conditional GAN learns a different Gaussian for each label") {
  manual_seed(10);
  Generator gen(10);
  auto g = mlp_1d(16, 2), d = mlp_1d(32, 2);
  optim::Adam g_opt(g->parameters(), optim::AdamOptions(5e-4).betas({0.5, 0.999}));
  optim::Adam d_opt(d->parameters(), optim::AdamOptions(1e-3).betas({0.5, 0.999}));
  gan::TrainerOptions options;
  options.batch = 128;
  options.classes = 2;
  // Label 0 is N(-2, 0.5), label 1 is N(2, 0.5).
  gan::Trainer trainer(
      [&](const Tensor& z, const Tensor& y) { return g->forward(with_label(z, y)); },
      [&](const Tensor& x, const Tensor& y) { return d->forward(with_label(x, y)); }, g_opt, d_opt,
      gan::NoisePrior::gaussian(1),
      [&](int64_t n) {
        Tensor y = Tensor::empty({n}), x = Tensor::normal({n, 1}, 0, 0.5f, gen);
        for (int64_t i = 0; i < n; ++i) {
          y.data()[i] = static_cast<float>(data::uniform_below(gen, 2));
          x.data()[i] += y.data()[i] == 0 ? -2.0f : 2.0f;
        }
        return gan::LabelledBatch{x, y};
      },
      gen, options);
  for (int i = 0; i < 1500; ++i) trainer.step();
  NoGradGuard no_grad;
  for (float label : {0.0f, 1.0f}) {
    Tensor z = Tensor::normal({4000, 1}, 0, 1, gen);
    auto [mean, stddev] = mean_std(g->forward(with_label(z, Tensor::full({4000}, label))));
    CAPTURE(label);
    CHECK(mean == doctest::Approx(label == 0 ? -2.0 : 2.0).epsilon(0.1));
    CHECK(stddev < 1.0);
  }
}

TEST_CASE("a NaN loss stops training before the update, with a clear message") {
  Generator gen(7);
  Tensor w = Tensor::ones({1, 1}).requires_grad_();
  Tensor v = Tensor::ones({1, 1}).requires_grad_();
  optim::SGD g_opt({w}, optim::SGDOptions(0.1)), d_opt({v}, optim::SGDOptions(0.1));
  gan::Trainer trainer([&](const Tensor& z) { return linear(z, w); },
                       [&](const Tensor& x) { return linear(x, v); }, g_opt, d_opt,
                       gan::NoisePrior::gaussian(1),
                       [&](int64_t n) {
                         return Tensor::full({n, 1}, std::nanf(""));
                       },
                       gen, {});
  CHECK_THROWS_WITH_AS(trainer.step(), doctest::Contains("discriminator's loss is nan"),
                       gan::TrainingDiverged);
  CHECK(v.data()[0] == 1.0f);  // no update was applied
}

TEST_CASE("the bundled models have the paper's and DCGAN's shapes") {
  manual_seed(1);
  Generator gen(1);
  auto paper = gan::paper_mnist_mlp();
  CHECK(paper.generator->parameter_count() ==
        100 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 784 + 784);
  Tensor z = paper.prior.sample(4, gen);
  CHECK(z.shape() == Shape{4, 100});
  for (float v : z.to_vector()) CHECK(std::abs(v) <= std::sqrt(3.0f));
  Tensor x = paper.generator->forward(z);
  CHECK(x.shape() == Shape{4, 784});
  CHECK(paper.discriminator->forward(x).shape() == Shape{4, 1});
  Tensor means = Tensor::full({784}, 0.25f);
  gan::init_output_bias_from_data(*paper.generator, means);
  CHECK(paper.generator->named_parameters().back().second.data()[0] ==
        doctest::Approx(std::log(1.0 / 3)));

  auto dc = gan::dcgan28();
  Tensor img = dc.generator->forward(dc.prior.sample(2, gen));
  CHECK(img.shape() == Shape{2, 1, 28, 28});
  CHECK(dc.discriminator->forward(img).shape() == Shape{2, 1});
}

TEST_CASE("conditional builders: G on [z, one_hot(y)], D by projection, starting as the plain D") {
  manual_seed(3);
  Generator gen(3);
  gan::GanModel dc = gan::dcgan28(10);
  CHECK(dc.classes == 10);
  auto& g = gan::conditional_generator(dc);
  auto& d = gan::conditional_discriminator(dc);
  Tensor labels = Tensor::from_vector({0, 9, 4}, {3});
  Tensor img = g(dc.prior.sample(3, gen), labels);
  CHECK(img.shape() == Shape{3, 1, 28, 28});
  // G's first layer takes the 100 prior dimensions and 10 one-hot columns.
  CHECK(dc.generator->named_parameters().front().second.shape() == Shape{110, 256, 4, 4});
  // The projection's embedding starts at zero: every label gives the same logit ...
  Tensor logits = d(img, labels), same = d(img, Tensor::from_vector({1, 1, 1}, {3}));
  CHECK(logits.shape() == Shape{3, 1});
  CHECK(logits.to_vector() == same.to_vector());
  // ... and only the rows of the labels present receive gradient (a scatter-add).
  auto* projection = dynamic_cast<gan::ProjectionDiscriminator*>(&d);
  REQUIRE(projection != nullptr);
  CHECK(projection->embedding.shape() == Shape{10, 256 * 3 * 3});
  sum(d(img.detach(), Tensor::from_vector({4, 4, 7}, {3}))).backward();
  Tensor eg = projection->embedding.grad();
  for (int64_t row = 0; row < 10; ++row) {
    double norm = 0;
    for (int64_t j = 0; j < eg.size(1); ++j) norm += std::abs(eg.data()[row * eg.size(1) + j]);
    CAPTURE(row);
    CHECK((norm > 0) == (row == 4 || row == 7));
  }
  gan::GanModel mixture = gan::mixture_mlp(2, 16, 1, 8);
  CHECK(gan::conditional_generator(mixture)(Tensor::zeros({5, 2}), Tensor::zeros({5})).shape() ==
        Shape{5, 2});
}

TEST_CASE("conditional modules refuse bad labels and a G without room for them, naming where") {
  manual_seed(4);
  gan::GanModel mlp = gan::paper_mnist_mlp(10);
  auto& d = gan::conditional_discriminator(mlp);
  Tensor x = Tensor::zeros({2, 784});
  CHECK_THROWS_WITH_AS(
      d(x, Tensor::from_vector({0, 10}, {2})),
      "D: embedding: indices [2] holds 10 at flat index 1, which is not a whole number in [0, 10)",
      std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      gan::conditional_generator(mlp)(Tensor::zeros({2, 100}), Tensor::from_vector({0.5f, 1}, {2})),
      doctest::Contains("G: one_hot: labels [2] holds 0.5"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(d(x, Tensor::zeros({3})), doctest::Contains("labels must be [2]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS((*mlp.discriminator)(x), doctest::Contains("call it with labels"),
                       std::invalid_argument);
  gan::GanModel plain = gan::mixture_mlp();
  CHECK_THROWS_WITH_AS(gan::make_conditional(plain, 8, {2}),
                       doctest::Contains("G must take 2 prior dimensions + 8 classes = 10 inputs"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(gan::conditional_generator(plain), doctest::Contains("not conditional"),
                       std::invalid_argument);
  CHECK_THROWS_AS(gan::mixture_mlp(2, 16, 1, 1), std::invalid_argument);  // one class
  CHECK_THROWS_WITH_AS(gan::mixture_mlp(2, 16, 1, -1), doctest::Contains("-1 classes"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(gan::ConditionalGenerator(std::make_shared<Linear>(3, 2), 1),
                       "ConditionalGenerator: 1 classes (a conditional model needs at least 2)",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(gan::ConditionalGenerator(nullptr, 3),
                       doctest::Contains("child module 'body' is null"), std::invalid_argument);
  gan::GanModel no_d = gan::mixture_mlp();
  no_d.discriminator = nullptr;
  CHECK_THROWS_WITH_AS(gan::make_conditional(no_d, 8, {2}),
                       doctest::Contains("the model has no discriminator"), std::invalid_argument);
}

TEST_CASE("a make_conditional that fails leaves G and D in the mode they were in") {
  // G and D keep their layers in the conditional pair, so a failed call used to leave the
  // caller's networks in eval mode: dropout and batch norm's batch statistics switched off.
  manual_seed(5);
  gan::GanModel plain = gan::mixture_mlp();
  plain.generator->train();
  plain.discriminator->train();
  CHECK_THROWS_AS(gan::make_conditional(plain, 8, {2}), std::invalid_argument);  // G too narrow
  CHECK(plain.generator->is_training());
  CHECK(plain.discriminator->is_training());
  CHECK_THROWS_AS(gan::make_conditional(gan::mixture_mlp(), 8, {5}), std::invalid_argument);
  gan::GanModel wrong_shape = gan::mixture_mlp();
  wrong_shape.discriminator->train();
  CHECK_THROWS_AS(gan::make_conditional(wrong_shape, 8, {5}), std::invalid_argument);
  for (auto& [name, m] : wrong_shape.discriminator->named_modules()) {
    CAPTURE(name);
    CHECK(m->is_training());
  }
}

TEST_CASE("the paper's output-bias initializer refuses what it cannot use and counts as a change") {
  manual_seed(6);
  gan::GanModel paper = gan::paper_mnist_mlp();
  Tensor means = Tensor::full({784}, 0.25f);
  Sequential empty;
  CHECK_THROWS_WITH_AS(gan::init_output_bias_from_data(empty, means),
                       doctest::Contains("the generator has no parameters"), std::invalid_argument);
  Tensor nan_means = Tensor::full({784}, 0.25f);
  nan_means.data()[7] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(gan::init_output_bias_from_data(*paper.generator, nan_means),
                       doctest::Contains("pixel mean nan at index 7 is not in [0, 1]"),
                       std::invalid_argument);
  // A backward recorded before the change, which reads the bias, must not use the new values.
  Tensor bias = paper.generator->named_parameters().back().second;
  Tensor loss = sum(mul(bias, bias));
  gan::init_output_bias_from_data(*paper.generator, means);
  CHECK(bias.data()[0] == doctest::Approx(std::log(1.0 / 3)));
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("changed in place"), std::runtime_error);
}

TEST_CASE("the DCGAN for 32x32 RGB images makes CIFAR-10-shaped images in [-1, 1] and trains") {
  manual_seed(2);
  Generator gen(2);
  auto dc = gan::dcgan32_rgb();
  Tensor img = dc.generator->forward(dc.prior.sample(3, gen));
  CHECK(img.shape() == Shape{3, 3, 32, 32});
  for (float v : img.to_vector()) CHECK((v >= -1.0f && v <= 1.0f));
  CHECK(dc.discriminator->forward(img).shape() == Shape{3, 1});
  // The first layers' weights differ from DCGAN 28's in their channels only.
  CHECK(dc.generator->named_parameters().back().second.shape() == Shape{64, 3, 4, 4});
  CHECK(dc.discriminator->named_parameters().front().second.shape() == Shape{64, 3, 4, 4});

  // Training steps on a batch of a single image bring D(x) up and keep everything finite.
  optim::Adam g_opt(dc.generator->parameters(), optim::AdamOptions(2e-4).betas({0.5, 0.999}));
  optim::Adam d_opt(dc.discriminator->parameters(), optim::AdamOptions(2e-4).betas({0.5, 0.999}));
  Tensor real = Tensor::uniform({4, 3, 32, 32}, -1, 1, gen);
  gan::TrainerOptions options;
  options.batch = 4;
  gan::Trainer trainer([&](const Tensor& z) { return dc.generator->forward(z); },
                       [&](const Tensor& x) { return dc.discriminator->forward(x); }, g_opt, d_opt,
                       dc.prior, [&](int64_t) { return real; }, gen, options);
  gan::StepStats first = trainer.step(), last = first;
  for (int i = 0; i < 4; ++i) last = trainer.step();
  CHECK(std::isfinite(last.d_loss));
  CHECK(std::isfinite(last.g_loss));
  CHECK(last.d_real > first.d_real);
}

TEST_CASE("interpolate_latents walks straight lines between the rows, ends included") {
  Tensor from = Tensor::from_vector({0, 0, 1, -1}, {2, 2});
  Tensor to = Tensor::from_vector({4, 8, 1, 3}, {2, 2});
  Tensor walk = gan::interpolate_latents(from, to, 5);
  REQUIRE(walk.shape() == Shape{10, 2});
  // Row 0 goes (0, 0) -> (4, 8) in quarters; row 1 goes (1, -1) -> (1, 3).
  std::vector<float> expected = {0, 0, 1, 2, 2, 4, 3, 6, 4, 8, 1, -1, 1, 0, 1, 1, 1, 2, 1, 3};
  CHECK(walk.to_vector() == expected);
  Generator gen(3);
  Tensor a = Tensor::normal({3, 100}, 0, 1, gen), b = Tensor::normal({3, 100}, 0, 1, gen);
  Tensor w = gan::interpolate_latents(a, b, 7);
  CHECK(slice(w, 0, 0, 1).to_vector() == slice(a, 0, 0, 1).to_vector());  // exactly the ends
  CHECK(slice(w, 0, 20, 21).to_vector() == slice(b, 0, 2, 3).to_vector());
  CHECK_THROWS_AS(gan::interpolate_latents(a, b, 1), std::invalid_argument);
  CHECK_THROWS_AS(gan::interpolate_latents(a, slice(b, 0, 0, 2), 4), std::invalid_argument);
}
