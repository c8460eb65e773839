#include "examples/cli/bench_iteration.h"

#include <fmt/format.h>

#include <stdexcept>

#include "autograd/random.h"

namespace minimax::cli {

namespace {

std::unique_ptr<optim::Optimizer> make_optimizer(bool mlp, TensorList parameters) {
  if (mlp)
    return std::make_unique<optim::SGD>(std::move(parameters),
                                        optim::SGDOptions(0.1).momentum(0.5));
  return std::make_unique<optim::Adam>(std::move(parameters),
                                       optim::AdamOptions(2e-4).betas({0.5, 0.999}));
}

// The bundled model, its weights drawn from the default generator seeded with `seed`.
gan::GanModel bundled_model(const std::string& model, uint64_t seed) {
  manual_seed(seed);
  if (model == "mlp") return gan::paper_mnist_mlp();
  if (model == "dcgan") return gan::dcgan28();
  throw std::invalid_argument(fmt::format("BenchIteration: model '{}' (mlp or dcgan)", model));
}

}  // namespace

int64_t BenchIteration::default_batch(const std::string& model) {
  return model == "mlp" ? 100 : 64;
}

BenchIteration::BenchIteration(const std::string& model, int64_t batch, uint64_t seed)
    : gen_(seed), model_(bundled_model(model, seed)) {
  bool mlp = model == "mlp";
  g_opt_ = make_optimizer(mlp, model_.generator->parameters());
  d_opt_ = make_optimizer(mlp, model_.discriminator->parameters());
  real_ = mlp ? Tensor::uniform({batch, 784}, 0, 1, gen_)
              : Tensor::uniform({batch, 1, 28, 28}, -1, 1, gen_);
  gan::TrainerOptions options;
  options.batch = batch;
  trainer_ = std::make_unique<gan::Trainer>(
      [this](const Tensor& z) { return model_.generator->forward(z); },
      [this](const Tensor& x) { return model_.discriminator->forward(x); }, *g_opt_, *d_opt_,
      model_.prior, [this](int64_t) { return real_; }, gen_, options);
}

}  // namespace minimax::cli
