// The command line's registries (data sets, models, optimizers) and its configuration table: each
// entry is usable, names are unique, lookups refuse what is not registered, and the table's JSON
// and --resume rules hold for every field.
#include <doctest/doctest.h>

#include <set>

#include "examples/cli/commands.h"
#include "examples/cli/config.h"
#include "examples/cli/datasets.h"
#include "examples/cli/feature_nets.h"
#include "examples/cli/models.h"
#include "examples/cli/optimizers.h"
#include "examples/cli/session.h"
#include "minimax.h"

using namespace minimax;
using namespace minimax::cli;

namespace {

// A --data value naming the data set, with a placeholder argument where it takes one.
std::string data_value(const Dataset& d) {
  return d.argument.empty() ? d.name : d.name + ":/nowhere";
}

template <class Entries>
void check_unique_names(const Entries& entries) {
  std::set<std::string> names;
  for (const auto& e : entries) {
    CAPTURE(e.name);
    CHECK(names.insert(e.name).second);
    CHECK_FALSE(e.summary.empty());
  }
}

}  // namespace

TEST_CASE("registry: every data set's recipe resolves to a valid configuration") {
  check_unique_names(registered_datasets());
  for (const Dataset& d : registered_datasets()) {
    CAPTURE(d.name);
    RunConfig c = resolve({{"data", data_value(d)}});
    CHECK(c.data == data_value(d));
    CHECK(find_model(c.model).misfit(d).empty());  // its default model fits it
    CHECK(c.model == d.recipes.front().model);
    for (const RunConfig& r : d.recipes) {  // and so does every other recipe's
      CAPTURE(r.model);
      RunConfig other = resolve({{"data", data_value(d)}, {"model", r.model}});
      CHECK(find_model(other.model).misfit(d).empty());
      CHECK(other.steps == r.steps);
      CHECK(other.batch == r.batch);
      CHECK(other.lr == r.lr);
      CHECK(other.ema == r.ema);
    }
    CHECK_FALSE(d.metrics.empty());
    // Images or points: exactly one kind of loader.
    CHECK(d.images() == static_cast<bool>(d.training));
    CHECK(d.images() == static_cast<bool>(d.test));
    CHECK(d.images() != static_cast<bool>(d.mixture));
    if (d.mixture) CHECK(d.classes == static_cast<int>(d.mixture().modes().size()));
  }
}

TEST_CASE("registry: a data set's feature network is bundled and reads its images") {
  for (const Dataset& d : registered_datasets()) {
    CAPTURE(d.name);
    const bool feature_metrics = std::count(d.metrics.begin(), d.metrics.end(), "fid") > 0;
    if (!d.feature_net.empty()) CHECK(feature_metrics);
    if (d.feature_net.empty()) continue;
    std::span<const char> bytes = bundled_file(d.feature_net);
    REQUIRE_MESSAGE(!bytes.empty(), d.feature_net,
                    " is not in CMakeLists.txt's MINIMAX_FEATURE_NETS");
    auto net = gan::load_feature_net(parse_checkpoint(bytes, d.feature_net));
    CHECK(net->shape() ==
          gan::FeatureNetShape{d.image->channels, d.image->height, d.image->width, d.classes});
  }
  CHECK(bundled_file("no-such-network.ckpt").empty());
}

TEST_CASE("registry: --data values name a data set and its argument, or are refused") {
  DataChoice idx = find_dataset("idx:/a/b:c");
  CHECK(idx.dataset.name == "idx");
  CHECK(idx.argument == "/a/b:c");
  CHECK(find_dataset("ring8").argument.empty());
  CHECK_THROWS_WITH_AS(find_dataset("idx"), doctest::Contains("needs a file name"), UsageError);
  CHECK_THROWS_WITH_AS(find_dataset("cifar10:"), doctest::Contains("needs a directory"),
                       UsageError);
  CHECK_THROWS_WITH_AS(find_dataset("ring8:x"), doctest::Contains("takes nothing"), UsageError);
  CHECK_THROWS_WITH_AS(find_dataset("mnist"), doctest::Contains("unknown dataset 'mnist'"),
                       UsageError);
}

TEST_CASE("registry: every model fits some data set and builds a G and D for it") {
  check_unique_names(registered_models());
  for (const ModelChoice& m : registered_models()) {
    CAPTURE(m.name);
    int fits = 0;
    for (const Dataset& d : registered_datasets()) {
      if (!m.misfit(d).empty()) continue;
      ++fits;
      gan::GanModel model = m.build(d, {});
      NoGradGuard no_grad;
      Generator gen(1);
      Tensor x = model.generator->forward(model.prior.sample(2, gen));
      if (d.images()) {
        // G's output converts to images of the data set's shape, and back.
        Tensor images = m.to_images(x, *d.image);
        CHECK(images.shape() == Shape{2, d.image->channels, d.image->height, d.image->width});
        CHECK(model.discriminator->forward(m.to_model(images)).shape() == Shape{2, 1});
      } else {
        CHECK(model.discriminator->forward(x).shape() == Shape{2, 1});
      }
    }
    CHECK(fits > 0);
  }
  CHECK_THROWS_WITH_AS(find_model("resnet"), doctest::Contains("unknown model 'resnet'"),
                       UsageError);
}

TEST_CASE("registry: every optimizer builds and follows its schedule") {
  check_unique_names(registered_optimizers());
  RunConfig c = resolve({{"data", "ring8"}, {"steps", 100}, {"lr_decay_start", 0.5}});
  for (const OptimizerChoice& o : registered_optimizers()) {
    CAPTURE(o.name);
    c.optimizer = o.name;
    if (o.own_schedule) c.lr_decay_start = 1;
    Tensor w = Tensor::zeros({3}).requires_grad_();
    ScheduledOptimizer s = o.build({w}, c, 10);
    s.schedule(0);
    CHECK(s.optimizer->lr() == doctest::Approx(c.lr));
    CHECK_FALSE(o.describe_schedule(c).empty());
  }
  // Adam's and RMSprop's decay: lr until the decay starts, 1% of it at the last iteration.
  c.optimizer = "adam";
  c.lr_decay_start = 0.5;
  for (const char* name : {"adam", "rmsprop"}) {
    CAPTURE(name);
    c.optimizer = name;
    Tensor w = Tensor::zeros({3}).requires_grad_();
    ScheduledOptimizer decaying = find_optimizer(name).build({w}, c, 10);
    decaying.schedule(c.steps / 2 - 1);
    CHECK(decaying.optimizer->lr() == doctest::Approx(c.lr));
    decaying.schedule(c.steps - 1);
    CHECK(decaying.optimizer->lr() == doctest::Approx(0.01 * c.lr));
  }
  CHECK(std::string(find_optimizer("rmsprop")
                        .build({Tensor::zeros({3}).requires_grad_()}, c, 10)
                        .optimizer->name()) == "RMSprop");
  CHECK_THROWS_WITH_AS(find_optimizer("lbfgs"), doctest::Contains("adam, sgd or rmsprop"),
                       UsageError);
}

TEST_CASE("config: every field round-trips through JSON, and a missing one is named") {
  RunConfig c = resolve({{"data", "grid25"}, {"seed", 99}, {"k", 3}, {"lr", 5e-4}});
  nlohmann::json j = to_json(c);
  CHECK(j.size() == config_fields().size());
  CHECK(to_json(from_json(j)) == j);
  for (const ConfigField& field : config_fields()) {
    CAPTURE(field.key);
    nlohmann::json without = j;
    without.erase(field.key);
    if (field.added_later) {
      CHECK(from_json(without).r1 >= 0);  // reads the default
    } else {
      CHECK_THROWS_WITH_AS(from_json(without), doctest::Contains(field.key.c_str()), UsageError);
    }
  }
  CHECK_THROWS_AS(from_json(nlohmann::json::array()), UsageError);
  nlohmann::json wrong_type = j;
  wrong_type["batch"] = "many";
  CHECK_THROWS_AS(from_json(wrong_type), UsageError);
}

TEST_CASE("config: --model picks that model's recipe, and other flags still override it") {
  RunConfig default_run = resolve(nlohmann::json::object());
  CHECK(default_run.model == "dcgan");
  CHECK(default_run.batch == 64);
  RunConfig paper = resolve({{"model", "mlp"}});  // the paper's MLP keeps its own recipe
  CHECK(paper.batch == 100);
  CHECK(paper.steps == 7000);
  CHECK(paper.k == 3);  // D keeps up with G: the classes stay apart (README, "The default run")
  CHECK(default_run.k == 1);
  CHECK(resolve({{"model", "mlp"}, {"batch", 50}}).batch == 50);
  CHECK(resolve({{"model", "mlp"}, {"k", 1}}).k == 1);
  CHECK(resolve({{"data", "idx:x.idx"}, {"model", "mlp"}}).steps == 7000);
}

TEST_CASE("config: --d-input-dropout sets the MLP's D input dropout; other models refuse it") {
  CHECK(resolve({{"model", "mlp"}}).d_input_dropout == 0);  // the recipe (README)
  CHECK(resolve({{"model", "mlp"}, {"d_input_dropout", 0.2}}).d_input_dropout == 0.2);
  CHECK(resolve(nlohmann::json::object()).d_input_dropout == -1);  // DCGAN: its own (none)
  CHECK_THROWS_WITH_AS(resolve({{"d_input_dropout", 0.2}}),
                       doctest::Contains("--model dcgan has no dropout on D's input"), UsageError);
  for (double p : {1.0, -0.5, 2.0}) {
    CAPTURE(p);
    CHECK_THROWS_WITH_AS(resolve({{"model", "mlp"}, {"d_input_dropout", p}}),
                         doctest::Contains("--d-input-dropout"), UsageError);
  }
  // A run saved before the field existed trained the paper's 0.2, and reads the model's own.
  nlohmann::json saved = to_json(resolve({{"model", "mlp"}}));
  saved.erase("d_input_dropout");
  CHECK(from_json(saved).d_input_dropout == -1);
}

TEST_CASE("registry: the paper MLP's D drops out its input as asked, the paper's 0.2 by default") {
  const ModelChoice& mlp = find_model("mlp");
  CHECK(mlp.has_d_input_dropout);
  CHECK_FALSE(find_model("dcgan").has_d_input_dropout);
  auto first_layer_of_d = [&](const ModelOptions& o) {
    gan::GanModel model = mlp.build(fashion_mnist_dataset(), o);
    return model.discriminator->named_children().front().second->describe();
  };
  CHECK(first_layer_of_d({}) == "Dropout(p = 0.2)");
  CHECK(first_layer_of_d({.d_input_dropout = 0.0f}) == "Dropout(p = 0)");
  CHECK(first_layer_of_d({.d_input_dropout = 0.35f}) == "Dropout(p = 0.35)");
}

TEST_CASE("session: a run's --d-input-dropout reaches D; a run saved without it keeps the 0.2") {
  auto first_layer_of_d = [](const RunConfig& c) {
    Session session(c, false);
    return session.model().discriminator->named_children().front().second->describe();
  };
  CHECK(first_layer_of_d(resolve({{"model", "mlp"}})) == "Dropout(p = 0)");
  CHECK(first_layer_of_d(resolve({{"model", "mlp"}, {"d_input_dropout", 0.35}})) ==
        "Dropout(p = 0.35)");
  nlohmann::json saved = to_json(resolve({{"model", "mlp"}}));
  saved.erase("d_input_dropout");
  CHECK(first_layer_of_d(from_json(saved)) == "Dropout(p = 0.2)");
}

TEST_CASE("config: flags override the recipe, and bad values are refused naming the flag") {
  RunConfig c = resolve({{"data", "ring8"}, {"batch", 64}, {"optimizer", "sgd"}});
  CHECK(c.batch == 64);
  CHECK(c.lr_decay_start == 1);  // the paper's SGD brings its own schedule
  CHECK(c.steps == find_dataset("ring8").dataset.recipe().steps);
  for (auto [key, value, flag] : std::vector<std::tuple<std::string, nlohmann::json, std::string>>{
           {"steps", 0, "--steps"},
           {"batch", -1, "--batch"},
           {"k", 0, "--k"},
           {"threads", -1, "--threads"},
           {"log_every", 0, "--log-every"},
           {"lr", -1.0, "--lr"},
           {"lr_decay_start", 1.5, "--lr-decay-start"},
           {"r1", -1.0, "--r1"},
           {"loss", "wasserstein", "--loss"},
           {"model", "dcgan", "--model"},
           {"optimizer", "lbfgs", "--optimizer"}}) {
    CAPTURE(key);
    CHECK_THROWS_WITH_AS(resolve({{"data", "ring8"}, {key, value}}),
                         doctest::Contains(flag.c_str()), UsageError);
  }
  CHECK_THROWS_WITH_AS(resolve({{"optimizer", "sgd"}, {"lr_decay_start", 0.5}}),
                       doctest::Contains("--lr-decay-start"), UsageError);
  // The data set and model choose the recipe before the other flags apply: a value of the wrong
  // type there is refused as any other, naming the flag, not as a JSON type_error.
  CHECK_THROWS_WITH_AS(resolve({{"model", 3}}), "--model: 'model' is 3, not a string", UsageError);
  CHECK_THROWS_WITH_AS(resolve({{"data", true}}), "--data: 'data' is true, not a string",
                       UsageError);
}

TEST_CASE("config: train refuses a --data of the wrong type naming the flag, as resolve does") {
  // The run directory's default name comes from the data set, before resolve reads the flags.
  TrainOptions o;
  o.flags = {{"data", 7}};
  dist::SingleProcess world;
  CHECK_THROWS_WITH_AS(train(o, world), "--data: 'data' is 7, not a string", UsageError);
}

TEST_CASE("config: classify's default data set is the default run's") {
  CHECK(ClassifyOptions{}.data == RunConfig{}.data);
}

TEST_CASE("config: --resume applies the flags that may change and refuses the others") {
  RunConfig saved = resolve({{"data", "ring8"}, {"steps", 100}});
  std::vector<std::string> changes;
  RunConfig c = resume(saved, {{"steps", 200}, {"threads", 2}, {"data", "ring8"}}, &changes);
  CHECK(c.steps == 200);
  CHECK(c.threads == 2);
  REQUIRE(changes.size() == 2);
  CHECK(changes[0] == "--steps 100 -> 200");
  CHECK(changes[1] == "--threads 0 -> 2");
  for (const ConfigField& field : config_fields()) {
    if (field.may_change_on_resume || field.derived) continue;
    CAPTURE(field.key);
    nlohmann::json before = field.get(saved);
    nlohmann::json other = before.is_string()    ? nlohmann::json("other")
                           : before.is_boolean() ? nlohmann::json(!before.get<bool>())
                                                 : nlohmann::json(before.get<double>() + 1);
    if (field.key == "data") other = "grid25";
    try {
      resume(saved, {{field.key, other}}, nullptr);
      FAIL("accepted a changed ", field.flag());
    } catch (const UsageError& e) {
      // Names the flag and both values.
      CHECK(std::string(e.what()).find(field.flag()) != std::string::npos);
      CHECK(std::string(e.what()).find(other.dump()) != std::string::npos);
      CHECK(std::string(e.what()).find(field.get(saved).dump()) != std::string::npos);
    }
  }
  // A derived field is no flag: an override of it is an unknown setting, not a change.
  CHECK_THROWS_WITH_AS(resume(saved, {{"classes", 3}}, nullptr),
                       doctest::Contains("unknown setting 'classes'"), UsageError);
}
