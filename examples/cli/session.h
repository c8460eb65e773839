// A run's live state, built from its configuration: data, G and D, their optimizers, the random
// generators and the step. Train, sample and eval all start from one; a checkpoint holds one whole.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "autograd/random.h"
#include "examples/cli/config.h"
#include "models/data/batches.h"
#include "models/data/mixture.h"
#include "models/gan/models.h"
#include "models/io/checkpoint.h"
#include "models/optim/optimizer.h"

namespace minimax::cli {

// Where `fashion-mnist` is read from (Debian's dataset-fashion-mnist package).
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

class Session {
 public:
  // Builds everything from the configuration, loading the training data. Throws data::DataError for
  // unreadable data.
  explicit Session(const RunConfig& config, bool load_training_data = true);

  const RunConfig& config() const { return config_; }
  gan::GanModel& model() { return model_; }
  optim::Optimizer& g_optimizer() { return *g_opt_; }
  optim::Optimizer& d_optimizer() { return *d_opt_; }
  Generator& noise_generator() { return noise_gen_; }
  bool images() const { return !mixture_; }
  const std::optional<data::GaussianMixture>& mixture() const { return mixture_; }

  // The next minibatch of real data, in G's output layout and range.
  Tensor real_batch(int64_t n);
  // Sets the learning rates (and SGD's momentum) for the iteration about to run, 0-based: the
  // paper's schedules for SGD, the linear decay of RunConfig::lr_decay_start for Adam.
  void apply_schedules(int64_t iteration);

  // n samples of G in eval mode, in the data's range: images [n, C, H, W] in [0, 1] ([n, 1, 28,
  // 28], or [n, 3, 32, 32] for CIFAR-10), points [n, 2].
  Tensor sample(int64_t n, Generator& gen);
  // The same for given latent vectors z [n, prior dim].
  Tensor generate(const Tensor& z);

  // Draws samples from sample() as a PNG: an image grid with `columns` columns (the cells of
  // `framed_column`, if any, framed), or for 2-D data a scatter plot over the mixture's modes on a
  // fixed range (so plots of a run compare).
  void write_png(const Tensor& samples, const std::filesystem::path& path, int columns,
                 int framed_column = -1) const;

  Checkpoint to_checkpoint(int64_t step) const;
  // Restores everything and returns the checkpoint's step. Throws CheckpointError.
  int64_t restore(const Checkpoint& checkpoint);

 private:
  Tensor load_images();

  RunConfig config_;
  gan::GanModel model_;
  std::unique_ptr<optim::Optimizer> g_opt_, d_opt_;
  Generator noise_gen_, data_gen_;
  std::optional<data::GaussianMixture> mixture_;
  Tensor images_;  // [N, ...] in G's layout and range
  std::unique_ptr<data::BatchSampler> sampler_;
};

// Test images of the configured image dataset as [N, C * H * W] in [0, 1] (Parzen evaluation): the
// t10k file for fashion-mnist, the file itself for idx:FILE, test_batch.bin for cifar10:DIR.
Tensor load_evaluation_images(const RunConfig& config);

// The training images of an image dataset, [N, C, H, W] in [0, 1], checked to have the size the
// bundled models make. Throws data::DataError.
Tensor load_training_images(const RunConfig& config);

// The image file (IDX) or directory (CIFAR-10) the dataset name refers to.
std::filesystem::path training_images_path(const std::string& data);

}  // namespace minimax::cli
