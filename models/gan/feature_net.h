// The feature network of the feature-space metrics (models/gan/feature_metrics.h): a small CNN
// classifier, trained by minimax itself (`minimax classify`), whose penultimate layer is the space
// in which generated and real images are compared, and whose argmax is a sample's class.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/io/checkpoint.h"
#include "models/nn/layers.h"

namespace minimax::gan {

// What the network reads and predicts: images [N, channels, height, width] in [0, 1], classes.
struct FeatureNetShape {
  int64_t channels = 1, height = 28, width = 28, classes = 10;
  bool operator==(const FeatureNetShape&) const = default;
  std::string str() const;  // "1x28x28, 10 classes"
};

// Three 3x3 convolutions (32, 64, 128 channels) with batch norm and ReLU, 2x2 max pooling after
// the first two, and a global average over positions: kFeatures features. The head is one Linear to
// the class logits. Averaging over positions rather than flattening keeps the network small
// (95k parameters, 380 KB) and the features independent of the image size.
class FeatureNet : public nn::Module {
 public:
  static constexpr int64_t kFeatures = 128;

  explicit FeatureNet(FeatureNetShape shape);
  Tensor features(const Tensor& images);  // [N, kFeatures]
  Tensor logits(const Tensor& images);    // [N, classes]
  Tensor forward(const Tensor& images) override { return logits(images); }
  const FeatureNetShape& shape() const { return shape_; }

  std::shared_ptr<nn::Sequential> body;
  std::shared_ptr<nn::Linear> head;

 private:
  FeatureNetShape shape_;
};

// The network's weights, its shape and a line of provenance (how it was trained, its accuracy)
// in a checkpoint: tensors "F/...", words "feature_net/shape", string "feature_net/about".
void save_feature_net(const FeatureNet& net, const std::string& about, Checkpoint& checkpoint);
// Throws CheckpointError naming checkpoint.source when it holds no feature network or a malformed
// one.
std::unique_ptr<FeatureNet> load_feature_net(const Checkpoint& checkpoint);

// What the network makes of images [N, C, H, W], in eval mode and without recording, in batches
// (memory stays bounded for any N): the features and the predicted class of each image.
struct Embedded {
  Tensor features;               // [N, kFeatures]
  std::vector<int64_t> classes;  // [N], argmax of the logits
};
Embedded embed(FeatureNet& net, const Tensor& images);

// The fraction of images whose predicted class is their label ([N] labels).
double accuracy(FeatureNet& net, const Tensor& images, const std::vector<uint8_t>& labels);

}  // namespace minimax::gan
