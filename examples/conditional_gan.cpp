#include "examples/conditional_gan.h"

#include <fmt/format.h>

#include <limits>

#include "minimax.h"
#include "models/data/mixture.h"
#include "models/optim/optimizer.h"

namespace minimax::examples {

namespace {

using namespace minimax::nn;

constexpr int64_t kNoise = 8, kModes = 8, kEmbed = 8, kHidden = 128;

// G(z, y) = MLP([z, E y]).
class ConditionalGenerator : public Module {
 public:
  using Module::forward;  // the one-input forward stays visible beside the two-input one
  ConditionalGenerator() : Module("ConditionalGenerator") {
    embed = register_module("embed", std::make_shared<Linear>(kModes, kEmbed, false));
    body = register_module(
        "body", sequential({std::make_shared<Linear>(kNoise + kEmbed, kHidden),
                            std::make_shared<ReLU>(), std::make_shared<Linear>(kHidden, kHidden),
                            std::make_shared<ReLU>(), std::make_shared<Linear>(kHidden, 2)}));
  }
  Tensor forward(const Tensor& z, const Tensor& y_onehot) {
    return body->forward(concat({z, embed->forward(y_onehot)}, 1));
  }
  std::shared_ptr<Linear> embed;
  std::shared_ptr<Sequential> body;
};

// D(x, y): features of x, concatenated with the label's embedding, then a logit.
class ConditionalDiscriminator : public Module {
 public:
  using Module::forward;  // the one-input forward stays visible beside the two-input one
  ConditionalDiscriminator() : Module("ConditionalDiscriminator") {
    embed = register_module("embed", std::make_shared<Linear>(kModes, kEmbed, false));
    features = register_module("features", std::make_shared<Linear>(2, kHidden));
    head = register_module("head", sequential({std::make_shared<Linear>(kHidden + kEmbed, kHidden),
                                               std::make_shared<LeakyReLU>(0.2f),
                                               std::make_shared<Linear>(kHidden, 1)}));
  }
  Tensor forward(const Tensor& x, const Tensor& y_onehot) {
    Tensor h = leaky_relu(features->forward(x), 0.2f);
    return head->forward(concat({h, embed->forward(y_onehot)}, 1));
  }
  std::shared_ptr<Linear> embed, features;
  std::shared_ptr<Sequential> head;
};

int64_t nearest_mode(const data::GaussianMixture& mix, float x, float y) {
  int64_t best = 0;
  float best_d = std::numeric_limits<float>::max();
  for (size_t k = 0; k < mix.modes().size(); ++k) {
    float dx = x - mix.modes()[k].x, dy = y - mix.modes()[k].y, d = dx * dx + dy * dy;
    if (d < best_d) best_d = d, best = static_cast<int64_t>(k);
  }
  return best;
}

}  // namespace

ConditionalGanResult train_conditional_ring8(const ConditionalGanOptions& o) {
  manual_seed(o.seed);
  Generator gen(o.seed);
  data::GaussianMixture ring = data::GaussianMixture::ring8();
  ConditionalGenerator g;
  ConditionalDiscriminator d;
  optim::Adam g_opt(g.parameters(), optim::AdamOptions(1e-3).betas({0.5, 0.999}));
  optim::Adam d_opt(d.parameters(), optim::AdamOptions(1e-3).betas({0.5, 0.999}));
  for (int step = 1; step <= o.steps; ++step) {
    Tensor labels;
    Tensor real = ring.sample(o.batch, gen, &labels);
    Tensor y = one_hot(labels, kModes);
    Tensor fake;
    {
      NoGradGuard no_grad;
      fake = g.forward(Tensor::normal({o.batch, kNoise}, 0, 1, gen), y);
    }
    d_opt.zero_grad();
    Tensor d_loss =
        neg(add(mean(log_sigmoid(d.forward(real, y))), mean(log_sigmoid(neg(d.forward(fake, y))))));
    d_loss.backward();
    d_opt.step();

    g_opt.zero_grad();
    Tensor g_loss = neg(mean(
        log_sigmoid(d.forward(g.forward(Tensor::normal({o.batch, kNoise}, 0, 1, gen), y), y))));
    g_loss.backward();
    g_opt.step();
    if (o.log_every > 0 && step % o.log_every == 0)
      fmt::print("step {:5d}  loss D {:.3f}  G {:.3f}\n", step, d_loss.item(), g_loss.item());
  }

  ConditionalGanResult result;
  NoGradGuard no_grad;
  constexpr int64_t kPerLabel = 500;
  float total = 0;
  for (int64_t k = 0; k < kModes; ++k) {
    Tensor points = g.forward(Tensor::normal({kPerLabel, kNoise}, 0, 1, gen),
                              one_hot(Tensor::full({kPerLabel}, static_cast<float>(k)), kModes));
    int64_t hits = 0;
    for (int64_t i = 0; i < kPerLabel; ++i)
      hits += nearest_mode(ring, points.data()[2 * i], points.data()[2 * i + 1]) == k;
    result.label_accuracy.push_back(static_cast<float>(hits) / kPerLabel);
    total += result.label_accuracy.back();
  }
  result.mean_accuracy = total / kModes;
  return result;
}

}  // namespace minimax::examples
