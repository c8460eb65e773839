#include "examples/cli/datasets.h"

#include <fmt/format.h>

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

DataChoice find_dataset(const std::string& data) {
  const size_t colon = data.find(':');
  const std::string name = data.substr(0, colon);
  for (const Dataset& d : registered_datasets()) {
    if (d.name != name) continue;
    if (d.argument.empty() && colon != std::string::npos)
      throw UsageError(fmt::format("--data {}: {} takes nothing after the name", data, name));
    if (!d.argument.empty() && (colon == std::string::npos || colon + 1 == data.size()))
      throw UsageError(fmt::format("--data {0}:{1} needs {2} after '{0}:'", name, d.argument,
                                   d.argument_meaning));
    return {d, colon == std::string::npos ? "" : data.substr(colon + 1)};
  }
  throw UsageError(fmt::format("--data: unknown dataset '{}' ({})", data, dataset_names()));
}

ImageSet DataChoice::training() const {
  ImageSet set = dataset.training(argument);
  const ImageShape& want = *dataset.image;
  if (set.images.size(1) != want.channels || set.images.size(2) != want.height ||
      set.images.size(3) != want.width)
    throw data::DataError(fmt::format("{}: images are {}x{}; the bundled models make {}x{} images",
                                      source().string(), set.images.size(2), set.images.size(3),
                                      want.height, want.width));
  return set;
}

ImageSet DataChoice::test() const {
  return dataset.test(argument);
}

}  // namespace minimax::cli
