// The data sets `minimax train --data` knows. Each is one Dataset value, defined in a file of its
// own under examples/cli/datasets/ and listed once in registered_datasets() (datasets.cpp): adding
// a data set is that file, its test and that line.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "autograd/tensor.h"
#include "examples/cli/config.h"
#include "models/data/mixture.h"

namespace minimax::cli {

// The images a data set holds and its generator makes, [C, H, W].
struct ImageShape {
  int64_t channels, height, width;
  bool operator==(const ImageShape&) const = default;
};

// Images [N, C, H, W] in [0, 1], and their class labels when the data set has them.
struct ImageSet {
  Tensor images;
  std::vector<uint8_t> labels;  // [N], or empty
};

struct Dataset {
  std::string name;              // --data NAME, or NAME:ARGUMENT when `argument` is set
  std::string argument;          // what must follow "NAME:" ("FILE", "DIR"); empty: nothing
  std::string argument_meaning;  // the argument in words, for messages: "a directory"
  std::string summary;           // one line of --help
  // The defaults of every field a run on this data set does not set (their `data` is ignored):
  // recipes that train well with no other flag. The first is the default run; `--model M` starts
  // from M's recipe when one is listed, else from the first with M in place of its model.
  std::vector<RunConfig> recipes;
  std::vector<std::string> metrics;  // the `minimax eval --metric` values that apply
  int classes = 0;                   // labelled classes; 0: unlabelled or given by --labels
  // The bundled feature network (examples/cli/feature_nets/) that eval's fid, pr and classes
  // use unless --features names another; empty: none, --features is needed.
  std::string feature_net;
  // Data sets whose labels are a file of their own (--labels FILE): its reader. Throws
  // data::DataError naming the file.
  std::function<std::vector<uint8_t>(const std::filesystem::path& file)> load_labels;

  // Image data sets: the image shape and the loaders, given the argument. `source` names what
  // `training` reads, for messages. Loaders throw data::DataError naming the file.
  std::optional<ImageShape> image;
  std::function<std::filesystem::path(const std::string& argument)> source;
  std::function<ImageSet(const std::string&argument)> training, test;
  // Whether `test` reads images of their own; false where it reads the training file again (idx),
  // so classify, which must measure on images it did not train on, holds out some of them.
  bool separate_test = true;

  // Point data sets: the mixture the points come from, and the half-width of the square its
  // scatter plots show (the modes and a margin), so plots of a run compare.
  std::function<data::GaussianMixture()> mixture;
  float plot_half_width = 0;

  bool images() const { return image.has_value(); }
  // The recipe a run of `model` starts from; "" names the default model.
  const RunConfig& recipe(const std::string& model = "") const;
};

// Every registered data set, in the order --help lists them.
const std::vector<Dataset>& registered_datasets();

// The data set a --data value names, with its argument: "idx:/x/y" is the idx data set and
// "/x/y"; and the --labels file, if any.
struct DataChoice {
  const Dataset& dataset;
  std::string argument;
  std::string labels;

  // Checked to hold images of dataset.image's shape, and as many labels as images when it has
  // labels.
  ImageSet training() const;
  ImageSet test() const;  // the held-out split (evaluation)
  std::filesystem::path source() const { return dataset.source(argument); }
  // The number of classes of the labels: the data set's own, or 1 + the largest label of the
  // --labels file. 0 for unlabelled data.
  int classes() const;
};
// Throws UsageError for an unknown name, a missing or unexpected argument, or a labels file for
// a data set that has no use for one.
DataChoice find_dataset(const std::string& data, const std::string& labels = "");

// "fashion-mnist, idx:FILE, ..." for help and messages.
std::string dataset_names();

// The entries, each defined in its own file under examples/cli/datasets/.
Dataset fashion_mnist_dataset();
Dataset idx_dataset();
Dataset cifar10_dataset();
Dataset ring8_dataset();
Dataset grid25_dataset();

}  // namespace minimax::cli
