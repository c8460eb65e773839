// The batch-norm kernels (ops/dnnl/nn_kernels.h) against a direct evaluation in double: forward
// values, the batch's mean and biased variance, and the fused backward's gx, gscale and gshift,
// over ranks 2 and 4, H*W from 1 to 289 (odd sizes, one sample with many positions, one shape
// large enough for the parallel loop), with and without scale and shift, training and eval.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "minimax.h"
#include "ops/dnnl/nn_kernels.h"

using namespace minimax;

namespace {

constexpr double kTolerance = 1e-5;
constexpr float kEps = 1e-5f;

// The reference: everything in double, each channel over its N runs of H*W elements.
struct Reference {
  std::vector<double> y, mean, var, gx, gscale, gshift;
};

Reference reference(const Tensor& x, const Tensor& gy, const Tensor& scale, const Tensor& shift,
                    const std::vector<double>& given_mean, const std::vector<double>& given_var,
                    bool training) {
  const int64_t n = x.size(0), c = x.size(1), hw = x.numel() / (n * c), count = n * hw;
  auto at = [&](const Tensor& t, int64_t s, int64_t ch, int64_t j) {
    return static_cast<double>(t.data()[(s * c + ch) * hw + j]);
  };
  Reference r{std::vector<double>(x.numel()),
              given_mean,
              given_var,
              std::vector<double>(x.numel()),
              std::vector<double>(c),
              std::vector<double>(c)};
  for (int64_t ch = 0; ch < c; ++ch) {
    if (training) {
      double sum = 0, squares = 0;
      for (int64_t s = 0; s < n; ++s)
        for (int64_t j = 0; j < hw; ++j) sum += at(x, s, ch, j);
      r.mean[ch] = sum / count;
      for (int64_t s = 0; s < n; ++s)
        for (int64_t j = 0; j < hw; ++j) squares += std::pow(at(x, s, ch, j) - r.mean[ch], 2);
      r.var[ch] = squares / count;
    }
    const double rstd = 1.0 / std::sqrt(r.var[ch] + kEps);
    const double w = scale.defined() ? scale.data()[ch] : 1.0;
    const double b = shift.defined() ? shift.data()[ch] : 0.0;
    double g_sum = 0, g_xhat = 0;
    for (int64_t s = 0; s < n; ++s)
      for (int64_t j = 0; j < hw; ++j) {
        const double xhat = (at(x, s, ch, j) - r.mean[ch]) * rstd;
        r.y[(s * c + ch) * hw + j] = xhat * w + b;
        g_sum += at(gy, s, ch, j);
        g_xhat += at(gy, s, ch, j) * xhat;
      }
    r.gshift[ch] = g_sum;
    r.gscale[ch] = g_xhat;
    for (int64_t s = 0; s < n; ++s)
      for (int64_t j = 0; j < hw; ++j) {
        const double xhat = (at(x, s, ch, j) - r.mean[ch]) * rstd, g = at(gy, s, ch, j);
        r.gx[(s * c + ch) * hw + j] =
            training ? w * rstd * (g - g_sum / count - xhat * g_xhat / count) : w * rstd * g;
      }
  }
  return r;
}

// The largest |got - ref| / (|ref| + floor): relative error, absolute below `floor`.
double worst_error(const Tensor& got, const std::vector<double>& ref, double floor) {
  REQUIRE(got.numel() == static_cast<int64_t>(ref.size()));
  double worst = 0;
  for (size_t i = 0; i < ref.size(); ++i)
    worst = std::max(worst, std::abs(got.data()[i] - ref[i]) / (std::abs(ref[i]) + floor));
  return worst;
}

// Channel ch holds offset_ch + spread_ch * U(-1, 1); the last channel sits far from 0 relative to
// its spread, where a one-pass variance (mean of squares minus squared mean) loses digits.
Tensor channel_data(const Shape& s, uint64_t seed) {
  Generator gen(seed);
  Tensor x = Tensor::uniform(s, -1.0f, 1.0f, gen);
  const int64_t c = s[1], hw = s.numel() / (s[0] * c);
  for (int64_t i = 0; i < s.numel(); ++i) {
    const int64_t ch = i / hw % c;
    const bool far = ch == c - 1;
    x.data()[i] = (far ? 2.0f : 0.3f * ch - 0.5f) + (far ? 0.1f : 0.5f + 0.2f * ch) * x.data()[i];
  }
  return x;
}

std::vector<double> as_double(const Tensor& t) {
  return {t.data(), t.data() + t.numel()};
}

}  // namespace

TEST_CASE("kernels: batch_norm forward and backward match a double reference") {
  const std::vector<Shape> shapes{{7, 5},       {4, 3, 1, 1}, {5, 3, 3, 3},   {3, 2, 7, 7},
                                  {2, 3, 5, 3}, {1, 4, 6, 5}, {8, 16, 17, 17}};
  for (const Shape& shape : shapes)
    for (bool training : {true, false})
      for (int affine = 0; affine < 4; ++affine) {
        const std::string name = shape.str();
        CAPTURE(name);
        CAPTURE(training);
        CAPTURE(affine);  // bit 0: scale, bit 1: shift
        const int64_t c = shape[1];
        Generator gen(c);
        Tensor x = channel_data(shape, 1), gy = channel_data(shape, 2);
        Tensor scale = affine & 1 ? Tensor::uniform({c}, 0.5f, 2.0f, gen) : Tensor();
        Tensor shift = affine & 2 ? Tensor::uniform({c}, -1.0f, 1.0f, gen) : Tensor();
        // Eval normalizes with given statistics; training overwrites these.
        Tensor mean = Tensor::uniform({c}, -0.5f, 0.5f, gen);
        Tensor var = Tensor::uniform({c}, 0.5f, 1.5f, gen);
        Reference ref = reference(x, gy, scale, shift, as_double(mean), as_double(var), training);

        Tensor y = Tensor::empty(shape), gx = Tensor::empty(shape);
        kernels::batch_norm_forward(x, scale, shift, mean, var, y, kEps, training);
        Tensor gscale = scale.defined() ? Tensor::empty({c}) : Tensor();
        Tensor gshift = shift.defined() ? Tensor::empty({c}) : Tensor();
        kernels::batch_norm_backward(x, gy, scale, mean, var, gx, gscale, gshift, kEps, training);

        CHECK(worst_error(y, ref.y, 1.0) < kTolerance);
        CHECK(worst_error(mean, ref.mean, 0.1) < kTolerance);
        CHECK(worst_error(var, ref.var, 0.0) < kTolerance);
        CHECK(worst_error(gx, ref.gx, 1.0) < kTolerance);
        if (scale.defined()) CHECK(worst_error(gscale, ref.gscale, 1.0) < kTolerance);
        if (shift.defined()) CHECK(worst_error(gshift, ref.gshift, 1.0) < kTolerance);
      }
}
