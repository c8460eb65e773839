#include "models/gan/conditional.h"

#include <fmt/format.h>

#include <stdexcept>

#include "ops/ops.h"

namespace minimax::gan {

using nn::Module;
using nn::Sequential;

ConditionalModule::ConditionalModule(std::string type_name, int64_t classes)
    : Module(std::move(type_name)), classes_(classes) {
  if (classes < 2)
    throw std::invalid_argument(fmt::format("{}: {} classes (a conditional model needs at least 2)",
                                            this->type_name(), classes));
}

Tensor ConditionalModule::forward(const Tensor&) {
  throw std::invalid_argument(
      fmt::format("{} is conditional: call it with labels, forward(x, labels)", type_name()));
}

void ConditionalModule::check_labels(const Tensor& labels, int64_t rows) const {
  if (!labels.defined() || labels.dim() != 1 || labels.size(0) != rows)
    throw std::invalid_argument(
        fmt::format("labels must be [{}] (one per row), not {}", rows,
                    labels.defined() ? labels.shape().str() : std::string("undefined")));
}

ConditionalGenerator::ConditionalGenerator(std::shared_ptr<Module> g, int64_t classes)
    : ConditionalModule("ConditionalGenerator", classes) {
  body = register_module("body", std::move(g));
  body->set_name("body");  // its path inside this module, whatever it was called on its own
}

Tensor ConditionalGenerator::forward(const Tensor& z, const Tensor& labels) {
  if (z.dim() != 2)
    throw std::invalid_argument(fmt::format("z must be [N, dims], not {}", z.shape().str()));
  check_labels(labels, z.size(0));
  return (*body)(concat({z, one_hot(labels, classes())}, 1));
}

std::string ConditionalGenerator::describe() const {
  return fmt::format("ConditionalGenerator([z, one_hot(y)], {} classes)", classes());
}

ProjectionDiscriminator::ProjectionDiscriminator(std::shared_ptr<Module> f,
                                                 std::shared_ptr<Module> h, int64_t classes,
                                                 int64_t feature_dim)
    : ConditionalModule("ProjectionDiscriminator", classes) {
  features = register_module("features", std::move(f));
  head = register_module("head", std::move(h));
  embedding = register_parameter("embedding", Tensor::zeros({classes, feature_dim}));
}

Tensor ProjectionDiscriminator::forward(const Tensor& x, const Tensor& labels) {
  Tensor h = (*features)(x);
  Tensor flat = reshape(h, {h.size(0), -1});
  if (flat.size(1) != embedding.size(1))
    throw std::invalid_argument(
        fmt::format("features of {} values per sample, not {}", flat.size(1), embedding.size(1)));
  check_labels(labels, h.size(0));
  Tensor picked = minimax::embedding(embedding, labels);  // its backward: a scatter-add by class
  Tensor projection = sum(mul(flat, picked), {1}, true);
  return add((*head)(h), projection);
}

std::string ProjectionDiscriminator::describe() const {
  return fmt::format("ProjectionDiscriminator({} classes, {} features)", classes(),
                     embedding.size(1));
}

namespace {

// D's layers before its last layer with parameters, and from it on.
std::pair<std::shared_ptr<Sequential>, std::shared_ptr<Sequential>> split_at_output_layer(
    const Sequential& d) {
  size_t output = d.size();
  for (size_t i = d.size(); i-- > 0;)
    if (!d[i]->parameters().empty()) {
      output = i;
      break;
    }
  if (output == 0 || output == d.size())
    throw std::invalid_argument(
        "make_conditional: D needs layers with parameters before its output layer");
  auto features = std::make_shared<Sequential>(), head = std::make_shared<Sequential>();
  for (size_t i = 0; i < d.size(); ++i) (i < output ? features : head)->push_back(d[i]);
  return {features, head};
}

// G runs on one [z, one_hot(y)] row, or the error says what it takes.
void check_generator_inputs(ConditionalGenerator& g, const NoisePrior& prior) {
  NoGradGuard no_grad;
  nn::EvalModeGuard eval(g);
  try {
    g(Tensor::zeros({1, prior.dim}), Tensor::zeros({1}));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(fmt::format(
        "make_conditional: G must take {} prior dimensions + {} classes = {} inputs: {}", prior.dim,
        g.classes(), prior.dim + g.classes(), e.what()));
  }
}

// The number of values features(x) gives per sample, from one zero sample in eval mode.
int64_t feature_size(Module& features, const Shape& sample_shape) {
  Shape dims{1};
  for (int64_t d : sample_shape) dims.push_back(d);
  NoGradGuard no_grad;
  nn::EvalModeGuard eval(features);
  return features(Tensor::zeros(dims)).numel();
}

}  // namespace

GanModel make_conditional(GanModel model, int64_t classes, const Shape& sample_shape) {
  if (!model.generator || !model.discriminator)
    throw std::invalid_argument(fmt::format("make_conditional: the model has no {}",
                                            model.generator ? "discriminator" : "generator"));
  auto* d = dynamic_cast<Sequential*>(model.discriminator.get());
  if (!d)
    throw std::invalid_argument(
        fmt::format("make_conditional: D is a {}, not a Sequential to split into features and head",
                    model.discriminator->type_name()));
  const std::string g_name = model.generator->name(), d_name = model.discriminator->name();
  auto [features, head] = split_at_output_layer(*d);
  int64_t feature_dim = feature_size(*features, sample_shape);
  auto g = std::make_shared<ConditionalGenerator>(model.generator, classes);
  check_generator_inputs(*g, model.prior);
  auto pd = std::make_shared<ProjectionDiscriminator>(features, head, classes, feature_dim);
  g->set_name(g_name);
  pd->set_name(d_name);
  model.generator = g;
  model.discriminator = pd;
  model.classes = classes;
  return model;
}

namespace {
ConditionalModule& as_conditional(const std::shared_ptr<Module>& m, const char* which) {
  auto* c = dynamic_cast<ConditionalModule*>(m.get());
  if (!c)
    throw std::invalid_argument(
        fmt::format("{} is a {}, not a conditional module: the model is not conditional", which,
                    m->type_name()));
  return *c;
}
}  // namespace

ConditionalModule& conditional_generator(const GanModel& model) {
  return as_conditional(model.generator, "G");
}
ConditionalModule& conditional_discriminator(const GanModel& model) {
  return as_conditional(model.discriminator, "D");
}

}  // namespace minimax::gan
