#include "examples/cli/config.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>

#include "examples/cli/datasets.h"
#include "examples/cli/models.h"
#include "examples/cli/optimizers.h"
#include "examples/cli/registry.h"
#include "models/gan/losses.h"

namespace minimax::cli {

namespace {

template <class Visitor>
decltype(auto) visit_member(const ConfigField& field, Visitor&& visitor) {
  return std::visit(std::forward<Visitor>(visitor), field.member);
}

// ---- each field's JSON type and range is checked before it is converted: nlohmann converts a
// float to an integer by a cast that is undefined out of range, and wraps an integer that does
// not fit ----

[[noreturn]] void bad_value(const std::string& key, const nlohmann::json& value,
                            const std::string& want) {
  // A flag's NaN or infinity is a JSON float too, which dump() would show as null.
  std::string shown = value.is_number_float() ? fmt::format("{}", value.get<double>())
                      : value.is_number() || value.is_boolean() || value.is_null()
                          ? value.dump()
                          : fmt::format("a {}", value.type_name());
  throw UsageError(fmt::format("'{}' is {}, not {}", key, shown, want));
}

template <class Int>
Int integer_value(const ConfigField& field, const nlohmann::json& v) {
  const std::string& key = field.key;
  const Int min = static_cast<Int>(field.minimum), max = std::numeric_limits<Int>::max();
  bool fits = v.is_number_unsigned()  ? std::in_range<Int>(v.get<uint64_t>())
              : v.is_number_integer() ? std::in_range<Int>(v.get<int64_t>())
                                      : false;
  if (!fits || v.get<Int>() < min)
    bad_value(key, v, fmt::format("an integer from {} to {}", min, max));
  return v.get<Int>();
}

// Sets the field from a JSON value; UsageError naming the key for one of another type or out of
// its range.
void set_from_json(const ConfigField& field, RunConfig& config, const nlohmann::json& value) {
  visit_member(field, [&](auto member) {
    using T = std::remove_reference_t<decltype(config.*member)>;
    if constexpr (std::is_same_v<T, std::string>) {
      if (!value.is_string()) bad_value(field.key, value, "a string");
      config.*member = value.get<std::string>();
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!value.is_boolean()) bad_value(field.key, value, "true or false");
      config.*member = value.get<bool>();
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!value.is_number() || !std::isfinite(value.get<double>()))
        bad_value(field.key, value, "a finite number");
      config.*member = value.get<double>();
    } else {
      config.*member = integer_value<T>(field, value);
    }
  });
}

std::vector<ConfigField> make_fields() {
  using C = RunConfig;
  return {
      {"data", &C::data, "the data set: " + dataset_names()},
      {"model", &C::model, "G and D: " + model_names()},
      {"loss", &C::loss, "the objective: " + gan::loss_names()},
      {"optimizer", &C::optimizer, "the optimizer of G and D: " + optimizer_names()},
      {"lr", &C::lr, "learning rate"},
      {"lr_decay_start", &C::lr_decay_start,
       "adam, rmsprop: fraction of the run after which lr falls linearly to 1% (1: off)", false,
       true},
      {"steps", &C::steps, "the run's total number of iterations", true},
      {"batch", &C::batch, "minibatch size m"},
      {"k", &C::k, "discriminator steps per generator step"},
      {"r1", &C::r1, "R1 penalty weight gamma on real data, added to D's loss (0: off)", false,
       true},
      {.key = "seed", .member = &C::seed, .help = "random seed", .minimum = 0},
      {.key = "threads",
       .member = &C::threads,
       .help = "compute threads (default 0: the cores this process may use)",
       .may_change_on_resume = true,
       .minimum = 0},
      {"checkpoint_every", &C::checkpoint_every, "steps between checkpoints", true},
      {"sample_every", &C::sample_every, "steps between sample images", true},
      {"log_every", &C::log_every, "steps between metrics lines", true},
      {.key = "eval_every",
       .member = &C::eval_every,
       .help = "steps between FIDs of 2,000 samples in metrics.jsonl (0: off)",
       .may_change_on_resume = true,
       .added_later = true,
       .minimum = 0},
      {.key = "conditional",
       .member = &C::conditional,
       .help = "class-conditional G(z, y) and D(x, y), on the data set's labels",
       .added_later = true},
      {.key = "labels",
       .member = &C::labels,
       .help = "idx data: the IDX labels file of --conditional",
       .added_later = true},
      {.key = "classes",
       .member = &C::classes,
       .help = "the labels' classes (from the data)",
       .added_later = true,
       .derived = true,
       .minimum = 0},
      {.key = "ema",
       .member = &C::ema,
       .help = "decay of a moving average of G's weights that draws every sample, its batch-norm "
               "statistics recomputed (0: off)",
       .added_later = true},
      {.key = "d_input_dropout",
       .member = &C::d_input_dropout,
       .help = "mlp: dropout probability on D's input (-1: the model's own, the paper's 0.2)",
       .added_later = true},
  };
}

const ConfigField* find_field(const std::string& key) {
  for (const ConfigField& field : config_fields())
    if (field.key == key) return &field;
  return nullptr;
}

const ConfigField& field_named(const std::string& key) {
  if (const ConfigField* field = find_field(key)) return *field;
  throw std::logic_error(fmt::format("RunConfig has no field '{}'", key));
}

// Applies every override to `config`; UsageError for a key that names no field or a value of
// the wrong type.
void apply(const ConfigOverrides& overrides, RunConfig& config) {
  for (const auto& [key, value] : overrides.items()) {
    const ConfigField* field = find_field(key);
    if (!field || field->derived) throw UsageError(fmt::format("unknown setting '{}'", key));
    try {
      set_from_json(*field, config, value);
    } catch (const UsageError& e) {
      throw UsageError(fmt::format("{}: {}", field->flag(), e.what()));
    }
  }
}

void require_positive(int64_t value, const ConfigField& field) {
  if (value < 1) throw UsageError(fmt::format("{} {} must be positive", field.flag(), value));
}

// Labels and classes agree with --conditional: a conditional run has labelled data, and only a
// conditional run has classes or a labels file.
void validate_conditional(const RunConfig& c, const Dataset& data) {
  if (c.conditional && c.classes < 2) {
    if (c.classes == 0 && data.load_labels && c.labels.empty())
      throw UsageError(
          fmt::format("--conditional: --data {} needs its labels, --labels FILE", c.data));
    throw UsageError(fmt::format("--conditional needs labelled data of at least 2 classes; {}",
                                 c.classes == 0 ? "--data " + c.data + " has no labels"
                                                : fmt::format("the labels have {}", c.classes)));
  }
  if (!c.conditional && c.classes != 0)
    throw UsageError(fmt::format("{} classes for a run that is not --conditional", c.classes));
  if (!c.labels.empty() && !c.conditional)
    throw UsageError(
        fmt::format("--labels {} gives the classes of --conditional training", c.labels));
}

void validate_names(const RunConfig& c) {
  const Dataset& data = find_dataset(c.data, c.labels).dataset;
  validate_conditional(c, data);
  const ModelChoice& model = find_model(c.model);
  if (std::string why = model.misfit(data); !why.empty()) {
    std::vector<std::string> fitting;
    for (const ModelChoice& m : registered_models())
      if (m.misfit(data).empty()) fitting.push_back(m.name);
    throw UsageError(fmt::format("--model {} does not fit --data {}: {} (models for {}: {})",
                                 c.model, c.data, why, data.name, join_or(fitting)));
  }
  try {
    gan::find_loss(c.loss);
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("--loss: {}", e.what()));
  }
  if (c.eval_every > 0 && data.feature_net.empty())
    throw UsageError(fmt::format(
        "--eval-every {}: --data {} has no bundled feature network to compute the FID with",
        c.eval_every, c.data));
  if (find_optimizer(c.optimizer).own_schedule && c.lr_decay_start < 1)
    throw UsageError(
        fmt::format("--lr-decay-start applies to adam and rmsprop; --optimizer {} follows a "
                    "schedule of its own",
                    c.optimizer));
}

// -1 keeps the model's own; anything else needs a model whose D drops out its input.
void validate_d_input_dropout(const RunConfig& c) {
  if (c.d_input_dropout == -1) return;
  if (!(c.d_input_dropout >= 0 && c.d_input_dropout < 1))
    throw UsageError(
        fmt::format("--d-input-dropout {}: the probability must be in [0, 1) (-1: the model's own)",
                    c.d_input_dropout));
  if (!find_model(c.model).has_d_input_dropout)
    throw UsageError(fmt::format("--d-input-dropout {}: --model {} has no dropout on D's input",
                                 c.d_input_dropout, c.model));
}

}  // namespace

std::string ConfigField::flag() const {
  std::string f = "--" + key;
  for (char& ch : f)
    if (ch == '_') ch = '-';
  return f;
}

nlohmann::json ConfigField::get(const RunConfig& config) const {
  return std::visit([&](auto m) { return nlohmann::json(config.*m); }, member);
}

const std::vector<ConfigField>& config_fields() {
  static const std::vector<ConfigField> fields = make_fields();
  return fields;
}

void validate(const RunConfig& c) {
  validate_names(c);
  if (!(c.lr > 0 && std::isfinite(c.lr)))
    throw UsageError(fmt::format("--lr {} must be positive and finite", c.lr));
  if (!(c.lr_decay_start >= 0 && c.lr_decay_start <= 1))
    throw UsageError(fmt::format("--lr-decay-start {} must be a fraction of the run in [0, 1]",
                                 c.lr_decay_start));
  if (!(c.r1 >= 0 && std::isfinite(c.r1)))
    throw UsageError(fmt::format("--r1 {}: the penalty weight must be finite and >= 0", c.r1));
  if (!(c.ema >= 0 && c.ema < 1))
    throw UsageError(fmt::format("--ema {}: the decay must be in [0, 1) (0: off)", c.ema));
  validate_d_input_dropout(c);
  require_positive(c.steps, field_named("steps"));
  require_positive(c.batch, field_named("batch"));
  require_positive(c.k, field_named("k"));
  if (c.threads < 0) throw UsageError(fmt::format("--threads {} must be 0 or more", c.threads));
  for (const char* key : {"checkpoint_every", "sample_every", "log_every"})
    require_positive(field_named(key).get(c).get<int64_t>(), field_named(key));
}

RunConfig defaults_with(const ConfigOverrides& overrides) {
  RunConfig given;
  apply(overrides, given);
  return given;
}

RunConfig resolve(const ConfigOverrides& overrides) {
  // The data set and model choose the recipe, so the overrides are read into a default RunConfig
  // first: a value of the wrong type is a UsageError naming its flag, not a JSON type_error.
  const RunConfig given = defaults_with(overrides);
  RunConfig c = find_dataset(given.data).dataset.recipe(given.model);
  c.data = given.data;
  apply(overrides, c);
  // A schedule of the optimizer's own replaces the recipe's decay, unless a flag asks for both
  // (which validate refuses).
  if (find_optimizer(c.optimizer).own_schedule && !overrides.contains("lr_decay_start"))
    c.lr_decay_start = 1;
  if (c.conditional) c.classes = find_dataset(c.data, c.labels).classes();
  validate(c);
  return c;
}

RunConfig resume(const RunConfig& saved, const ConfigOverrides& overrides,
                 std::vector<std::string>* changes) {
  RunConfig c = saved;
  for (const auto& [key, value] : overrides.items()) {
    const ConfigField* field = find_field(key);
    if (!field || field->derived) continue;  // apply() names it
    nlohmann::json before = field->get(saved);
    if (value == before) continue;
    if (!field->may_change_on_resume)
      throw UsageError(fmt::format(
          "{} {}: the run was started with {} {}, and --resume continues it as it was started "
          "(--force or another --out starts a new run)",
          field->flag(), value.dump(), field->flag(), before.dump()));
    if (changes)
      changes->push_back(fmt::format("{} {} -> {}", field->flag(), before.dump(), value.dump()));
  }
  apply(overrides, c);
  validate(c);
  return c;
}

std::string d_input_dropout_phrase(const RunConfig& c) {
  return c.d_input_dropout == -1 ? "" : fmt::format(", D input dropout {:g}", c.d_input_dropout);
}

nlohmann::json to_json(const RunConfig& c) {
  nlohmann::json j = nlohmann::json::object();
  for (const ConfigField& field : config_fields()) j[field.key] = field.get(c);
  return j;
}

RunConfig from_json(const nlohmann::json& j) {
  if (!j.is_object())
    throw UsageError(
        fmt::format("the run's configuration is a JSON {}, not an object", j.type_name()));
  RunConfig c;
  for (const ConfigField& field : config_fields()) {
    if (!j.contains(field.key)) {
      if (field.added_later) continue;  // RunConfig's default
      throw UsageError(
          fmt::format("the run's configuration is incomplete or malformed: no '{}'", field.key));
    }
    try {
      set_from_json(field, c, j.at(field.key));
    } catch (const UsageError& e) {
      throw UsageError(fmt::format("the run's configuration: {}", e.what()));
    }
  }
  try {
    validate(c);  // what resolve() would refuse
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("the run's configuration: {}", e.what()));
  }
  return c;
}

}  // namespace minimax::cli
