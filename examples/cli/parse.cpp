// The command line's flags, parsed with CLI11 into each subcommand's options. The flags of
// `train` that configure the run come from the configuration's field table, and their help from
// the registries (data sets, models, losses, optimizers).
#include "examples/cli/parse.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <optional>

#include "examples/cli/datasets.h"
#include "examples/cli/models.h"
#include "examples/cli/optimizers.h"
#include "examples/cli/registry.h"
#include "models/gan/losses.h"

namespace minimax::cli {

namespace {

// An integer flag's text, read whole: CLI11 would read "-1" into an unsigned field as 2^64 - 1,
// and clamp a value beyond the type's range to its end.
template <class Int>
Int parse_integer(const std::string& flag, const std::string& text) {
  Int value{};
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end || text.empty())
    throw CLI::ValidationError(
        flag, fmt::format("'{}' is not an integer from {} to {}", text,
                          std::numeric_limits<Int>::min(), std::numeric_limits<Int>::max()));
  return value;
}

// An integer flag; `set` receives its value.
template <class Int, class Set>
CLI::Option* add_integer_function(CLI::App* cmd, const std::string& flag, Set set,
                                  const std::string& help) {
  return cmd
      ->add_option_function<std::string>(
          flag, [flag, set](const std::string& text) { set(parse_integer<Int>(flag, text)); }, help)
      ->type_name(std::is_unsigned_v<Int> ? "UINT" : "INT");
}

template <class Int>
CLI::Option* add_integer(CLI::App* cmd, const std::string& flag, Int& field,
                         const std::string& help) {
  return add_integer_function<Int>(
      cmd, flag, [&field](Int v) { field = v; }, help);
}

template <class Int>
CLI::Option* add_integer(CLI::App* cmd, const std::string& flag, std::optional<Int>& field,
                         const std::string& help) {
  return add_integer_function<Int>(
      cmd, flag, [&field](Int v) { field = v; }, help);
}

// --threads of the commands that are not `train` (whose flag comes from the configuration).
void add_threads(CLI::App* cmd, int& threads) {
  add_integer(cmd, "--threads", threads,
              "compute threads (default 0: the cores this process may use)")
      ->check(CLI::Range(0, 1024));
}

// One flag per configuration field; a given flag becomes overrides[field.key].
void add_config_flags(CLI::App* cmd, ConfigOverrides& overrides) {
  for (const ConfigField& field : config_fields()) {
    if (field.derived) continue;
    std::visit(
        [&](auto member) {
          using T = std::remove_reference_t<decltype(RunConfig{}.*member)>;
          auto set = [&overrides, key = field.key](const T& v) { overrides[key] = v; };
          if constexpr (std::is_same_v<T, bool>)
            cmd->add_flag_function(
                field.flag(), [set](int64_t count) { set(count > 0); }, field.help);
          else if constexpr (std::is_integral_v<T>)
            add_integer_function<T>(cmd, field.flag(), set, field.help);
          else
            cmd->add_option_function<T>(field.flag(), set, field.help);
        },
        field.member);
  }
}

// "  name   summary" lines under a title, for a subcommand's footer.
template <class Entries, class Name>
std::string entry_list(const std::string& title, const Entries& entries, Name name) {
  std::string out = title + ":\n";
  for (const auto& e : entries) out += fmt::format("  {:<16} {}\n", name(e), e.summary);
  return out;
}

// "mlp (adam, lr 0.0002, batch 100, 5000 steps, k 3, R1 10, D input dropout 0)": a recipe's
// model and what trains it (k, R1, EMA and D's input dropout only when they are set).
std::string recipe_summary(const RunConfig& r) {
  std::string decay =
      r.lr_decay_start < 1 ? fmt::format(" decaying from {:g}", r.lr_decay_start) : "";
  std::string k = r.k > 1 ? fmt::format(", k {}", r.k) : "";
  std::string r1 = r.r1 > 0 ? fmt::format(", R1 {:g}", r.r1) : "";
  std::string ema = r.ema > 0 ? fmt::format(", EMA {:g}", r.ema) : "";
  return fmt::format("{} ({}, lr {:g}{}, batch {}, {} steps{}{}{}{})", r.model, r.optimizer, r.lr,
                     decay, r.batch, r.steps, k, r1, ema, d_input_dropout_phrase(r));
}

std::string train_footer() {
  auto plain = [](const auto& e) { return e.name; };
  std::string defaults;
  for (const Dataset& d : registered_datasets()) {
    defaults += fmt::format("  {:<16} {}\n", d.name, recipe_summary(d.recipes.front()));
    for (size_t i = 1; i < d.recipes.size(); ++i)
      defaults += fmt::format("  {:<16}   --model {}\n", "", recipe_summary(d.recipes[i]));
  }
  return entry_list("Data sets (--data)", registered_datasets(),
                    [](const Dataset& d) {
                      return d.argument.empty() ? d.name : d.name + ":" + d.argument;
                    }) +
         "\n" + entry_list("Models (--model)", registered_models(), plain) + "\n" +
         entry_list("Losses (--loss)", gan::registered_losses(), plain) + "\n" +
         entry_list("Optimizers (--optimizer)", registered_optimizers(), plain) + "\n" +
         "Defaults per data set (any flag overrides):\n" + defaults;
}

void add_train(CLI::App& app, TrainOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "train",
      "train a GAN; writes DIR/model.ckpt, metrics.jsonl, config.json, samples/, report.html");
  add_config_flags(cmd, o.flags);
  cmd->add_option("--out", o.out, "run directory (default runs/<data set>)");
  cmd->add_flag("--resume", o.resume,
                "continue DIR/model.ckpt (--steps, --threads, --*-every may change)");
  cmd->add_flag("--force", o.force, "start over in a DIR that holds a run");
  cmd->add_option("--sharding", o.sharding,
                  "under mpirun: streams (own random streams per process; the default) or slices");
  cmd->footer(train_footer());
}

void add_sample(CLI::App& app, SampleOptions& o) {
  CLI::App* cmd = app.add_subcommand("sample", "draw samples from a trained generator");
  cmd->add_option("--checkpoint", o.checkpoint, "a model.ckpt written by train")->required();
  add_integer(cmd, "--n", o.n, "number of samples");
  add_integer(cmd, "--seed", o.seed, "random seed");
  cmd->add_option("--out", o.out,
                  "FILE.npy (float32: [N, 2] or [N, C, H, W] in [0, 1]) or FILE.png")
      ->required();
  add_integer(cmd, "--class", o.label,
              "conditional runs: every sample of this class (default: a class per row)");
  add_threads(cmd, o.threads);
  cmd->add_flag("--nearest", o.nearest,
                "PNG grid whose last column shows the training image closest to each row's last "
                "sample (image runs)");
}

void add_interpolate(CLI::App& app, InterpolateOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "interpolate", "PNG grid: each row walks a straight line in z between two random z");
  cmd->add_option("--checkpoint", o.checkpoint, "a model.ckpt written by train (an image run)")
      ->required();
  add_integer(cmd, "--rows", o.rows, "lines, one per row (1 to 100)");
  add_integer(cmd, "--steps", o.steps, "images per line, both ends included (2 to 100)");
  add_integer(cmd, "--seed", o.seed, "random seed for the lines' ends");
  add_threads(cmd, o.threads);
  cmd->add_option("--out", o.out, "FILE.png")->required();
}

void add_report(CLI::App& app, ReportOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "report", "write DIR/report.html: configuration, training curves, samples, final metrics");
  cmd->add_option("dir", o.dir, "a run directory written by train")->required();
}

void add_eval(CLI::App& app, EvalOptions& o) {
  CLI::App* cmd =
      app.add_subcommand("eval", "score a trained generator; prints a summary and a JSON line");
  cmd->add_option("--checkpoint", o.checkpoint, "a model.ckpt written by train");
  cmd->add_option("--samples", o.samples,
                  "instead of --checkpoint: another program's samples, FILE.npy (float32: [N, C, "
                  "H, W] or [N, C*H*W] in [0, 1]), scored by fid, pr or classes");
  cmd->add_option("--data", o.data,
                  fmt::format("with --samples: the data set they imitate, {} (default {})",
                              dataset_names(), RunConfig{}.data));
  std::string metrics;
  for (const Dataset& d : registered_datasets())
    metrics +=
        fmt::format("{}{}: {}", metrics.empty() ? "" : "; ", d.name, fmt::join(d.metrics, ", "));
  cmd->add_option("--metric", o.metric, "what applies to the run's data set (" + metrics + ")")
      ->required();
  add_integer(cmd, "--n", o.n, "samples (default 2500 for modes, 10000 for the others)");
  cmd->add_option("--features", o.features,
                  "fid, pr, classes: a feature network written by classify (default: the data "
                  "set's bundled one)");
  add_integer(cmd, "--seed", o.seed, "random seed");
  cmd->add_option("--json", o.json_out, "also write the JSON result to this file");
  add_threads(cmd, o.threads);
}

void add_classify(CLI::App& app, ClassifyOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "classify", "train the feature network of eval's fid, pr and classes on labelled images");
  cmd->add_option("--data", o.data,
                  fmt::format("a labelled image data set: {} (default {}); the accuracy is "
                              "measured on its test split (idx, which has none: on the file's "
                              "last 10%, held out from training)",
                              dataset_names(), RunConfig{}.data));
  cmd->add_option("--labels", o.labels, "idx data: its IDX labels file");
  add_integer(cmd, "--epochs", o.epochs, "passes over the training images");
  add_integer(cmd, "--batch", o.batch, "minibatch size");
  cmd->add_option("--lr", o.lr, "Adam's learning rate, falling linearly to 5% over the run");
  add_integer(cmd, "--seed", o.seed, "random seed (initial weights, data order)");
  add_threads(cmd, o.threads);
  cmd->add_option("--out", o.out, "the weights file to write (a checkpoint)")->required();
}

void add_bench(CLI::App& app, BenchOptions& o) {
  CLI::App* cmd =
      app.add_subcommand("bench", "time training iterations of the paper's MLP or DCGAN");
  cmd->add_option("--model", o.model, "mlp (batch 100, SGD) or dcgan (batch 64, Adam)");
  cmd->add_option(
      "--loss", o.loss,
      "dcgan: wgan-gp (5 critic steps with the gradient penalty per G step, Adam 1e-4)");
  add_threads(cmd, o.threads);
  cmd->add_option("--seconds", o.seconds, "how long to time, after a warm-up");
  add_integer(cmd, "--rounds", o.rounds,
              "rounds of iterations (--seconds in all), the compute floor timed after each");
  cmd->add_flag("--calls", o.calls,
                "print each GEMM and convolution call's time alone and inside the iteration");
}

void add_demo(CLI::App& app, examples::Gaussian1dOptions& o) {
  CLI::App* cmd =
      app.add_subcommand("demo", "the smallest GAN: two tiny MLPs learn a 1-D Gaussian");
  add_integer(cmd, "--steps", o.steps, "training iterations")->check(CLI::Range(1, 1 << 30));
  add_integer(cmd, "--seed", o.seed, "random seed");
}

}  // namespace

// Named explicitly, so that help shows "minimax train" however the binary was started.
CommandLine::CommandLine()
    : app_("minimax: generative adversarial nets on a C++ autodiff engine", "minimax") {
  app_.set_version_flag("--version", std::string("minimax ") + MINIMAX_VERSION);
  app_.require_subcommand(1);
  add_train(app_, train);
  add_sample(app_, sample);
  add_eval(app_, eval);
  add_interpolate(app_, interpolate);
  add_report(app_, report);
  add_classify(app_, classify);
  add_bench(app_, bench);
  add_demo(app_, demo);
}

void CommandLine::parse(int argc, char** argv) {
  // CLI11 would report a misspelt command as a missing one.
  if (argc > 1 && argv[1][0] != '-') {
    std::vector<std::string> names;
    for (const CLI::App* sub : app_.get_subcommands({})) names.push_back(sub->get_name());
    if (std::find(names.begin(), names.end(), argv[1]) == names.end())
      throw CLI::ValidationError(argv[1], "not a command; choose " + join_or(names));
  }
  app_.parse(argc, argv);
}

std::string CommandLine::command() const {
  for (const CLI::App* sub : app_.get_subcommands()) return sub->get_name();
  return "";
}

}  // namespace minimax::cli
