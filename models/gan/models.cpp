#include "models/gan/models.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "models/gan/conditional.h"
#include "models/nn/init.h"

namespace minimax::gan {

using namespace minimax::nn;

namespace {

template <class M, class... Args>
std::shared_ptr<Module> make(Args&&... args) {
  return std::make_shared<M>(std::forward<Args>(args)...);
}

// Reinitializes every weight (rank >= 2) and bias of a module tree uniformly in [-a, a].
void init_uniform(Module& m, float a) {
  for (auto [name, p] : m.named_parameters()) init::uniform_(p, -a, a);
}

// The DCGAN paper's N(0, 0.02) for convolution weights; batch-norm scales N(1, 0.02), shifts 0.
void init_dcgan(Module& m) {
  if (auto* bn = dynamic_cast<BatchNorm*>(&m)) {
    init::normal_(bn->weight, 1.0f, 0.02f);
    init::constant_(bn->bias, 0.0f);
  } else if (auto* conv = dynamic_cast<Conv2d*>(&m)) {
    init::normal_(conv->weight, 0.0f, 0.02f);
  } else if (auto* up = dynamic_cast<ConvTranspose2d*>(&m)) {
    init::normal_(up->weight, 0.0f, 0.02f);
  }
  for (const auto& [name, child] : m.named_children()) init_dcgan(*child);
}

// G's latent vector [N, 100] as a 1x1 image for the first transposed convolution of `body`.
class DcganGenerator : public Module {
 public:
  explicit DcganGenerator(std::shared_ptr<Sequential> layers) : Module("DcganGenerator") {
    body = register_module("body", std::move(layers));
  }
  Tensor forward(const Tensor& z) override {
    return body->forward(reshape(z, {z.size(0), z.size(1), 1, 1}));
  }
  std::shared_ptr<Sequential> body;
};

std::shared_ptr<Module> up(int64_t in, int64_t out, int64_t kernel, Conv2dOptions o = {}) {
  return std::make_shared<ConvTranspose2d>(in, out, kernel, o, false);
}
std::shared_ptr<Module> down(int64_t in, int64_t out, int64_t kernel, Conv2dOptions o = {}) {
  return std::make_shared<Conv2d>(in, out, kernel, o, false);
}

// G and D named so, so that an error from inside them says which: "D.body.2: linear: ...". With
// classes, the conditional pair (G built for [z, one_hot(y)]); `sample_shape` is one real
// sample's shape as D takes it.
GanModel named_pair(GanModel m, int64_t classes, const Shape& sample_shape) {
  if (classes < 0)
    throw std::invalid_argument(
        fmt::format("{}: {} classes (0 for an unconditional model)", m.name, classes));
  if (classes > 0) m = make_conditional(std::move(m), classes, sample_shape);
  m.generator->set_name("G");
  m.discriminator->set_name("D");
  return m;
}

}  // namespace

GanModel paper_mnist_mlp(int64_t classes, float d_input_dropout) {
  auto g = sequential({make<Linear>(100 + classes, 1200), make<ReLU>(), make<Linear>(1200, 1200),
                       make<ReLU>(), make<Linear>(1200, 784), make<Sigmoid>()});
  auto d =
      sequential({make<Dropout>(d_input_dropout), make<Maxout>(784, 240, 5), make<Dropout>(0.5f),
                  make<Maxout>(240, 240, 5), make<Dropout>(0.5f), make<Linear>(240, 1)});
  init_uniform(*g, 0.05f);
  init_uniform(*d, 0.005f);
  return named_pair({"mlp", g, d, NoisePrior::uniform(100)}, classes, {784});
}

void init_output_bias_from_data(Module& generator, const Tensor& pixel_means) {
  auto params = generator.named_parameters();
  if (params.empty())
    throw std::invalid_argument("init_output_bias_from_data: the generator has no parameters");
  Tensor bias = params.back().second;
  if (!(bias.shape() == pixel_means.shape()))
    throw std::invalid_argument(
        fmt::format("init_output_bias_from_data: the output bias {} and pixel means {} differ",
                    bias.shape().str(), pixel_means.shape().str()));
  Tensor logits = Tensor::empty(bias.shape());
  for (int64_t i = 0; i < bias.numel(); ++i) {
    const float mean = pixel_means.data()[i];
    if (!(mean >= 0.0f && mean <= 1.0f))
      throw std::invalid_argument(fmt::format(
          "init_output_bias_from_data: pixel mean {} at index {} is not in [0, 1]", mean, i));
    float p = std::clamp(mean, 1e-3f, 1.0f - 1e-3f);
    logits.data()[i] = std::log(p / (1.0f - p));
  }
  bias.copy_(logits);  // counts as an in-place change, which a recorded backward then refuses
}

GanModel dcgan28(int64_t classes) {
  Conv2dOptions s2{.stride = 2, .padding = 1};
  auto g = std::make_shared<DcganGenerator>(
      sequential({up(100 + classes, 256, 4), make<BatchNorm2d>(256), make<ReLU>(),
                  up(256, 128, 3, s2), make<BatchNorm2d>(128), make<ReLU>(), up(128, 64, 4, s2),
                  make<BatchNorm2d>(64), make<ReLU>(), up(64, 1, 4, s2), make<Tanh>()}));
  auto d =
      sequential({down(1, 64, 4, s2), make<LeakyReLU>(0.2f), down(64, 128, 4, s2),
                  make<BatchNorm2d>(128), make<LeakyReLU>(0.2f), down(128, 256, 4, s2),
                  make<BatchNorm2d>(256), make<LeakyReLU>(0.2f), down(256, 1, 3), make<Flatten>()});
  init_dcgan(*g);
  init_dcgan(*d);
  return named_pair({"dcgan", g, d, NoisePrior::gaussian(100)}, classes, {1, 28, 28});
}

GanModel dcgan32_rgb(int64_t classes) {
  Conv2dOptions s2{.stride = 2, .padding = 1};
  auto g = std::make_shared<DcganGenerator>(
      sequential({up(100 + classes, 256, 4), make<BatchNorm2d>(256), make<ReLU>(),
                  up(256, 128, 4, s2), make<BatchNorm2d>(128), make<ReLU>(), up(128, 64, 4, s2),
                  make<BatchNorm2d>(64), make<ReLU>(), up(64, 3, 4, s2), make<Tanh>()}));
  auto d =
      sequential({down(3, 64, 4, s2), make<LeakyReLU>(0.2f), down(64, 128, 4, s2),
                  make<BatchNorm2d>(128), make<LeakyReLU>(0.2f), down(128, 256, 4, s2),
                  make<BatchNorm2d>(256), make<LeakyReLU>(0.2f), down(256, 1, 4), make<Flatten>()});
  init_dcgan(*g);
  init_dcgan(*d);
  return named_pair({"dcgan", g, d, NoisePrior::gaussian(100)}, classes, {3, 32, 32});
}

GanModel mixture_mlp(int64_t noise_dim, int64_t hidden, int hidden_layers, int64_t classes) {
  if (hidden_layers < 1)
    throw std::invalid_argument(
        fmt::format("mixture_mlp: {} hidden layers (at least 1 is needed)", hidden_layers));
  auto g = std::make_shared<Sequential>(), d = std::make_shared<Sequential>();
  for (int i = 0; i < hidden_layers; ++i) {
    g->push_back(make<Linear>(i == 0 ? noise_dim + classes : hidden, hidden));
    g->push_back(make<ReLU>());
    d->push_back(make<Linear>(i == 0 ? 2 : hidden, hidden));
    d->push_back(make<LeakyReLU>(0.2f));
  }
  g->push_back(make<Linear>(hidden, 2));
  d->push_back(make<Linear>(hidden, 1));
  return named_pair({"mixture-mlp", g, d, NoisePrior::gaussian(noise_dim)}, classes, {2});
}

}  // namespace minimax::gan
