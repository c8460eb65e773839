#include "examples/cli/feature_eval.h"

#include <fmt/format.h>

#include <algorithm>

#include "models/io/npy.h"
#include "ops/ops.h"

namespace minimax::cli {

SampleSource generator_samples(Session& s, Generator& gen) {
  return {s.data(), s.config().data, std::nullopt, [&s, &gen](int64_t rows) {
            return s.sample(rows, gen, s.conditional() ? s.labels_by_row(rows, 1) : Tensor());
          }};
}

namespace {

// The file's array as images [N, C, H, W] of the data set's shape: [N, C, H, W] or rows of
// C x H x W values.
Tensor as_images(const Tensor& array, const ImageShape& image, const std::string& path) {
  const Shape& shape = array.shape();
  const int64_t values = image.channels * image.height * image.width;
  const bool rows = shape.size() == 2 && shape[1] == values;
  const bool images = shape.size() == 4 && shape[1] == image.channels && shape[2] == image.height &&
                      shape[3] == image.width;
  if ((!rows && !images) || shape[0] < 1)
    throw UsageError(
        fmt::format("--samples {}: shape {}, expected [N, {}, {}, {}] or [N, {}] images (N >= 1)",
                    path, shape.str(), image.channels, image.height, image.width, values));
  return reshape(array, {shape[0], image.channels, image.height, image.width});
}

// Samples in another range (a tanh generator's [-1, 1], bytes 0 to 255) would score as garbage
// without a word: they are refused, naming the first value outside [0, 1].
void check_unit_range(const Tensor& images, const std::string& path) {
  const float* v = images.data();
  for (int64_t i = 0; i < images.numel(); ++i)
    if (!(v[i] >= 0.0f && v[i] <= 1.0f))
      throw UsageError(fmt::format(
          "--samples {}: value {} at index {} is outside [0, 1], the range of minimax sample's "
          "images (map a tanh generator's x to (x + 1) / 2)",
          path, v[i], i));
}

}  // namespace

SampleSource file_samples(const DataChoice& data, const std::string& data_name,
                          const std::string& path) {
  if (!data.dataset.images())
    throw UsageError(
        fmt::format("--samples needs an image data set; --data {} holds 2-D points", data_name));
  Tensor images = as_images(io::load_npy(path), *data.dataset.image, path);
  check_unit_range(images, path);
  return {data, data_name, images.size(0), [images, next_row = int64_t{0}](int64_t rows) mutable {
            Tensor chunk = slice(images, 0, next_row, next_row + rows);
            next_row += rows;
            return chunk;
          }};
}

gan::Embedded embed_samples(gan::FeatureNet& net, SampleSource& samples, int64_t n) {
  constexpr int64_t kChunk = 500;
  constexpr int64_t kFeatures = gan::FeatureNet::kFeatures;
  gan::Embedded out{Tensor::empty({n, kFeatures}), {}};
  for (int64_t start = 0; start < n; start += kChunk) {
    const int64_t rows = std::min(kChunk, n - start);
    gan::Embedded e = gan::embed(net, samples.next(rows));
    std::copy_n(e.features.data(), rows * kFeatures, out.features.data() + start * kFeatures);
    out.classes.insert(out.classes.end(), e.classes.begin(), e.classes.end());
  }
  return out;
}

FidMonitor::FidMonitor(const DataChoice& data)
    : net_(open_feature_net(data, "")),
      test_(gan::gaussian_stats(gan::embed(*net_.net, data.test().images).features)) {}

double FidMonitor::fid(Session& s) {
  Generator gen(s.config().seed + 11);
  SampleSource samples = generator_samples(s, gen);
  return gan::frechet_distance(
      gan::gaussian_stats(embed_samples(*net_.net, samples, kSamples).features), test_);
}

namespace {

// --n, by default all of a file's samples or 10,000 of a generator's.
int64_t sample_count(const SampleSource& samples, const EvalOptions& o, int64_t minimum) {
  const int64_t n = o.n.value_or(samples.available.value_or(10000));
  if (n < minimum) throw UsageError(fmt::format("--n {} must be at least {}", n, minimum));
  if (samples.available && n > *samples.available)
    throw UsageError(
        fmt::format("--n {}: --samples {} holds {}", n, o.samples, *samples.available));
  return n;
}

// The samples' and the test split's features, and what the result says about them.
struct FeatureSets {
  Tensor real, generated;
  nlohmann::json about;
};

FeatureSets embed_both(SampleSource& samples, const EvalOptions& o, int64_t min_samples) {
  const int64_t n = sample_count(samples, o, min_samples);
  FeatureNetChoice f = open_feature_net(samples.data, o.features);
  Tensor test = samples.data.test().images;
  if (test.size(0) < min_samples)
    throw UsageError(fmt::format("--metric {} needs at least {} test images, the data has {}",
                                 o.metric, min_samples, test.size(0)));
  FeatureSets sets{gan::embed(*f.net, test).features,
                   embed_samples(*f.net, samples, n).features,
                   {{"samples", n}, {"test_images", test.size(0)}, {"features", f.source}}};
  return sets;
}

}  // namespace

nlohmann::json evaluate_fid(SampleSource& samples, const EvalOptions& o) {
  FeatureSets sets = embed_both(samples, o, 2);
  const double fid =
      gan::frechet_distance(gan::gaussian_stats(sets.generated), gan::gaussian_stats(sets.real));
  fmt::print("{}: FID {:.3f} ({} samples against {} test images, features of {})\n",
             samples.data_name, fid, sets.about["samples"].get<int64_t>(),
             sets.about["test_images"].get<int64_t>(), sets.about["features"].get<std::string>());
  nlohmann::json result = sets.about;
  result["fid"] = fid;
  return result;
}

nlohmann::json evaluate_pr(SampleSource& samples, const EvalOptions& o) {
  constexpr int kNeighbours = 3;
  FeatureSets sets = embed_both(samples, o, kNeighbours + 1);
  gan::PrecisionRecall pr = gan::precision_recall(sets.real, sets.generated, kNeighbours);
  fmt::print("{}: precision {:.4f}, recall {:.4f} (k = {}; {} samples, {} test images)\n",
             samples.data_name, pr.precision, pr.recall, pr.k, sets.about["samples"].get<int64_t>(),
             sets.about["test_images"].get<int64_t>());
  nlohmann::json result = sets.about;
  result.update({{"precision", pr.precision}, {"recall", pr.recall}, {"k", pr.k}});
  return result;
}

nlohmann::json evaluate_classes(SampleSource& samples, const EvalOptions& o) {
  constexpr double kMinFraction = 0.01;
  const int64_t n = sample_count(samples, o, 1);
  FeatureNetChoice f = open_feature_net(samples.data, o.features);
  std::vector<int64_t> histogram(f.net->shape().classes, 0);
  for (int64_t c : embed_samples(*f.net, samples, n).classes) ++histogram[c];
  gan::ClassSpread spread = gan::class_spread(histogram, kMinFraction);
  fmt::print(
      "{}: {}/{} classes hold at least {:g}% of the samples, KL(classes || uniform) {:.4f} "
      "({} samples, classifier {})\n",
      samples.data_name, spread.classes_present, spread.total_classes, 100 * kMinFraction,
      spread.kl_to_uniform, n, f.source);
  return {{"samples", n},
          {"features", f.source},
          {"classes_present", spread.classes_present},
          {"total_classes", spread.total_classes},
          {"min_fraction", kMinFraction},
          {"kl_to_uniform", spread.kl_to_uniform},
          {"histogram", spread.histogram}};
}

}  // namespace minimax::cli
