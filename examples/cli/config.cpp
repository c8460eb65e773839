#include "examples/cli/config.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <utility>

#include "models/gan/losses.h"

namespace minimax::cli {

namespace {

bool is_mixture(const std::string& data) {
  return data == "ring8" || data == "grid25";
}

// Defaults chosen per dataset so that a run with no other flag gives a good result.
RunConfig defaults_for(const std::string& data) {
  RunConfig c;
  c.data = data;
  if (is_mixture(data)) {
    c.model = "mixture-mlp";
    c.optimizer = "adam";
    c.lr = 1e-3;
    c.lr_decay_start = 0.3;
    c.steps = 15000;
    c.batch = 512;
    c.checkpoint_every = 1000;
    c.sample_every = 1000;
    c.log_every = 100;
    // grid25's 25 close modes: without R1, 2 of 8 seeds tried dropped 4 of them for good.
    if (data == "grid25") c.r1 = 0.1;
  } else if (is_cifar10(data)) {
    c.model = "dcgan";  // the paper's MLP is for 784 gray pixels
    c.optimizer = "adam";
    c.lr = 2e-4;
    c.steps = 5000;
    c.batch = 64;
    c.checkpoint_every = 500;
    c.sample_every = 500;
    c.log_every = 50;
  } else {
    c.model = "mlp";
    c.optimizer = "adam";
    c.lr = 2e-4;
    c.steps = 3000;
    c.batch = 100;
    c.checkpoint_every = 500;
    c.sample_every = 500;
    c.log_every = 50;
  }
  return c;
}

template <class T>
void apply(const std::optional<T>& flag, T& field) {
  if (flag) field = *flag;
}

// The dataset, model, loss and optimizer, and the fractions and weights, of a configuration made
// from flags or read back from a run: throws UsageError naming the flag.
void check(const RunConfig& c) {
  if (!is_image_data(c.data) && !is_mixture(c.data))
    throw UsageError(fmt::format(
        "--data: unknown dataset '{}' (fashion-mnist, idx:FILE, cifar10:DIR, ring8 or grid25)",
        c.data));
  if (c.data == "idx:") throw UsageError("--data idx:FILE needs a file name after 'idx:'");
  if (c.data == "cifar10:")
    throw UsageError("--data cifar10:DIR needs a directory after 'cifar10:'");
  bool image_model = c.model == "mlp" || c.model == "dcgan";
  if (!image_model && c.model != "mixture-mlp")
    throw UsageError(
        fmt::format("--model: unknown model '{}' (mlp, dcgan or mixture-mlp)", c.model));
  if (image_model != is_image_data(c.data))
    throw UsageError(
        fmt::format("--model {} does not fit --data {} (images: mlp or dcgan; ring8 and grid25: "
                    "mixture-mlp)",
                    c.model, c.data));
  if (is_cifar10(c.data) && c.model != "dcgan")
    throw UsageError(fmt::format(
        "--model {} does not fit --data {}: the paper's MLP makes 28x28 gray images; CIFAR-10 "
        "(32x32 RGB) trains with dcgan",
        c.model, c.data));
  try {
    gan::parse_loss(c.loss);
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("--loss: {}", e.what()));
  }
  if (c.optimizer != "adam" && c.optimizer != "sgd")
    throw UsageError(fmt::format("--optimizer: unknown optimizer '{}' (adam or sgd)", c.optimizer));
  if (!(c.lr_decay_start >= 0 && c.lr_decay_start <= 1))
    throw UsageError(fmt::format("--lr-decay-start {} must be a fraction of the run in [0, 1]",
                                 c.lr_decay_start));
  if (!(c.r1 >= 0 && std::isfinite(c.r1)))
    throw UsageError(fmt::format("--r1 {}: the penalty weight must be finite and >= 0", c.r1));
  if (c.optimizer == "sgd" && c.lr_decay_start < 1)
    throw UsageError(
        "--lr-decay-start applies to adam; --optimizer sgd follows the paper's schedule");
}

// ---- reading a stored configuration: each field's JSON type and range is checked before it is
// converted (nlohmann converts a float to an integer by a cast that is undefined out of range, and
// wraps an integer that does not fit) ----

[[noreturn]] void bad_field(const char* key, const nlohmann::json& value, const std::string& want) {
  std::string shown = value.is_number() || value.is_boolean() || value.is_null()
                          ? value.dump()
                          : fmt::format("a {}", value.type_name());
  throw UsageError(fmt::format("the run's configuration: '{}' is {}, not {}", key, shown, want));
}

template <class Int>
Int integer_field(const nlohmann::json& j, const char* key, Int min) {
  const nlohmann::json& v = j.at(key);
  Int max = std::numeric_limits<Int>::max();
  bool fits = v.is_number_unsigned()  ? std::in_range<Int>(v.get<uint64_t>())
              : v.is_number_integer() ? std::in_range<Int>(v.get<int64_t>())
                                      : false;
  if (!fits || v.get<Int>() < min)
    bad_field(key, v, fmt::format("an integer from {} to {}", min, max));
  return v.get<Int>();
}

// A finite number; `fallback` when the field is absent (runs from before it existed).
double number_field(const nlohmann::json& j, const char* key, std::optional<double> fallback = {}) {
  if (fallback && !j.contains(key)) return *fallback;
  const nlohmann::json& v = j.at(key);
  if (!v.is_number() || !std::isfinite(v.get<double>())) bad_field(key, v, "a finite number");
  return v.get<double>();
}

std::string string_field(const nlohmann::json& j, const char* key) {
  const nlohmann::json& v = j.at(key);
  if (!v.is_string()) bad_field(key, v, "a string");
  return v.get<std::string>();
}

}  // namespace

bool is_image_data(const std::string& data) {
  return data == "fashion-mnist" || data.starts_with("idx:") || is_cifar10(data);
}

bool is_cifar10(const std::string& data) {
  return data.starts_with("cifar10:");
}

ImageShape image_shape(const std::string& data) {
  if (is_cifar10(data)) return {3, 32, 32};
  return {1, 28, 28};
}

RunConfig resolve(const RunFlags& f) {
  RunConfig c = defaults_for(f.data);
  apply(f.model, c.model);
  apply(f.loss, c.loss);
  apply(f.optimizer, c.optimizer);
  apply(f.lr, c.lr);
  if (c.optimizer == "sgd") c.lr_decay_start = 1;  // the paper's SGD brings its own schedule
  apply(f.lr_decay_start, c.lr_decay_start);
  apply(f.steps, c.steps);
  apply(f.batch, c.batch);
  apply(f.k, c.k);
  apply(f.r1, c.r1);
  apply(f.seed, c.seed);
  apply(f.threads, c.threads);
  apply(f.checkpoint_every, c.checkpoint_every);
  apply(f.sample_every, c.sample_every);
  apply(f.log_every, c.log_every);
  check(c);
  return c;
}

nlohmann::json to_json(const RunConfig& c) {
  return {{"data", c.data},
          {"model", c.model},
          {"loss", c.loss},
          {"optimizer", c.optimizer},
          {"lr", c.lr},
          {"lr_decay_start", c.lr_decay_start},
          {"steps", c.steps},
          {"batch", c.batch},
          {"k", c.k},
          {"r1", c.r1},
          {"seed", c.seed},
          {"threads", c.threads},
          {"checkpoint_every", c.checkpoint_every},
          {"sample_every", c.sample_every},
          {"log_every", c.log_every}};
}

RunConfig from_json(const nlohmann::json& j) {
  if (!j.is_object())
    throw UsageError(
        fmt::format("the run's configuration is a JSON {}, not an object", j.type_name()));
  RunConfig c;
  try {
    c.data = string_field(j, "data");
    c.model = string_field(j, "model");
    c.loss = string_field(j, "loss");
    c.optimizer = string_field(j, "optimizer");
    c.lr = number_field(j, "lr");
    c.lr_decay_start = number_field(j, "lr_decay_start", 1.0);  // absent before the decay
    c.steps = integer_field<int64_t>(j, "steps", 1);
    c.batch = integer_field<int64_t>(j, "batch", 1);
    c.k = integer_field<int>(j, "k", 1);
    c.r1 = number_field(j, "r1", 0.0);  // absent in runs from before the flag
    c.seed = integer_field<uint64_t>(j, "seed", 0);
    c.threads = integer_field<int>(j, "threads", 1);
    c.checkpoint_every = integer_field<int64_t>(j, "checkpoint_every", 1);
    c.sample_every = integer_field<int64_t>(j, "sample_every", 1);
    c.log_every = integer_field<int64_t>(j, "log_every", 1);
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(
        fmt::format("the run's configuration is incomplete or malformed: {}", e.what()));
  }
  try {
    check(c);
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("the run's configuration: {}", e.what()));
  }
  return c;
}

}  // namespace minimax::cli
