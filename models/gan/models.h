// The bundled generator/discriminator pairs. Every discriminator outputs logits [N, 1]; the losses
// apply the sigmoid (models/gan/losses.h). Each builder takes a number of classes: 0 builds the
// unconditional pair, more the class-conditional one (models/gan/conditional.h): G on
// [z, one_hot(y)], D by projection.
#pragma once

#include <memory>
#include <string>

#include "models/gan/trainer.h"
#include "models/nn/layers.h"

namespace minimax::gan {

struct GanModel {
  std::string name;
  std::shared_ptr<nn::Module> generator, discriminator;
  NoisePrior prior;
  int64_t classes = 0;  // conditional models (models/gan/conditional.h): G(z, y), D(x, y)
};

// The GAN paper's MNIST model (its pylearn2 mnist.yaml): z ~ U[-sqrt 3, sqrt 3]^100;
// G: 1200 ReLU, 1200 ReLU, 784 sigmoid, weights U(-0.05, 0.05); D: maxout 240 x 5, maxout 240 x 5,
// sigmoid, weights U(-0.005, 0.005), dropout 0.2 on its input and 0.5 on the hidden layers.
// G outputs [N, 784] in [0, 1]. `d_input_dropout` replaces the 0.2 on D's input.
GanModel paper_mnist_mlp(int64_t classes = 0, float d_input_dropout = 0.2f);

// Sets G's output bias so that, at initialization, its mean output is the data's mean pixel:
// bias = logit(clamp(pixel_mean, 1e-3, 1 - 1e-3)) (pylearn2's init_sigmoid_bias_from_marginals).
void init_output_bias_from_data(nn::Module& paper_generator, const Tensor& pixel_means);

// DCGAN for 28x28 images, as in PyTorch's C++ DCGAN example. z ~ N(0, I)^100;
// G: ConvT 100->256 (k4), 256->128 (k3 s2 p1), 128->64 (k4 s2 p1), 64->1 (k4 s2 p1), batch norm
//    and ReLU between, tanh out: [N, 1, 28, 28] in [-1, 1];
// D: Conv 1->64, 64->128, 128->256 (k4 s2 p1), batch norm (not on the first) and leaky ReLU 0.2,
//    then 256->1 (k3): logits [N, 1]. Weights N(0, 0.02), as the DCGAN paper.
GanModel dcgan28(int64_t classes = 0);

// The same DCGAN for 32x32 RGB images (CIFAR-10): G's layers 100->256 (k4), 256->128, 128->64,
// 64->3 (k4 s2 p1 each): [N, 3, 32, 32] in [-1, 1]; D: Conv 3->64, 64->128, 128->256 (k4 s2 p1),
// then 256->1 (k4) over the 4x4 map: logits [N, 1].
GanModel dcgan32_rgb(int64_t classes = 0);

// MLPs for the 2-D mixtures: z ~ N(0, I)^noise_dim; G: hidden_layers x hidden ReLU -> 2; D:
// hidden_layers x hidden leaky ReLU 0.2 -> 1. Three layers of 256 make the steep maps G needs to
// put 98% of its mass within 3 sigma = 0.03 of ring8's modes.
GanModel mixture_mlp(int64_t noise_dim = 2, int64_t hidden = 256, int hidden_layers = 3,
                     int64_t classes = 0);

}  // namespace minimax::gan
