// eval's feature-space metrics (--metric fid, pr, classes): n samples of a run's generator and the
// data set's test split, both seen through a feature network (examples/cli/feature_nets.h).
#pragma once

#include <nlohmann/json.hpp>

#include "examples/cli/commands.h"
#include "examples/cli/feature_nets.h"
#include "examples/cli/session.h"
#include "models/gan/feature_metrics.h"

namespace minimax::cli {

nlohmann::json evaluate_fid(Session& s, const EvalOptions& o, Generator& gen);
nlohmann::json evaluate_pr(Session& s, const EvalOptions& o, Generator& gen);
nlohmann::json evaluate_classes(Session& s, const EvalOptions& o, Generator& gen);

// What n samples of the run's generator look like to the network: drawn and embedded a chunk at a
// time, so that a convolutional G never holds the activations of 10,000 images at once. A
// conditional run's samples cycle through its classes.
gan::Embedded embed_samples(Session& s, gan::FeatureNet& net, int64_t n, Generator& gen);

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
