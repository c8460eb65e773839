// The GAN paper's MNIST model (models/gan/models.h): G makes [N, 784] in [0, 1].
#include "examples/cli/models.h"
#include "ops/ops.h"

namespace minimax::cli {

ModelChoice paper_mlp_model() {
  const ImageShape fits{1, 28, 28};
  ModelChoice m;
  m.name = "mlp";
  m.summary = "the paper's MLPs: ReLU G, maxout D with dropout (28x28 gray)";
  m.misfit = [fits](const Dataset& d) -> std::string {
    if (d.image == fits) return "";
    return "the paper's MLP makes 28x28 gray images";
  };
  m.build = [](const Dataset&, const ModelOptions& o) {
    return gan::paper_mnist_mlp(o.classes, o.d_input_dropout.value_or(0.2f));
  };
  m.has_d_input_dropout = true;
  m.to_model = [](const Tensor& images) {
    NoGradGuard no_grad;
    return reshape(images, {images.size(0), -1});
  };
  m.to_images = [](const Tensor& output, const ImageShape& s) {
    return reshape(output, {output.size(0), s.channels, s.height, s.width});
  };
  m.prepare = [](gan::GanModel& model, const Tensor& images) {
    NoGradGuard no_grad;
    gan::init_output_bias_from_data(*model.generator, reshape(mean(images, {0}), {-1}));
  };
  return m;
}

}  // namespace minimax::cli
