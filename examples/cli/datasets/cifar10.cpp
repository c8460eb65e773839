// CIFAR-10's binary version in a directory (cifar-10-binary.tar.gz, extracted): --data
// cifar10:DIR. 50,000 training and 10,000 test images, 32x32 RGB, 10 classes.
#include "examples/cli/datasets.h"
#include "models/data/cifar.h"

namespace minimax::cli {

namespace {

ImageSet as_set(data::CifarImages c) {
  return {c.images, std::move(c.labels)};
}

}  // namespace

Dataset cifar10_dataset() {
  Dataset d;
  d.name = "cifar10";
  d.argument = "DIR";
  d.argument_meaning = "a directory";
  d.summary = "CIFAR-10's binary files (data_batch_1.bin ... test_batch.bin), 32x32 RGB";
  d.recipes = {{.model = "dcgan",  // the paper's MLP is for 784 gray pixels
                .optimizer = "adam",
                .lr = 2e-4,
                .steps = 5000,
                .batch = 64,
                .checkpoint_every = 500,
                .sample_every = 500,
                .log_every = 50}};
  d.metrics = {"parzen", "fid", "pr", "classes"};
  d.classes = 10;
  d.image = ImageShape{3, 32, 32};
  d.source = [](const std::string& dir) { return std::filesystem::path(dir); };
  d.training = [](const std::string& dir) { return as_set(data::load_cifar10_training(dir)); };
  d.test = [](const std::string& dir) { return as_set(data::load_cifar10_test(dir)); };
  return d;
}

}  // namespace minimax::cli
