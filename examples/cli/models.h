// The models `minimax train --model` knows. Each is one ModelChoice, defined in a file of its own
// under examples/cli/models/ and listed once in registered_models() (models.cpp).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "examples/cli/datasets.h"
#include "models/gan/models.h"

namespace minimax::cli {

// What a run asks of its model beyond the data set.
struct ModelOptions {
  int classes = 0;  // > 0: the conditional forms G(z, y), D(x, y) (models/gan/conditional.h)
  // The dropout probability on D's input, for a model that has one (ModelChoice::
  // has_d_input_dropout); unset: the model's own.
  std::optional<float> d_input_dropout;
};

struct ModelChoice {
  std::string name;     // as --model names it
  std::string summary;  // one line of --help
  // Why the model cannot train on the data set; empty when it can.
  std::function<std::string(const Dataset&)> misfit;
  // G and D for the data set (the weights drawn from the default generator).
  std::function<gan::GanModel(const Dataset&, const ModelOptions&)> build;
  // Whether D drops out its input, so that --d-input-dropout may set the probability.
  bool has_d_input_dropout = false;
  // Image data sets: training images [N, C, H, W] in [0, 1] to G's output layout and range, and
  // G's output back to images of the given shape in [0, 1]. Empty for point data (unchanged).
  std::function<Tensor(const Tensor& images)> to_model;
  std::function<Tensor(const Tensor& output, const ImageShape& shape)> to_images;
  // Optional: fits the fresh model to the training images [N, C, H, W] in [0, 1] before the first
  // step (the paper's MLP sets G's output bias from the mean pixel).
  std::function<void(gan::GanModel& model, const Tensor& images)> prepare;
};

// Every registered model, in the order --help lists them.
const std::vector<ModelChoice>& registered_models();
// Throws UsageError listing the names.
const ModelChoice& find_model(const std::string& name);
std::string model_names();

// The entries, each defined in its own file under examples/cli/models/.
ModelChoice paper_mlp_model();
ModelChoice dcgan_model();
ModelChoice mixture_mlp_model();

}  // namespace minimax::cli
