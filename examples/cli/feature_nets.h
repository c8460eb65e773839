// The feature networks of `eval --metric fid|pr|classes` (models/gan/feature_net.h): those
// bundled into the binary (examples/cli/feature_nets/*.ckpt, embedded at build time by
// cmake/embed_files.cmake, so a fresh clone's build needs no file beside it) and any file
// `minimax classify` wrote.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "examples/cli/datasets.h"
#include "models/gan/feature_net.h"

namespace minimax::cli {

// The bytes of the bundled file `name` ("fashion-mnist.ckpt"); empty when none is bundled so.
// Defined in the source the build generates.
std::span<const char> bundled_file(const std::string& name);

// A feature network and where it came from, for messages and results.
struct FeatureNetChoice {
  std::unique_ptr<gan::FeatureNet> net;
  std::string source;  // "fashion-mnist.ckpt (bundled)" or the file given
  std::string about;   // how it was trained (the file's "feature_net/about")
};

// The network `file` holds (--features FILE), or without one the data set's bundled network
// (Dataset::feature_net). UsageError when there is neither or the network reads images of
// another shape than the data set's; CheckpointError for a file that is missing, corrupt or not a
// feature network.
FeatureNetChoice open_feature_net(const DataChoice& data, const std::string& file);

}  // namespace minimax::cli
