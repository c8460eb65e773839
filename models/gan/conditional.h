// Class-conditional GANs from unconditional networks: G(z, y) and D(x, y) for labels y.
//
// Labels are class indices held as floats, [N] (as gan::Trainer passes them). A generator built
// for `classes` more inputs than the prior's becomes conditional by taking [z, one_hot(y)]
// (Mirza & Osindero 2014): its first layer's weights learn each class's embedding. Any Sequential
// discriminator becomes conditional by projection (Miyato & Koyama 2018): D(x, y) = head(f(x)) +
// <embed(y), f(x)>, f being every layer before its last one with parameters, flattened.
//
// The bundled builders (models/gan/models.h) take the number of classes and do both.
#pragma once

#include <cstdint>
#include <memory>

#include "models/gan/models.h"
#include "models/nn/layers.h"

namespace minimax::gan {

// A module of an input and its labels. Its one-input forward refuses to run without labels.
class ConditionalModule : public nn::Module {
 public:
  ConditionalModule(std::string type_name, int64_t classes);
  using nn::Module::forward;
  Tensor forward(const Tensor& x) override;
  virtual Tensor forward(const Tensor& x, const Tensor& labels) = 0;
  // forward(x, labels), errors named by module path as Module::operator().
  Tensor operator()(const Tensor& x, const Tensor& labels) {
    return named_errors([&] { return forward(x, labels); });
  }
  int64_t classes() const { return classes_; }

 protected:
  // Throws unless labels are [rows] (the ops check that they are class indices).
  void check_labels(const Tensor& labels, int64_t rows) const;

 private:
  int64_t classes_;
};

// G(z, y) = body([z, one_hot(y)]): body takes the prior's dimensions plus `classes` inputs.
class ConditionalGenerator : public ConditionalModule {
 public:
  ConditionalGenerator(std::shared_ptr<nn::Module> body, int64_t classes);
  using ConditionalModule::forward;
  Tensor forward(const Tensor& z, const Tensor& labels) override;
  std::string describe() const override;

  std::shared_ptr<nn::Module> body;
};

// D(x, y) = head(features(x)) + sum(flatten(features(x)) * embedding[y], 1); the embedding
// starts at zero, so D starts as the unconditional one.
class ProjectionDiscriminator : public ConditionalModule {
 public:
  ProjectionDiscriminator(std::shared_ptr<nn::Module> features, std::shared_ptr<nn::Module> head,
                          int64_t classes, int64_t feature_dim);
  using ConditionalModule::forward;
  Tensor forward(const Tensor& x, const Tensor& labels) override;
  std::string describe() const override;

  std::shared_ptr<nn::Module> features, head;
  Tensor embedding;  // [classes, feature_dim]
};

// The conditional form of a pair whose G was built for prior.dim + classes inputs: G wrapped in a
// ConditionalGenerator, D (a Sequential ending in its output layers) split into a
// ProjectionDiscriminator. `sample_shape` is one real sample's shape without the batch dimension
// ({2}, {784}, {1, 28, 28}), to size the projection. Throws std::invalid_argument for classes < 2,
// a G that does not take [z, one_hot(y)], or a D that is not a Sequential.
GanModel make_conditional(GanModel model, int64_t classes, const Shape& sample_shape);

// G and D of a conditional model as ConditionalModules; throws std::invalid_argument when the
// model is not conditional.
ConditionalModule& conditional_generator(const GanModel& model);
ConditionalModule& conditional_discriminator(const GanModel& model);

}  // namespace minimax::gan
