// eval's feature-space metrics (--metric fid, pr, classes): n samples and the data set's test
// split, both seen through a feature network (examples/cli/feature_nets.h). The samples come
// from a run's generator (--checkpoint) or from a file another program wrote (--samples).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "examples/cli/commands.h"
#include "examples/cli/feature_nets.h"
#include "examples/cli/session.h"
#include "models/gan/feature_metrics.h"

namespace minimax::cli {

// Where the scored samples come from. `next(rows)` gives the next rows, images [rows, C, H, W]
// in [0, 1] of the data set's shape.
struct SampleSource {
  const DataChoice& data;            // what they imitate: its test split, its feature network
  std::string data_name;             // as --data names it, for messages
  std::optional<int64_t> available;  // a file's rows; none for a generator, which draws any n
  std::function<Tensor(int64_t rows)> next;
};

// A run's generator: its samples as Session::sample draws them from `gen`; a conditional run's
// cycle through its classes.
SampleSource generator_samples(Session& s, Generator& gen);

// The samples of a .npy file (EvalOptions::samples), checked to be images of the data set's
// shape with values in [0, 1]. io::NpyError for a file that cannot be read as float32; UsageError
// for another shape or range.
SampleSource file_samples(const DataChoice& data, const std::string& data_name,
                          const std::string& path);

nlohmann::json evaluate_fid(SampleSource& samples, const EvalOptions& o);
nlohmann::json evaluate_pr(SampleSource& samples, const EvalOptions& o);
nlohmann::json evaluate_classes(SampleSource& samples, const EvalOptions& o);

// What n samples look like to the network: drawn and embedded a chunk at a time, so that a
// convolutional G never holds the activations of 10,000 images at once.
gan::Embedded embed_samples(gan::FeatureNet& net, SampleSource& samples, int64_t n);

// The FID of a run's samples while it trains (train --eval-every): the test split's statistics are
// computed once; each evaluation draws the same z (its own generator, so the run's random streams
// and a resumed run's bit-for-bit continuation are untouched).
class FidMonitor {
 public:
  static constexpr int64_t kSamples = 2000;
  explicit FidMonitor(const DataChoice& data);
  double fid(Session& s);

 private:
  FeatureNetChoice net_;
  gan::GaussianStats test_;
};

}  // namespace minimax::cli
