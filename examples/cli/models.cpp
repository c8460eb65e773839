#include "examples/cli/models.h"

#include "examples/cli/registry.h"

namespace minimax::cli {

const std::vector<ModelChoice>& registered_models() {
  static const std::vector<ModelChoice> models = {
      paper_mlp_model(),
      dcgan_model(),
      mixture_mlp_model(),
  };
  return models;
}

const ModelChoice& find_model(const std::string& name) {
  return find_entry(registered_models(), name, "--model", "model");
}

std::string model_names() {
  return joined_names(registered_models());
}

}  // namespace minimax::cli
