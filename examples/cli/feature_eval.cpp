#include "examples/cli/feature_eval.h"

#include <fmt/format.h>

#include <algorithm>

namespace minimax::cli {

gan::Embedded embed_samples(Session& s, gan::FeatureNet& net, int64_t n, Generator& gen) {
  constexpr int64_t kChunk = 500;
  constexpr int64_t kFeatures = gan::FeatureNet::kFeatures;
  gan::Embedded out{Tensor::empty({n, kFeatures}), {}};
  for (int64_t start = 0; start < n; start += kChunk) {
    const int64_t rows = std::min(kChunk, n - start);
    Tensor labels = s.conditional() ? s.labels_by_row(rows, 1) : Tensor();
    gan::Embedded e = gan::embed(net, s.sample(rows, gen, labels));
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
  return gan::frechet_distance(
      gan::gaussian_stats(embed_samples(s, *net_.net, kSamples, gen).features), test_);
}

namespace {

int64_t sample_count(const EvalOptions& o, int64_t minimum) {
  const int64_t n = o.n.value_or(10000);
  if (n < minimum) throw UsageError(fmt::format("--n {} must be at least {}", n, minimum));
  return n;
}

// The samples' and the test split's features, and what the result says about them.
struct FeatureSets {
  Tensor real, generated;
  nlohmann::json about;
};

FeatureSets embed_both(Session& s, const EvalOptions& o, Generator& gen, int64_t min_samples) {
  const int64_t n = sample_count(o, min_samples);
  FeatureNetChoice f = open_feature_net(s.data(), o.features);
  Tensor test = s.data().test().images;
  if (test.size(0) < min_samples)
    throw UsageError(fmt::format("--metric {} needs at least {} test images, the data has {}",
                                 o.metric, min_samples, test.size(0)));
  FeatureSets sets{gan::embed(*f.net, test).features,
                   embed_samples(s, *f.net, n, gen).features,
                   {{"samples", n}, {"test_images", test.size(0)}, {"features", f.source}}};
  return sets;
}

}  // namespace

nlohmann::json evaluate_fid(Session& s, const EvalOptions& o, Generator& gen) {
  FeatureSets sets = embed_both(s, o, gen, 2);
  const double fid =
      gan::frechet_distance(gan::gaussian_stats(sets.generated), gan::gaussian_stats(sets.real));
  fmt::print("{}: FID {:.3f} ({} samples against {} test images, features of {})\n",
             s.config().data, fid, sets.about["samples"].get<int64_t>(),
             sets.about["test_images"].get<int64_t>(), sets.about["features"].get<std::string>());
  nlohmann::json result = sets.about;
  result["fid"] = fid;
  return result;
}

nlohmann::json evaluate_pr(Session& s, const EvalOptions& o, Generator& gen) {
  constexpr int kNeighbours = 3;
  FeatureSets sets = embed_both(s, o, gen, kNeighbours + 1);
  gan::PrecisionRecall pr = gan::precision_recall(sets.real, sets.generated, kNeighbours);
  fmt::print("{}: precision {:.4f}, recall {:.4f} (k = {}; {} samples, {} test images)\n",
             s.config().data, pr.precision, pr.recall, pr.k, sets.about["samples"].get<int64_t>(),
             sets.about["test_images"].get<int64_t>());
  nlohmann::json result = sets.about;
  result.update({{"precision", pr.precision}, {"recall", pr.recall}, {"k", pr.k}});
  return result;
}

nlohmann::json evaluate_classes(Session& s, const EvalOptions& o, Generator& gen) {
  constexpr double kMinFraction = 0.01;
  const int64_t n = sample_count(o, 1);
  FeatureNetChoice f = open_feature_net(s.data(), o.features);
  std::vector<int64_t> histogram(f.net->shape().classes, 0);
  for (int64_t c : embed_samples(s, *f.net, n, gen).classes) ++histogram[c];
  gan::ClassSpread spread = gan::class_spread(histogram, kMinFraction);
  fmt::print(
      "{}: {}/{} classes hold at least {:g}% of the samples, KL(classes || uniform) {:.4f} "
      "({} samples, classifier {})\n",
      s.config().data, spread.classes_present, spread.total_classes, 100 * kMinFraction,
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
