#include "examples/cli/feature_nets.h"

#include <fmt/format.h>

#include "examples/cli/config.h"

namespace minimax::cli {

namespace {

FeatureNetChoice bundled(const DataChoice& data) {
  const Dataset& d = data.dataset;
  if (d.feature_net.empty())
    throw UsageError(fmt::format(
        "--data {} has no bundled feature network: train one with `minimax classify --data {}{} "
        "--out FILE` and pass --features FILE",
        d.name, d.name,
        (d.argument.empty() ? "" : ":" + d.argument) + (d.load_labels ? " --labels LABELS" : "")));
  std::span<const char> bytes = bundled_file(d.feature_net);
  if (bytes.empty())  // a registry entry naming a file CMakeLists.txt does not embed
    throw std::logic_error(fmt::format("no bundled file {}", d.feature_net));
  Checkpoint c = parse_checkpoint(bytes, d.feature_net + " (bundled)");
  return {gan::load_feature_net(c), c.source, c.string("feature_net/about")};
}

}  // namespace

FeatureNetChoice open_feature_net(const DataChoice& data, const std::string& file) {
  FeatureNetChoice choice;
  if (file.empty()) {
    choice = bundled(data);
  } else {
    Checkpoint c = load_checkpoint(file);
    choice = {gan::load_feature_net(c), file, c.string("feature_net/about")};
  }
  const gan::FeatureNetShape& s = choice.net->shape();
  const ImageShape& want = *data.dataset.image;
  if (s.channels != want.channels || s.height != want.height || s.width != want.width)
    throw UsageError(fmt::format(
        "{}: a feature network for {}x{}x{} images; --data {} has {}x{}x{}", choice.source,
        s.channels, s.height, s.width, data.dataset.name, want.channels, want.height, want.width));
  return choice;
}

}  // namespace minimax::cli
