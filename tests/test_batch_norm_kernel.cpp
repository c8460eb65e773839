// The batch-norm kernels (ops/dnnl/nn_kernels.h) against a direct evaluation in double: forward
// values, the batch's mean and biased variance, and the fused backward's gx, gscale and gshift,
// over ranks 2 and 4, H*W from 1 to 1024 (odd sizes, one sample with many positions, shapes large
// enough for the parallel loop), with and without scale and shift, training and eval; and the
// double backward against difference quotients of the training gx, in double. The kernels work in
// tiles of at most 512 elements per sample (ops/dnnl/norm.cpp): the shapes include channels with
// more positions than a tile ([2,3,24,24], [4,8,32,32]), groups of channels that do not divide C
// ([3,20,7,7]) and a rank-2 input wider than a tile ([9,600]).
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
  const std::vector<Shape> shapes{{7, 5},         {4, 3, 1, 1},  {5, 3, 3, 3},    {3, 2, 7, 7},
                                  {2, 3, 5, 3},   {1, 4, 6, 5},  {8, 16, 17, 17}, {2, 3, 24, 24},
                                  {4, 8, 32, 32}, {3, 20, 7, 7}, {9, 600}};
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

namespace {

// Training batch norm's gx for one channel, in double: scale rstd (g - mean(g) - xhat mean(g
// xhat)), from the channel's elements x and g.
std::vector<double> channel_gx(const std::vector<double>& x, const std::vector<double>& g,
                               double scale) {
  const double n = static_cast<double>(x.size());
  double mean = 0, var = 0, g_mean = 0, gx_mean = 0;
  for (double v : x) mean += v / n;
  for (double v : x) var += (v - mean) * (v - mean) / n;
  const double rstd = 1.0 / std::sqrt(var + kEps);
  for (size_t i = 0; i < x.size(); ++i) {
    g_mean += g[i] / n;
    gx_mean += g[i] * (x[i] - mean) * rstd / n;
  }
  std::vector<double> gx(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    gx[i] = scale * rstd * (g[i] - g_mean - (x[i] - mean) * rstd * gx_mean);
  return gx;
}

// d/dv of sum(u * gx(...)) where v is element i of x (which = 0), of g (1), or the scale (2), by
// a central difference in double.
double channel_vjp(std::vector<double> x, std::vector<double> g, double scale,
                   const std::vector<double>& u, int which, size_t i) {
  double& v = which == 0 ? x[i] : which == 1 ? g[i] : scale;
  const double h = 1e-6 * std::max(1.0, std::abs(v)), original = v;
  auto total = [&] {
    std::vector<double> gx = channel_gx(x, g, scale);
    double t = 0;
    for (size_t k = 0; k < gx.size(); ++k) t += u[k] * gx[k];
    return t;
  };
  v = original + h;
  const double up = total();
  v = original - h;
  const double down = total();
  return (up - down) / (2 * h);
}

}  // namespace

TEST_CASE("kernels: batch_norm double backward matches difference quotients in double") {
  for (const Shape& shape :
       std::vector<Shape>{{7, 5}, {5, 3, 3, 3}, {2, 3, 5, 3}, {8, 16, 6, 6}, {1, 2, 23, 23}})
    for (bool affine : {true, false}) {
      const std::string name = shape.str();
      CAPTURE(name);
      CAPTURE(affine);
      const int64_t n = shape[0], c = shape[1], hw = shape.numel() / (n * c);
      Generator gen(c);
      Tensor x = channel_data(shape, 1), gy = channel_data(shape, 2), u = channel_data(shape, 3);
      Tensor scale = affine ? Tensor::uniform({c}, 0.5f, 2.0f, gen) : Tensor();
      Tensor d_gy = Tensor::empty(shape), d_x = Tensor::empty(shape);
      Tensor d_scale = affine ? Tensor::empty({c}) : Tensor();
      // The double backward takes the batch statistics the training forward wrote.
      Tensor mean = Tensor::empty({c}), var = Tensor::empty({c}), y = Tensor::empty(shape);
      kernels::batch_norm_forward(x, scale, Tensor(), mean, var, y, kEps, true);
      kernels::batch_norm_double_backward(x, gy, u, scale, mean, var, kEps, d_gy, d_x, d_scale);

      std::vector<double> want_gy(x.numel()), want_x(x.numel()), want_scale(c);
      for (int64_t ch = 0; ch < c; ++ch) {
        std::vector<double> xs, gs, us;  // the channel's elements, sample by sample
        for (int64_t s = 0; s < n; ++s)
          for (int64_t j = 0; j < hw; ++j) {
            const int64_t at = (s * c + ch) * hw + j;
            xs.push_back(x.data()[at]);
            gs.push_back(gy.data()[at]);
            us.push_back(u.data()[at]);
          }
        const double w = affine ? scale.data()[ch] : 1.0;
        for (int64_t s = 0, k = 0; s < n; ++s)
          for (int64_t j = 0; j < hw; ++j, ++k) {
            const int64_t at = (s * c + ch) * hw + j;
            want_x[at] = channel_vjp(xs, gs, w, us, 0, k);
            want_gy[at] = channel_vjp(xs, gs, w, us, 1, k);
          }
        want_scale[ch] = channel_vjp(xs, gs, w, us, 2, 0);
      }
      CHECK(worst_error(d_x, want_x, 1.0) < kTolerance);
      CHECK(worst_error(d_gy, want_gy, 1.0) < kTolerance);
      if (affine) CHECK(worst_error(d_scale, want_scale, 1.0) < kTolerance);

      // Each output alone (the others undefined) is the same.
      Tensor only_gy = Tensor::empty(shape), only_x = Tensor::empty(shape);
      kernels::batch_norm_double_backward(x, gy, u, scale, mean, var, kEps, only_gy, Tensor(),
                                          Tensor());
      kernels::batch_norm_double_backward(x, gy, u, scale, mean, var, kEps, Tensor(), only_x,
                                          Tensor());
      CHECK(only_gy.to_vector() == d_gy.to_vector());
      CHECK(only_x.to_vector() == d_x.to_vector());
    }
}

TEST_CASE("kernels: batch_norm gives the same bits on one thread and on two") {
  // Large enough for the parallel loop; one channel spans two tiles, and [64,256,3,3] makes
  // groups of 16 channels.
  for (const Shape& shape : std::vector<Shape>{{64, 256, 3, 3}, {8, 5, 30, 30}}) {
    const std::string name = shape.str();
    CAPTURE(name);
    const int64_t c = shape[1];
    auto outputs_at = [&](int threads) {
      const ScopedThreads count(threads);
      Generator gen(5);
      Tensor x = channel_data(shape, 1), gy = channel_data(shape, 2), u = channel_data(shape, 3);
      Tensor scale = Tensor::uniform({c}, 0.5f, 2.0f, gen),
             shift = Tensor::uniform({c}, -1, 1, gen);
      Tensor mean = Tensor::empty({c}), var = Tensor::empty({c}), y = Tensor::empty(shape);
      Tensor gx = Tensor::empty(shape), gscale = Tensor::empty({c}), gshift = Tensor::empty({c});
      Tensor d_gy = Tensor::empty(shape), d_x = Tensor::empty(shape), d_scale = Tensor::empty({c});
      kernels::batch_norm_forward(x, scale, shift, mean, var, y, kEps, true);
      kernels::batch_norm_backward(x, gy, scale, mean, var, gx, gscale, gshift, kEps, true);
      kernels::batch_norm_double_backward(x, gy, u, scale, mean, var, kEps, d_gy, d_x, d_scale);
      std::vector<std::vector<float>> all;
      for (const Tensor& t : {y, mean, var, gx, gscale, gshift, d_gy, d_x, d_scale})
        all.push_back(t.to_vector());
      return all;
    };
    CHECK(outputs_at(1) == outputs_at(2));
  }
}
