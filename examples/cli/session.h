// A run's live state, built from its configuration: data, G and D, their optimizers, the random
// generators and the step. Train, sample and eval all start from one; a checkpoint holds one whole.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "autograd/random.h"
#include "examples/cli/config.h"
#include "examples/cli/datasets.h"
#include "examples/cli/models.h"
#include "examples/cli/optimizers.h"
#include "models/data/batches.h"
#include "models/data/mixture.h"
#include "models/gan/models.h"
#include "models/io/checkpoint.h"
#include "models/optim/ema.h"
#include "models/optim/optimizer.h"

namespace minimax::cli {

// This process's part of a data-parallel run: `ranks` processes each train on `batch` rows of
// every global batch of ranks x batch rows. A single process is rank 0 of 1, and rank 0 of any
// run draws exactly what a single process draws.
struct Shard {
  enum class Sharding {
    // Each rank draws its noise and mixture points from its own random streams: the run's streams
    // jumped `rank` times (Generator::jump). The default: no rank draws more than it uses.
    kStreams,
    // Every rank draws the global batch of noise and mixture points from the same streams and keeps
    // its rows, so that N ranks with batch b compute what one process with batch N x b computes, up
    // to rounding, as long as nothing else random or per-row is at work: dropout masks are drawn
    // per rank, batch norm's statistics are over each rank's rows, and WGAN-GP's interpolation
    // weights come from the shared noise stream in a rank's batch size. Costs N times the random
    // draws.
    kSlices,
  };
  int rank = 0, ranks = 1;
  Sharding sharding = Sharding::kStreams;
};

// "streams" or "slices"; throws UsageError for anything else.
Shard::Sharding parse_sharding(const std::string& name);

// The configuration a training run's checkpoint holds. A checkpoint that holds none (another
// program's, such as a feature network) or one that is unreadable or out of range is a
// CheckpointError naming the file: a damaged or wrong file, not a bad flag.
RunConfig stored_config(const Checkpoint& checkpoint);

class Session {
 public:
  // Builds everything from the configuration, loading the training data. Throws data::DataError for
  // unreadable data. Images are sharded alike in both modes: every rank shuffles with the same
  // seed and takes its rows of each global batch, so the ranks' rows are disjoint and together
  // make a single process's batch of ranks x batch.
  explicit Session(const RunConfig& config, bool load_training_data = true, Shard shard = {});

  const RunConfig& config() const { return config_; }
  const DataChoice& data() const { return data_; }
  gan::GanModel& model() { return model_; }
  optim::Optimizer& g_optimizer() { return *g_opt_.optimizer; }
  optim::Optimizer& d_optimizer() { return *d_opt_.optimizer; }
  Generator& noise_generator() { return noise_gen_; }
  bool images() const { return data_.dataset.images(); }
  const std::optional<data::GaussianMixture>& mixture() const { return mixture_; }

  // The next minibatch of real data, in G's output layout and range: this rank's n rows, with
  // their labels in a conditional run.
  gan::LabelledBatch real_batch(int64_t n);
  // G's input for this rank's n rows: the trainer's noise hook in a data-parallel run.
  Tensor noise(int64_t n);
  // Sets the learning rates (and SGD's momentum) for the iteration about to run, 0-based: each
  // optimizer's schedule (examples/cli/optimizers.h).
  void apply_schedules(int64_t iteration);
  // After each training iteration: moves G's moving average (--ema) toward G. No-op without one.
  void update_average();
  // The options the trainer runs this configuration with.
  gan::TrainerOptions trainer_options() const;

  // n samples of G (of its moving average with --ema) in eval mode, in the data's range: images [n,
  // C, H, W] in [0, 1] of the data set's shape, points [n, 2]. A conditional run's samples are of
  // the given labels ([n]), or when none are given of every class in turn (sample i of class i mod
  // classes).
  Tensor sample(int64_t n, Generator& gen, const Tensor& labels = Tensor());
  // The same for given latent vectors z [n, prior dim].
  Tensor generate(const Tensor& z, const Tensor& labels = Tensor());
  bool conditional() const { return config_.classes > 0; }
  // Labels for a grid of n samples in rows of `columns`: row r of class r mod classes.
  Tensor labels_by_row(int64_t n, int64_t columns) const;

  // Draws samples from sample() as a PNG: an image grid with `columns` columns (the cells of
  // `framed_column`, if any, framed), or for 2-D data a scatter plot over the mixture's modes on a
  // fixed range (so plots of a run compare).
  void write_png(const Tensor& samples, const std::filesystem::path& path, int columns,
                 int framed_column = -1) const;

  Checkpoint to_checkpoint(int64_t step) const;
  // Restores everything and returns the checkpoint's step. Throws CheckpointError.
  int64_t restore(const Checkpoint& checkpoint);

  // The states of the generators that differ between ranks (noise, mixture data, the default
  // generator's dropout masks), kStreamWords words: a checkpoint keeps every rank's, so that a
  // resumed data-parallel run continues bit for bit. to_checkpoint stores only this rank's.
  static constexpr size_t kStreamWords = 3 * std::tuple_size_v<Generator::State>;
  std::vector<uint64_t> stream_state() const;
  void set_stream_state(std::span<const uint64_t> words);

 private:
  void load_images();
  // This rank's n rows: `draw(n)` with sharding by streams, rows [rank n, (rank + 1) n) of
  // `draw(ranks x n)` by slices.
  gan::LabelledBatch own_rows(int64_t n, const std::function<gan::LabelledBatch(int64_t)>& draw);
  gan::LabelledBatch image_batch();
  void build_average();
  // A model of the run's architecture; building it leaves the default generator as it was.
  gan::GanModel build_quietly() const;
  // The model whose G draws samples: the trained one; with --ema the average, or when G has batch
  // norm the average with standing statistics (refreshed first if the average has moved).
  gan::GanModel& sampling_model();
  // Copies the average into standing_ and recomputes its batch-norm statistics from
  // kStandingBatches batches of noise drawn from a generator seeded by the run's seed alone, so
  // the statistics depend on the average's weights only (a resumed run draws the same samples).
  void refresh_standing();

  RunConfig config_;
  DataChoice data_;
  const ModelChoice& model_choice_;
  Shard shard_;
  gan::GanModel model_;
  // With --ema: a second model whose G is the moving average of model_'s (its D is unused), built
  // after the data have prepared model_ so that the average starts from the prepared G.
  std::optional<gan::GanModel> average_;
  std::unique_ptr<optim::ExponentialMovingAverage> ema_;
  // With --ema and a G with batch norm: a copy of the average that draws the samples, with
  // batch-norm statistics of its own activations. The average's running statistics are averages of
  // G's, which are not the averaged weights' statistics (samples from them were no better than
  // G's). The copy is derived state: the average itself, and so every checkpoint, is untouched.
  std::optional<gan::GanModel> standing_;
  int64_t standing_updates_ = -1;  // the average's update count when standing_ was refreshed
  ScheduledOptimizer g_opt_, d_opt_;
  Generator noise_gen_, data_gen_;
  std::optional<data::GaussianMixture> mixture_;
  Tensor images_;                                // [N, ...] in G's layout and range
  std::vector<float> labels_;                    // [N] for a conditional run
  std::unique_ptr<data::BatchSampler> sampler_;  // over global batches of ranks x batch
};

}  // namespace minimax::cli
