// minimax against PyTorch for the convolution, normalization, pooling and resampling ops (see
// tests/torch_reference.h): values, gradients, second-order gradients, and batch_norm's update of
// its running statistics.
#include "torch_reference.h"

using namespace minimax;
using namespace minimax::torch_reference;

namespace {

// PyTorch's name of a padding mode as ours.
PadMode pad_mode(const std::string& name) {
  return name == "reflect"     ? PadMode::kReflect
         : name == "replicate" ? PadMode::kReplicate
                               : PadMode::kConstant;
}

Conv2dOptions conv_options(const json& c) {
  const json& o = options(c);
  Conv2dOptions r;
  r.stride = o.at("stride").get<int64_t>();
  r.padding = o.at("padding").get<int64_t>();
  r.dilation = o.at("dilation").get<int64_t>();
  r.output_padding = o.at("output_padding").get<int64_t>();
  r.groups = o.at("groups").get<int64_t>();
  r.padding_mode = pad_mode(o.value("padding_mode", "zeros"));
  return r;
}

Tensor optional_input(const TensorList& x, size_t i) {
  return i < x.size() ? x[i] : Tensor();
}

// layer_norm and group_norm: weight and bias are the inputs after x when the case is affine.
Tensor norm_case(const TensorList& x, const json& c) {
  const json& o = options(c);
  bool affine = o.at("affine").get<bool>();
  Tensor w = affine ? x[1] : Tensor(), b = affine ? x[2] : Tensor();
  float eps = o.at("eps").get<float>();
  if (c.at("op") == "layer_norm")
    return layer_norm(x[0], shape_option(o, "normalized_shape"), w, b, eps);
  return group_norm(x[0], o.at("groups").get<int64_t>(), w, b, eps);
}

template <Tensor (*Up)(const Tensor&, int64_t)>
Tensor upsample(const TensorList& x, const json& c) {
  return Up(x[0], options(c).at("scale").get<int64_t>());
}

template <Tensor (*Pool)(const Tensor&, int64_t, int64_t, int64_t)>
Tensor pool(const TensorList& x, const json& c) {
  const json& o = options(c);
  return Pool(x[0], o.at("kernel").get<int64_t>(), o.at("stride").get<int64_t>(),
              o.at("padding").get<int64_t>());
}

// batch_norm with the case's running statistics (when it has them), checking them after the
// forward: training updates them, eval leaves them alone.
Tensor batch_norm_case(const TensorList& x, const json& c) {
  const json& o = options(c);
  bool affine = o.at("affine").get<bool>();
  BatchNormState state;
  state.momentum = o.at("momentum").get<float>();
  state.eps = o.at("eps").get<float>();
  if (c.contains("state")) {
    state.running_mean = to_tensor(c.at("state").at("running_mean"));
    state.running_var = to_tensor(c.at("state").at("running_var"));
  }
  Tensor y = batch_norm(x[0], affine ? x[1] : Tensor(), affine ? x[2] : Tensor(), state,
                        o.at("training").get<bool>());
  if (c.contains("state_after")) {
    const std::string name = c.at("name").get<std::string>();
    check_tensor(name + " running_mean after", state.running_mean,
                 c.at("state_after").at("running_mean"), {});
    check_tensor(name + " running_var after", state.running_var,
                 c.at("state_after").at("running_var"), {});
  }
  return y;
}

}  // namespace

TEST_CASE("torch: conv2d") {
  check_family("conv2d", {{"conv2d", [](const TensorList& x, const json& c) {
                             return conv2d(x[0], x[1], optional_input(x, 2), conv_options(c));
                           }}});
}

TEST_CASE("torch: conv_transpose2d") {
  check_family("conv_transpose2d", {{"conv_transpose2d", [](const TensorList& x, const json& c) {
                                       return conv_transpose2d(x[0], x[1], optional_input(x, 2),
                                                               conv_options(c));
                                     }}});
}

TEST_CASE("torch: batch_norm") {
  check_family("batch_norm", {{"batch_norm", batch_norm_case}});
}

TEST_CASE("torch: pooling") {
  check_family("pooling", {{"max_pool2d", pool<max_pool2d>}, {"avg_pool2d", pool<avg_pool2d>}});
}

TEST_CASE("torch: normalization") {
  check_family("normalization", {{"layer_norm", norm_case}, {"group_norm", norm_case}});
}

TEST_CASE("torch: resampling") {
  check_family("resampling", {{"upsample_nearest2d", upsample<upsample_nearest2d>},
                              {"upsample_bilinear2d", upsample<upsample_bilinear2d>},
                              {"pixel_shuffle", [](const TensorList& x, const json& c) {
                                 return pixel_shuffle(x[0], options(c).at("r").get<int64_t>());
                               }}});
}

TEST_CASE("torch: padding") {
  check_family("padding", {{"pad2d", [](const TensorList& x, const json& c) {
                              const json& o = options(c);
                              const std::vector<int64_t> p =
                                  o.at("pad").get<std::vector<int64_t>>();
                              return pad2d(x[0], {p.at(0), p.at(1), p.at(2), p.at(3)},
                                           pad_mode(o.at("mode").get<std::string>()),
                                           o.at("value").get<float>());
                            }}});
}

// A tiny DCGAN discriminator and generator: chained double backwards through the convolutions.
TEST_CASE("torch: conv_composition") {
  Conv2dOptions s2p1;
  s2p1.stride = 2;
  s2p1.padding = 1;
  check_family(
      "conv_composition",
      {
          {"dcgan_discriminator",
           [s2p1](const TensorList& x, const json& c) {
             float slope = options(c).at("negative_slope").get<float>();
             Tensor h = leaky_relu(conv2d(x[0], x[1], Tensor(), s2p1), slope);
             return linear(flatten(conv2d(h, x[2], Tensor(), s2p1)), x[3]);
           }},
          {"dcgan_generator",
           [s2p1](const TensorList& x, const json&) {
             return tanh(
                 conv_transpose2d(relu(conv_transpose2d(x[0], x[1])), x[2], Tensor(), s2p1));
           }},
          {"resize_conv_generator",
           [](const TensorList& x, const json& c) {
             Conv2dOptions p1;
             p1.padding = 1;
             Tensor h = conv2d(upsample_nearest2d(x[0], 2), x[1], Tensor(), p1);
             return tanh(group_norm(h, options(c).at("groups").get<int64_t>(), x[2], x[3]));
           }},
      });
}
