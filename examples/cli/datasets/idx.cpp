// Any MNIST-format image file (IDX, unsigned bytes, [N, 28, 28]), plain or gzipped:
// --data idx:FILE, its labels (for --conditional) from an IDX labels file: --labels FILE. It has
// no held-out split: evaluation reads the same file (classify holds out the file's last 10%).
#include "models/data/idx.h"
#include "examples/cli/datasets.h"

namespace minimax::cli {

namespace {

ImageSet load(const std::string& file) {
  return {data::load_idx_images(file), {}};
}

}  // namespace

Dataset idx_dataset() {
  Dataset d;
  d.name = "idx";
  d.argument = "FILE";
  d.argument_meaning = "a file name";
  d.summary = "any MNIST-format IDX file of 28x28 gray images, gzipped or not";
  d.recipes = fashion_mnist_dataset().recipes;  // the same kind of images
  d.metrics = {"parzen", "fid", "pr", "classes"};
  d.image = ImageShape{1, 28, 28};
  d.source = [](const std::string& file) { return std::filesystem::path(file); };
  d.training = load;
  d.test = load;
  d.separate_test = false;
  d.load_labels = [](const std::filesystem::path& file) { return data::load_idx_labels(file); };
  return d;
}

}  // namespace minimax::cli
