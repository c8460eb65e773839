#include "examples/cli/datasets.h"

#include <fmt/format.h>

#include <algorithm>

#include "examples/cli/registry.h"
#include "models/data/error.h"

namespace minimax::cli {

const std::vector<Dataset>& registered_datasets() {
  static const std::vector<Dataset> datasets = {
      fashion_mnist_dataset(), idx_dataset(), cifar10_dataset(), ring8_dataset(), grid25_dataset(),
  };
  return datasets;
}

std::string dataset_names() {
  std::vector<std::string> names;
  for (const Dataset& d : registered_datasets())
    names.push_back(d.argument.empty() ? d.name : d.name + ":" + d.argument);
  return join_or(names);
}

const RunConfig& Dataset::recipe(const std::string& model) const {
  auto of_model = [&](const RunConfig& r) { return r.model == model; };
  auto found = std::find_if(recipes.begin(), recipes.end(), of_model);
  return found != recipes.end() ? *found : recipes.front();
}

namespace {

DataChoice with_labels(DataChoice choice, const std::string& labels) {
  if (!labels.empty() && !choice.dataset.load_labels)
    throw UsageError(
        fmt::format("--labels {}: --data {} has labels of its own", labels, choice.dataset.name));
  choice.labels = labels;
  return choice;
}

}  // namespace

DataChoice find_dataset(const std::string& data, const std::string& labels) {
  const size_t colon = data.find(':');
  const std::string name = data.substr(0, colon);
  for (const Dataset& d : registered_datasets()) {
    if (d.name != name) continue;
    if (d.argument.empty() && colon != std::string::npos)
      throw UsageError(fmt::format("--data {}: {} takes nothing after the name", data, name));
    if (!d.argument.empty() && (colon == std::string::npos || colon + 1 == data.size()))
      throw UsageError(fmt::format("--data {0}:{1} needs {2} after '{0}:'", name, d.argument,
                                   d.argument_meaning));
    return with_labels({d, colon == std::string::npos ? "" : data.substr(colon + 1), ""}, labels);
  }
  throw UsageError(fmt::format("--data: unknown dataset '{}' ({})", data, dataset_names()));
}

namespace {

void attach_labels(const DataChoice& data, ImageSet& set) {
  if (!data.labels.empty()) set.labels = data.dataset.load_labels(data.labels);
  if (!set.labels.empty() && static_cast<int64_t>(set.labels.size()) != set.images.size(0))
    throw data::DataError(fmt::format("{}: {} labels for {} images of {}",
                                      data.labels.empty() ? data.source().string() : data.labels,
                                      set.labels.size(), set.images.size(0),
                                      data.source().string()));
}

}  // namespace

ImageSet DataChoice::training() const {
  ImageSet set = dataset.training(argument);
  attach_labels(*this, set);
  const ImageShape& want = *dataset.image;
  if (set.images.size(1) != want.channels || set.images.size(2) != want.height ||
      set.images.size(3) != want.width)
    throw data::DataError(fmt::format("{}: images are {}x{}; the bundled models make {}x{} images",
                                      source().string(), set.images.size(2), set.images.size(3),
                                      want.height, want.width));
  return set;
}

ImageSet DataChoice::test() const {
  ImageSet set = dataset.test(argument);
  attach_labels(*this, set);
  return set;
}

int DataChoice::classes() const {
  if (labels.empty()) return dataset.classes;
  std::vector<uint8_t> all = dataset.load_labels(labels);
  return all.empty() ? 0 : 1 + *std::max_element(all.begin(), all.end());
}

}  // namespace minimax::cli
