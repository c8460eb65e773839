// A training run's configuration: what `minimax train` was asked for, completed with the chosen
// dataset's defaults, stored as DIR/config.json and inside every checkpoint.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace minimax::cli {

// Thrown for a bad flag or a bad combination of flags: the command exits with status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RunConfig {
  std::string data = "fashion-mnist";  // fashion-mnist | idx:FILE | cifar10:DIR | ring8 | grid25
  std::string model;                   // mlp | dcgan | mixture-mlp
  std::string loss = "nonsaturating";
  std::string optimizer;  // adam | sgd (the paper's SGD with its schedules)
  double lr = 0;
  // Adam: from this fraction of the run, the learning rate falls linearly to 1% of lr at the last
  // step (1: constant). The decay is what sharpens G's modes at the end of a mixture run.
  double lr_decay_start = 1;
  int64_t steps = 0;
  int64_t batch = 0;
  int k = 1;
  // R1 penalty weight gamma: (gamma / 2) E||grad_x D(x)||^2 on real data joins D's loss (0: off).
  double r1 = 0;
  uint64_t seed = 1;
  int threads = 1;
  int64_t checkpoint_every = 0;
  int64_t sample_every = 0;
  int64_t log_every = 0;
};

// What the user passed; unset fields take the dataset's defaults.
struct RunFlags {
  std::string data = "fashion-mnist";
  std::optional<std::string> model, loss, optimizer;
  std::optional<double> lr, lr_decay_start, r1;
  std::optional<int64_t> steps, batch, checkpoint_every, sample_every, log_every;
  std::optional<int> k, threads;
  std::optional<uint64_t> seed;
};

// Kind of data: images (28x28 gray, or 32x32 RGB for CIFAR-10) or points in 2-D.
bool is_image_data(const std::string& data);
bool is_cifar10(const std::string& data);  // cifar10:DIR

// The images a dataset holds and its generator makes, [C, H, W].
struct ImageShape {
  int64_t channels, height, width;
};
ImageShape image_shape(const std::string& data);

// The dataset's defaults with the flags applied; throws UsageError for unknown data, model, loss or
// optimizer names and for models that do not fit the data.
RunConfig resolve(const RunFlags& flags);

nlohmann::json to_json(const RunConfig& config);
// Reads a stored configuration back. Throws UsageError naming a missing field, one of another
// JSON type or out of its range, or a choice resolve() would refuse.
RunConfig from_json(const nlohmann::json& j);

}  // namespace minimax::cli
