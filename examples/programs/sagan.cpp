// A small class-conditional SAGAN (Zhang et al. 2019) on Fashion-MNIST, written against the
// installed library: spectral norm on every layer of D, self-attention at 14x14 in G and D, a
// projection discriminator (Miyato & Koyama 2018), the hinge loss and SAGAN's two learning rates.
//
//   sagan [STEPS] [OUT.png]     (defaults: 2000 steps, sagan.png; row r of the grid is class r)
#include <minimax/minimax.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

using namespace minimax;
using namespace minimax::nn;

constexpr int64_t kClasses = 10, kNoise = 64, kBatch = 64;
// Stride 2 and padding 1 with 4x4 kernels: a Conv2d halves the image, a ConvTranspose2d doubles it.
const Conv2dOptions kBy2{.stride = 2, .padding = 1};

// G(z, y): [z, embedding of y] -> 7x7x64 -> 14x14x32, self-attention -> 28x28x1 in [-1, 1].
class Generator28 : public gan::ConditionalModule {
 public:
  Generator28() : ConditionalModule("Generator28", kClasses) {
    embed = register_module("embed", std::make_shared<Embedding>(kClasses, 16));
    project = register_module("project", std::make_shared<Linear>(kNoise + 16, 64 * 7 * 7));
    body = register_module(
        "body",
        sequential({std::make_shared<BatchNorm2d>(64), std::make_shared<ReLU>(),
                    std::make_shared<ConvTranspose2d>(64, 32, 4, kBy2),
                    std::make_shared<BatchNorm2d>(32), std::make_shared<ReLU>(),
                    std::make_shared<SelfAttention2d>(32),
                    std::make_shared<ConvTranspose2d>(32, 1, 4, kBy2), std::make_shared<Tanh>()}));
  }
  using ConditionalModule::forward;
  Tensor forward(const Tensor& z, const Tensor& y) override {
    Tensor h = (*project)(concat({z, (*embed)(y)}, 1));
    return (*body)(reshape(h, {z.size(0), 64, 7, 7}));
  }
  std::shared_ptr<Embedding> embed;
  std::shared_ptr<Linear> project;
  std::shared_ptr<Sequential> body;
};

// D(x, y) = score(h) + <embedding of y, h>, h the features of x; every weight spectrally
// normalized.
class Discriminator28 : public gan::ConditionalModule {
 public:
  Discriminator28() : ConditionalModule("Discriminator28", kClasses) {
    features = register_module(
        "features", sequential({spectral_norm(std::make_shared<Conv2d>(1, 32, 4, kBy2)),
                                std::make_shared<LeakyReLU>(0.1f),
                                std::make_shared<SelfAttention2d>(
                                    32, SelfAttention2dOptions{.spectral_norm = true}),
                                spectral_norm(std::make_shared<Conv2d>(32, 64, 4, kBy2)),
                                std::make_shared<LeakyReLU>(0.1f), std::make_shared<Flatten>()}));
    score = register_module("score", spectral_norm(std::make_shared<Linear>(64 * 7 * 7, 1)));
    embed = register_module("embed", std::make_shared<Embedding>(kClasses, 64 * 7 * 7));
  }
  using ConditionalModule::forward;
  Tensor forward(const Tensor& x, const Tensor& y) override {
    Tensor h = (*features)(x);
    return add((*score)(h), sum(mul(h, (*embed)(y)), {1}, /*keepdim=*/true));
  }
  std::shared_ptr<Sequential> features;
  std::shared_ptr<SpectralNorm> score;
  std::shared_ptr<Embedding> embed;
};

int main(int argc, char** argv) try {
  // Idle OpenMP threads spin only briefly, then sleep, so a busy machine does not slow training
  // down; this runs the program again with the setting (ops/runtime.h). The user's own wins.
  restart_with_openmp_wait_policy(argv);
  CLI::App app{"a class-conditional SAGAN on Fashion-MNIST, a row of the grid per class"};
  int steps = 2000;
  std::string out = "sagan.png";
  app.add_option("STEPS", steps, "training steps")->check(CLI::Range(1, 1000000000));
  app.add_option("OUT.png", out, "the grid of samples drawn after training");
  CLI11_PARSE(app, argc, argv);
  std::printf("sagan: %s\n", use_threads(0).c_str());  // the cores this process may use
  manual_seed(1);
  Generator gen(1);
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  data::LabelledImages data = data::load_idx_dataset(dir + "train-images-idx3-ubyte.gz",
                                                     dir + "train-labels-idx1-ubyte.gz");
  Tensor images = add(mul(data.images, 2.0f), -1.0f);  // [0, 1] -> [-1, 1], G's range
  Tensor labels = Tensor::from_vector({data.labels.begin(), data.labels.end()}, {images.size(0)});
  // Two samplers of the same seed draw the same permutations: each batch's labels match its images.
  data::BatchSampler image_batches(images.size(0), kBatch, Generator(2));
  data::BatchSampler label_batches(images.size(0), kBatch, Generator(2));

  Generator28 g;
  Discriminator28 d;
  optim::Adam g_opt(g.parameters(), optim::AdamOptions(1e-4).betas({0.0, 0.9}));
  optim::Adam d_opt(d.parameters(), optim::AdamOptions(4e-4).betas({0.0, 0.9}));
  gan::TrainerOptions options;
  options.batch = kBatch;
  options.classes = kClasses;
  options.loss = gan::hinge_loss();
  gan::Trainer trainer(
      [&](const Tensor& z, const Tensor& y) { return g(z, y); },
      [&](const Tensor& x, const Tensor& y) { return d(x, y); }, g_opt, d_opt,
      gan::NoisePrior::gaussian(kNoise),
      [&](int64_t) {
        return gan::LabelledBatch{image_batches.next(images), label_batches.next(labels)};
      },
      gen, options);
  for (int step = 1; step <= steps; ++step) {
    gan::StepStats s = trainer.step();
    if (step % 100 == 0 || step == steps)
      std::printf("step %d  D loss %.3f  G loss %.3f\n", step, s.d_loss, s.g_loss);
  }
  // Eight samples of each class, one class a row.
  NoGradGuard no_grad;
  g.eval();
  std::vector<float> rows;
  for (int64_t i = 0; i < kClasses * 8; ++i) rows.push_back(static_cast<float>(i / 8));
  Tensor z = Tensor::normal({kClasses * 8, kNoise}, 0, 1, gen);
  io::write_image_grid(g(z, Tensor::from_vector(rows, {kClasses * 8})), out,
                       {.columns = 8, .low = -1, .high = 1});
  std::printf("wrote %s\n", out.c_str());
} catch (const std::exception& e) {
  std::fprintf(stderr, "sagan: %s\n", e.what());
  return 1;
}
