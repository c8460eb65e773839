// `minimax classify`: trains the feature network of the feature-space metrics
// (models/gan/feature_net.h) on a labelled image data set, with cross-entropy and Adam, and
// writes its weights. A worked example of the framework beyond GANs.
#include <fmt/format.h>

#include <chrono>

#include "examples/cli/commands.h"
#include "examples/cli/datasets.h"
#include "examples/cli/output_file.h"
#include "models/data/batches.h"
#include "models/gan/feature_net.h"
#include "models/optim/optimizer.h"
#include "models/optim/schedule.h"
#include "ops/ops.h"
#include "ops/runtime.h"

namespace minimax::cli {

namespace {

void check_options(const ClassifyOptions& o) {
  if (o.out.empty()) throw UsageError("--out FILE is required");
  if (o.epochs < 1 || o.epochs > 1000)
    throw UsageError(fmt::format("--epochs {} must be 1 to 1000", o.epochs));
  if (o.batch < 1 || o.batch > 100000)
    throw UsageError(fmt::format("--batch {} must be 1 to 100000", o.batch));
  if (!(o.lr > 0)) throw UsageError(fmt::format("--lr {} must be positive", o.lr));
  if (o.threads < 0 || o.threads > 1024)
    throw UsageError(fmt::format("--threads {} must be 0 (the default) to 1024", o.threads));
}

// The training split with its labels; a data set without them is a usage error.
ImageSet labelled_training(const DataChoice& data, const ClassifyOptions& o) {
  if (!data.dataset.images())
    throw UsageError(fmt::format("classify needs images; --data {} holds 2-D points", o.data));
  ImageSet set = data.training();
  if (set.labels.empty())
    throw UsageError(
        fmt::format("--data {} has no labels: give its IDX labels file, --labels FILE", o.data));
  return set;
}

// Rows [begin, end) of a labelled set.
ImageSet rows(const ImageSet& set, int64_t begin, int64_t end) {
  return {slice(set.images, 0, begin, end), {set.labels.begin() + begin, set.labels.begin() + end}};
}

// The images classify trains on and those it measures its accuracy on: the data set's test split,
// or, where that is the training file again (idx), the file's last tenth, held out from training.
struct Splits {
  ImageSet training, test;
  std::string test_name;  // "test" or "held-out", for the accuracy line
};

Splits split(const DataChoice& data, const ClassifyOptions& o) {
  ImageSet all = labelled_training(data, o);
  if (data.dataset.separate_test) return {std::move(all), data.test(), "test"};
  const int64_t n = all.images.size(0), held_out = n / 10;
  if (held_out < 1)
    throw UsageError(fmt::format(
        "--data {}: {} images; classify holds out a tenth to measure its accuracy on, and needs "
        "at least 10",
        o.data, n));
  return {rows(all, 0, n - held_out), rows(all, n - held_out, n), "held-out"};
}

// One epoch of minibatches; returns the mean loss. The learning rate falls linearly to 5% over
// the whole run, which settles the last epoch's weights.
double train_epoch(gan::FeatureNet& net, optim::Optimizer& opt, data::BatchSampler& sampler,
                   const ImageSet& set, const optim::Schedule& lr) {
  Tensor x = Tensor::empty(
      {sampler.batch_size(), set.images.size(1), set.images.size(2), set.images.size(3)});
  Tensor y = Tensor::empty({sampler.batch_size()});
  double total = 0;
  for (int64_t b = 0; b < sampler.batches_per_epoch(); ++b) {
    std::span<const int64_t> rows = sampler.next_indices();
    data::gather_rows(set.images, rows, x);
    for (size_t i = 0; i < rows.size(); ++i) y.data()[i] = set.labels[rows[i]];
    optim::schedule_lr(opt, lr);
    opt.zero_grad();
    Tensor loss = cross_entropy(net(x), y);
    loss.backward();
    opt.step();
    total += loss.item();
  }
  return total / static_cast<double>(sampler.batches_per_epoch());
}

}  // namespace

int classify(const ClassifyOptions& o) {
  check_options(o);
  DataChoice data = find_dataset(o.data, o.labels);
  const auto [training, test, test_name] = split(data, o);  // images only: source() applies
  check_output_file("--out", o.out, {{"--data", data.source().string()}, {"--labels", o.labels}});
  const int classes = data.classes();
  if (classes < 2)
    throw UsageError(fmt::format(
        "--data {}: its labels name {} class; a classifier needs 2 or more", o.data, classes));
  fmt::print("minimax classify: {}\n", use_threads(o.threads));
  manual_seed(o.seed);  // the initial weights
  gan::FeatureNet net(
      {training.images.size(1), training.images.size(2), training.images.size(3), classes});
  optim::Adam opt(net.parameters(), optim::AdamOptions(o.lr));
  data::BatchSampler sampler(training.images.size(0), o.batch, Generator(o.seed + 1));
  const int64_t total_steps = o.epochs * sampler.batches_per_epoch();
  optim::Schedule lr = [&](int64_t step) {
    return o.lr * (1.0 - 0.95 * static_cast<double>(step) / static_cast<double>(total_steps));
  };
  fmt::print(
      "classify: {} training images, {} {} images, {} classes, {} epochs of {} batches of {}\n",
      training.images.size(0), test.images.size(0), test_name, classes, o.epochs,
      sampler.batches_per_epoch(), o.batch);
  std::fflush(stdout);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    double loss = train_epoch(net, opt, sampler, training, lr);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print("epoch {}/{}: mean loss {:.4f} ({:.0f} s)\n", epoch, o.epochs, loss, seconds);
    std::fflush(stdout);
  }
  const double accuracy = gan::accuracy(net, test.images, test.labels);
  fmt::print("{} accuracy {:.2f}% ({} images)\n", test_name, 100 * accuracy, test.images.size(0));
  Checkpoint c;
  save_feature_net(net,
                   fmt::format("minimax classify --data {}{} --epochs {} --seed {}: {} accuracy "
                               "{:.2f}%",
                               o.data, o.labels.empty() ? "" : " --labels " + o.labels, o.epochs,
                               o.seed, test_name, 100 * accuracy),
                   c);
  save_checkpoint(c, o.out);  // through io::write_file_atomically
  fmt::print("wrote {}\n", o.out);
  return 0;
}

}  // namespace minimax::cli
