// Fashion-MNIST from Debian's dataset-fashion-mnist package: 60,000 training and 10,000 test
// images of 10 kinds of clothing, 28x28 gray, with labels.
#include "examples/cli/datasets.h"
#include "models/data/idx.h"

namespace minimax::cli {

namespace {

const std::filesystem::path kDir = "/usr/share/datasets/fashion-mnist";

ImageSet load(const char* images, const char* labels) {
  data::LabelledImages set = data::load_idx_dataset(kDir / images, kDir / labels);
  return {set.images, set.labels};
}

}  // namespace

Dataset fashion_mnist_dataset() {
  Dataset d;
  d.name = "fashion-mnist";
  d.summary = "Fashion-MNIST, 28x28 gray, 10 classes (Debian's dataset-fashion-mnist; the default)";
  // The default run: the model, recipe and length with the lowest FID in about three minutes on
  // a 2-core machine (README, "The default run"); the paper's MLP is --model mlp.
  d.recipes = {{.model = "dcgan",
                .optimizer = "adam",
                .lr = 4e-4,  // twice the DCGAN paper's: FID 3.2 against 5.0 over 3 seeds
                // About three minutes on a quiet 2-core machine (1100 steps took 99 s); over
                // seeds 1-3, FID 1.53 against 3.20 at 1100 steps (median).
                .steps = 2000,
                .batch = 64,
                .checkpoint_every = 500,
                .sample_every = 100,
                .log_every = 50},
               {.model = "mlp",
                .optimizer = "adam",
                .lr = 2e-4,
                // With k 3 and no dropout on D's input, 7000 steps put every class over 6% on
                // seeds 1-3 (3.9-6.1% at 5000), FID 4.89 median against 5.74 (README, "The
                // default run").
                .steps = 7000,
                .batch = 100,
                // Three D steps per G step: over seeds 1-3 the smallest class holds 3.2-6.4% of
                // the samples against 0.6-4.1% with one, FID 7.19 against 10.90 (median), at
                // about twice the time.
                .k = 3,
                // R1 on real data: over seeds 1-3, KL from uniform of the class histogram 0.19
                // against 0.35 (median), FID 10.9 against 13.5, at 30% more time per step (less
                // since it shares the loss's forward on the real batch).
                .r1 = 10,
                .checkpoint_every = 500,
                .sample_every = 500,
                .log_every = 50,
                // No dropout on D's input (the paper's 0.2): D sees G's speckle against clean
                // images. Over seeds 1-3 at 5000 steps, KL from uniform of the class histogram
                // 0.06, 0.05, 0.09 against 0.06, 0.07, 0.11, FID 5.74 against 5.90 (median).
                .d_input_dropout = 0}};
  d.metrics = {"parzen", "fid", "pr", "classes"};
  d.feature_net = "fashion-mnist.ckpt";  // its README says how it was trained
  d.classes = 10;
  d.image = ImageShape{1, 28, 28};
  d.source = [](const std::string&) { return kDir / "train-images-idx3-ubyte.gz"; };
  d.training = [](const std::string&) {
    return load("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz");
  };
  d.test = [](const std::string&) {
    return load("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz");
  };
  return d;
}

}  // namespace minimax::cli
