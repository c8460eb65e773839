// WGAN-GP (Gulrajani et al. 2017) on Fashion-MNIST with a convolutional critic, written against
// the installed library: G and the critic are modules of our own, gan::Trainer runs Algorithm 1
// with k = 5 critic steps per G step and the gradient penalty the wgan-gp loss carries.
//
//   wgan_gp [STEPS] [OUT.png]     (defaults: 2000 steps, wgan_gp.png)
#include <minimax/minimax.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

using namespace minimax;
using namespace minimax::nn;

// Stride 2 and padding 1 with 4x4 kernels: a Conv2d halves the image, a ConvTranspose2d doubles it.
const Conv2dOptions kBy2{.stride = 2, .padding = 1};

// G: z [N, 64] -> 7x7x64 -> 14x14x32 -> 28x28x1 in [-1, 1].
class Generator28 : public Module {
 public:
  Generator28() : Module("Generator28") {
    project = register_module("project", std::make_shared<Linear>(64, 64 * 7 * 7));
    body = register_module(
        "body",
        sequential({std::make_shared<ReLU>(), std::make_shared<ConvTranspose2d>(64, 32, 4, kBy2),
                    std::make_shared<ReLU>(), std::make_shared<ConvTranspose2d>(32, 1, 4, kBy2),
                    std::make_shared<Tanh>()}));
  }
  Tensor forward(const Tensor& z) override {
    return (*body)(reshape((*project)(z), {z.size(0), 64, 7, 7}));
  }
  std::shared_ptr<Linear> project;
  std::shared_ptr<Sequential> body;
};

// The critic: no batch norm (the penalty is per sample), leaky ReLU, a linear score.
std::shared_ptr<Sequential> critic28() {
  return sequential({std::make_shared<Conv2d>(1, 32, 4, kBy2), std::make_shared<LeakyReLU>(0.2f),
                     std::make_shared<Conv2d>(32, 64, 4, kBy2), std::make_shared<LeakyReLU>(0.2f),
                     std::make_shared<Flatten>(), std::make_shared<Linear>(64 * 7 * 7, 1)});
}

int main(int argc, char** argv) try {
  // Idle OpenMP threads spin only briefly, then sleep, so a busy machine does not slow training
  // down; this runs the program again with the setting (ops/runtime.h). The user's own wins.
  restart_with_openmp_wait_policy(argv);
  CLI::App app{"WGAN-GP with a convolutional critic on Fashion-MNIST"};
  int steps = 2000;
  std::string out = "wgan_gp.png";
  app.add_option("STEPS", steps, "training steps")->check(CLI::Range(1, 1000000000));
  app.add_option("OUT.png", out, "the grid of samples drawn after training");
  CLI11_PARSE(app, argc, argv);
  std::printf("wgan_gp: %s\n", use_threads(0).c_str());  // the cores this process may use
  manual_seed(1);
  Generator gen(1);
  // Images in [0, 1] -> [-1, 1], G's range.
  Tensor images =
      data::load_idx_images("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
  images = add(mul(images, 2.0f), -1.0f);
  data::BatchSampler batches(images.size(0), 64, Generator(2));

  Generator28 g;
  auto d = critic28();
  optim::Adam g_opt(g.parameters(), optim::AdamOptions(1e-4).betas({0.5, 0.9}));
  optim::Adam d_opt(d->parameters(), optim::AdamOptions(1e-4).betas({0.5, 0.9}));
  gan::TrainerOptions options;
  options.k = 5;
  options.batch = 64;
  options.loss = gan::wgan_gp_loss(10);
  gan::Trainer trainer(
      [&](const Tensor& z) { return g(z); }, [&](const Tensor& x) { return (*d)(x); }, g_opt, d_opt,
      gan::NoisePrior::gaussian(64), [&](int64_t) { return batches.next(images); }, gen, options);
  for (int step = 1; step <= steps; ++step) {
    gan::StepStats s = trainer.step();
    if (step % 100 == 0 || step == steps)
      std::printf("step %d  critic loss %.3f  G loss %.3f\n", step, s.d_loss, s.g_loss);
  }
  NoGradGuard no_grad;
  io::write_image_grid(g(Tensor::normal({64, 64}, 0, 1, gen)), out,
                       {.columns = 8, .low = -1, .high = 1});
  std::printf("wrote %s\n", out.c_str());
} catch (const std::exception& e) {
  std::fprintf(stderr, "wgan_gp: %s\n", e.what());
  return 1;
}
