#include "models/gan/feature_net.h"

#include <fmt/format.h>

#include <algorithm>

#include "ops/ops.h"

namespace minimax::gan {

using namespace minimax::nn;

std::string FeatureNetShape::str() const {
  return fmt::format("{}x{}x{}, {} classes", channels, height, width, classes);
}

namespace {

// conv 3x3 (same size), batch norm, ReLU; the convolution has no bias (batch norm's shift is one).
void add_block(Sequential& body, int64_t in, int64_t out) {
  body.push_back(std::make_shared<Conv2d>(in, out, 3, Conv2dOptions{.padding = 1}, false));
  body.push_back(std::make_shared<BatchNorm2d>(out));
  body.push_back(std::make_shared<ReLU>());
}

class MaxPool2 : public Module {
 public:
  MaxPool2() : Module("MaxPool2") {}
  Tensor forward(const Tensor& x) override { return max_pool2d(x, 2); }
};

void check_shape(const FeatureNetShape& s) {
  if (s.channels < 1 || s.height < 4 || s.width < 4 || s.classes < 2)
    throw std::invalid_argument(fmt::format(
        "FeatureNet: images of at least 1x4x4 and at least 2 classes, not {}", s.str()));
}

}  // namespace

FeatureNet::FeatureNet(FeatureNetShape shape) : Module("FeatureNet"), shape_(shape) {
  check_shape(shape);
  set_name("F");
  auto layers = std::make_shared<Sequential>();
  add_block(*layers, shape.channels, 32);
  layers->push_back(std::make_shared<MaxPool2>());
  add_block(*layers, 32, 64);
  layers->push_back(std::make_shared<MaxPool2>());
  add_block(*layers, 64, kFeatures);
  body = register_module("body", layers);
  head = register_module("head", std::make_shared<Linear>(kFeatures, shape.classes));
}

Tensor FeatureNet::features(const Tensor& images) {
  const Shape& s = images.shape();
  if (s.size() != 4 || s[1] != shape_.channels || s[2] != shape_.height || s[3] != shape_.width)
    throw std::invalid_argument(
        fmt::format("FeatureNet: images {} do not fit a network for {}", s.str(), shape_.str()));
  // Centred inputs: the first convolution has no bias to absorb an offset of the [0, 1] pixels.
  return mean((*body)(images * 2.0f - 1.0f), {2, 3});
}

Tensor FeatureNet::logits(const Tensor& images) {
  return (*head)(features(images));
}

void save_feature_net(const FeatureNet& net, const std::string& about, Checkpoint& checkpoint) {
  net.save(checkpoint, "F/");
  const FeatureNetShape& s = net.shape();
  checkpoint.words["feature_net/shape"] = {
      static_cast<uint64_t>(s.channels), static_cast<uint64_t>(s.height),
      static_cast<uint64_t>(s.width), static_cast<uint64_t>(s.classes)};
  checkpoint.strings["feature_net/about"] = about;
}

std::unique_ptr<FeatureNet> load_feature_net(const Checkpoint& checkpoint) {
  const std::vector<uint64_t>& w = checkpoint.word_list("feature_net/shape");
  auto fail = [&](const std::string& problem) {
    throw CheckpointError(
        fmt::format("checkpoint {}: not a feature network: {}", checkpoint.source, problem));
  };
  if (w.size() != 4) fail(fmt::format("its shape has {} words, not 4", w.size()));
  for (uint64_t v : w)
    if (v > 4096) fail(fmt::format("an extent of {} in its shape", v));
  FeatureNetShape shape{static_cast<int64_t>(w[0]), static_cast<int64_t>(w[1]),
                        static_cast<int64_t>(w[2]), static_cast<int64_t>(w[3])};
  std::unique_ptr<FeatureNet> net;
  try {
    net = std::make_unique<FeatureNet>(shape);
  } catch (const std::invalid_argument& e) {
    fail(e.what());
  }
  net->load(checkpoint, "F/");
  return net;
}

Embedded embed(FeatureNet& net, const Tensor& images) {
  constexpr int64_t kBatch = 500;
  const int64_t n = images.size(0);
  NoGradGuard no_grad;
  nn::EvalModeGuard eval(net);
  Embedded out{Tensor::empty({n, FeatureNet::kFeatures}), std::vector<int64_t>(n)};
  for (int64_t start = 0; start < n; start += kBatch) {
    const int64_t rows = std::min(kBatch, n - start);
    Tensor f = net.features(slice(images, 0, start, start + rows));
    Tensor l = (*net.head)(f);
    std::copy_n(f.data(), f.numel(), out.features.data() + start * FeatureNet::kFeatures);
    const float* logit = l.data();
    for (int64_t i = 0; i < rows; ++i, logit += net.shape().classes)
      out.classes[start + i] = std::max_element(logit, logit + net.shape().classes) - logit;
  }
  return out;
}

double accuracy(FeatureNet& net, const Tensor& images, const std::vector<uint8_t>& labels) {
  if (static_cast<int64_t>(labels.size()) != images.size(0))
    throw std::invalid_argument(
        fmt::format("accuracy: {} labels for {} images", labels.size(), images.size(0)));
  std::vector<int64_t> predicted = embed(net, images).classes;
  int64_t right = 0;
  for (size_t i = 0; i < predicted.size(); ++i) right += predicted[i] == labels[i];
  return predicted.empty() ? 0.0
                           : static_cast<double>(right) / static_cast<double>(predicted.size());
}

}  // namespace minimax::gan
