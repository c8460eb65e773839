// DCGAN (models/gan/models.h) for 28x28 gray or 32x32 RGB images: G makes [N, C, H, W] in
// [-1, 1].
#include "examples/cli/models.h"
#include "ops/ops.h"

namespace minimax::cli {

namespace {
const ImageShape kGray28{1, 28, 28}, kRgb32{3, 32, 32};
}

ModelChoice dcgan_model() {
  ModelChoice m;
  m.name = "dcgan";
  m.summary = "DCGAN: transposed convolutions, batch norm (28x28 gray or 32x32 RGB)";
  m.misfit = [](const Dataset& d) -> std::string {
    if (d.image == kGray28 || d.image == kRgb32) return "";
    return "DCGAN makes 28x28 gray or 32x32 RGB images";
  };
  m.build = [](const Dataset& d, const ModelOptions& o) {
    return d.image == kRgb32 ? gan::dcgan32_rgb(o.classes) : gan::dcgan28(o.classes);
  };
  m.to_model = [](const Tensor& images) {
    NoGradGuard no_grad;
    return add(mul(images, 2.0f), -1.0f);
  };
  m.to_images = [](const Tensor& output, const ImageShape&) {
    NoGradGuard no_grad;
    return mul(add(output, 1.0f), 0.5f);
  };
  return m;
}

}  // namespace minimax::cli
