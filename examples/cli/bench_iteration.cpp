#include "examples/cli/bench_iteration.h"

#include <fmt/format.h>

#include <stdexcept>

#include "autograd/random.h"
#include "examples/cli/datasets.h"
#include "examples/cli/models.h"
#include "examples/cli/registry.h"

namespace minimax::cli {

namespace {

// What the bench times for each model: the batch and optimizer of its reference run.
struct BenchRecipe {
  std::string name;  // a registered model
  int64_t batch;
  std::unique_ptr<optim::Optimizer> (*optimizer)(TensorList parameters);
};

std::unique_ptr<optim::Optimizer> paper_sgd(TensorList parameters) {
  return std::make_unique<optim::SGD>(std::move(parameters), optim::SGDOptions(0.1).momentum(0.5));
}

std::unique_ptr<optim::Optimizer> dcgan_adam(TensorList parameters) {
  return std::make_unique<optim::Adam>(std::move(parameters),
                                       optim::AdamOptions(2e-4).betas({0.5, 0.999}));
}

const std::vector<BenchRecipe>& recipes() {
  static const std::vector<BenchRecipe> all = {{"mlp", 100, paper_sgd}, {"dcgan", 64, dcgan_adam}};
  return all;
}

const BenchRecipe* find_recipe(const std::string& model) {
  for (const BenchRecipe& r : recipes())
    if (r.name == model) return &r;
  return nullptr;
}

const BenchRecipe& recipe(const std::string& model) {
  if (const BenchRecipe* r = find_recipe(model)) return *r;
  throw std::invalid_argument(
      fmt::format("BenchIteration: model '{}' ({})", model, joined_names(recipes())));
}

}  // namespace

bool BenchIteration::has_model(const std::string& model) {
  return find_recipe(model) != nullptr;
}

std::string BenchIteration::models() {
  return joined_names(recipes());
}

int64_t BenchIteration::default_batch(const std::string& model) {
  return recipe(model).batch;
}

BenchIteration::BenchIteration(const std::string& model, int64_t batch, uint64_t seed)
    : gen_(seed) {
  const BenchRecipe& r = recipe(model);
  const ModelChoice& choice = find_model(model);
  const Dataset data = fashion_mnist_dataset();  // 28x28 gray images, as both models make
  manual_seed(seed);                             // the weights
  model_ = choice.build(data, 0);
  g_opt_ = r.optimizer(model_.generator->parameters());
  d_opt_ = r.optimizer(model_.discriminator->parameters());
  const ImageShape& shape = *data.image;
  real_ = choice.to_model(
      Tensor::uniform({batch, shape.channels, shape.height, shape.width}, 0, 1, gen_));
  gan::TrainerOptions options;
  options.batch = batch;
  trainer_ = std::make_unique<gan::Trainer>(
      [this](const Tensor& z) { return (*model_.generator)(z); },
      [this](const Tensor& x) { return (*model_.discriminator)(x); }, *g_opt_, *d_opt_,
      model_.prior, [this](int64_t) { return real_; }, gen_, options);
}

}  // namespace minimax::cli
