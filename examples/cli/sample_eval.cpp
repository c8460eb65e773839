// `minimax sample` and `minimax eval`: a trained generator from a checkpoint.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "examples/cli/commands.h"
#include "examples/cli/session.h"
#include "models/gan/metrics.h"
#include "models/io/npy.h"
#include "ops/ops.h"

namespace minimax::cli {

namespace fs = std::filesystem;

namespace {

// The session a checkpoint describes, restored from it (no training data needed).
std::unique_ptr<Session> open_checkpoint(const std::string& path) {
  if (path.empty()) throw UsageError("--checkpoint FILE is required");
  Checkpoint c = load_checkpoint(path);
  RunConfig config;
  try {
    config = from_json(nlohmann::json::parse(c.string("config")));
  } catch (const nlohmann::json::exception& e) {
    throw CheckpointError(
        fmt::format("checkpoint {}: unreadable configuration: {}", path, e.what()));
  }
  auto s = std::make_unique<Session>(config, /*load_training_data=*/false);
  s->restore(c);
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

int sample(const SampleOptions& o) {
  if (o.n < 1) throw UsageError(fmt::format("--n {} must be positive", o.n));
  bool npy = ends_with(o.out, ".npy"), png = ends_with(o.out, ".png");
  if (!npy && !png)
    throw UsageError(fmt::format("--out {}: the file must end in .npy or .png", o.out));
  auto s = open_checkpoint(o.checkpoint);
  Generator gen(o.seed);
  Tensor x = s->sample(o.n, gen);
  if (npy) {
    io::save_npy(x, o.out);
  } else {
    s->write_png(x, o.out, std::min<int>(10, static_cast<int>(o.n)));
  }
  fmt::print("wrote {} samples {} to {}\n", o.n, x.shape().str(), o.out);
  return 0;
}

int eval(const EvalOptions& o) {
  if (o.metric != "parzen" && o.metric != "modes")
    throw UsageError(fmt::format("--metric '{}': choose parzen or modes", o.metric));
  auto s = open_checkpoint(o.checkpoint);
  Generator gen(o.seed);
  nlohmann::json result{{"checkpoint", o.checkpoint}, {"metric", o.metric}};
  if (o.metric == "modes") {
    if (s->images())
      throw UsageError("--metric modes needs a run on ring8 or grid25; use parzen for images");
    int64_t n = o.n.value_or(2500);
    if (n < 1) throw UsageError(fmt::format("--n {} must be positive", n));
    gan::ModeCoverage c = gan::mode_coverage(*s->mixture(), s->sample(n, gen));
    fmt::print(
        "{}: {}/{} modes captured, {:.1f}% high-quality samples, KL(modes || uniform) {:.4f} ({} "
        "samples)\n",
        s->config().data, c.modes_captured, c.total_modes, 100 * c.high_quality_fraction,
        c.kl_to_uniform, n);
    result.update(
        {{"samples", n},
         {"modes_captured", c.modes_captured},
         {"total_modes", c.total_modes},
         {"high_quality_fraction", c.high_quality_fraction},
         {"kl_to_uniform",
          std::isfinite(c.kl_to_uniform) ? nlohmann::json(c.kl_to_uniform) : nlohmann::json()},
         {"high_quality_per_mode", c.high_quality_per_mode}});
  } else {
    if (!s->images())
      throw UsageError("--metric parzen needs an image run; use modes for ring8 and grid25");
    int64_t n = o.n.value_or(10000);
    if (n < 1) throw UsageError(fmt::format("--n {} must be positive", n));
    Tensor held_out = load_evaluation_images(s->config());
    if (held_out.size(0) < 2000)
      throw UsageError(fmt::format("parzen needs at least 2,000 held-out images, the data has {}",
                                   held_out.size(0)));
    // The paper's protocol: sigma chosen on 1,000 validation images, the score on the test images.
    Tensor validation = slice(held_out, 0, 0, 1000),
           test = slice(held_out, 0, 1000, held_out.size(0));
    Tensor samples = reshape(s->sample(n, gen), {n, -1});
    gan::ParzenResult r = gan::parzen_evaluate(samples, validation, test);
    fmt::print(
        "{}: Parzen log-likelihood {:.1f} +- {:.1f} (sigma {:.3f}, {} samples, {} test images)\n",
        s->config().data, r.mean, r.standard_error, r.sigma, n, test.size(0));
    result.update({{"samples", n},
                   {"test_images", test.size(0)},
                   {"mean", r.mean},
                   {"standard_error", r.standard_error},
                   {"sigma", r.sigma},
                   {"validation_ll", r.validation_ll}});
  }
  fmt::print("{}\n", result.dump());
  if (!o.json_out.empty()) {
    std::ofstream out(o.json_out, std::ios::trunc);
    out << result.dump(2) << "\n";
    if (!out) throw std::runtime_error(fmt::format("cannot write {}", o.json_out));
  }
  return 0;
}

}  // namespace minimax::cli
