// The subcommands of the `minimax` command line. Each returns the process exit status; errors are
// exceptions (UsageError: status 2; anything else: status 1), reported by main as one line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "examples/cli/config.h"
#include "models/dist/communicator.h"

namespace minimax::cli {

struct TrainOptions {
  ConfigOverrides flags = ConfigOverrides::object();  // the configuration fields given as flags
  std::string out;                                    // the run directory; default runs/<data>
  bool resume = false, force = false;
  std::string sharding = "streams";  // data-parallel runs: streams or slices (Shard::Sharding)
};
// Trains as one rank of `world`: the whole run in a SingleProcess, this rank's share of a
// data-parallel run under mpirun (examples/cli/distributed.h).
int train(const TrainOptions& options, dist::Communicator& world);

struct SampleOptions {
  std::string checkpoint, out;
  int64_t n = 64;
  uint64_t seed = 1;
  // A PNG grid whose last column shows, for each row's last sample, the closest training image
  // (the GAN paper's Figure 2). Image runs only; reads the run's training data.
  bool nearest = false;
  // A conditional run's class for every sample; without it, a grid shows a class per row (and
  // sample i of a .npy file is of class i / 10 mod classes).
  std::optional<int64_t> label;
  int threads = 0;  // 0: the cores this process may use (minimax::use_threads)
};
int sample(const SampleOptions& options);

struct InterpolateOptions {
  std::string checkpoint, out;
  int64_t rows = 8, steps = 10;
  uint64_t seed = 1;
  int threads = 0;
};
// A PNG grid whose rows each walk a straight line in z between two random z (the GAN paper's
// Figure 3). Image runs only.
int interpolate(const InterpolateOptions& options);

struct ReportOptions {
  std::string dir;
};
// Writes DIR/report.html (examples/cli/report.h).
int report(const ReportOptions& options);

struct EvalOptions {
  std::string checkpoint, metric;
  // Instead of a checkpoint (exactly one of the two): samples another program made, a float32
  // .npy of [N, C, H, W] or [N, C x H x W] images in [0, 1] (what `sample --out FILE.npy`
  // writes), scored by fid, pr or classes against `data` (default: RunConfig's, the default run's).
  std::string samples, data;
  std::optional<int64_t> n;  // samples; default 2,500 for modes, all of --samples, else 10,000
  uint64_t seed = 1;
  std::string json_out;  // also write the JSON here when set
  int threads = 0;
  // fid, pr, classes: the feature network (a file `minimax classify` wrote); default the data
  // set's bundled one (Dataset::feature_net).
  std::string features;
};
int eval(const EvalOptions& options);

struct ClassifyOptions {
  std::string data = RunConfig{}.data;  // the default run's data set
  std::string labels, out;
  int64_t epochs = 6, batch = 128;
  double lr = 2e-3;
  uint64_t seed = 1;
  int threads = 0;  // 0: the cores this process may use
};
// Trains the feature network of `eval --metric fid|pr|classes` (models/gan/feature_net.h) on a
// labelled image data set, prints its accuracy on the test split (for idx data, the file's last
// 10%, held out from training), and writes it to options.out.
int classify(const ClassifyOptions& options);

struct BenchOptions {
  std::string model = "mlp";
  std::string loss;  // dcgan: "wgan-gp" times the WGAN-GP iteration; empty: the model's own
  int threads = 0;
  double seconds = 10;
  int rounds = 5;      // of iterations, each followed by the compute floor timed
  bool calls = false;  // print each distinct call's time alone and inside the iteration
};
// Times whole training iterations (optimizer steps included) of the paper's MLP (batch 100, SGD
// with momentum), DCGAN (batch 64, Adam) or DCGAN with WGAN-GP (k = 5 critic steps with the
// gradient penalty per G step) on random data of the right shape. The last line printed is one
// JSON object, with the peak resident memory.
int bench(const BenchOptions& options);

}  // namespace minimax::cli
