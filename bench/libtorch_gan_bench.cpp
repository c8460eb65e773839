// libtorch counterpart of `minimax bench` and bench/torch_gan_bench.py: the same models, batch,
// optimizers and iteration, in C++ against Debian's libtorch 1.13 (no Python interpreter).
//
//   mlp:                  the paper's MNIST model, batch 100, SGD lr 0.1 momentum 0.5, k = 1
//   dcgan:                dcgan28, batch 64, Adam 2e-4 betas (0.5, 0.999), k = 1
//   dcgan --loss wgan-gp: dcgan28, k = 5 critic steps each with the gradient penalty (weight 10)
//                         per G step, Adam 1e-4 betas (0.5, 0.9)
// Usage: libtorch_gan_bench --model mlp|dcgan [--loss wgan-gp] [--threads T] [--seconds S]
// The last line printed is one JSON object, as minimax's. Built by bench/build_libtorch_bench.sh
// or the CMake target libtorch_gan_bench (configured only when libtorch is found).
#include <sys/resource.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <string>

namespace nn = torch::nn;

namespace {

struct Args {
  std::string model = "mlp", loss = "nonsaturating";
  int threads = 1;
  double seconds = 10;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--model")
      a.model = value;
    else if (flag == "--loss")
      a.loss = value;
    else if (flag == "--threads")
      a.threads = std::stoi(value);
    else if (flag == "--seconds")
      a.seconds = std::stod(value);
    else
      throw std::invalid_argument("unknown flag " + flag);
  }
  bool known = a.model == "mlp"
                   ? a.loss == "nonsaturating"
                   : a.model == "dcgan" && (a.loss == "nonsaturating" || a.loss == "wgan-gp");
  if (!known || a.threads < 1 || !(a.seconds > 0))
    throw std::invalid_argument(
        "usage: --model mlp|dcgan [--loss wgan-gp] [--threads T] [--seconds S]");
  return a;
}

// Maxout: a linear map to units x pieces, the max over the pieces (bench/torch_models.py).
struct MaxoutImpl : nn::Module {
  MaxoutImpl(int64_t fan_in, int64_t units, int64_t pieces)
      : units(units),
        pieces(pieces),
        linear(register_module("linear", nn::Linear(fan_in, units * pieces))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    return std::get<0>(linear(x).view({x.size(0), units, pieces}).max(2));
  }
  int64_t units, pieces;
  nn::Linear linear;
};
TORCH_MODULE(Maxout);

std::pair<nn::Sequential, nn::Sequential> paper_mlp() {
  nn::Sequential g(nn::Linear(100, 1200), nn::ReLU(), nn::Linear(1200, 1200), nn::ReLU(),
                   nn::Linear(1200, 784), nn::Sigmoid());
  nn::Sequential d(nn::Dropout(0.2), Maxout(784, 240, 5), nn::Dropout(0.5), Maxout(240, 240, 5),
                   nn::Dropout(0.5), nn::Linear(240, 1));
  return {g, d};
}

nn::ConvTranspose2d up(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad) {
  return nn::ConvTranspose2d(
      nn::ConvTranspose2dOptions(in, out, k).stride(stride).padding(pad).bias(false));
}
nn::Conv2d down(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(false));
}

std::pair<nn::Sequential, nn::Sequential> dcgan28() {
  auto leaky = [] { return nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)); };
  nn::Sequential g(nn::Functional([](const torch::Tensor& z) {
                     return z.view({z.size(0), z.size(1), 1, 1});
                   }),
                   up(100, 256, 4, 1, 0), nn::BatchNorm2d(256), nn::ReLU(), up(256, 128, 3, 2, 1),
                   nn::BatchNorm2d(128), nn::ReLU(), up(128, 64, 4, 2, 1), nn::BatchNorm2d(64),
                   nn::ReLU(), up(64, 1, 4, 2, 1), nn::Tanh());
  nn::Sequential d(down(1, 64, 4, 2, 1), leaky(), down(64, 128, 4, 2, 1), nn::BatchNorm2d(128),
                   leaky(), down(128, 256, 4, 2, 1), nn::BatchNorm2d(256), leaky(),
                   down(256, 1, 3, 1, 0), nn::Flatten());
  return {g, d};
}

struct Setup {
  nn::Sequential g, d;
  std::unique_ptr<torch::optim::Optimizer> g_opt, d_opt;
  std::function<torch::Tensor(int64_t)> noise;
  torch::Tensor real;
  int64_t batch;
  int k = 1;
  bool wgan_gp = false;
};

Setup setup(const Args& a) {
  Setup s;
  if (a.model == "mlp") {
    std::tie(s.g, s.d) = paper_mlp();
    s.batch = 100;
    s.real = torch::rand({s.batch, 784});
    s.noise = [](int64_t n) {
      return torch::empty({n, 100}).uniform_(-std::sqrt(3.0), std::sqrt(3.0));
    };
    s.g_opt = std::make_unique<torch::optim::SGD>(s.g->parameters(),
                                                  torch::optim::SGDOptions(0.1).momentum(0.5));
    s.d_opt = std::make_unique<torch::optim::SGD>(s.d->parameters(),
                                                  torch::optim::SGDOptions(0.1).momentum(0.5));
    return s;
  }
  std::tie(s.g, s.d) = dcgan28();
  s.batch = 64;
  s.real = torch::rand({s.batch, 1, 28, 28}) * 2 - 1;
  s.noise = [](int64_t n) { return torch::randn({n, 100}); };
  s.wgan_gp = a.loss == "wgan-gp";
  s.k = s.wgan_gp ? 5 : 1;
  auto adam = s.wgan_gp ? torch::optim::AdamOptions(1e-4).betas({0.5, 0.9})
                        : torch::optim::AdamOptions(2e-4).betas({0.5, 0.999});
  s.g_opt = std::make_unique<torch::optim::Adam>(s.g->parameters(), adam);
  s.d_opt = std::make_unique<torch::optim::Adam>(s.d->parameters(), adam);
  return s;
}

// E[(||grad D(x_hat)|| - 1)^2] at x_hat = eps real + (1 - eps) fake (as gan::gradient_penalty).
torch::Tensor gradient_penalty(nn::Sequential& d, const torch::Tensor& real,
                               const torch::Tensor& fake) {
  torch::Tensor eps = torch::rand({real.size(0), 1, 1, 1});
  torch::Tensor x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_();
  torch::Tensor gx = torch::autograd::grad({d->forward(x_hat).sum()}, {x_hat}, {}, true, true)[0];
  torch::Tensor norm = torch::sqrt(gx.flatten(1).square().sum(1) + 1e-12);
  return (norm - 1).square().mean();
}

// k D steps (non-saturating loss, or WGAN-GP's critic loss with its penalty), then a G step.
void iteration(Setup& s) {
  for (int i = 0; i < s.k; ++i) {
    torch::Tensor fake;
    {
      torch::NoGradGuard no_grad;
      fake = s.g->forward(s.noise(s.batch));
    }
    s.d_opt->zero_grad();
    torch::Tensor loss = s.wgan_gp ? s.d->forward(fake).mean() - s.d->forward(s.real).mean() +
                                         10 * gradient_penalty(s.d, s.real, fake)
                                   : -(torch::log_sigmoid(s.d->forward(s.real)).mean() +
                                       torch::log_sigmoid(-s.d->forward(fake)).mean());
    loss.backward();
    s.d_opt->step();
  }
  s.g_opt->zero_grad();
  torch::Tensor out = s.d->forward(s.g->forward(s.noise(s.batch)));
  torch::Tensor loss = s.wgan_gp ? -out.mean() : -torch::log_sigmoid(out).mean();
  loss.backward();
  s.g_opt->step();
}

}  // namespace

int main(int argc, char** argv) try {
  Args a = parse(argc, argv);
  torch::set_num_threads(a.threads);
  torch::manual_seed(1);
  Setup s = setup(a);
  for (int i = 0; i < 5; ++i) iteration(s);
  using clock = std::chrono::steady_clock;
  auto start = clock::now();
  int64_t iterations = 0;
  double elapsed = 0;
  while (elapsed < a.seconds || iterations < 5) {
    iteration(s);
    ++iterations;
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
  }
  double its = iterations / elapsed;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  double rss = usage.ru_maxrss / 1024.0;  // KiB on Linux
  std::printf(
      "libtorch %s %s: %lld iterations in %.2f s with %d thread(s): %.2f it/s, %.2f ms/iter, "
      "peak resident memory %.0f MiB\n",
      a.model.c_str(), a.loss.c_str(), static_cast<long long>(iterations), elapsed, a.threads, its,
      1000 / its, rss);
  std::printf(
      "{\"model\": \"%s\", \"loss\": \"%s\", \"batch\": %lld, \"threads\": %d, \"iters_per_s\": "
      "%g, "
      "\"ms_per_iter\": %g, \"peak_rss_mib\": %g}\n",
      a.model.c_str(), a.loss.c_str(), static_cast<long long>(s.batch), a.threads, its, 1000 / its,
      rss);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "libtorch_gan_bench: %s\n", e.what());
  return 2;
}
