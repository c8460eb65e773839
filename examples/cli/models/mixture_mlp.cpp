// MLPs for 2-D points (models/gan/models.h): G makes [N, 2].
#include "examples/cli/models.h"

namespace minimax::cli {

ModelChoice mixture_mlp_model() {
  ModelChoice m;
  m.name = "mixture-mlp";
  m.summary = "3 x 256 MLPs for 2-D points (ring8, grid25)";
  m.misfit = [](const Dataset& d) -> std::string {
    return d.images() ? "it makes 2-D points, not images" : "";
  };
  m.build = [](const Dataset&, const ModelOptions& o) {
    return gan::mixture_mlp(2, 256, 3, o.classes);
  };
  return m;
}

}  // namespace minimax::cli
