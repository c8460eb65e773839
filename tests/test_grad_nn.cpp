// Convolution, pooling, normalization and upsampling: gradient checks (first and second order) in
// the table style of test_grad_ops.cpp, forwards against direct loops, PyTorch's running
// statistics, and the shape errors.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "onednn_isa.h"
#include "op_table.h"
#include "ops/dnnl/nn_kernels.h"

using namespace minimax;
using minimax::testing::check_close;
using minimax::testing::check_table;
using minimax::testing::OpCase;

namespace {

constexpr bool k2nd = true;  // second order too

// How close a convolution's result must be to the direct loop's (check_close's relative epsilon).
// F(7x7, 2x2)'s transforms (ops/winograd_conv.cpp) round more than a sum of products does: on the
// sizes below its results were up to 3e-4 from the direct loop's, where the other routes stay
// within 1e-4. A wrong coefficient or tap would be off by the values' own size.
constexpr float kDirectTolerance = 1e-4f;
constexpr float kF7Tolerance = 1e-3f;
// The gradient checks' rounding allowance for F(7x7, 2x2), whose transforms round each output
// more than the 4 float32 roundings the checks allow by default: its rows below failed at 4 and
// passed from 12; 32 leaves room for other seeds. The direct loops above check its values.
const GradcheckOptions kF7Gradcheck{.ulps = 32};

// An element of a row-major 4-d tensor, for the direct loops that check the forwards.
float at(const Tensor& t, int64_t a, int64_t b, int64_t c, int64_t d) {
  return t.data()[((a * t.size(1) + b) * t.size(2) + c) * t.size(3) + d];
}

Tensor random(const Shape& s, uint64_t seed) {
  Generator gen(seed);
  return Tensor::uniform(s, -1.0f, 1.0f, gen);
}

}  // namespace

// ---- convolution ----

namespace {

// Output channel oc of group oc / (O / groups) sees that group's input channels only.
std::vector<float> direct_conv2d(const Tensor& x, const Tensor& w, const Tensor& b,
                                 const Conv2dOptions& o, const Shape& out) {
  std::vector<float> y(out.numel());
  const int64_t in_per_group = w.size(1), out_per_group = out[1] / o.groups;
  for (int64_t n = 0; n < out[0]; ++n)
    for (int64_t oc = 0; oc < out[1]; ++oc)
      for (int64_t i = 0; i < out[2]; ++i)
        for (int64_t j = 0; j < out[3]; ++j) {
          float s = b.defined() ? b.data()[oc] : 0.0f;
          for (int64_t c = 0; c < in_per_group; ++c)
            for (int64_t p = 0; p < w.size(2); ++p)
              for (int64_t q = 0; q < w.size(3); ++q) {
                int64_t h = i * o.stride - o.padding + p * o.dilation;
                int64_t v = j * o.stride - o.padding + q * o.dilation;
                int64_t ic = oc / out_per_group * in_per_group + c;
                if (h >= 0 && h < x.size(2) && v >= 0 && v < x.size(3))
                  s += at(x, n, ic, h, v) * at(w, oc, c, p, q);
              }
          y[((n * out[1] + oc) * out[2] + i) * out[3] + j] = s;
        }
  return y;
}

// Every input element scatters its products with the kernel into the output channels of its group.
std::vector<float> direct_conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b,
                                           const Conv2dOptions& o, const Shape& out) {
  std::vector<float> y(out.numel(), 0.0f);
  const int64_t in_per_group = x.size(1) / o.groups, out_per_group = w.size(1);
  for (int64_t n = 0; n < out[0]; ++n)
    for (int64_t oc = 0; oc < out[1]; ++oc) {
      for (int64_t k = 0; k < out[2] * out[3]; ++k)
        y[(n * out[1] + oc) * out[2] * out[3] + k] = b.defined() ? b.data()[oc] : 0.0f;
      const int64_t group = oc / out_per_group;
      for (int64_t c = group * in_per_group; c < (group + 1) * in_per_group; ++c)
        for (int64_t i = 0; i < x.size(2); ++i)
          for (int64_t j = 0; j < x.size(3); ++j)
            for (int64_t p = 0; p < w.size(2); ++p)
              for (int64_t q = 0; q < w.size(3); ++q) {
                int64_t h = i * o.stride - o.padding + p * o.dilation;
                int64_t v = j * o.stride - o.padding + q * o.dilation;
                if (h >= 0 && h < out[2] && v >= 0 && v < out[3])
                  y[((n * out[1] + oc) * out[2] + h) * out[3] + v] +=
                      at(x, n, c, i, j) * at(w, c, oc % out_per_group, p, q);
              }
    }
  return y;
}

}  // namespace

TEST_CASE("grad: conv2d") {
  auto conv = [](Conv2dOptions o, bool bias) {
    return [o, bias](const TensorList& x) { return conv2d(x[0], x[1], bias ? x[2] : Tensor(), o); };
  };
  // Squaring the output makes the incoming gradient depend on x and w, so second order also
  // differentiates the backward ops through that gradient.
  auto squared = [](Conv2dOptions o) {
    return [o](const TensorList& x) { return square(conv2d(x[0], x[1], x[2], o)); };
  };
  check_table(
      {{"plain with bias", {{{2, 3, 5, 5}}, {{4, 3, 3, 3}}, {{4}}}, conv({}, true), k2nd},
       {"plain no bias", {{{2, 3, 5, 5}}, {{4, 3, 3, 3}}}, conv({}, false), k2nd},
       {"stride 2 padding 1 (floored)",
        {{{1, 2, 6, 5}}, {{3, 2, 3, 3}}, {{3}}},
        conv({.stride = 2, .padding = 1}, true),
        k2nd},
       {"dilation 2 padding 2",
        {{{1, 2, 6, 6}}, {{3, 2, 3, 3}}},
        conv({.padding = 2, .dilation = 2}, false),
        k2nd},
       {"stride 2 dilation 2",
        {{{2, 2, 7, 6}}, {{2, 2, 2, 3}}, {{2}}},
        conv({.stride = 2, .dilation = 2}, true),
        k2nd},
       {"1x1 kernel", {{{2, 3, 3, 4}}, {{2, 3, 1, 1}}, {{2}}}, conv({}, true), k2nd},
       // A kernel spanning the whole input runs as a GEMM, not a oneDNN convolution.
       {"kernel spans the input", {{{2, 3, 3, 2}}, {{4, 3, 3, 2}}, {{4}}}, conv({}, true), k2nd},
       {"kernel spans the input, squared",
        {{{3, 2, 2, 2}}, {{2, 2, 2, 2}}, {{2}}},
        squared({.stride = 2}),
        k2nd},
       {"squared output", {{{1, 2, 5, 4}}, {{3, 2, 3, 2}}, {{3}}}, squared({.padding = 1}), k2nd},
       // PyTorch's padding_mode: pad2d, then the convolution without padding.
       {"reflect padding, squared",
        {{{1, 2, 4, 5}}, {{2, 2, 3, 3}}, {{2}}},
        squared({.padding = 1, .padding_mode = PadMode::kReflect}),
        k2nd},
       {"replicate padding 2 stride 2",
        {{{1, 2, 3, 4}}, {{3, 2, 3, 3}}, {{3}}},
        conv({.stride = 2, .padding = 2, .padding_mode = PadMode::kReplicate}, true),
        k2nd},
       // The phase-split route (ops/dnnl/conv.cpp): stride 2, an even kernel, at most 4 output
       // columns, 4 or more input channels. Backward weights stays direct.
       {"phase split",
        {{{1, 4, 6, 6}}, {{3, 4, 4, 4}}, {{3}}},
        squared({.stride = 2, .padding = 1}),
        k2nd},
       // The Winograd route (ops/winograd_conv.cpp): stride 2, a 4x4 kernel, at most 3x3 outputs
       // (or 6x6 to 7x7), 16 or more output channels, all three passes.
       {"Winograd",
        {{{2, 4, 6, 6}}, {{16, 4, 4, 4}}, {{16}}},
        squared({.stride = 2, .padding = 1}),
        k2nd},
       // ... with F(7x7, 2x2): 6x6 to 7x7 outputs.
       {"Winograd F(7x7, 2x2)",
        {{{1, 4, 12, 14}}, {{16, 4, 4, 4}}, {{16}}},
        squared({.stride = 2, .padding = 1}),
        k2nd,
        kF7Gradcheck},
       {"squared output stride 2",
        {{{1, 2, 5, 5}}, {{2, 2, 3, 3}}, {{2}}},
        squared({.stride = 2, .padding = 1, .dilation = 2}),
        k2nd},
       // 16 input channels: backward data in oneDNN's blocked layouts (fewer stay plain).
       {"16 input channels stride 2",
        {{{1, 16, 4, 4}}, {{2, 16, 3, 3}}, {{2}}},
        squared({.stride = 2, .padding = 1}),
        k2nd},
       // Grouped: weight [O, C/groups, kh, kw].
       {"groups 2", {{{2, 4, 5, 4}}, {{6, 2, 3, 3}}, {{6}}}, conv({.groups = 2}, true), k2nd},
       {"depthwise stride 2 padding 1",
        {{{1, 3, 5, 5}}, {{3, 1, 3, 3}}, {{3}}},
        conv({.stride = 2, .padding = 1, .groups = 3}, true),
        k2nd},
       {"depthwise multiplier 2 no bias",
        {{{1, 2, 4, 4}}, {{4, 1, 2, 2}}},
        conv({.dilation = 2, .groups = 2}, false),
        k2nd},
       // Spans the input, but grouped: the oneDNN path, not the GEMM.
       {"groups 2, kernel spans the input",
        {{{2, 4, 3, 3}}, {{2, 2, 3, 3}}, {{2}}},
        conv({.groups = 2}, true),
        k2nd},
       {"groups 2 squared",
        {{{1, 4, 4, 4}}, {{4, 2, 3, 3}}, {{4}}},
        squared({.padding = 1, .groups = 2}),
        k2nd}});
}

TEST_CASE("grad: conv_transpose2d") {
  auto deconv = [](Conv2dOptions o, bool bias) {
    return [o, bias](const TensorList& x) {
      return conv_transpose2d(x[0], x[1], bias ? x[2] : Tensor(), o);
    };
  };
  auto squared = [](Conv2dOptions o) {
    return [o](const TensorList& x) { return square(conv_transpose2d(x[0], x[1], x[2], o)); };
  };
  check_table(
      {{"plain with bias", {{{2, 3, 4, 4}}, {{3, 2, 3, 3}}, {{2}}}, deconv({}, true), k2nd},
       {"plain no bias", {{{2, 3, 4, 4}}, {{3, 2, 3, 3}}}, deconv({}, false), k2nd},
       {"stride 2 padding 1 output_padding 1",
        {{{1, 2, 3, 3}}, {{2, 3, 3, 3}}, {{3}}},
        deconv({.stride = 2, .padding = 1, .output_padding = 1}, true),
        k2nd},
       {"stride 3 padding 1 output_padding 2",
        {{{1, 2, 2, 3}}, {{2, 2, 3, 2}}},
        deconv({.stride = 3, .padding = 1, .output_padding = 2}, false),
        k2nd},
       {"dilation 2", {{{1, 2, 3, 4}}, {{2, 2, 2, 2}}, {{2}}}, deconv({.dilation = 2}, true), k2nd},
       {"stride 2 no bias",
        {{{2, 2, 3, 3}}, {{2, 1, 4, 4}}},
        deconv({.stride = 2, .padding = 1}, false),
        k2nd},
       {"squared output",
        {{{1, 2, 3, 3}}, {{2, 2, 3, 3}}, {{2}}},
        squared({.stride = 2, .padding = 1, .output_padding = 1}),
        k2nd},
       // A 1x1 input (a DCGAN generator's first layer) runs as a GEMM.
       {"1x1 input", {{{2, 3, 1, 1}}, {{3, 2, 3, 3}}, {{2}}}, deconv({}, true), k2nd},
       // Its forward is a phase-split backward data (ops/dnnl/conv.cpp): stride 2, an even
       // kernel, at most 4 columns on the narrow side, 4 or more channels on the wide one.
       {"phase split",
        {{{1, 6, 2, 2}}, {{6, 4, 4, 4}}, {{4}}},
        squared({.stride = 2, .padding = 1}),
        k2nd},
       // Its forward is a Winograd backward data (ops/winograd_conv.cpp): 16 channels on the
       // narrow side, a 3x3 input.
       {"Winograd",
        {{{1, 16, 3, 3}}, {{16, 4, 4, 4}}, {{4}}},
        squared({.stride = 2, .padding = 1}),
        k2nd},
       // ... with F(7x7, 2x2): a 7x6 input (DCGAN's generator at 7x7 -> 14x14).
       {"Winograd F(7x7, 2x2)",
        {{{1, 16, 7, 6}}, {{16, 4, 4, 4}}, {{4}}},
        squared({.stride = 2, .padding = 1}),
        k2nd,
        kF7Gradcheck},
       {"1x1 input, squared", {{{2, 2, 1, 1}}, {{2, 2, 2, 3}}, {{2}}}, squared({}), k2nd},
       // 16 output channels: its forward is a convolution's blocked backward data.
       {"16 output channels stride 2",
        {{{1, 2, 3, 3}}, {{2, 16, 3, 3}}, {{16}}},
        squared({.stride = 2, .padding = 1}),
        k2nd},
       // Grouped: weight [C, O/groups, kh, kw], output channels O = weight.size(1) * groups.
       {"groups 2", {{{2, 4, 3, 3}}, {{4, 3, 3, 3}}, {{6}}}, deconv({.groups = 2}, true), k2nd},
       {"depthwise stride 2 padding 1 output_padding 1",
        {{{1, 3, 3, 3}}, {{3, 1, 4, 4}}, {{3}}},
        deconv({.stride = 2, .padding = 1, .output_padding = 1, .groups = 3}, true),
        k2nd},
       {"groups 2, 1x1 input",
        {{{2, 4, 1, 1}}, {{4, 1, 3, 3}}},
        deconv({.groups = 2}, false),
        k2nd},
       {"groups 2 squared",
        {{{1, 4, 3, 3}}, {{4, 2, 3, 3}}, {{4}}},
        squared({.stride = 2, .padding = 1, .groups = 2}),
        k2nd}});
}

TEST_CASE("nn: conv2d forward matches a direct loop") {
  struct Row {
    Shape x, w;
    Conv2dOptions o;
    bool bias;
    Shape out;
    float tolerance = kDirectTolerance;
  };
  for (const Row& r :
       {Row{{2, 3, 5, 5}, {4, 3, 3, 3}, {}, true, {2, 4, 3, 3}},
        Row{{1, 2, 6, 5}, {3, 2, 3, 3}, {.stride = 2, .padding = 1}, true, {1, 3, 3, 3}},
        Row{{1, 2, 7, 6}, {2, 2, 2, 3}, {.stride = 2, .dilation = 2}, false, {1, 2, 3, 1}},
        Row{{1, 1, 4, 4}, {2, 1, 3, 3}, {.padding = 2, .dilation = 2}, true, {1, 2, 4, 4}},
        Row{{3, 3, 4, 4}, {5, 3, 4, 4}, {}, true, {3, 5, 1, 1}},
        Row{{2, 2, 3, 3}, {2, 2, 3, 3}, {.stride = 3}, false, {2, 2, 1, 1}},
        Row{{2, 4, 5, 5}, {6, 2, 3, 3}, {.groups = 2}, true, {2, 6, 3, 3}},
        Row{{1, 4, 6, 6},
            {4, 1, 3, 3},
            {.stride = 2, .padding = 1, .groups = 4},
            true,
            {1, 4, 3, 3}},
        Row{{2, 6, 3, 3}, {3, 2, 3, 3}, {.groups = 3}, false, {2, 3, 1, 1}},
        // The phase-split route (ops/dnnl/conv.cpp): split straight into oneDNN's blocked
        // layout (4C a multiple of 16), through a plain split and a reorder (4C = 24), and with
        // padding wider than half the kernel.
        Row{{2, 4, 7, 7}, {8, 4, 4, 4}, {.stride = 2, .padding = 1}, true, {2, 8, 3, 3}},
        Row{{1, 6, 6, 9}, {5, 6, 2, 4}, {.stride = 2}, false, {1, 5, 3, 3}},
        Row{{2, 16, 8, 5}, {8, 16, 6, 2}, {.stride = 2, .padding = 2}, true, {2, 8, 4, 4}},
        // The Winograd route (ops/winograd_conv.cpp), F(3x3, 2x2): with a bias; padding 2 on a
        // non-square input; no padding and 2 output columns; a 1x1 output; 70 images (four
        // blocks of 16 and the rest) with channels enough for every thread to take a share.
        Row{{3, 4, 7, 7}, {16, 4, 4, 4}, {.stride = 2, .padding = 1}, true, {3, 16, 3, 3}},
        Row{{2, 5, 5, 4}, {17, 5, 4, 4}, {.stride = 2, .padding = 2}, false, {2, 17, 3, 3}},
        Row{{1, 4, 8, 6}, {16, 4, 4, 4}, {.stride = 2}, false, {1, 16, 3, 2}},
        Row{{2, 4, 5, 5}, {16, 4, 4, 4}, {.stride = 2}, true, {2, 16, 1, 1}},
        Row{{70, 16, 7, 7}, {32, 16, 4, 4}, {.stride = 2, .padding = 1}, true, {70, 32, 3, 3}},
        // F(7x7, 2x2): DCGAN's critic layer at 7x7 with a bias; 6x6 from 17 kernels on an odd
        // input; no padding and 6x7; padding 2; 70 images with 6x7 outputs.
        Row{{2, 4, 14, 14},
            {16, 4, 4, 4},
            {.stride = 2, .padding = 1},
            true,
            {2, 16, 7, 7},
            kF7Tolerance},
        Row{{3, 5, 12, 13},
            {17, 5, 4, 4},
            {.stride = 2, .padding = 1},
            false,
            {3, 17, 6, 6},
            kF7Tolerance},
        Row{{1, 4, 15, 17}, {16, 4, 4, 4}, {.stride = 2}, false, {1, 16, 6, 7}, kF7Tolerance},
        Row{{2, 4, 12, 12},
            {16, 4, 4, 4},
            {.stride = 2, .padding = 2},
            true,
            {2, 16, 7, 7},
            kF7Tolerance},
        Row{{70, 16, 14, 13},
            {32, 16, 4, 4},
            {.stride = 2, .padding = 1},
            true,
            {70, 32, 7, 6},
            kF7Tolerance}}) {
    CAPTURE(r.x.str());
    Tensor x = random(r.x, 1), w = random(r.w, 2), b = r.bias ? random({r.w[0]}, 3) : Tensor();
    Tensor y = conv2d(x, w, b, r.o);
    CHECK(y.shape() == r.out);
    check_close(y.to_vector(), direct_conv2d(x, w, b, r.o, r.out), r.tolerance);
  }
}

TEST_CASE("nn: conv_transpose2d forward matches a direct loop") {
  struct Row {
    Shape x, w;
    Conv2dOptions o;
    bool bias;
    Shape out;  // PyTorch: (H - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1
  };
  for (const Row& r :
       {Row{{2, 3, 4, 4}, {3, 2, 3, 3}, {}, true, {2, 2, 6, 6}},
        Row{{1, 2, 3, 3},
            {2, 3, 3, 3},
            {.stride = 2, .padding = 1, .output_padding = 1},
            true,
            {1, 3, 6, 6}},
        Row{{1, 2, 2, 3},
            {2, 2, 3, 2},
            {.stride = 3, .padding = 1, .output_padding = 2},
            false,
            {1, 2, 6, 8}},
        Row{{1, 2, 3, 4}, {2, 2, 2, 2}, {.dilation = 2}, true, {1, 2, 5, 6}},
        Row{{3, 4, 1, 1}, {4, 3, 4, 4}, {}, true, {3, 3, 4, 4}},
        Row{{2, 4, 3, 3}, {4, 3, 3, 3}, {.groups = 2}, true, {2, 6, 5, 5}},
        Row{{1, 3, 3, 3},
            {3, 2, 4, 4},
            {.stride = 2, .padding = 1, .groups = 3},
            true,
            {1, 6, 6, 6}},
        Row{{2, 4, 1, 1}, {4, 1, 3, 3}, {.groups = 2}, false, {2, 2, 3, 3}},
        Row{{2, 3, 3, 3}, {3, 16, 4, 4}, {.stride = 2, .padding = 1}, true, {2, 16, 6, 6}},
        // Phase-split backward data (ops/dnnl/conv.cpp), merged from oneDNN's blocked layout and
        // from a plain split; in the last, no window reaches the last row and column.
        Row{{2, 8, 3, 3},
            {8, 4, 4, 4},
            {.stride = 2, .padding = 1, .output_padding = 1},
            true,
            {2, 4, 7, 7}},
        Row{{1, 5, 2, 3}, {5, 6, 2, 4}, {.stride = 2}, false, {1, 6, 4, 8}},
        Row{{1, 8, 2, 2}, {8, 4, 4, 4}, {.stride = 2, .output_padding = 1}, true, {1, 4, 7, 7}}}) {
    CAPTURE(r.x.str());
    Tensor x = random(r.x, 1), w = random(r.w, 2), b = r.bias ? random({r.out[1]}, 3) : Tensor();
    Tensor y = conv_transpose2d(x, w, b, r.o);
    CHECK(y.shape() == r.out);
    check_close(y.to_vector(), direct_conv_transpose2d(x, w, b, r.o, r.out));
  }
}

// Channels enough for oneDNN's blocked layouts, as in DCGAN's middle layers, so every pass
// reorders its inputs unless it finds a copy (kernels::ConvReorderScope). Below AVX2 oneDNN has
// blocked kernels for the forward alone; its backward passes run gemm on our plain layouts and
// reorder nothing.
TEST_CASE("nn: a convolution's backward reuses its forward's reordered input, and shares gy") {
  const bool blocked_backward = testing::onednn_has_avx2();
  const Conv2dOptions o{.stride = 2, .padding = 1};
  Tensor x = random({4, 32, 14, 14}, 1).requires_grad_();
  Tensor w = random({48, 32, 4, 4}, 2).requires_grad_();
  int64_t start = kernels::conv_input_reorders();
  Tensor y = conv2d(x, w, Tensor(), o);
  CHECK(kernels::conv_input_reorders() - start == 2);  // x and w
  start = kernels::conv_input_reorders();
  y.backward(random(y.shape(), 3));
  // Backward data reorders gy and w; backward weights finds gy and the forward's x.
  CHECK(kernels::conv_input_reorders() - start == (blocked_backward ? 2 : 0));

  // The transposed convolution (backward data as a forward) hands over its x the same way.
  Tensor t = random({4, 48, 7, 7}, 4).requires_grad_();
  start = kernels::conv_input_reorders();
  Tensor u = conv_transpose2d(t, w, Tensor(), o);
  CHECK(kernels::conv_input_reorders() - start == (blocked_backward ? 2 : 0));  // t and w
  start = kernels::conv_input_reorders();
  u.backward(random(u.shape(), 5));
  // The forward reorders gu and w; backward weights finds gu and the forward's t.
  CHECK(kernels::conv_input_reorders() - start == 2);
}

// The parameter memo: inside the scope a parameter is reordered once per layout and version, the
// values are the unscoped ones bit for bit, a tensor that is not a parameter is reordered at each
// use, an in-place change inside the scope is seen, and the next scope starts without the copies.
TEST_CASE(
    "nn: inside a ParameterReorderScope, convolutions reorder each parameter once per version") {
  const Conv2dOptions o{.stride = 2, .padding = 1};
  Tensor w = random({48, 32, 4, 4}, 2).requires_grad_();
  Tensor x1 = random({4, 32, 14, 14}, 1), x2 = random({4, 32, 14, 14}, 3);
  const std::vector<float> want1 = conv2d(x1, w, Tensor(), o).to_vector();
  const std::vector<float> want2 = conv2d(x2, w, Tensor(), o).to_vector();
  Tensor xg = random({4, 32, 14, 14}, 4).requires_grad_(), gy = random({4, 48, 7, 7}, 5);
  const TensorList want_grads = grad({conv2d(xg, w, Tensor(), o)}, {xg, w}, {.grad_outputs = {gy}});
  {
    ParameterReorderScope scope;
    int64_t start = kernels::conv_input_reorders();
    CHECK(conv2d(x1, w, Tensor(), o).to_vector() == want1);
    CHECK(kernels::conv_input_reorders() - start == 2);  // x1 and w
    start = kernels::conv_input_reorders();
    {
      ParameterReorderScope inner;  // shares the outer memo
      CHECK(conv2d(x2, w, Tensor(), o).to_vector() == want2);
    }
    CHECK(kernels::conv_input_reorders() - start == 1);  // x2 alone
    start = kernels::conv_input_reorders();
    conv2d(x1, w, Tensor(), o);  // the outer memo outlives the inner scope
    CHECK(kernels::conv_input_reorders() - start == 1);
    // The forward finds w in its layout; backward data, which wants another, must not.
    const TensorList grads = grad({conv2d(xg, w, Tensor(), o)}, {xg, w}, {.grad_outputs = {gy}});
    CHECK(grads[0].to_vector() == want_grads[0].to_vector());
    CHECK(grads[1].to_vector() == want_grads[1].to_vector());
    start = kernels::conv_input_reorders();
    Tensor scaled = mul(w, 1.0f);  // computed from a parameter, but not one
    conv2d(x1, scaled, Tensor(), o);
    conv2d(x1, scaled, Tensor(), o);
    CHECK(kernels::conv_input_reorders() - start == 4);
    // A change in place inside the scope (its version) is seen: w is reordered again, once.
    Tensor moved = w.detach().clone();
    moved.data()[0] += 1.0f;
    w.detach().copy_(moved);
    const std::vector<float> want_moved = conv2d(x1, moved, Tensor(), o).to_vector();
    start = kernels::conv_input_reorders();
    CHECK(conv2d(x1, w, Tensor(), o).to_vector() == want_moved);
    CHECK(conv2d(x1, w, Tensor(), o).to_vector() == want_moved);
    CHECK(kernels::conv_input_reorders() - start == 3);  // x1 at each call, w once
  }
  w.data()[0] += 1.0f;  // a raw write after the scope, with no version bump
  Tensor x = x1.detach(), moved = w.detach().clone();
  ParameterReorderScope next_step;  // opens without the last step's copies
  CHECK(conv2d(x, w, Tensor(), o).to_vector() == conv2d(x, moved, Tensor(), o).to_vector());
  CHECK(conv2d(x, w, Tensor(), o).to_vector() != want1);
}

namespace {

// The adjoints of direct_conv2d (no groups, no dilation) applied to gy: {gx, gw}, summed in double.
std::pair<std::vector<float>, std::vector<float>> direct_conv2d_grads(const Tensor& x,
                                                                      const Tensor& w,
                                                                      const Tensor& gy,
                                                                      const Conv2dOptions& o) {
  std::vector<double> gx(x.numel(), 0.0), gw(w.numel(), 0.0);
  for (int64_t n = 0; n < gy.size(0); ++n)
    for (int64_t k = 0; k < gy.size(1); ++k)
      for (int64_t i = 0; i < gy.size(2); ++i)
        for (int64_t j = 0; j < gy.size(3); ++j)
          for (int64_t c = 0; c < x.size(1); ++c)
            for (int64_t p = 0; p < w.size(2); ++p)
              for (int64_t q = 0; q < w.size(3); ++q) {
                const int64_t h = i * o.stride - o.padding + p, v = j * o.stride - o.padding + q;
                if (h < 0 || h >= x.size(2) || v < 0 || v >= x.size(3)) continue;
                const double g = at(gy, n, k, i, j);
                gx[((n * x.size(1) + c) * x.size(2) + h) * x.size(3) + v] += g * at(w, k, c, p, q);
                gw[((k * w.size(1) + c) * w.size(2) + p) * w.size(3) + q] += g * at(x, n, c, h, v);
              }
  return {std::vector<float>(gx.begin(), gx.end()), std::vector<float>(gw.begin(), gw.end())};
}

}  // namespace

// Backward data and backward weights on the Winograd route (ops/winograd_conv.cpp): every input
// element gets its gradient, those no window reaches (the last row at 8x8 without padding) zero.
TEST_CASE("nn: the Winograd route's backward passes match direct loops") {
  struct Row {
    Shape x, w;
    Conv2dOptions o;
    float tolerance = kDirectTolerance;
  };
  for (const Row& r :
       {Row{{3, 4, 7, 7}, {16, 4, 4, 4}, {.stride = 2, .padding = 1}},
        Row{{2, 5, 5, 4}, {17, 5, 4, 4}, {.stride = 2, .padding = 2}},
        Row{{1, 4, 9, 6}, {16, 4, 4, 4}, {.stride = 2}},
        Row{{70, 16, 7, 7}, {32, 16, 4, 4}, {.stride = 2, .padding = 1}},
        // F(7x7, 2x2); without padding the last input row and column (17) are
        // beyond every tile.
        Row{{2, 4, 14, 14}, {16, 4, 4, 4}, {.stride = 2, .padding = 1}, kF7Tolerance},
        Row{{1, 4, 17, 17}, {16, 4, 4, 4}, {.stride = 2}, kF7Tolerance},
        Row{{3, 5, 12, 13}, {17, 5, 4, 4}, {.stride = 2, .padding = 2}, kF7Tolerance},
        Row{{70, 16, 14, 13}, {32, 16, 4, 4}, {.stride = 2, .padding = 1}, kF7Tolerance}}) {
    CAPTURE(r.x.str());
    Tensor x = random(r.x, 1).requires_grad_(), w = random(r.w, 2).requires_grad_();
    Tensor y = conv2d(x, w, Tensor(), r.o);
    REQUIRE(y.size(2) <= 7);
    Tensor gy = random(y.shape(), 3);
    const TensorList grads = grad({y}, {x, w}, {.grad_outputs = {gy}});
    const auto [want_gx, want_gw] = direct_conv2d_grads(x, w, gy, r.o);
    check_close(grads[0].to_vector(), want_gx, r.tolerance);
    check_close(grads[1].to_vector(), want_gw, r.tolerance);
  }
}

// A weight read by two convolutions (D on the real and the fake batch) collects two gradients.
// On the Winograd route the second is added into the first as its last transform writes, the
// same float additions the engine would make: the sum is bit for bit that of the two gradients
// taken apart, and it is the first gradient's tensor, changed in place (one version on). With a
// graph recorded for a second order, the engine adds as before.
TEST_CASE("nn: the Winograd route adds a weight's second gradient into its first") {
  const Conv2dOptions o{.stride = 2, .padding = 1};
  for (const auto& [x_shape, w_shape] : {std::pair<Shape, Shape>{{3, 8, 7, 7}, {16, 8, 4, 4}},
                                         {{2, 4, 14, 14}, {16, 4, 4, 4}}}) {  // F(3x3), F(7x7)
    CAPTURE(x_shape.str());
    Tensor w = random(w_shape, 2).requires_grad_();
    Tensor real = random(x_shape, 3), fake = random(x_shape, 4);
    const Shape y_shape = conv2d(real, w, Tensor(), o).shape();
    Tensor g_real = random(y_shape, 5), g_fake = random(y_shape, 6);
    auto loss_of = [&](const Tensor& x, const Tensor& g) {
      return sum(mul(conv2d(x, w, Tensor(), o), g));
    };
    const Tensor apart_real = grad({loss_of(real, g_real)}, {w})[0];
    const Tensor apart_fake = grad({loss_of(fake, g_fake)}, {w})[0];
    std::vector<float> want(apart_real.numel());
    for (size_t i = 0; i < want.size(); ++i) want[i] = apart_real.data()[i] + apart_fake.data()[i];
    const Tensor both = grad({add(loss_of(real, g_real), loss_of(fake, g_fake))}, {w})[0];
    CHECK(both.to_vector() == want);
    CHECK(both.version() == 1);  // added into in place
    const Tensor recorded =
        grad({add(loss_of(real, g_real), loss_of(fake, g_fake))}, {w}, {.create_graph = true})[0];
    CHECK(recorded.to_vector() == want);
    CHECK(recorded.version() == 0);
  }
}

// The Winograd route's transformed operands are kept like reordered copies: the kernel of a
// parameter once per version inside a ParameterReorderScope, again after a change in place, and at
// every pass outside the scope; the input's and the output gradient's tiles once per convolution
// op, for its backward passes too.
TEST_CASE("nn: the Winograd route transforms a kernel once per step, an activation once per op") {
  const Conv2dOptions o{.stride = 2, .padding = 1};
  Tensor w = random({16, 8, 4, 4}, 2).requires_grad_();
  Tensor x = random({3, 8, 7, 7}, 1), xg = random({3, 8, 7, 7}, 4).requires_grad_();
  Tensor gy = random({3, 16, 3, 3}, 5);
  const std::vector<float> want = conv2d(x, w, Tensor(), o).to_vector();
  const TensorList want_grads = grad({conv2d(xg, w, Tensor(), o)}, {xg, w}, {.grad_outputs = {gy}});
  Tensor moved = w.detach().clone();
  moved.data()[0] += 1.0f;
  const std::vector<float> want_moved = conv2d(x, moved, Tensor(), o).to_vector();
  {
    ParameterReorderScope scope;
    int64_t start = kernels::conv_input_reorders();
    CHECK(conv2d(x, w, Tensor(), o).to_vector() == want);
    CHECK(conv2d(x, w, Tensor(), o).to_vector() == want);
    CHECK(kernels::conv_input_reorders() - start == 3);  // w's kernel once, x's tiles twice
    start = kernels::conv_input_reorders();
    const TensorList grads = grad({conv2d(xg, w, Tensor(), o)}, {xg, w}, {.grad_outputs = {gy}});
    CHECK(grads[0].to_vector() == want_grads[0].to_vector());
    CHECK(grads[1].to_vector() == want_grads[1].to_vector());
    CHECK(kernels::conv_input_reorders() - start == 2);  // xg's and gy's tiles, for three passes
    w.detach().copy_(moved);
    start = kernels::conv_input_reorders();
    CHECK(conv2d(x, w, Tensor(), o).to_vector() == want_moved);
    CHECK(conv2d(x, w, Tensor(), o).to_vector() == want_moved);
    CHECK(kernels::conv_input_reorders() - start == 3);  // the new version's kernel once
  }
  const int64_t start = kernels::conv_input_reorders();
  conv2d(x, w, Tensor(), o);
  conv2d(x, w, Tensor(), o);
  CHECK(kernels::conv_input_reorders() - start == 4);  // w's kernel and x's tiles at each op
}

// The input's tiles depend on the padding: one scope around two paddings keeps two copies of x's.
TEST_CASE("nn: the Winograd route keeps an input's tiles per padding") {
  Tensor w = random({16, 8, 4, 4}, 2);
  Tensor x = random({2, 8, 7, 7}, 1);
  const std::vector<float> unpadded = conv2d(x, w, Tensor(), {.stride = 2}).to_vector();
  const std::vector<float> padded = conv2d(x, w, Tensor(), {.stride = 2, .padding = 1}).to_vector();
  kernels::ConvReorderScope scope;
  const int64_t start = kernels::conv_input_reorders();
  CHECK(conv2d(x, w, Tensor(), {.stride = 2}).to_vector() == unpadded);
  CHECK(conv2d(x, w, Tensor(), {.stride = 2, .padding = 1}).to_vector() == padded);
  CHECK(conv2d(x, w, Tensor(), {.stride = 2}).to_vector() == unpadded);
  CHECK(kernels::conv_input_reorders() - start ==
        5);  // w's kernel at each op, x's tiles per padding
}

// gw[o,c,i,j] = sum over n, h, v of gy[n,o,h,v] x[n,c,h+i-1,v+j-1]: stride 1, padding 1.
std::vector<float> direct_weight_grad(const Tensor& x, const Tensor& gy, const Shape& ws) {
  std::vector<float> gw(ws.numel(), 0.0f);
  for (int64_t o = 0; o < ws[0]; ++o)
    for (int64_t c = 0; c < ws[1]; ++c)
      for (int64_t i = 0; i < ws[2]; ++i)
        for (int64_t j = 0; j < ws[3]; ++j) {
          double acc = 0;
          for (int64_t n = 0; n < x.size(0); ++n)
            for (int64_t h = 0; h < gy.size(2); ++h)
              for (int64_t v = 0; v < gy.size(3); ++v) {
                const int64_t r = h + i - 1, q = v + j - 1;
                if (r >= 0 && r < x.size(2) && q >= 0 && q < x.size(3))
                  acc += at(gy, n, o, h, v) * at(x, n, c, r, q);
              }
          gw[((o * ws[1] + c) * ws[2] + i) * ws[3] + j] = static_cast<float>(acc);
        }
  return gw;
}

// x and gy of one shape and layout: a reordered copy must be found by its tensor, not its shape.
TEST_CASE("nn: reused reordered inputs: x and gy of one shape are not confused") {
  Tensor x = random({2, 32, 6, 6}, 1);
  Tensor w = random({32, 32, 3, 3}, 2).requires_grad_();
  Tensor gy = random({2, 32, 6, 6}, 3);
  conv2d(x, w, Tensor(), {.padding = 1}).backward(gy);
  check_close(w.grad().to_vector(), direct_weight_grad(x, gy, w.shape()), 1e-3f);
}

TEST_CASE("nn: conv2d rejects bad shapes") {
  Tensor x = Tensor::zeros({1, 3, 5, 5}), w = Tensor::zeros({4, 3, 3, 3});
  CHECK_THROWS_AS(conv2d(Tensor::zeros({3, 5, 5}), w), std::invalid_argument);      // rank 3
  CHECK_THROWS_AS(conv2d(x, Tensor::zeros({4, 3, 3})), std::invalid_argument);      // weight
  CHECK_THROWS_AS(conv2d(x, Tensor::zeros({4, 2, 3, 3})), std::invalid_argument);   // channels
  CHECK_THROWS_AS(conv2d(x, Tensor::zeros({4, 3, 7, 3})), std::invalid_argument);   // kernel
  CHECK_THROWS_AS(conv2d(x, w, Tensor(), {.dilation = 3}), std::invalid_argument);  // dilated
  CHECK_NOTHROW(conv2d(x, Tensor::zeros({4, 3, 7, 3}), Tensor(), {.padding = 1}));  // fits
  CHECK_THROWS_AS(conv2d(x, w, Tensor::zeros({3})), std::invalid_argument);         // bias
  CHECK_THROWS_AS(conv2d(x, w, Tensor(), {.stride = 0}), std::invalid_argument);
  CHECK_THROWS_AS(conv2d(x, w, Tensor(), {.padding = -1}), std::invalid_argument);
  CHECK_THROWS_AS(conv2d(x, w, Tensor(), {.output_padding = 1}), std::invalid_argument);
  CHECK_THROWS_AS(conv2d(Tensor(), w), std::invalid_argument);
  CHECK_THROWS_AS(conv2d(Tensor::zeros({1, 3, 0, 5}), w), std::invalid_argument);  // empty
  // Groups: both channel counts divide by it, and the weight holds C/groups input channels.
  Tensor x4 = Tensor::zeros({1, 4, 5, 5});
  CHECK_NOTHROW(conv2d(x4, Tensor::zeros({6, 2, 3, 3}), Tensor(), {.groups = 2}));
  CHECK_THROWS_AS(conv2d(x4, Tensor::zeros({6, 4, 3, 3}), Tensor(), {.groups = 2}),
                  std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv2d(x4, Tensor::zeros({5, 2, 3, 3}), Tensor(), {.groups = 2}),
                       "conv2d: 4 input and 5 output channels (input [1, 4, 5, 5], weight [5, 2, "
                       "3, 3]) must both divide by groups 2",
                       std::invalid_argument);
  CHECK_THROWS_AS(conv2d(x, Tensor::zeros({4, 1, 3, 3}), Tensor(), {.groups = 3}),
                  std::invalid_argument);  // 3 of 4 outputs
  CHECK_THROWS_AS(conv2d(x4, Tensor::zeros({6, 2, 3, 3}), Tensor(), {.groups = 0}),
                  std::invalid_argument);
}

TEST_CASE("nn: conv_transpose2d rejects bad shapes") {
  Tensor x = Tensor::zeros({1, 3, 4, 4}), w = Tensor::zeros({3, 2, 3, 3});
  CHECK_THROWS_AS(conv_transpose2d(Tensor::zeros({3, 4, 4}), w), std::invalid_argument);
  CHECK_THROWS_AS(conv_transpose2d(x, Tensor::zeros({2, 3, 3, 3})), std::invalid_argument);
  CHECK_THROWS_AS(conv_transpose2d(x, w, Tensor::zeros({3})), std::invalid_argument);  // [in]
  CHECK_THROWS_AS(conv_transpose2d(x, w, Tensor(), {.stride = 2, .output_padding = 2}),
                  std::invalid_argument);
  // A negative extent was refused by Shape, whose message named no op.
  CHECK_THROWS_WITH_AS(
      conv_transpose2d(x, w, Tensor(), {.padding = 4}),
      doctest::Contains("conv_transpose2d: padding 4 leaves an empty output -2 x -2"),
      std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv_transpose2d(x, w, Tensor(), {.padding = 3}),
                       doctest::Contains("empty output 0 x 0"), std::invalid_argument);
  CHECK_THROWS_AS(conv_transpose2d(x, w, Tensor(), {.dilation = 0}), std::invalid_argument);
  // Groups: weight [C, O/groups, kh, kw]; C divides by groups; the bias has O entries.
  Tensor x4 = Tensor::zeros({1, 4, 3, 3}), w4 = Tensor::zeros({4, 3, 3, 3});
  CHECK(conv_transpose2d(x4, w4, Tensor::zeros({6}), {.groups = 2}).shape() == Shape{1, 6, 5, 5});
  CHECK_THROWS_AS(conv_transpose2d(x4, w4, Tensor::zeros({3}), {.groups = 2}),
                  std::invalid_argument);
  CHECK_THROWS_AS(conv_transpose2d(x4, w4, Tensor(), {.groups = 3}), std::invalid_argument);
  CHECK_THROWS_AS(conv_transpose2d(x4, w4, Tensor(), {.groups = -1}), std::invalid_argument);
}

// ---- pooling ----

namespace {

// Distinct constants 0.05 apart in a scrambled order. Added to small inputs they keep every pooling
// window's maximum well clear of the runner-up, so finite differences never swap the winner.
Tensor separated(const Shape& shape) {
  int64_t n = shape.numel();
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = 0.05f * static_cast<float>((i * 7919) % n);
  return Tensor::from_vector(v, shape);
}

// Max, or the mean with the padding counted (PyTorch's count_include_pad=True default).
std::vector<float> direct_pool2d(const Tensor& x, int64_t k, int64_t s, int64_t pad, bool is_max,
                                 const Shape& out) {
  std::vector<float> y;
  for (int64_t n = 0; n < out[0]; ++n)
    for (int64_t c = 0; c < out[1]; ++c)
      for (int64_t i = 0; i < out[2]; ++i)
        for (int64_t j = 0; j < out[3]; ++j) {
          float best = -INFINITY, total = 0.0f;
          for (int64_t p = 0; p < k; ++p)
            for (int64_t q = 0; q < k; ++q) {
              int64_t h = i * s - pad + p, v = j * s - pad + q;
              if (h < 0 || h >= x.size(2) || v < 0 || v >= x.size(3)) continue;
              best = std::max(best, at(x, n, c, h, v));
              total += at(x, n, c, h, v);
            }
          y.push_back(is_max ? best : total / static_cast<float>(k * k));
        }
  return y;
}

}  // namespace

TEST_CASE("grad: max_pool2d") {
  // Small inputs on top of separated constants: no winner changes under the finite differences.
  // The squared rows make the second order go through the backward (P^T) and its own backward (P).
  auto pool = [](int64_t k, int64_t s, int64_t p, bool squared) {
    return [=](const TensorList& x) {
      Tensor y = max_pool2d(add(x[0], separated(x[0].shape())), k, s, p);
      return squared ? square(y) : y;
    };
  };
  const float lo = -0.01f, hi = 0.01f;
  check_table(
      {{"2x2 default stride", {{{2, 2, 4, 4}, lo, hi}}, pool(2, 0, 0, false), k2nd},
       {"3x3 stride 2 padding 1", {{{1, 2, 5, 6}, lo, hi}}, pool(3, 2, 1, false), k2nd},
       {"3x3 stride 1 overlapping", {{{1, 2, 4, 4}, lo, hi}}, pool(3, 1, 1, false), k2nd},
       {"squared 2x2", {{{2, 2, 4, 4}, lo, hi}}, pool(2, 0, 0, true), k2nd},
       {"squared 3x3 stride 2 padding 1", {{{1, 2, 5, 5}, lo, hi}}, pool(3, 2, 1, true), k2nd}});
}

TEST_CASE("grad: avg_pool2d") {
  auto pool = [](int64_t k, int64_t s, int64_t p, bool squared) {
    return [=](const TensorList& x) {
      Tensor y = avg_pool2d(x[0], k, s, p);
      return squared ? square(y) : y;
    };
  };
  check_table({{"2x2 default stride", {{{2, 2, 4, 4}}}, pool(2, 0, 0, false), k2nd},
               {"3x3 stride 2 padding 1", {{{1, 2, 5, 6}}}, pool(3, 2, 1, false), k2nd},
               {"3x3 stride 1 overlapping", {{{1, 2, 4, 4}}}, pool(3, 1, 1, false), k2nd},
               {"squared 2x2", {{{2, 2, 4, 4}}}, pool(2, 0, 0, true), k2nd},
               {"squared 3x3 stride 2 padding 1", {{{1, 2, 5, 5}}}, pool(3, 2, 1, true), k2nd}});
}

TEST_CASE("nn: pooling forwards match a direct loop") {
  struct Row {
    int64_t k, s, p;
    Shape out;
  };
  Tensor x = random({2, 2, 5, 6}, 5);
  for (const Row& r : {Row{2, 0, 0, {2, 2, 2, 3}}, Row{3, 2, 1, {2, 2, 3, 3}},
                       Row{3, 1, 1, {2, 2, 5, 6}}, Row{2, 1, 1, {2, 2, 6, 7}}}) {
    CAPTURE(r.k);
    CAPTURE(r.p);
    Tensor mx = max_pool2d(x, r.k, r.s, r.p), av = avg_pool2d(x, r.k, r.s, r.p);
    int64_t s = r.s == 0 ? r.k : r.s;
    CHECK(mx.shape() == r.out);
    CHECK(av.shape() == r.out);
    check_close(mx.to_vector(), direct_pool2d(x, r.k, s, r.p, true, r.out));
    check_close(av.to_vector(), direct_pool2d(x, r.k, s, r.p, false, r.out));
  }
}

// The second derivative of max pooling gathers at the winners it finds itself; it must pick the
// same winners as oneDNN's backward, also where a window ties (after a ReLU, windows of zeros).
TEST_CASE("nn: max_pool2d double backward is the transpose of its backward, ties included") {
  Tensor x = relu(random({2, 2, 6, 6}, 1));
  x.requires_grad_();
  Tensor u = random({2, 2, 3, 3}, 2).requires_grad_();  // gradient into the pooling output
  Tensor v = random({2, 2, 6, 6}, 3);
  Tensor gx =
      grad({max_pool2d(x, 2, 2, 0)}, {x}, {.grad_outputs = {u}, .create_graph = true})[0];  // P^T u
  Tensor pv = grad({sum(mul(gx, v))}, {u})[0];                                              // P v
  float lhs = sum(mul(pv, u.detach())).item(), rhs = sum(mul(gx.detach(), v)).item();
  CHECK(lhs == doctest::Approx(rhs).epsilon(1e-5));
  // Where every element of a window is zero, the winner is the window's first element.
  Tensor zeros = Tensor::zeros({1, 1, 2, 2}).requires_grad_();
  Tensor g =
      grad({max_pool2d(zeros, 2)}, {zeros}, {.grad_outputs = {Tensor::ones({1, 1, 1, 1})}})[0];
  CHECK(g.to_vector() == std::vector<float>{1, 0, 0, 0});
}

TEST_CASE("nn: pooling rejects bad shapes") {
  Tensor x = Tensor::zeros({1, 2, 4, 4});
  for (auto pool : {&max_pool2d, &avg_pool2d}) {
    CHECK_THROWS_AS(pool(Tensor::zeros({2, 4, 4}), 2, 0, 0), std::invalid_argument);  // rank 3
    CHECK_THROWS_AS(pool(x, 0, 0, 0), std::invalid_argument);                         // kernel
    CHECK_THROWS_AS(pool(x, 2, -1, 0), std::invalid_argument);                        // stride
    CHECK_THROWS_AS(pool(x, 3, 1, 2), std::invalid_argument);  // padding above half the kernel
    CHECK_THROWS_AS(pool(x, 5, 1, 0), std::invalid_argument);  // kernel larger than input
    CHECK_NOTHROW(pool(x, 5, 1, 1));                           // fits once padded
  }
}

// ---- batch normalization ----

namespace {

// Fixed running statistics for the eval rows (variances well away from 0).
BatchNormState eval_state(int64_t channels) {
  BatchNormState st;
  Generator gen(11);
  st.running_mean = Tensor::uniform({channels}, -0.5f, 0.5f, gen);
  st.running_var = Tensor::uniform({channels}, 0.5f, 1.5f, gen);
  return st;
}

Tensor bn_train(const Tensor& x, const Tensor& w, const Tensor& b) {
  BatchNormState st;  // no running statistics: the output depends on the batch only
  return batch_norm(x, w, b, st, true);
}

Tensor bn_eval(const Tensor& x, const Tensor& w, const Tensor& b) {
  BatchNormState st = eval_state(x.size(1));
  return batch_norm(x, w, b, st, false);
}

// The gradient at x of sum(norm(x, w, b)^2 pick), taken with create_graph when grad mode is on (so
// that it can be differentiated again); evaluated for a difference quotient, grad mode is off, and
// the gradient is taken all the same.
template <class Norm>
Tensor input_grad(Norm norm, const Tensor& x, const Tensor& w, const Tensor& b,
                  const Tensor& pick) {
  const bool recording = GradMode::is_enabled();
  GradModeGuard on(true);
  Tensor xr = recording ? x : x.detach().requires_grad_();
  Tensor loss = sum(mul(square(norm(xr, w, b)), pick));
  return grad({loss}, {xr}, {.create_graph = recording})[0];
}

}  // namespace

TEST_CASE("grad: batch_norm training") {
  auto affine = [](const TensorList& x) { return bn_train(x[0], x[1], x[2]); };
  check_table({{"[N,C] affine", {{{5, 3}}, {{3}}, {{3}}}, affine, k2nd},
               {"[N,C,H,W] affine", {{{2, 3, 2, 2}}, {{3}}, {{3}}}, affine, k2nd},
               {"no affine",
                {{{3, 2, 2, 2}}},
                [](const TensorList& x) { return bn_train(x[0], Tensor(), Tensor()); },
                k2nd},
               {"weight only",
                {{{4, 3}}, {{3}}},
                [](const TensorList& x) { return bn_train(x[0], x[1], Tensor()); },
                k2nd},
               {"bias only",
                {{{2, 2, 3, 1}}, {{2}}},
                [](const TensorList& x) { return bn_train(x[0], Tensor(), x[1]); },
                k2nd},
               {"squared output",
                {{{3, 2, 2, 2}}, {{2}}, {{2}}},
                [](const TensorList& x) { return square(bn_train(x[0], x[1], x[2])); },
                k2nd}});
}

// A gradient through training batch norm taken with create_graph is one recorded node
// (batch_norm_backward). The rows above check its fused double backward; these differentiate a
// function that itself takes such a gradient, so their second order runs the node's backward
// recorded, written with ops: a third derivative through batch norm.
TEST_CASE("grad: batch_norm training, a gradient of its gradient") {
  check_table({{"affine",
                {{{3, 2, 2, 2}}, {{2}}, {{2}}},
                [](const TensorList& x) {
                  return input_grad(bn_train, x[0], x[1], x[2], random({3, 2, 2, 2}, 21));
                },
                k2nd},
               {"no affine",
                {{{4, 3}}},
                [](const TensorList& x) {
                  return input_grad(bn_train, x[0], Tensor(), Tensor(), random({4, 3}, 22));
                },
                k2nd}});
}

TEST_CASE("grad: batch_norm eval") {
  auto affine = [](const TensorList& x) { return bn_eval(x[0], x[1], x[2]); };
  check_table({{"[N,C] affine", {{{4, 3}}, {{3}}, {{3}}}, affine, k2nd},
               {"[N,C,H,W] affine", {{{2, 3, 2, 2}}, {{3}}, {{3}}}, affine, k2nd},
               {"no affine",
                {{{2, 2, 2, 3}}},
                [](const TensorList& x) { return bn_eval(x[0], Tensor(), Tensor()); },
                k2nd},
               {"squared output",
                {{{2, 2, 2, 2}}, {{2}}, {{2}}},
                [](const TensorList& x) { return square(bn_eval(x[0], x[1], x[2])); },
                k2nd}});
}

// The recorded backward (create_graph) is differentiated by the second-order rows above; this ties
// its values to the fused kernel's backward, which the first-order rows check.
TEST_CASE("nn: batch_norm recorded backward equals the fused one") {
  for (bool training : {true, false}) {
    CAPTURE(training);
    Tensor x = random({3, 2, 2, 3}, 1).requires_grad_();
    Tensor w = random({2}, 2).requires_grad_(), b = random({2}, 3).requires_grad_();
    Tensor gy = random({3, 2, 2, 3}, 4);
    BatchNormState st = eval_state(2);
    Tensor y = batch_norm(x, w, b, st, training);
    TensorList fused = grad({y}, {x, w, b}, {.grad_outputs = {gy}, .retain_graph = true});
    TensorList recorded = grad({y}, {x, w, b}, {.grad_outputs = {gy}, .create_graph = true});
    for (int i = 0; i < 3; ++i) {
      CAPTURE(i);
      if (i < 2) CHECK(recorded[i].requires_grad());  // the bias gradient is sum(gy): constant
      check_close(recorded[i].to_vector(), fused[i].to_vector(), 1e-3f);
    }
  }
}

// The same for the node a recorded batch-norm gradient makes (batch_norm_backward): its gradient
// written with ops, which only a third derivative runs, against its fused double backward, which
// the second-order rows check.
TEST_CASE("nn: batch_norm's recorded double backward equals the fused one") {
  for (bool affine : {true, false}) {
    CAPTURE(affine);
    Tensor x = random({3, 2, 2, 3}, 1).requires_grad_();
    Tensor w = affine ? random({2}, 2).requires_grad_() : Tensor();
    Tensor b = affine ? random({2}, 3).requires_grad_() : Tensor();
    Tensor loss = sum(mul(square(bn_train(x, w, b)), random({3, 2, 2, 3}, 4)));
    Tensor gx = grad({loss}, {x}, {.create_graph = true})[0];
    TensorList wrt = affine ? TensorList{x, w} : TensorList{x};
    Tensor u = random({3, 2, 2, 3}, 5);
    TensorList fused = grad({gx}, wrt, {.grad_outputs = {u}, .retain_graph = true});
    TensorList recorded = grad({gx}, wrt, {.grad_outputs = {u}, .create_graph = true});
    for (size_t i = 0; i < wrt.size(); ++i) {
      CAPTURE(i);
      CHECK(recorded[i].requires_grad());
      check_close(recorded[i].to_vector(), fused[i].to_vector(), 1e-3f);
    }
  }
}

// ---- batch norm with its activation fused (batch_norm_leaky_relu) ----

namespace {

Tensor bn_leaky(const Tensor& x, const Tensor& w, const Tensor& b, float slope, bool training) {
  BatchNormState st = training ? BatchNormState{} : eval_state(x.size(1));
  return batch_norm_leaky_relu(x, w, b, st, training, slope);
}

}  // namespace

TEST_CASE("grad: batch_norm_leaky_relu") {
  auto op = [](float slope, bool training) {
    return [=](const TensorList& x) { return bn_leaky(x[0], x[1], x[2], slope, training); };
  };
  check_table({{"relu, training", {{{3, 2, 2, 2}}, {{2}}, {{2}}}, op(0.0f, true), k2nd},
               {"slope 0.2, training", {{{5, 3}}, {{3}}, {{3}}}, op(0.2f, true), k2nd},
               {"relu, eval", {{{2, 3, 2, 2}}, {{3}}, {{3}}}, op(0.0f, false), k2nd},
               {"slope 0.2, eval", {{{4, 2}}, {{2}}, {{2}}}, op(0.2f, false), k2nd},
               {"squared output",
                {{{3, 2, 2, 2}}, {{2}}, {{2}}},
                [](const TensorList& x) { return square(bn_leaky(x[0], x[1], x[2], 0.2f, true)); },
                k2nd}});
}

// The fused op's gradient taken with create_graph, differentiated again: its second order runs
// leaky_relu's recorded backward and batch norm's recorded one, a third derivative.
TEST_CASE("grad: batch_norm_leaky_relu, a gradient of its gradient") {
  auto leaky = [](const Tensor& x, const Tensor& w, const Tensor& b) {
    return bn_leaky(x, w, b, 0.2f, true);
  };
  check_table({{"affine",
                {{{3, 2, 2, 2}}, {{2}}, {{2}}},
                [&](const TensorList& x) {
                  return input_grad(leaky, x[0], x[1], x[2], random({3, 2, 2, 2}, 21));
                },
                k2nd}});
}

// The fused op is leaky_relu(batch_norm(...)) to the bit: the output, the running statistics, and
// the gradients of both backward paths (the fused pass, and the recorded one of create_graph). The
// shapes take the kernel's paths: [N,C], channels grouped into tiles, one channel's positions in
// chunks (24 x 24 > 512), and enough elements for the threads.
TEST_CASE("nn: batch_norm_leaky_relu gives the bits of leaky_relu(batch_norm(x))") {
  for (const Shape& shape :
       {Shape{6, 5}, Shape{4, 3, 3, 3}, Shape{2, 3, 24, 24}, Shape{16, 32, 9, 9}})
    for (float slope : {0.0f, 0.2f, -0.5f})
      for (bool training : {true, false}) {
        CAPTURE(shape.str());
        CAPTURE(slope);
        CAPTURE(training);
        const int64_t c = shape[1];
        Tensor x = random(shape, 1).requires_grad_();
        Tensor w = random({c}, 2).requires_grad_(), b = random({c}, 3).requires_grad_();
        Tensor gy = random(shape, 4);
        BatchNormState fused_state = eval_state(c), composed_state = eval_state(c);
        Tensor fused = batch_norm_leaky_relu(x, w, b, fused_state, training, slope);
        Tensor composed = leaky_relu(batch_norm(x, w, b, composed_state, training), slope);
        CHECK(fused.to_vector() == composed.to_vector());
        CHECK(fused_state.running_mean.to_vector() == composed_state.running_mean.to_vector());
        CHECK(fused_state.running_var.to_vector() == composed_state.running_var.to_vector());
        for (bool create_graph : {false, true}) {
          CAPTURE(create_graph);
          const GradOptions o{
              .grad_outputs = {gy}, .retain_graph = true, .create_graph = create_graph};
          const TensorList want = grad({composed}, {x, w, b}, o);
          const TensorList got = grad({fused}, {x, w, b}, o);
          for (int i = 0; i < 3; ++i) {
            CAPTURE(i);
            CHECK(got[i].to_vector() == want[i].to_vector());
          }
        }
      }
}

TEST_CASE("nn: batch_norm updates running statistics as PyTorch does") {
  // Channel 0 holds 1, 2, 3, 4: mean 2.5, biased variance 1.25, unbiased 5/3.
  // Channel 1 holds 0, 0, 2, 6: mean 2, biased variance 6, unbiased 8.
  for (Shape shape : {Shape{4, 2}, Shape{2, 2, 2, 1}}) {
    CAPTURE(shape.str());
    std::vector<float> v = shape.size() == 2 ? std::vector<float>{1, 0, 2, 0, 3, 2, 4, 6}
                                             : std::vector<float>{1, 2, 0, 0, 3, 4, 2, 6};
    Tensor x = Tensor::from_vector(v, shape);
    BatchNormState st;
    st.running_mean = Tensor::from_vector({0.0f, 1.0f}, {2});
    st.running_var = Tensor::from_vector({1.0f, 2.0f}, {2});
    Tensor y = batch_norm(x, Tensor(), Tensor(), st, true);
    // running = 0.9 running + 0.1 batch
    check_close(st.running_mean.to_vector(), {0.25f, 1.1f});
    check_close(st.running_var.to_vector(), {0.9f + 0.1f * 5.0f / 3.0f, 1.8f + 0.8f});
    // Training normalizes with the biased batch variance.
    CHECK(y.data()[0] == doctest::Approx(-1.5f / std::sqrt(1.25f + 1e-5f)).epsilon(1e-4));

    // A second step with momentum 0.5 moves halfway from there.
    st.momentum = 0.5f;
    batch_norm(x, Tensor(), Tensor(), st, true);
    check_close(st.running_mean.to_vector(), {0.5f * 0.25f + 1.25f, 0.5f * 1.1f + 1.0f});
    check_close(st.running_var.to_vector(),
                {0.5f * (0.9f + 0.5f / 3.0f) + 0.5f * 5.0f / 3.0f, 0.5f * 2.6f + 4.0f});

    // Eval normalizes with the running statistics and leaves them alone.
    std::vector<float> rm = st.running_mean.to_vector(), rv = st.running_var.to_vector();
    Tensor w = Tensor::from_vector({2.0f, -1.0f}, {2}), b = Tensor::from_vector({0.5f, 0.0f}, {2});
    Tensor e = batch_norm(x, w, b, st, false);
    CHECK(e.data()[0] == doctest::Approx((1.0f - rm[0]) / std::sqrt(rv[0] + 1e-5f) * 2.0f + 0.5f));
    check_close(st.running_mean.to_vector(), rm);
  }
}

TEST_CASE("nn: batch_norm rejects bad shapes") {
  Tensor x = Tensor::zeros({4, 3, 2, 2}), c3 = Tensor::zeros({3}), c2 = Tensor::zeros({2});
  BatchNormState st;
  CHECK_THROWS_AS(batch_norm(Tensor::zeros({4, 3, 2}), c3, c3, st, true), std::invalid_argument);
  CHECK_THROWS_AS(batch_norm(x, c2, c3, st, true), std::invalid_argument);
  CHECK_THROWS_AS(batch_norm(x, c3, c2, st, true), std::invalid_argument);
  CHECK_THROWS_AS(batch_norm(Tensor::zeros({1, 3}), c3, c3, st, true), std::invalid_argument);
  CHECK_THROWS_AS(batch_norm(Tensor::zeros({4, 0}), Tensor(), Tensor(), st, true),
                  std::invalid_argument);
  CHECK_THROWS_AS(batch_norm(x, c3, c3, st, false), std::invalid_argument);  // no running stats
  BatchNormState wrong;
  wrong.running_mean = Tensor::zeros({2});
  wrong.running_var = Tensor::ones({2});
  CHECK_THROWS_AS(batch_norm(x, c3, c3, wrong, true), std::invalid_argument);
  BatchNormState half;
  half.running_mean = Tensor::zeros({3});
  CHECK_THROWS_AS(batch_norm(x, c3, c3, half, true), std::invalid_argument);
  BatchNormState fast;
  fast.momentum = 1.5f;
  CHECK_THROWS_AS(batch_norm(x, c3, c3, fast, true), std::invalid_argument);
}

// ---- layer and group normalization ----

namespace {

Tensor optional(const TensorList& x, size_t i) {
  return i < x.size() ? x[i] : Tensor();
}

}  // namespace

TEST_CASE("grad: layer_norm") {
  auto ln = [](Shape normalized, bool squared) {
    return [=](const TensorList& x) {
      Tensor y = layer_norm(x[0], normalized, optional(x, 1), optional(x, 2));
      return squared ? square(y) : y;
    };
  };
  check_table(
      {{"last dim affine", {{{3, 5}}, {{5}}, {{5}}}, ln({5}, false), k2nd},
       {"two trailing dims affine", {{{2, 3, 4}}, {{3, 4}}, {{3, 4}}}, ln({3, 4}, false), k2nd},
       {"whole sample of 4-d", {{{2, 2, 2, 2}}, {{2, 2, 2}}}, ln({2, 2, 2}, false), k2nd},
       {"no affine", {{{4, 6}}}, ln({6}, false), k2nd},
       {"1-d", {{{5}}, {{5}}, {{5}}}, ln({5}, false), k2nd},
       {"squared output", {{{3, 4}}, {{4}}, {{4}}}, ln({4}, true), k2nd}});
}

TEST_CASE("grad: group_norm") {
  auto gn = [](int64_t groups, bool squared) {
    return [=](const TensorList& x) {
      Tensor y = group_norm(x[0], groups, optional(x, 1), optional(x, 2));
      return squared ? square(y) : y;
    };
  };
  check_table(
      {{"2 groups of 2 channels", {{{2, 4, 2, 3}}, {{4}}, {{4}}}, gn(2, false), k2nd},
       // groups = C: instance normalization, each channel of each sample on its own.
       {"instance norm", {{{2, 3, 2, 2}}, {{3}}, {{3}}}, gn(3, false), k2nd},
       {"one group", {{{2, 3, 2, 2}}, {{3}}, {{3}}}, gn(1, false), k2nd},
       // Groups of three: a group of two normalizes to +-1 whatever x is, so its derivatives are
       // eps-sized residues (1e-6) of cancelling terms of order 1, below what float32 finite
       // differences resolve (the analytic ones agree with PyTorch's float64 to 0.6%).
       {"[N,C] no affine", {{{3, 6}}}, gn(2, false), k2nd},
       {"[N,C,L] weight only", {{{2, 4, 5}}, {{4}}}, gn(2, false), k2nd},
       {"instance norm squared", {{{2, 2, 3, 2}}, {{2}}, {{2}}}, gn(2, true), k2nd},
       {"squared", {{{2, 4, 2, 2}}, {{4}}, {{4}}}, gn(2, true), k2nd}});
}

namespace {

// Group normalization written out: mean and biased variance of each sample's group.
std::vector<float> direct_group_norm(const Tensor& x, int64_t groups, const Tensor& w,
                                     const Tensor& b, float eps) {
  const int64_t n = x.size(0), c = x.size(1), per_channel = x.numel() / (n * c);
  const int64_t per_group = c / groups * per_channel;
  const float* v = x.data();
  std::vector<float> y(x.numel());
  for (int64_t r = 0; r < n * groups; ++r) {
    double mean = 0, var = 0;
    for (int64_t k = 0; k < per_group; ++k) mean += v[r * per_group + k];
    mean /= per_group;
    for (int64_t k = 0; k < per_group; ++k) var += std::pow(v[r * per_group + k] - mean, 2);
    var /= per_group;
    for (int64_t k = 0; k < per_group; ++k) {
      int64_t i = r * per_group + k, ch = i / per_channel % c;
      y[i] = static_cast<float>((v[i] - mean) / std::sqrt(var + eps)) * w.data()[ch] + b.data()[ch];
    }
  }
  return y;
}

}  // namespace

TEST_CASE("nn: group_norm and layer_norm forwards match a direct loop") {
  Tensor x = random({2, 6, 3, 2}, 1), w = random({6}, 2), b = random({6}, 3);
  for (int64_t groups : {1, 2, 3, 6}) {
    CAPTURE(groups);
    check_close(group_norm(x, groups, w, b, 1e-3f).to_vector(),
                direct_group_norm(x, groups, w, b, 1e-3f));
  }
  // layer_norm over [C,H,W] with a constant per-channel affine is group_norm with one group.
  Tensor wide_w = expand(reshape(w, {6, 1, 1}), {6, 3, 2});
  Tensor wide_b = expand(reshape(b, {6, 1, 1}), {6, 3, 2});
  check_close(layer_norm(x, {6, 3, 2}, wide_w, wide_b, 1e-3f).to_vector(),
              direct_group_norm(x, 1, w, b, 1e-3f));
}

// As batch norm's: the recorded backward (differentiated by the second-order rows) against
// oneDNN's fused one (checked by the first-order rows).
TEST_CASE("nn: layer_norm and group_norm recorded backwards equal the fused ones") {
  Tensor x = random({3, 4, 2, 2}, 1).requires_grad_();
  Tensor gy = random({3, 4, 2, 2}, 4);
  Tensor lw = random({2, 2}, 2).requires_grad_(), lb = random({2, 2}, 3).requires_grad_();
  Tensor gw = random({4}, 5).requires_grad_(), gb = random({4}, 6).requires_grad_();
  std::vector<std::pair<Tensor, TensorList>> cases{{layer_norm(x, {2, 2}, lw, lb), {x, lw, lb}},
                                                   {group_norm(x, 2, gw, gb), {x, gw, gb}},
                                                   {layer_norm(x, {4, 2, 2}), {x}}};
  for (auto& [y, inputs] : cases) {
    TensorList fused = grad({y}, inputs, {.grad_outputs = {gy}, .retain_graph = true});
    TensorList recorded = grad({y}, inputs, {.grad_outputs = {gy}, .create_graph = true});
    for (size_t i = 0; i < inputs.size(); ++i) {
      CAPTURE(i);
      check_close(recorded[i].to_vector(), fused[i].to_vector(), 1e-3f);
    }
  }
}

TEST_CASE("nn: layer_norm and group_norm reject bad shapes") {
  Tensor x = Tensor::zeros({2, 4, 3});
  CHECK_NOTHROW(layer_norm(x, {4, 3}));
  CHECK_THROWS_WITH_AS(layer_norm(x, {4}),
                       "layer_norm: normalized_shape [4] must be the non-empty trailing "
                       "dimensions of input [2, 4, 3]",
                       std::invalid_argument);
  CHECK_THROWS_AS(layer_norm(x, {}), std::invalid_argument);
  CHECK_THROWS_AS(layer_norm(x, {1, 2, 4, 3}), std::invalid_argument);
  CHECK_THROWS_AS(layer_norm(Tensor::zeros({2, 0}), {0}), std::invalid_argument);
  CHECK_THROWS_AS(layer_norm(x, {3}, Tensor::zeros({4})), std::invalid_argument);
  CHECK_THROWS_AS(layer_norm(x, {3}, Tensor(), Tensor::zeros({1, 3})), std::invalid_argument);
  CHECK_THROWS_AS(layer_norm(x, {3}, Tensor(), Tensor(), -1.0f), std::invalid_argument);
  CHECK_THROWS_AS(layer_norm(Tensor(), {3}), std::invalid_argument);

  CHECK_NOTHROW(group_norm(x, 4));
  CHECK_THROWS_WITH_AS(group_norm(x, 3),
                       "group_norm: 4 channels of input [2, 4, 3] do not split into 3 groups",
                       std::invalid_argument);
  CHECK_THROWS_AS(group_norm(x, 0), std::invalid_argument);
  CHECK_THROWS_AS(group_norm(Tensor::zeros({4}), 1), std::invalid_argument);
  CHECK_THROWS_AS(group_norm(Tensor::zeros({2, 4, 0}), 2), std::invalid_argument);
  CHECK_THROWS_AS(group_norm(x, 2, Tensor::zeros({2})), std::invalid_argument);
  CHECK_THROWS_AS(group_norm(x, 2, Tensor(), Tensor::zeros({4, 1})), std::invalid_argument);
  CHECK_THROWS_AS(group_norm(x, 2, Tensor(), Tensor(), NAN), std::invalid_argument);
  // An empty batch normalizes to an empty output.
  CHECK(group_norm(Tensor::zeros({0, 4, 3}), 2).shape() == Shape{0, 4, 3});
}

// ---- padding ----

TEST_CASE("grad: pad2d") {
  auto pad = [](Pad2d p, PadMode mode, bool squared) {
    return [=](const TensorList& x) {
      Tensor y = pad2d(x[0], p, mode, 0.5f);
      return squared ? square(y) : y;
    };
  };
  check_table(
      {{"constant", {{{2, 2, 3, 4}}}, pad({1, 2, 0, 1}, PadMode::kConstant, false), k2nd},
       {"squared constant", {{{1, 2, 2, 2}}}, pad({1, 0, 1, 1}, PadMode::kConstant, true), k2nd},
       {"reflect", {{{1, 2, 3, 4}}}, pad({3, 1, 2, 2}, PadMode::kReflect, false), k2nd},
       {"squared reflect rank 3", {{{2, 3, 3}}}, pad({2, 1, 1, 2}, PadMode::kReflect, true), k2nd},
       {"replicate", {{{1, 2, 2, 3}}}, pad({3, 0, 2, 1}, PadMode::kReplicate, false), k2nd},
       {"squared replicate",
        {{{1, 1, 2, 2}}},
        pad({2, 2, 0, 3}, PadMode::kReplicate, true),
        k2nd}});
}

TEST_CASE("nn: padding values, the edge pixels' gradients, and bad sizes") {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {1, 1, 2, 3});
  CHECK(pad2d(x, {.left = 1, .top = 1}, PadMode::kConstant, 9).to_vector() ==
        std::vector<float>{9, 9, 9, 9, 9, 1, 2, 3, 9, 4, 5, 6});
  // Mirrored about the edge, which is not repeated: columns 2 1 [0 1 2] 1, rows 1 [0 1].
  CHECK(pad2d(x, {.left = 2, .right = 1, .top = 1}, PadMode::kReflect).to_vector() ==
        std::vector<float>{6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5});
  Tensor leaf = x.detach().requires_grad_();
  Tensor y = pad2d(leaf, {.left = 1, .bottom = 2}, PadMode::kReplicate);
  CHECK(y.to_vector() == std::vector<float>{1, 1, 2, 3, 4, 4, 5, 6, 4, 4, 5, 6, 4, 4, 5, 6});
  // d sum(y) / dx counts the copies of each pixel: rows 1 and 3 times, columns 2, 1 and 1.
  CHECK(grad({sum(y)}, {leaf})[0].to_vector() == std::vector<float>{2, 1, 1, 6, 3, 3});
  CHECK(pad2d(x, {}).data() == x.data());  // nothing to pad: x itself
  // An empty batch pads to an empty output; an empty dimension fills with the constant.
  CHECK(pad2d(Tensor::zeros({0, 2, 3, 3}), {1, 1, 1, 1}, PadMode::kReflect).shape() ==
        Shape{0, 2, 5, 5});
  CHECK(pad2d(Tensor::zeros({1, 1, 0, 2}), {.top = 1}, PadMode::kConstant, 7).to_vector() ==
        std::vector<float>{7, 7});

  using doctest::Contains;
  CHECK_THROWS_WITH_AS(pad2d(x, {.left = -1}), Contains("pad2d: sizes (left -1"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(pad2d(x, {.top = 2}, PadMode::kReflect),
                       Contains("reflect padding (left 0, right 0, top 2, bottom 0) does not fit "
                                "input [1, 1, 2, 3]: each size must be smaller"),
                       std::invalid_argument);
  CHECK_NOTHROW(pad2d(x, {.left = 2, .top = 1}, PadMode::kReflect));  // the largest that fit
  CHECK_THROWS_WITH_AS(pad2d(Tensor::zeros({1, 0, 2}), {.top = 1}, PadMode::kReplicate),
                       Contains("must not be empty"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(pad2d(Tensor::zeros({4}), {1, 1, 0, 0}),
                       Contains("pad2d: input [4] has no two dimensions"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(pad2d(Tensor(), {1, 1, 0, 0}), Contains("pad2d: input"),
                       std::invalid_argument);
}

// ---- upsampling ----

TEST_CASE("grad: upsample_nearest2d") {
  auto up = [](int64_t scale, bool squared) {
    return [=](const TensorList& x) {
      Tensor y = upsample_nearest2d(x[0], scale);
      return squared ? square(y) : y;
    };
  };
  check_table({{"scale 2", {{{2, 2, 3, 2}}}, up(2, false), k2nd},
               {"scale 3", {{{1, 2, 2, 3}}}, up(3, false), k2nd},
               {"squared scale 2", {{{1, 2, 2, 2}}}, up(2, true), k2nd}});
}

TEST_CASE("grad: upsample_bilinear2d") {
  auto up = [](int64_t scale, bool squared) {
    return [=](const TensorList& x) {
      Tensor y = upsample_bilinear2d(x[0], scale);
      return squared ? square(y) : y;
    };
  };
  check_table({{"scale 2", {{{2, 2, 3, 2}}}, up(2, false), k2nd},
               {"scale 3", {{{1, 2, 2, 3}}}, up(3, false), k2nd},
               {"one pixel", {{{1, 1, 1, 1}}}, up(2, false), k2nd},
               {"squared scale 2", {{{1, 2, 2, 2}}}, up(2, true), k2nd}});
}

TEST_CASE("nn: upsampling values, and bad shapes") {
  Tensor x = Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2});
  CHECK(upsample_nearest2d(x, 2).to_vector() ==
        std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  // Centres: output pixel o samples input coordinate (o + 0.5) / 2 - 0.5, clamped to [0, 1].
  check_close(upsample_bilinear2d(x, 2).to_vector(),
              {1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4});
  CHECK(upsample_nearest2d(x, 1).to_vector() == x.to_vector());
  for (auto up : {&upsample_nearest2d, &upsample_bilinear2d}) {
    CHECK_THROWS_AS(up(x, 0), std::invalid_argument);
    CHECK_THROWS_AS(up(Tensor::zeros({1, 2, 2}), 2), std::invalid_argument);
    CHECK_THROWS_AS(up(Tensor(), 2), std::invalid_argument);
  }
}
