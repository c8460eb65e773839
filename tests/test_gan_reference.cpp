// The GAN's randomized and second-order pieces against PyTorch 1.13, read from
// tests/data/gan_reference.json (written by tests/reference/make_gan_reference.py, which documents
// the format and ports minimax's Generator, so that both sides draw the same numbers):
//   - dropout given the same mask: output, gradient and the gradient of the gradient;
//   - WGAN-GP and R1 through the bundled critics (dcgan28's and dcgan32_rgb's D: convolutions,
//     batch norm in training mode, leaky ReLU; the paper's maxout D with its three dropouts, the
//     same masks on both sides): the penalty and its gradient for every D parameter.
//
// Tolerances. Dropout: 1e-6 relative. The kept elements are x / (1 - p) on both sides, but
// minimax's p is a float: 0.9f = 0.899999976, so its scale 1 / (1 - 0.9f) = 9.9999976 where
// PyTorch's double p gives 10 (2.4e-7 relative); for p = 0.2 and 0.5 they agree within 2.5e-7.
// Penalties: 1e-4 relative. PyTorch computes in float64 on the same float32 numbers, so the gap is
// minimax's float32 rounding through forward, backward and double backward of a few layers (sums
// of up to 2048 terms, batch statistics over as few as 36 values): every check here also holds at
// 1e-5.
// Each parameter's gradient is pinned by its norm, eight inner products with +-1 vectors (each
// within 1e-4 of the norm: an error vector e moves each by about |e|, so all eight stay below
// |e| / 4 with probability 0.2^8), and single elements (within 1e-4 of the larger of the element
// and the gradient's RMS).
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "minimax.h"
#include "reference_fixture.h"

using namespace minimax;
using json = nlohmann::json;

namespace {

constexpr int kFormatVersion = 1;
constexpr double kPenaltyTol = 1e-4, kDropoutTol = 1e-6;
const char* const kRegenerate =
    "regenerate it with /usr/bin/python3 tests/reference/make_gan_reference.py";

// The fixture's document; every test case fails with the reason when it cannot be read.
const json& fixture() {
  static const testing::ReferenceFixture f =
      testing::read_reference_fixture("gan_reference.json", kFormatVersion, kRegenerate);
  REQUIRE_MESSAGE(f.error.empty(), f.error);
  return f.doc;
}

// n values 2u - 1 (exact in float) from gen, as the script's Generator draws them.
std::vector<float> signed_draws(Generator& gen, int64_t n) {
  std::vector<float> v(n);
  for (float& x : v) x = 2.0f * gen.uniform() - 1.0f;
  return v;
}

Shape shape_of(const json& j) {
  return Shape(j.get<std::vector<int64_t>>());
}

// Empty when every element of got is within tol * max(|expected|, floor) of expected.
std::string differs(const std::vector<float>& got, const std::vector<double>& expected, double tol,
                    double floor = 0.0) {
  if (got.size() != expected.size())
    return fmt::format("{} values, expected {}", got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::abs(got[i] - expected[i]) <= tol * std::max(std::abs(expected[i]), floor)))
      return fmt::format("element {}: {:.9g}, PyTorch {:.9g}", i, got[i], expected[i]);
  return {};
}

void check_dropout_case(const json& c) {
  const float p = c.at("p").get<float>();
  const Shape shape = shape_of(c.at("shape"));
  Generator data(c.at("seed").get<uint64_t>()), masks(c.at("seed").get<uint64_t>() + 1);
  const int64_t n = shape.numel();
  Tensor x = Tensor::from_vector(signed_draws(data, n), shape).requires_grad_();
  Tensor w = Tensor::from_vector(signed_draws(data, n), shape).requires_grad_();
  Tensor v = Tensor::from_vector(signed_draws(data, n), shape);
  Tensor y = dropout(x, p, true, masks);
  Tensor gx = grad({sum(mul(y, w))}, {x}, {.create_graph = true})[0];
  Tensor gw = grad({sum(mul(gx, v))}, {w})[0];
  std::string m = differs(y.to_vector(), c.at("output"), kDropoutTol);
  CHECK_MESSAGE(m.empty(), "output: ", m);
  m = differs(gx.to_vector(), c.at("grad"), kDropoutTol);
  CHECK_MESSAGE(m.empty(), "gradient: ", m);
  m = differs(gw.to_vector(), c.at("second_order"), kDropoutTol);
  CHECK_MESSAGE(m.empty(), "second order: ", m);
}

}  // namespace

TEST_CASE("dropout: agrees with PyTorch given the same mask, to second order") {
  const json& doc = fixture();
  REQUIRE(doc.contains("dropout"));
  CHECK(doc.at("dropout").size() >= 3);
  for (const json& c : doc.at("dropout")) {
    CAPTURE(c.at("name").get<std::string>());
    check_dropout_case(c);
  }
}

namespace {

// The +-1 vector of make_gan_reference.py's sign_vector: a splitmix64 finalizer of (param, k, i).
double sign_at(uint64_t param, uint64_t k, uint64_t i) {
  const uint64_t z = splitmix64_mix((i + (param << 40) + (k << 32)) * kSplitmix64Increment);
  return (z >> 63) ? -1.0 : 1.0;
}

std::shared_ptr<nn::Module> critic_named(const std::string& name) {
  if (name == "dcgan28") return gan::dcgan28().discriminator;
  if (name == "dcgan32_rgb") return gan::dcgan32_rgb().discriminator;
  if (name == "paper_mlp") return gan::paper_mnist_mlp().discriminator;
  FAIL("unknown critic ", name, " in the fixture; ", kRegenerate);
  return nullptr;
}

// Fills D's parameters as the script does (offset + (2u - 1) scale, exact in float) and returns
// them in order; checks the names and shapes are the script's.
TensorList fill_parameters(nn::Module& d, const json& scales, Generator& gen) {
  TensorList params;
  auto named = d.named_parameters();
  REQUIRE(named.size() == scales.size());
  for (size_t i = 0; i < named.size(); ++i) {
    auto& [name, p] = named[i];
    const json& s = scales[i];
    REQUIRE(name == s.at("name").get<std::string>());
    REQUIRE(p.shape() == shape_of(s.at("shape")));
    const float offset = s.at("offset").get<float>(), scale = s.at("scale").get<float>();
    std::vector<float> v = signed_draws(gen, p.numel());
    for (float& x : v) x = offset + x * scale;
    std::copy(v.begin(), v.end(), p.data());
    params.push_back(p);
  }
  return params;
}

// The masks D's dropouts will draw from a generator in `state` (dropout of ones, layer by layer)
// are the script's.
void check_masks(const json& c, int64_t batch, Generator::State state) {
  Generator gen;
  gen.set_state(state);
  const json& masks = c.at("masks");
  REQUIRE(masks.size() == c.at("dropout_p").size());
  for (size_t layer = 0; layer < masks.size(); ++layer) {
    const int64_t width = static_cast<int64_t>(masks[layer].size()) / batch;
    const float p = c.at("dropout_p")[layer].get<float>();
    Tensor mask = dropout(Tensor::ones({batch, width}), p, true, gen);
    std::string diff = differs(mask.to_vector(), masks[layer], 0.0);
    CHECK_MESSAGE(diff.empty(), "dropout mask ", layer, " is not the script's: ", diff, "; ",
                  kRegenerate);
  }
}

void check_gradient(const std::string& name, const Tensor& g, const json& ref, uint64_t index) {
  std::vector<float> got = g.to_vector();
  const double norm = ref.at("norm").get<double>();
  double got_norm = 0.0;
  for (float v : got) got_norm += double(v) * v;
  CHECK_MESSAGE(std::abs(std::sqrt(got_norm) - norm) <= kPenaltyTol * norm, name, " norm ",
                std::sqrt(got_norm), ", PyTorch ", norm);
  const json& projections = ref.at("projections");
  for (uint64_t k = 0; k < projections.size(); ++k) {
    double dot = 0.0;
    for (size_t i = 0; i < got.size(); ++i) dot += sign_at(index, k, i) * got[i];
    const double want = projections[k].get<double>();
    CHECK_MESSAGE(std::abs(dot - want) <= kPenaltyTol * norm, name, " projection ", k, ": ", dot,
                  ", PyTorch ", want, " (gradient norm ", norm, ")");
  }
  const double rms = norm / std::sqrt(static_cast<double>(got.size()));
  std::vector<float> sampled;
  for (const json& i : ref.at("indices")) sampled.push_back(got.at(i.get<size_t>()));
  std::string diff = differs(sampled, ref.at("values"), kPenaltyTol, rms);
  CHECK_MESSAGE(diff.empty(), name, " sampled ", diff);
}

void check_penalty_case(const json& c) {
  std::shared_ptr<nn::Module> d = critic_named(c.at("critic"));
  d->train();
  Generator data(c.at("param_seed").get<uint64_t>());
  TensorList params = fill_parameters(*d, c.at("scales"), data);
  const int64_t batch = c.at("batch");
  Shape x_shape{batch};
  for (int64_t e : c.at("sample_shape")) x_shape.push_back(e);
  Tensor real = Tensor::from_vector(signed_draws(data, x_shape.numel()), x_shape);
  Tensor fake = Tensor::from_vector(signed_draws(data, x_shape.numel()), x_shape);

  Generator eps_gen(c.at("eps_seed").get<uint64_t>());
  std::vector<float> eps = Tensor::uniform({batch}, 0.0f, 1.0f, eps_gen).to_vector();
  CHECK_MESSAGE(differs(eps, c.at("eps"), 0.0).empty(), "eps draws differ; ", kRegenerate);

  // D's dropouts draw from the default generator: seed it, and put it back afterwards.
  const Generator::State saved = default_generator().state();
  default_generator().seed_with(c.at("dropout_seed").get<uint64_t>());
  check_masks(c, batch, default_generator().state());
  gan::Critic critic = [&](const Tensor& x) { return (*d)(x); };
  eps_gen.seed_with(c.at("eps_seed").get<uint64_t>());
  Tensor penalty = c.at("penalty") == "r1"
                       ? gan::r1_penalty(critic, real, c.at("gamma").get<float>())
                       : gan::gradient_penalty(critic, real, fake, eps_gen);
  default_generator().set_state(saved);

  const double value = c.at("value").get<double>();
  CHECK_MESSAGE(std::abs(penalty.item() - value) <= kPenaltyTol * std::abs(value), "penalty ",
                penalty.item(), ", PyTorch ", value);
  // The paper's D: its output bias does not reach the input gradient, so its gradient is zero.
  TensorList grads = grad({penalty}, params, {.allow_unused = true});
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor g = grads[i].defined() ? grads[i] : Tensor::zeros(params[i].shape());
    check_gradient(c.at("grads")[i].at("name").get<std::string>(), g, c.at("grads")[i], i);
  }
}

}  // namespace

TEST_CASE("penalties: WGAN-GP and R1 through the bundled critics agree with PyTorch") {
  const json& doc = fixture();
  int count = 0;
  for (const json& c : doc.at("cases")) {
    CAPTURE(c.at("name").get<std::string>());
    check_penalty_case(c);
    ++count;
  }
  CHECK_MESSAGE(count == 6, "expected 3 critics x 2 penalties in the fixture; ", kRegenerate);
}
