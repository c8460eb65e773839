#include "examples/cli/bench_iteration.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <tuple>

#include "autograd/random.h"
#include "examples/cli/datasets.h"
#include "examples/cli/models.h"
#include "examples/cli/registry.h"
#include "models/gan/losses.h"
#include "ops/kernel_calls.h"

namespace minimax::cli {

namespace {

// What the bench times for each model and loss: the batch, k and optimizer of its reference run.
struct BenchRecipe {
  std::string model;  // a registered model
  std::string loss;   // a registered loss; empty: the non-saturating loss of the GAN paper
  int64_t batch;
  int k;  // D steps per G step
  std::unique_ptr<optim::Optimizer> (*optimizer)(TensorList parameters);

  std::string name() const { return loss.empty() ? model : model + " --loss " + loss; }
};

std::unique_ptr<optim::Optimizer> paper_sgd(TensorList parameters) {
  return std::make_unique<optim::SGD>(std::move(parameters), optim::SGDOptions(0.1).momentum(0.5));
}

std::unique_ptr<optim::Optimizer> dcgan_adam(TensorList parameters) {
  return std::make_unique<optim::Adam>(std::move(parameters),
                                       optim::AdamOptions(2e-4).betas({0.5, 0.999}));
}

// Gulrajani et al.'s Algorithm 1: Adam 1e-4, betas (0.5, 0.9).
std::unique_ptr<optim::Optimizer> wgan_gp_adam(TensorList parameters) {
  return std::make_unique<optim::Adam>(std::move(parameters),
                                       optim::AdamOptions(1e-4).betas({0.5, 0.9}));
}

const std::vector<BenchRecipe>& recipes() {
  static const std::vector<BenchRecipe> all = {{"mlp", "", 100, 1, paper_sgd},
                                               {"dcgan", "", 64, 1, dcgan_adam},
                                               {"dcgan", "wgan-gp", 64, 5, wgan_gp_adam}};
  return all;
}

const BenchRecipe* find_recipe(const std::string& model, const std::string& loss) {
  for (const BenchRecipe& r : recipes())  // "nonsaturating" names the default loss too
    if (r.model == model && (r.loss == loss || (r.loss.empty() && loss == "nonsaturating")))
      return &r;
  return nullptr;
}

const BenchRecipe& recipe(const std::string& model, const std::string& loss) {
  if (const BenchRecipe* r = find_recipe(model, loss)) return *r;
  throw std::invalid_argument(fmt::format("BenchIteration: model '{}'{} ({})", model,
                                          loss.empty() ? "" : " with loss '" + loss + "'",
                                          BenchIteration::models()));
}

// The calls grouped by what makes them distinct, each group with its count and its seconds in the
// work, in order of first appearance.
struct CallGroup {
  const kernels::KernelCall* first;
  int64_t count = 0;
  double seconds_in_work = 0;
};

std::vector<CallGroup> distinct_calls(const std::vector<kernels::KernelCall>& calls) {
  std::map<std::tuple<std::string, std::string, int>, size_t> index;
  std::vector<CallGroup> groups;
  for (const kernels::KernelCall& c : calls) {
    auto [it, added] = index.try_emplace({c.kind, c.shape, c.threads}, groups.size());
    if (added) groups.push_back({&c});
    groups[it->second].count++;
    groups[it->second].seconds_in_work += c.seconds_in_work;
  }
  return groups;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

}  // namespace

double ComputeFloor::seconds() const {
  double sum = 0;
  for (const Call& c : distinct) sum += c.seconds;
  return sum;
}

double ComputeFloor::seconds_in_work() const {
  double sum = 0;
  for (const Call& c : distinct) sum += c.seconds_in_work;
  return sum;
}

int64_t ComputeFloor::calls() const {
  int64_t sum = 0;
  for (const Call& c : distinct) sum += c.calls;
  return sum;
}

std::vector<ComputeFloor::Kind> ComputeFloor::kinds() const {
  std::vector<Kind> by_kind;
  for (const Call& c : distinct) {
    auto it = std::find_if(by_kind.begin(), by_kind.end(),
                           [&](const Kind& k) { return k.kind == c.kind; });
    if (it == by_kind.end()) it = by_kind.insert(it, {c.kind, 0, 0});
    it->calls += c.calls;
    it->seconds += c.seconds;
  }
  return by_kind;
}

TimedIterations combined(const std::vector<BenchRound>& rounds) {
  TimedIterations all;
  for (const BenchRound& r : rounds) {
    all.iterations += r.timed.iterations;
    all.seconds += r.timed.seconds;
    all.flops += r.timed.flops;
  }
  return all;
}

FloorSummary summarize(const std::vector<BenchRound>& rounds) {
  if (rounds.empty()) throw std::invalid_argument("summarize: no bench rounds");
  std::vector<double> floors, fractions, in_work;
  for (const BenchRound& r : rounds) {
    floors.push_back(r.floor.seconds());
    fractions.push_back(r.fraction_of_floor());
    in_work.push_back(r.floor.seconds_in_work());
  }
  const double floor = median(floors);
  const BenchRound& middle = *std::min_element(
      rounds.begin(), rounds.end(), [&](const BenchRound& a, const BenchRound& b) {
        return std::abs(a.floor.seconds() - floor) < std::abs(b.floor.seconds() - floor);
      });
  const auto [least_floor, most_floor] = std::minmax_element(floors.begin(), floors.end());
  const auto [least, most] = std::minmax_element(fractions.begin(), fractions.end());
  return {floor,  *least_floor, *most_floor,     median(fractions),
          *least, *most,        median(in_work), &middle.floor};
}

ComputeFloor BenchIteration::compute_floor(double seconds_per_call) {
  std::vector<kernels::KernelCall> calls;
  {
    kernels::KernelCallRecorder recorder;
    step();
    calls = recorder.calls();
  }
  ComputeFloor floor;
  for (const CallGroup& g : distinct_calls(calls)) {
    const double seconds = g.count * kernels::time_alone(*g.first, 5, seconds_per_call);
    floor.distinct.push_back({g.first->kind, g.first->shape, g.count, seconds, g.seconds_in_work});
  }
  return floor;
}

bool BenchIteration::has_model(const std::string& model, const std::string& loss) {
  return find_recipe(model, loss) != nullptr;
}

std::string BenchIteration::models() {
  std::vector<std::string> names;
  for (const BenchRecipe& r : recipes()) names.push_back(r.name());
  return join_or(names);
}

int64_t BenchIteration::default_batch(const std::string& model, const std::string& loss) {
  return recipe(model, loss).batch;
}

BenchIteration::BenchIteration(const std::string& model, const std::string& loss, int64_t batch,
                               uint64_t seed)
    : gen_(seed) {
  const BenchRecipe& r = recipe(model, loss);
  const ModelChoice& choice = find_model(model);
  const Dataset data = fashion_mnist_dataset();  // 28x28 gray images, as both models make
  manual_seed(seed);                             // the weights
  model_ = choice.build(data, {});
  g_opt_ = r.optimizer(model_.generator->parameters());
  d_opt_ = r.optimizer(model_.discriminator->parameters());
  const ImageShape& shape = *data.image;
  real_ = choice.to_model(
      Tensor::uniform({batch, shape.channels, shape.height, shape.width}, 0, 1, gen_));
  gan::TrainerOptions options;
  options.batch = batch;
  options.k = r.k;
  if (!r.loss.empty()) options.loss = gan::find_loss(r.loss);
  trainer_ = std::make_unique<gan::Trainer>(
      [this](const Tensor& z) { return (*model_.generator)(z); },
      [this](const Tensor& x) { return (*model_.discriminator)(x); }, *g_opt_, *d_opt_,
      model_.prior, [this](int64_t) { return real_; }, gen_, options);
}

}  // namespace minimax::cli
