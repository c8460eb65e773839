// The layers GANs since DCGAN use (issue 13): Embedding, LayerNorm, GroupNorm, InstanceNorm2d,
// Upsample, PixelShuffle, MaxPool2d, AvgPool2d, SelfAttention2d, SpectralNorm and grouped
// convolutions. Outputs and gradients against PyTorch's modules
// (tests/reference/make_torch_reference.py, family "modules"), finite-difference gradients in the
// parameters too, spectral norm's power iteration and its buffers, and the errors.
#include <doctest/doctest.h>

#include <cmath>
#include <map>

#include "models/nn/attention.h"
#include "models/nn/init.h"
#include "models/nn/layers.h"
#include "models/nn/spectral_norm.h"
#include "models/optim/ema.h"
#include "temp_dir.h"
#include "torch_reference.h"

using namespace minimax;
using namespace minimax::nn;
using namespace minimax::torch_reference;

namespace {

// The module a case of family "modules" describes, from its options.
std::shared_ptr<Module> make_module(const std::string& op, const json& o) {
  auto i = [&](const char* key) { return o.at(key).get<int64_t>(); };
  auto affine = [&] { return o.at("affine").get<bool>(); };
  if (op == "Embedding") return std::make_shared<Embedding>(i("num"), i("dim"));
  if (op == "LayerNorm")
    return std::make_shared<LayerNorm>(shape_option(o, "normalized_shape"),
                                       LayerNormOptions{.elementwise_affine = affine()});
  if (op == "GroupNorm")
    return std::make_shared<GroupNorm>(i("groups"), i("channels"),
                                       GroupNormOptions{.affine = affine()});
  if (op == "InstanceNorm2d")
    return std::make_shared<InstanceNorm2d>(i("features"), InstanceNormOptions{.affine = affine()});
  if (op == "Upsample")
    return std::make_shared<Upsample>(
        i("scale"), o.at("mode") == "bilinear" ? UpsampleMode::kBilinear : UpsampleMode::kNearest);
  if (op == "PixelShuffle") return std::make_shared<PixelShuffle>(i("r"));
  if (op == "MaxPool2d" || op == "AvgPool2d") {
    Pool2dOptions pool{.stride = i("stride"), .padding = i("padding")};
    if (op == "MaxPool2d") return std::make_shared<MaxPool2d>(i("kernel"), pool);
    return std::make_shared<AvgPool2d>(i("kernel"), pool);
  }
  if (op == "SelfAttention2d")
    return std::make_shared<SelfAttention2d>(i("channels"),
                                             SelfAttention2dOptions{.reduction = i("reduction")});
  if (op == "SpectralNorm(Linear)")
    return spectral_norm(std::make_shared<Linear>(i("in"), i("out")));
  if (op == "SpectralNorm(Conv2d)")
    return spectral_norm(std::make_shared<Conv2d>(i("in"), i("out"), i("kernel"),
                                                  Conv2dOptions{.padding = i("padding")}));
  throw std::invalid_argument("no module for op " + op);
}

// Loads the case's parameters (the inputs after the first, named as the module names them) and
// buffers (its state) into the module, and hands its parameters back in the inputs' places, so
// that the gradients checked are the module's own.
void load_case(Module& m, TensorList& inputs, const json& c) {
  std::map<std::string, size_t> slot;
  for (size_t k = 1; k < inputs.size(); ++k)
    slot[c.at("inputs").at(k).at("name").get<std::string>()] = k;
  NamedTensors params = m.named_parameters();
  CHECK(params.size() == slot.size());
  for (auto& [name, p] : params) {
    REQUIRE_MESSAGE(slot.count(name) == 1, "the case gives no input named ", name);
    p.copy_(inputs[slot[name]]);
    inputs[slot[name]] = p;
  }
  NamedTensors buffers = m.named_buffers();
  CHECK(buffers.size() == (c.contains("state") ? c.at("state").size() : 0));
  for (auto& [name, b] : buffers) b.copy_(to_tensor(c.at("state").at(name)));
}

Tensor module_case(TensorList& inputs, const json& c) {
  std::shared_ptr<Module> m = make_module(c.at("op").get<std::string>(), options(c));
  m->train(options(c).at("training").get<bool>());
  load_case(*m, inputs, c);
  Tensor y = (*m)(inputs[0]);
  for (auto& [name, b] : m->named_buffers())
    check_tensor(c.at("name").get<std::string>() + " " + name + " after", b,
                 c.at("state_after").at(name), {});
  return y;
}

}  // namespace

TEST_CASE("torch: modules") {
  OpTable table;
  for (const char* op : {"Embedding", "LayerNorm", "GroupNorm", "InstanceNorm2d", "Upsample",
                         "PixelShuffle", "MaxPool2d", "AvgPool2d", "SelfAttention2d",
                         "SpectralNorm(Linear)", "SpectralNorm(Conv2d)"})
    table[op] = module_case;
  check_family("modules", table);
}

// ---- gradients in the input and every parameter, by finite differences ----

namespace {

struct ModuleRow {
  std::string name;
  std::shared_ptr<Module> module;
  Shape input;
  // Draw the parameters in [-1, 1) first: the defaults' ones and zeros would hide a gradient that
  // mixes them up.
  bool draw_parameters = true;
  GradcheckOptions options = {};
};

// First and second order in the input and every parameter; gradcheck perturbs the module's own
// tensors in place. A fixed seed per row.
void check_module_gradients(const ModuleRow& r) {
  SUBCASE(r.name.c_str()) {
    Generator gen(11);
    if (r.draw_parameters)
      for (Tensor p : r.module->parameters()) init::uniform_(p, -1.0f, 1.0f, gen);
    TensorList inputs{Tensor::uniform(r.input, -1.0f, 1.0f, gen).requires_grad_()};
    for (const Tensor& p : r.module->parameters()) inputs.push_back(p);
    auto f = [m = r.module](const TensorList& x) { return (*m)(x[0]); };
    GradcheckResult first = gradcheck(f, inputs, r.options);
    GradcheckResult second = gradgradcheck(f, inputs, r.options);
    INFO(r.name, " first order: ", first.message, "; second order: ", second.message);
    CHECK(first.ok);
    CHECK(second.ok);
  }
}

// A spectral norm in eval mode (the power iteration would move u between the finite
// differences), its parameters drawn and u and v brought near W's top singular vectors by
// training forwards.
std::shared_ptr<SpectralNorm> settled(std::shared_ptr<Module> inner, const Shape& input) {
  Generator gen(5);
  auto sn = std::make_shared<SpectralNorm>(std::move(inner), SpectralNormOptions{}, &gen);
  for (Tensor p : sn->parameters()) init::uniform_(p, -1.0f, 1.0f, gen);
  for (int i = 0; i < 10; ++i) (*sn)(Tensor::zeros(input));
  sn->eval();
  return sn;
}

}  // namespace

TEST_CASE("grad: modules") {
  for (const ModuleRow& r : std::vector<ModuleRow>{
           {"LayerNorm", std::make_shared<LayerNorm>(Shape{3, 2}), {2, 3, 2}},
           {"GroupNorm", std::make_shared<GroupNorm>(2, 4), {2, 4, 2, 1}},
           {"InstanceNorm2d affine",
            std::make_shared<InstanceNorm2d>(2, InstanceNormOptions{.affine = true}),
            {2, 2, 2, 2}},
           {"SelfAttention2d",
            std::make_shared<SelfAttention2d>(4, SelfAttention2dOptions{.reduction = 2}),
            {1, 4, 2, 2},
            true},
           {"grouped Conv2d",
            std::make_shared<Conv2d>(4, 2, 2, Conv2dOptions{.groups = 2}),
            {1, 4, 3, 3}},
           {"grouped ConvTranspose2d",
            std::make_shared<ConvTranspose2d>(4, 2, 2, Conv2dOptions{.groups = 2}),
            {1, 4, 2, 2}},
           {"SpectralNorm(Linear), eval",
            settled(std::make_shared<Linear>(4, 3), {1, 4}),
            {3, 4},
            false},
           {"MinibatchStdDev", std::make_shared<MinibatchStdDev>(2), {4, 3}},
           {"MinibatchStdDev 4-d, group larger than the batch",
            std::make_shared<MinibatchStdDev>(4),
            {2, 2, 2, 1}},
           {"SpectralNorm(Conv2d), eval",
            settled(std::make_shared<Conv2d>(2, 3, 3), {1, 2, 3, 3}),
            {2, 2, 4, 4},
            false}})
    check_module_gradients(r);
}

TEST_CASE("grad: Embedding's weight, repeated rows accumulating") {
  Embedding e(5, 3);
  Tensor indices = Tensor::from_vector({4, 0, 4, 2}, {2, 2});
  auto f = [&](const TensorList&) { return square(e(indices)); };
  CHECK(gradcheck(f, {e.weight}).ok);
  CHECK(gradgradcheck(f, {e.weight}).ok);
}

// ---- spectral norm: the power iteration and its buffers ----

namespace {

std::shared_ptr<SpectralNorm> seeded_spectral_linear(uint64_t seed) {
  Generator gen(seed);
  auto linear = std::make_shared<Linear>(6, 4);
  init::uniform_(linear->weight, -1.0f, 1.0f, gen);
  return std::make_shared<SpectralNorm>(linear, SpectralNormOptions{}, &gen);
}

}  // namespace

TEST_CASE("SpectralNorm: u advances once per training forward, never in eval") {
  auto sn = seeded_spectral_linear(1);
  Tensor x = Tensor::ones({2, 6});
  std::vector<float> u0 = sn->weight_u.to_vector();
  (*sn)(x);
  std::vector<float> u1 = sn->weight_u.to_vector();
  CHECK(u1 != u0);
  sn->eval();
  std::vector<float> y1 = (*sn)(x).to_vector(), y2 = (*sn)(x).to_vector();
  CHECK(sn->weight_u.to_vector() == u1);
  CHECK(y1 == y2);
  sn->train();
  (*sn)(x);
  CHECK(sn->weight_u.to_vector() != u1);
}

TEST_CASE("SpectralNorm: sigma converges to the largest singular value") {
  Generator gen(2);
  auto linear = std::make_shared<Linear>(3, 2, false);
  linear->weight.copy_(Tensor::from_vector({3, 0, 0, 0, 1, 0}, {2, 3}));  // singular values 3, 1
  SpectralNorm sn(linear, {}, &gen);
  for (int i = 0; i < 30; ++i) sn(Tensor::ones({1, 3}));
  CHECK(sn.sigma() == doctest::Approx(3.0f).epsilon(1e-5));
  // W / sigma: the top singular value becomes 1.
  CHECK(sn.normalized_weight().to_vector()[0] == doctest::Approx(1.0f).epsilon(1e-5));
}

// The graph keeps the u and v of its own forward: a later training forward moving the buffers
// does not change an earlier output's gradient.
TEST_CASE("SpectralNorm: a pending backward is not disturbed by the next forward") {
  Tensor x = Tensor::from_vector({1, -2, 0.5f, 3, -1, 2}, {1, 6});
  auto once = seeded_spectral_linear(3), twice = seeded_spectral_linear(3);
  sum((*once)(x)).backward();
  Tensor y = (*twice)(x);
  (*twice)(x);  // moves u and v
  sum(y).backward();
  auto linear = [](SpectralNorm& sn) { return std::dynamic_pointer_cast<Linear>(sn.module); };
  CHECK(linear(*twice)->weight.grad().to_vector() == linear(*once)->weight.grad().to_vector());
}

TEST_CASE("SpectralNorm: u and v are buffers, saved and loaded with the weights and averaged") {
  testing::TempDir dir;
  auto a = seeded_spectral_linear(4), b = seeded_spectral_linear(5);
  Tensor x = Tensor::ones({2, 6});
  (*a)(x);
  (*a)(x);
  std::vector<std::string> names;
  for (auto& [name, t] : a->named_buffers()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"weight_u", "weight_v"});
  Checkpoint saved;
  a->save(saved, "D");
  save_checkpoint(saved, dir.path / "d.ckpt");
  b->load(load_checkpoint(dir.path / "d.ckpt"), "D");
  CHECK(b->weight_u.to_vector() == a->weight_u.to_vector());
  CHECK(b->weight_v.to_vector() == a->weight_v.to_vector());
  a->eval();
  b->eval();
  CHECK((*b)(x).to_vector() == (*a)(x).to_vector());
  // A moving average of the module averages u and v as it does the weights.
  auto average = seeded_spectral_linear(6);
  optim::ExponentialMovingAverage ema(*a, *average, 0.5);
  CHECK(average->weight_u.to_vector() == a->weight_u.to_vector());
}

// ---- the other modules ----

TEST_CASE("SelfAttention2d: gamma starts at 0, so the block starts as the identity") {
  SelfAttention2d attention(16);
  CHECK(attention.gamma.to_vector() == std::vector<float>{0.0f});
  Generator gen(7);
  Tensor x = Tensor::uniform({2, 16, 3, 3}, -1, 1, gen);
  CHECK(attention(x).to_vector() == x.to_vector());
  std::vector<std::string> names;
  for (auto& [name, t] : attention.named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"gamma", "query.weight", "query.bias", "key.weight",
                                          "key.bias", "value.weight", "value.bias"});
  CHECK(attention.named_parameters()[1].second.shape() == Shape{2, 16, 1, 1});
  // SAGAN's spectral-normalized variant wraps each convolution.
  SelfAttention2d sn(16, {.spectral_norm = true});
  CHECK(sn.named_parameters()[1].first == "query.module.weight");
  CHECK(sn.named_buffers().size() == 6);
  CHECK(sn(x).shape() == x.shape());
}

// A direct loop over the groups: sample n is in group n mod groups, the spread of each feature
// over a group's members (biased) averaged over the features.
TEST_CASE("MinibatchStdDev: the spread of each group fills a new channel of its members") {
  Generator gen(9);
  Tensor x = Tensor::uniform({6, 2, 2, 2}, -1, 1, gen);
  Tensor y = MinibatchStdDev(3)(x);
  REQUIRE(y.shape() == Shape{6, 3, 2, 2});
  const std::vector<float> xs = x.to_vector(), ys = y.to_vector();
  constexpr int64_t kGroups = 2, kMembers = 3, kFeatures = 8, kOut = 12;
  for (int64_t g = 0; g < kGroups; ++g) {
    double total = 0;
    for (int64_t f = 0; f < kFeatures; ++f) {
      double m = 0, v = 0;
      for (int64_t j = 0; j < kMembers; ++j) m += xs[(j * kGroups + g) * kFeatures + f] / kMembers;
      for (int64_t j = 0; j < kMembers; ++j) {
        const double d = xs[(j * kGroups + g) * kFeatures + f] - m;
        v += d * d / kMembers;
      }
      total += std::sqrt(v + 1e-8);
    }
    for (int64_t j = 0; j < kMembers; ++j) {
      const int64_t n = j * kGroups + g;
      INFO("sample ", n);
      for (int64_t f = 0; f < kFeatures; ++f) CHECK(ys[n * kOut + f] == xs[n * kFeatures + f]);
      for (int64_t f = kFeatures; f < kOut; ++f)
        CHECK(ys[n * kOut + f] == doctest::Approx(total / kFeatures).epsilon(1e-5));
    }
  }
  // A collapsed batch (every sample the same) shows as sqrt(1e-8) in the new channel.
  Tensor same = expand(slice(x, 0, 0, 1), x.shape());
  for (float v : slice(MinibatchStdDev(3)(same), 1, 2, 3).to_vector())
    CHECK(v == doctest::Approx(1e-4f));
  CHECK(MinibatchStdDev().describe() == "MinibatchStdDev(group size 4)");
}

TEST_CASE("new modules: PyTorch's shapes and defaults, grouped convolution layers") {
  Generator gen(8);
  Tensor x = Tensor::uniform({2, 4, 3, 3}, -1, 1, gen);
  CHECK(Upsample(2)(x).shape() == Shape{2, 4, 6, 6});
  CHECK(Upsample(3, UpsampleMode::kBilinear)(x).shape() == Shape{2, 4, 9, 9});
  CHECK(PixelShuffle(2)(x).shape() == Shape{2, 1, 6, 6});
  CHECK(MaxPool2d(2)(x).shape() == Shape{2, 4, 1, 1});  // stride = kernel, floor mode
  CHECK(AvgPool2d(3, {.stride = 1, .padding = 1})(x).shape() == x.shape());
  CHECK(MaxPool2d(2).describe() == "MaxPool2d(kernel 2, stride 2, padding 0)");
  CHECK(AvgPool2d(3, {.stride = 1, .padding = 1}).describe() ==
        "AvgPool2d(kernel 3, stride 1, padding 1)");
  CHECK(MaxPool2d(2).named_parameters().empty());
  CHECK(ReflectionPad2d(1)(x).shape() == Shape{2, 4, 5, 5});
  Pad2d uneven{.left = 2, .right = 0, .top = 1, .bottom = 2};
  CHECK(ReplicationPad2d(uneven)(x).to_vector() ==
        pad2d(x, uneven, PadMode::kReplicate).to_vector());
  CHECK(ZeroPad2d(1)(x).to_vector() == pad2d(x, {1, 1, 1, 1}).to_vector());
  CHECK(ReflectionPad2d(uneven).describe() == "ReflectionPad2d(left 2, right 0, top 1, bottom 2)");
  Conv2d reflecting(4, 2, 3, {.padding = 1, .padding_mode = PadMode::kReflect});
  CHECK(reflecting(x).to_vector() ==
        conv2d(pad2d(x, {1, 1, 1, 1}, PadMode::kReflect), reflecting.weight, reflecting.bias)
            .to_vector());
  CHECK(reflecting.describe() ==
        "Conv2d(4 -> 2, kernel 3, stride 1, padding 1 reflect, dilation 1)");
  CHECK(GroupNorm(2, 4)(x).shape() == x.shape());
  CHECK(InstanceNorm2d(4).named_parameters().empty());  // affine = false by default
  LayerNorm ln(Shape{3, 3});
  CHECK(ln.weight.to_vector() == std::vector<float>(9, 1.0f));
  CHECK(ln(x).shape() == x.shape());
  Embedding e(10, 3);
  CHECK(e(Tensor::from_vector({1, 9}, {2})).shape() == Shape{2, 3});
  Conv2d depthwise(4, 8, 3, {.padding = 1, .groups = 4});
  CHECK(depthwise.weight.shape() == Shape{8, 1, 3, 3});
  CHECK(depthwise(x).shape() == Shape{2, 8, 3, 3});
  CHECK(depthwise.describe() ==
        "Conv2d(4 -> 8, kernel 3, stride 1, padding 1, dilation 1, groups 4)");
  ConvTranspose2d up(4, 6, 2, {.stride = 2, .groups = 2});
  CHECK(up.weight.shape() == Shape{4, 3, 2, 2});
  CHECK(up(x).shape() == Shape{2, 6, 6, 6});
  // PyTorch's default bound 1/sqrt(fan_in), fan_in over one group: 1/3 for the depthwise 3x3.
  for (float w : depthwise.weight.to_vector()) CHECK(std::abs(w) <= 1.0f / 3.0f);
}

TEST_CASE("new modules refuse bad sizes and inputs, naming the module") {
  using doctest::Contains;
  CHECK_THROWS_WITH_AS(Conv2d(4, 6, 3, {.groups = 4}),
                       Contains("Conv2d: in_channels 4 and "
                                "out_channels 6 must both divide by groups 4"),
                       std::invalid_argument);
  CHECK_THROWS_AS(ConvTranspose2d(3, 4, 3, {.groups = 2}), std::invalid_argument);
  CHECK_THROWS_AS(Conv2d(4, 4, 3, {.groups = 0}), std::invalid_argument);
  CHECK_THROWS_WITH_AS(GroupNorm(3, 4), Contains("GroupNorm: 4 channels do not split into 3"),
                       std::invalid_argument);
  CHECK_THROWS_AS(LayerNorm(Shape{}), std::invalid_argument);
  CHECK_THROWS_AS(LayerNorm(Shape{4}, {.eps = -1.0f}), std::invalid_argument);
  CHECK_THROWS_AS(InstanceNorm2d(0), std::invalid_argument);
  CHECK_THROWS_AS(Embedding(0, 3), std::invalid_argument);
  CHECK_THROWS_AS(Upsample(0), std::invalid_argument);
  CHECK_THROWS_AS(PixelShuffle(0), std::invalid_argument);
  CHECK_THROWS_WITH_AS(MaxPool2d(0), Contains("MaxPool2d: kernel 0 must be positive"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(AvgPool2d(2, {.padding = 2}),
                       Contains("AvgPool2d: padding 2 must be at most half the kernel size 2"),
                       std::invalid_argument);
  CHECK_THROWS_AS(MaxPool2d(2, {.stride = -1}), std::invalid_argument);
  CHECK_THROWS_WITH_AS(ConvTranspose2d(2, 2, 3, {.padding_mode = PadMode::kReflect}),
                       Contains("ConvTranspose2d: padding_mode must be zeros"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv_transpose2d(Tensor::zeros({1, 2, 3, 3}), Tensor::zeros({2, 2, 3, 3}),
                                        Tensor(), {.padding_mode = PadMode::kReplicate}),
                       Contains("conv_transpose2d: padding_mode must be zeros"),
                       std::invalid_argument);
  // Reflection needs more input than its padding: pad2d names the sizes.
  CHECK_THROWS_WITH_AS(Conv2d(2, 2, 3, {.padding = 3, .padding_mode = PadMode::kReflect})(
                           Tensor::zeros({1, 2, 3, 3})),
                       Contains("pad2d: reflect padding (left 3"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(ReflectionPad2d(-1),
                       Contains("ReflectionPad2d: sizes (left -1, right -1, top -1, bottom -1)"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(ReflectionPad2d(3)(Tensor::zeros({1, 1, 3, 3})),
                       Contains("pad2d: reflect padding"), std::invalid_argument);
  CHECK_THROWS_AS(MinibatchStdDev(0), std::invalid_argument);
  CHECK_THROWS_WITH_AS(MinibatchStdDev(4)(Tensor::zeros({6, 3})),
                       Contains("MinibatchStdDev: a batch of 6 does not split into groups of 4"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(MinibatchStdDev()(Tensor::zeros({6})),
                       Contains("MinibatchStdDev: expects [N, C, ...], got [6]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(SelfAttention2d(12), Contains("12 channels must be positive and divide by"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(SpectralNorm(std::make_shared<ConvTranspose2d>(2, 2, 3)),
                       Contains("SpectralNorm: wraps a Linear or a Conv2d, got ConvTranspose2d"),
                       std::invalid_argument);
  CHECK_THROWS_AS(SpectralNorm(nullptr), std::invalid_argument);
  CHECK_THROWS_AS(SpectralNorm(std::make_shared<Linear>(2, 2), {.n_power_iterations = 0}),
                  std::invalid_argument);

  Tensor x = Tensor::zeros({2, 4, 3, 3});
  CHECK_THROWS_WITH_AS(InstanceNorm2d(3)(x), Contains("InstanceNorm2d: expects [N, 3, H, W]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(GroupNorm(2, 6)(x), Contains("GroupNorm: expects [N, 6, ...]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(SelfAttention2d(8)(x), Contains("SelfAttention2d: expects [N, 8, H, W]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(Embedding(3, 2)(Tensor::from_vector({3}, {1})),
                       Contains("embedding: indices [1] holds 3"), std::invalid_argument);
  CHECK_THROWS_AS(PixelShuffle(2)(Tensor::zeros({1, 6, 2, 2})), std::invalid_argument);
  // Inside a network, the error names the layer's path.
  auto d = sequential({std::make_shared<Conv2d>(4, 4, 1), std::make_shared<GroupNorm>(3, 6)});
  d->set_name("D");
  CHECK_THROWS_WITH_AS((*d)(x), Contains("D.1: GroupNorm: expects"), ModuleError);
}
