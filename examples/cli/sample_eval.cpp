// `minimax sample` and `minimax eval`: a trained generator from a checkpoint.
#include <fmt/format.h>

#include <filesystem>
#include <map>

#include "examples/cli/commands.h"
#include "examples/cli/feature_eval.h"
#include "examples/cli/output_file.h"
#include "examples/cli/registry.h"
#include "examples/cli/session.h"
#include "models/data/batches.h"
#include "models/gan/latent.h"
#include "models/gan/metrics.h"
#include "models/io/atomic_file.h"
#include "models/io/npy.h"
#include "ops/ops.h"
#include "ops/runtime.h"

namespace minimax::cli {

namespace fs = std::filesystem;

namespace {

// The session a checkpoint describes, restored from it (no training data needed).
std::unique_ptr<Session> open_checkpoint(const std::string& path) {
  if (path.empty()) throw UsageError("--checkpoint FILE is required");
  Checkpoint c = load_checkpoint(path);
  auto s = std::make_unique<Session>(stored_config(c), /*load_training_data=*/false);
  s->restore(c);
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void require_image_run(const Session& s, const std::string& checkpoint, const char* what) {
  if (!s.images())
    throw UsageError(
        fmt::format("{} needs an image run; {} is a run on {}, whose samples are points", what,
                    checkpoint, s.config().data));
}

// The metric must be one the run's data set has (Dataset::metrics).
void require_metric(const Session& s, const std::string& metric) {
  const std::vector<std::string>& metrics = s.data().dataset.metrics;
  if (std::find(metrics.begin(), metrics.end(), metric) == metrics.end())
    throw UsageError(fmt::format("--metric {} does not apply to a run on {}; use {}", metric,
                                 s.config().data, join_or(metrics)));
}

nlohmann::json evaluate_modes(Session& s, const EvalOptions& o, Generator& gen) {
  int64_t n = o.n.value_or(2500);
  if (n < 1) throw UsageError(fmt::format("--n {} must be positive", n));
  // A conditional run's samples: every class in turn, each scored on whether it lands on its mode.
  Tensor labels = s.conditional() ? s.labels_by_row(n, 1) : Tensor();
  gan::ModeCoverage c = gan::mode_coverage(*s.mixture(), s.sample(n, gen, labels), labels);
  fmt::print(
      "{}: {}/{} modes captured, {:.1f}% high-quality samples, KL(modes || uniform) {:.4f}{} ({} "
      "samples)\n",
      s.config().data, c.modes_captured, c.total_modes, 100 * c.high_quality_fraction,
      c.kl_to_uniform,
      c.on_label_mode ? fmt::format(", {:.1f}% on their label's mode", 100 * *c.on_label_mode) : "",
      n);
  nlohmann::json result = {
      {"samples", n},
      {"modes_captured", c.modes_captured},
      {"total_modes", c.total_modes},
      {"high_quality_fraction", c.high_quality_fraction},
      {"kl_to_uniform",
       std::isfinite(c.kl_to_uniform) ? nlohmann::json(c.kl_to_uniform) : nlohmann::json()},
      {"high_quality_per_mode", c.high_quality_per_mode}};
  if (c.on_label_mode) result["on_label_mode"] = *c.on_label_mode;
  return result;
}

nlohmann::json evaluate_parzen(Session& s, const EvalOptions& o, Generator& gen) {
  int64_t n = o.n.value_or(10000);
  if (n < 1) throw UsageError(fmt::format("--n {} must be positive", n));
  Tensor held_out = s.data().test().images;
  held_out = reshape(held_out, {held_out.size(0), -1});
  if (held_out.size(0) < 2000)
    throw UsageError(fmt::format("parzen needs at least 2,000 held-out images, the data has {}",
                                 held_out.size(0)));
  // The paper's protocol: sigma chosen on 1,000 validation images, the score on the test images.
  Tensor validation = slice(held_out, 0, 0, 1000),
         test = slice(held_out, 0, 1000, held_out.size(0));
  Tensor generated = reshape(s.sample(n, gen), {n, -1});
  gan::ParzenResult r = gan::parzen_evaluate(generated, validation, test);
  fmt::print(
      "{}: Parzen log-likelihood {:.1f} +- {:.1f} (sigma {:.3f}, {} samples, {} test images)\n",
      s.config().data, r.mean, r.standard_error, r.sigma, n, test.size(0));
  return {{"samples", n},     {"test_images", test.size(0)},
          {"mean", r.mean},   {"standard_error", r.standard_error},
          {"sigma", r.sigma}, {"validation_ll", r.validation_ll}};
}

// Samples `per_row` to a row, each row followed by the training image closest to its last sample
// (the GAN paper's Figure 2), framed. A short last row is padded with empty cells so that every
// neighbour stands in the last column.
void write_nearest_grid(Session& s, const Tensor& samples, int64_t per_row,
                        const std::string& out) {
  Tensor training = s.data().training().images;
  const int64_t n = samples.size(0), rows = (n + per_row - 1) / per_row;
  std::vector<int64_t> last_of_row(rows);
  for (int64_t r = 0; r < rows; ++r) last_of_row[r] = std::min((r + 1) * per_row, n) - 1;
  Tensor queries = Tensor::empty({rows, samples.size(1), samples.size(2), samples.size(3)});
  data::gather_rows(samples, last_of_row, queries);
  gan::NearestNeighbours nearest = gan::nearest_neighbours(
      reshape(queries, {rows, -1}), reshape(training, {training.size(0), -1}));

  // One source holding the samples, their neighbours and an empty (border-gray) image; the grid
  // is a list of rows of it.
  Tensor neighbours = Tensor::empty(queries.shape());
  data::gather_rows(training, nearest.index, neighbours);
  Tensor empty = Tensor::full({1, samples.size(1), samples.size(2), samples.size(3)}, 0.5f);
  Tensor source = concat({samples, neighbours, empty}, 0);
  const int64_t empty_cell = n + rows;
  std::vector<int64_t> cells;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = r * per_row; k < (r + 1) * per_row; ++k)
      cells.push_back(k < n ? k : empty_cell);
    cells.push_back(n + r);  // row r's neighbour
  }
  Tensor grid = Tensor::empty(
      {static_cast<int64_t>(cells.size()), samples.size(1), samples.size(2), samples.size(3)});
  data::gather_rows(source, cells, grid);
  s.write_png(grid, out, static_cast<int>(per_row + 1), static_cast<int>(per_row));
  for (int64_t r = 0; r < rows; ++r)
    fmt::print("row {}: nearest training image {}, at distance {:.3f}\n", r + 1, nearest.index[r],
               nearest.distance[r]);
}

// --class K for all n samples, or a class per row of `columns`; none for an unconditional run.
Tensor sample_labels(const Session& s, const SampleOptions& o, int64_t columns) {
  const int classes = s.config().classes;
  if (!o.label) return s.conditional() ? s.labels_by_row(o.n, columns) : Tensor();
  if (!s.conditional())
    throw UsageError(
        fmt::format("--class {}: {} is not a conditional run", *o.label, o.checkpoint));
  if (*o.label < 0 || *o.label >= classes)
    throw UsageError(
        fmt::format("--class {}: the run's classes are 0 to {}", *o.label, classes - 1));
  return Tensor::full({o.n}, static_cast<float>(*o.label));
}

}  // namespace

int sample(const SampleOptions& o) {
  if (o.n < 1) throw UsageError(fmt::format("--n {} must be positive", o.n));
  bool npy = ends_with(o.out, ".npy"), png = ends_with(o.out, ".png");
  if (!npy && !png)
    throw UsageError(fmt::format("--out {}: the file must end in .npy or .png", o.out));
  if (o.nearest && !png)
    throw UsageError(fmt::format("--nearest draws a grid: --out {} must end in .png", o.out));
  check_output_file("--out", o.out, {{"--checkpoint", o.checkpoint}});
  fmt::print("minimax sample: {}\n", use_threads(o.threads));
  auto s = open_checkpoint(o.checkpoint);
  if (o.nearest) require_image_run(*s, o.checkpoint, "--nearest");
  Generator gen(o.seed);
  const int64_t columns = std::min<int64_t>(10, o.n);
  Tensor x = s->sample(o.n, gen, sample_labels(*s, o, columns));
  if (o.nearest) {
    write_nearest_grid(*s, x, columns, o.out);
    fmt::print("wrote {} samples {} and their nearest training images to {}\n", o.n,
               x.shape().str(), o.out);
    return 0;
  }
  if (npy) {
    io::save_npy(x, o.out);
  } else {
    s->write_png(x, o.out, static_cast<int>(columns));
  }
  fmt::print("wrote {} samples {} to {}\n", o.n, x.shape().str(), o.out);
  return 0;
}

int interpolate(const InterpolateOptions& o) {
  if (o.rows < 1 || o.rows > 100)
    throw UsageError(fmt::format("--rows {} must be 1 to 100", o.rows));
  if (o.steps < 2 || o.steps > 100)
    throw UsageError(
        fmt::format("--steps {} must be 2 to 100 (a line's two ends included)", o.steps));
  if (!ends_with(o.out, ".png"))
    throw UsageError(
        fmt::format("--out {}: interpolate draws a grid, the file must end in .png", o.out));
  check_output_file("--out", o.out, {{"--checkpoint", o.checkpoint}});
  fmt::print("minimax interpolate: {}\n", use_threads(o.threads));
  auto s = open_checkpoint(o.checkpoint);
  require_image_run(*s, o.checkpoint, "interpolate");
  Generator gen(o.seed);
  const gan::NoisePrior& prior = s->model().prior;
  Tensor from = prior.sample(o.rows, gen), to = prior.sample(o.rows, gen);
  Tensor z = gan::interpolate_latents(from, to, o.steps);
  Tensor images =
      s->generate(z, s->conditional() ? s->labels_by_row(z.size(0), o.steps) : Tensor());
  s->write_png(images, o.out, static_cast<int>(o.steps));
  fmt::print("wrote {} rows of {} images along straight lines in z to {}\n", o.rows, o.steps,
             o.out);
  return 0;
}

namespace {

using Metric = nlohmann::json (*)(Session&, const EvalOptions&, Generator&);
using FeatureMetric = nlohmann::json (*)(SampleSource&, const EvalOptions&);

// The metrics a file of samples can have: those that need only images and the data.
const std::map<std::string, FeatureMetric>& feature_metrics() {
  static const std::map<std::string, FeatureMetric> metrics = {
      {"fid", evaluate_fid}, {"pr", evaluate_pr}, {"classes", evaluate_classes}};
  return metrics;
}

// A feature metric scores the generator's samples, drawn from `gen`.
template <FeatureMetric metric>
nlohmann::json of_generator(Session& s, const EvalOptions& o, Generator& gen) {
  SampleSource samples = generator_samples(s, gen);
  return metric(samples, o);
}

nlohmann::json eval_checkpoint(const EvalOptions& o) {
  // Every metric any data set has; which apply to this run is its data set's to say.
  static const std::map<std::string, Metric> metrics = {
      {"parzen", evaluate_parzen},
      {"modes", evaluate_modes},
      {"fid", of_generator<evaluate_fid>},
      {"pr", of_generator<evaluate_pr>},
      {"classes", of_generator<evaluate_classes>}};
  auto metric = metrics.find(o.metric);
  if (metric == metrics.end())
    throw UsageError(
        fmt::format("--metric '{}': choose parzen, modes, fid, pr or classes", o.metric));
  if (!o.data.empty())
    throw UsageError(fmt::format(
        "--data {}: a checkpoint names its own data set; --data goes with --samples", o.data));
  fmt::print("minimax eval: {}\n", use_threads(o.threads));
  auto s = open_checkpoint(o.checkpoint);
  require_metric(*s, o.metric);
  Generator gen(o.seed);
  nlohmann::json result{{"checkpoint", o.checkpoint}, {"metric", o.metric}};
  result.update(metric->second(*s, o, gen));
  return result;
}

nlohmann::json eval_samples(const EvalOptions& o) {
  auto metric = feature_metrics().find(o.metric);
  if (metric == feature_metrics().end())
    throw UsageError(
        fmt::format("--metric '{}': --samples is scored by fid, pr or classes", o.metric));
  const std::string data_name = o.data.empty() ? RunConfig{}.data : o.data;
  DataChoice data = find_dataset(data_name);
  fmt::print("minimax eval: {}\n", use_threads(o.threads));
  SampleSource samples = file_samples(data, data_name, o.samples);
  nlohmann::json result{{"samples_file", o.samples}, {"data", data_name}, {"metric", o.metric}};
  result.update(metric->second(samples, o));
  return result;
}

}  // namespace

int eval(const EvalOptions& o) {
  if (o.checkpoint.empty() == o.samples.empty())
    throw UsageError("give exactly one of --checkpoint FILE and --samples FILE.npy");
  if (!o.json_out.empty())
    check_output_file(
        "--json", o.json_out,
        {{"--checkpoint", o.checkpoint}, {"--samples", o.samples}, {"--features", o.features}});
  nlohmann::json result = o.checkpoint.empty() ? eval_samples(o) : eval_checkpoint(o);
  fmt::print("{}\n", result.dump());
  if (!o.json_out.empty()) io::write_text_file_atomically(o.json_out, result.dump(2) + "\n");
  return 0;
}

}  // namespace minimax::cli
