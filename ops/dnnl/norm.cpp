// Batch normalization of plain nchw tensors (our own loops) and layer normalization of the rows
// of a plain [M,K] matrix (oneDNN), forward and fused backward.
//
// Batch norm is our own loops because oneDNN 2.6's for plain layouts (ncsp_bnorm) was about ten
// times slower than memory allows: 0.6 ms forward and 0.75 ms backward for DCGAN's [64,128,7,7].
// The statistics and the reductions of the backward accumulate in double.
#include <dnnl.hpp>

#include <algorithm>
#include <cmath>

#include "ops/dnnl/context.h"
#include "ops/dnnl/nn_kernels.h"
#include "ops/math_kernels.h"
#include "ops/runtime.h"
#include "ops/vector_clones.h"

namespace minimax::kernels {

// ---- batch normalization ----

namespace {

// Each pass runs over tiles: a tile is channels [c0, c1) at positions [p0, p1) of each, and its
// elements are one contiguous run of width() floats in every sample (several whole channels, or
// a chunk of one channel's positions). A pass sums over the batch position by position, into
// double accumulators that vectorize along the run, then over each channel's positions. Looping
// per channel over its N runs of H*W instead (the first version) was bound by the short runs:
// H*W is 9 to 49 in DCGAN's critic. With the vector clones below, the tiles took [64,128,7,7]'s
// forward from 0.29 to 0.16 ms from cold caches, its backward from 0.26 to 0.19 and its double
// backward from 0.82 to 0.35 (two threads, each timed alone).
constexpr int64_t kTileElements = 512;
constexpr int64_t kMinGroups = 16;

// The functions that run a channel group's passes are MINIMAX_VECTOR_CLONES (ops/vector_clones.h):
// their double accumulators go four or eight to a register. The clones compute the same values:
// each accumulator is one element's sum over the batch whatever the vector width.

// x [N,C,H,W] as N*C contiguous runs of H*W floats: channel ch's elements are the runs n*C + ch.
// The channels go to threads in groups that fill a tile.
struct Planes {
  int64_t n, c, hw;
  explicit Planes(const Tensor& x)
      : n(x.size(0)), c(x.size(1)), hw(x.numel() / (x.size(0) * x.size(1))) {}
  int64_t count() const { return n * hw; }  // the elements of one channel
  // Whole channels that fill a tile, but at most C/16 of them (rounded up), so that there are
  // about 16 groups or more for the threads to share evenly: DCGAN's [64,256,3,3] would otherwise
  // be 5 groups of 56.
  int64_t group_size() const {
    return std::max<int64_t>(1, std::min(kTileElements / hw, (c + kMinGroups - 1) / kMinGroups));
  }
  int64_t groups() const { return (c + group_size() - 1) / group_size(); }
};

struct Tile {
  int64_t c0, c1, p0, p1;
  int64_t positions() const { return p1 - p0; }
  int64_t width() const { return (c1 - c0) * positions(); }
  int64_t start(const Planes& p, int64_t sample) const { return (sample * p.c + c0) * p.hw + p0; }
};

// Channel group g: its channels [c0, c1), and the tiles that cover them: the group whole, or, when
// one channel exceeds a tile, that channel's positions in chunks (for p0 = 0, kTileElements, ...
// below H*W).
struct Group {
  int64_t c0, c1;
  Group(const Planes& p, int64_t g)
      : c0(g * p.group_size()), c1(std::min(p.c, c0 + p.group_size())) {}
  Tile tile(const Planes& p, int64_t p0) const {
    return {c0, c1, p0, std::min(p.hw, p0 + kTileElements)};
  }
};

// Runs body(g) for every channel group, on the threads when x is large enough. A channel's sums
// run in the same order whatever the grouping, so results do not depend on the thread count.
template <class F>
void for_each_group(const Planes& p, F body) {
#pragma omp parallel for if (p.n * p.c * p.hw >= kParallelMinElements)
  for (int64_t g = 0; g < p.groups(); ++g) body(Group(p, g));
}

// Calls add(i, j) for every sample's element j of the tile, i being its index in x: the loop that
// sums over the batch into per-element accumulators indexed by j, or writes an output.
template <class F>
void over_batch(const Planes& p, const Tile& t, F add) {
  const int64_t w = t.width();
  for (int64_t s = 0; s < p.n; ++s) {
    const int64_t base = t.start(p, s);
#pragma omp simd
    for (int64_t j = 0; j < w; ++j) add(base + j, j);
  }
}

// Per-channel sums of a group: sum[k][ch - group.c0].
template <int K>
using ChannelSums = double[K][kTileElements];

// Adds the tile's K per-element accumulators acc[k][0, width) into their channels' sums.
template <int K>
void add_to_channels(const Tile& t, const Group& group, const ChannelSums<K>& acc,
                     ChannelSums<K>& sums) {
  for (int64_t ch = t.c0; ch < t.c1; ++ch) {
    const int64_t from = (ch - t.c0) * t.positions(), to = from + t.positions();
    for (int k = 0; k < K; ++k) {
      double s = 0.0;
      for (int64_t j = from; j < to; ++j) s += acc[k][j];
      sums[k][ch - group.c0] += s;
    }
  }
}

// The per-element copy of per-channel values: out[j] = value(element j's channel).
template <class F>
void spread(const Tile& t, float* out, F value) {
  for (int64_t ch = t.c0; ch < t.c1; ++ch)
    std::fill_n(out + (ch - t.c0) * t.positions(), t.positions(), static_cast<float>(value(ch)));
}

float rstd_of(float var, float eps) {
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(var) + eps));
}

// Pointers to a batch-norm kernel's operands and outputs (null: not given, or not wanted).
struct NormArgs {
  const float *x, *scale, *shift;
  float *mean, *var;  // written by a training forward, read by everything else
  float eps;
  bool batch_stats;
};

float* data_or_null(const Tensor& t) {
  return t.defined() ? t.data() : nullptr;
}

NormArgs norm_args(const Tensor& x, const Tensor& scale, const Tensor& shift, const Tensor& mean,
                   const Tensor& var, float eps, bool batch_stats) {
  return {x.data(), data_or_null(scale), data_or_null(shift), mean.data(), var.data(),
          eps,      batch_stats};
}

// The group's batch moments in two passes, in double: the mean, then the mean squared deviation
// from it (no cancellation, unlike the mean of squares minus the squared mean). Writes them,
// rounded, to a.mean and a.var, and the exact means to exact_mean[ch - group.c0].
void group_moments(const NormArgs& a, const Planes& p, const Group& group, double* exact_mean) {
  const double count = static_cast<double>(p.count());
  ChannelSums<1> sum = {}, squares = {};
  for (int64_t p0 = 0; p0 < p.hw; p0 += kTileElements) {
    const Tile t = group.tile(p, p0);
    ChannelSums<1> acc = {};
    over_batch(p, t, [&](int64_t i, int64_t j) { acc[0][j] += a.x[i]; });
    add_to_channels<1>(t, group, acc, sum);
  }
  for (int64_t p0 = 0; p0 < p.hw; p0 += kTileElements) {
    const Tile t = group.tile(p, p0);
    double mu[kTileElements];
    ChannelSums<1> acc = {};
    for (int64_t ch = t.c0; ch < t.c1; ++ch)
      std::fill_n(mu + (ch - t.c0) * t.positions(), t.positions(), sum[0][ch - group.c0] / count);
    over_batch(p, t, [&](int64_t i, int64_t j) {
      const double d = a.x[i] - mu[j];
      acc[0][j] += d * d;
    });
    add_to_channels<1>(t, group, acc, squares);
  }
  for (int64_t ch = group.c0; ch < group.c1; ++ch) {
    exact_mean[ch - group.c0] = sum[0][ch - group.c0] / count;
    a.mean[ch] = static_cast<float>(exact_mean[ch - group.c0]);
    a.var[ch] = static_cast<float>(squares[0][ch - group.c0] / count);
  }
}

// y = activation((x - mu) k + b) over the tile.
template <class F>
void write_tile(const NormArgs& a, const Planes& p, const Tile& t, const float* mu, const float* k,
                const float* b, float* y, F activation) {
  over_batch(p, t,
             [&](int64_t i, int64_t j) { y[i] = activation((a.x[i] - mu[j]) * k[j] + b[j]); });
}

// batch_norm_forward for one channel group.
MINIMAX_VECTOR_CLONES void forward_group(const NormArgs& a, const Planes& p, const Group& group,
                                         NormActivation activation, float* y) {
  double exact_mean[kTileElements];
  if (a.batch_stats) group_moments(a, p, group, exact_mean);
  // y = (x - mu) k + b with mu the stored mean, and b making up for the exact mean's offset from
  // it.
  auto k_of = [&](int64_t ch) {
    return (a.scale ? a.scale[ch] : 1.0f) * rstd_of(a.var[ch], a.eps);
  };
  auto b_of = [&](int64_t ch) {
    const double exact = a.batch_stats ? exact_mean[ch - group.c0] : a.mean[ch];
    return (a.shift ? a.shift[ch] : 0.0) - (exact - a.mean[ch]) * k_of(ch);
  };
  for (int64_t p0 = 0; p0 < p.hw; p0 += kTileElements) {
    const Tile t = group.tile(p, p0);
    float mu[kTileElements], k[kTileElements], b[kTileElements];
    spread(t, mu, [&](int64_t ch) { return a.mean[ch]; });
    spread(t, k, k_of);
    spread(t, b, b_of);
    const float slope = activation.negative_slope;
    if (!activation.enabled)
      write_tile(a, p, t, mu, k, b, y, [](float v) { return v; });
    else if (slope == 0.0f)
      write_tile(a, p, t, mu, k, b, y, [](float v) { return relu_value(v); });
    else
      write_tile(a, p, t, mu, k, b, y, [slope](float v) { return leaky_relu_value(v, slope); });
  }
}

}  // namespace

void batch_norm_forward(const Tensor& x, const Tensor& scale, const Tensor& shift,
                        const Tensor& mean, const Tensor& var, const Tensor& y, float eps,
                        bool batch_stats, NormActivation activation) {
  if (x.numel() == 0) return;
  const Planes p(x);
  const NormArgs a = norm_args(x, scale, shift, mean, var, eps, batch_stats);
  float* ys = y.data();
  for_each_group(p, [&](const Group& group) { forward_group(a, p, group, activation, ys); });
}

namespace {

// The gradients of one group: gy in, gx out, and gscale / gshift [C] when wanted.
struct BackwardArgs {
  const float* gy;
  float *gx, *gscale, *gshift;
};

// batch_norm_backward for one channel group, with k = scale * rstd and xhat = (x - mean) rstd:
// gscale = sum(gy xhat) and gshift = sum(gy) when wanted; gx = k (gy - mean(gy) - xhat mean(gy
// xhat)) with batch statistics, k gy with given ones. The batch mean mu was rounded to float; the
// exact one is mu + mean(x - mu), and the sums use it, since the rounding times rstd |mean(gy)|
// would show in gx and gscale where the channel's mean is large against its spread.
MINIMAX_VECTOR_CLONES void backward_group(const NormArgs& a, const BackwardArgs& b, const Planes& p,
                                          const Group& group) {
  const double count = static_cast<double>(p.count());
  ChannelSums<3> sums = {};  // sum(gy), sum(x - mu), sum(gy (x - mu))
  if (a.batch_stats || b.gscale || b.gshift)
    for (int64_t p0 = 0; p0 < p.hw; p0 += kTileElements) {
      const Tile t = group.tile(p, p0);
      float mu[kTileElements];
      ChannelSums<3> acc = {};
      spread(t, mu, [&](int64_t ch) { return a.mean[ch]; });
      over_batch(p, t, [&](int64_t i, int64_t j) {
        const double d = static_cast<double>(a.x[i]) - mu[j];
        acc[0][j] += b.gy[i];
        acc[1][j] += d;
        acc[2][j] += b.gy[i] * d;
      });
      add_to_channels<3>(t, group, acc, sums);
    }
  // Training: gx = k (gy - mean(gy)) + c1 (x - mean). In floats, k (gy - g_mean) + c1 (x - mu) +
  // c0 with g_mean and mu the two means rounded, c0 making up for both roundings. Subtracting
  // g_mean before scaling keeps k gy and k mean(gy) from cancelling where gy is far from 0 against
  // its spread.
  float k[kTileElements], g_mean[kTileElements], c1[kTileElements], c0[kTileElements];
  for (int64_t ch = group.c0; ch < group.c1; ++ch) {
    const int64_t at = ch - group.c0;
    const float rstd = rstd_of(a.var[ch], a.eps);
    const double g = sums[0][at], offset = a.batch_stats ? sums[1][at] / count : 0.0;
    const double gd = sums[2][at] - g * offset;  // sum(gy (x - mean))
    if (b.gscale) b.gscale[ch] = static_cast<float>(gd * rstd);
    if (b.gshift) b.gshift[ch] = static_cast<float>(g);
    k[at] = (a.scale ? a.scale[ch] : 1.0f) * rstd;
    const double slope = -k[at] * static_cast<double>(rstd) * rstd * gd / count;
    g_mean[at] = static_cast<float>(g / count);
    c1[at] = static_cast<float>(slope);
    c0[at] = static_cast<float>(k[at] * (g_mean[at] - g / count) - slope * offset);
  }
  for (int64_t p0 = 0; p0 < p.hw; p0 += kTileElements) {
    const Tile t = group.tile(p, p0);
    auto of_group = [&](const float* v) { return [&, v](int64_t ch) { return v[ch - group.c0]; }; };
    float ks[kTileElements];
    spread(t, ks, of_group(k));
    if (!a.batch_stats) {
      over_batch(p, t, [&](int64_t i, int64_t j) { b.gx[i] = b.gy[i] * ks[j]; });
      continue;
    }
    float mu[kTileElements], gm[kTileElements], c1s[kTileElements], c0s[kTileElements];
    spread(t, mu, [&](int64_t ch) { return a.mean[ch]; });
    spread(t, gm, of_group(g_mean));
    spread(t, c1s, of_group(c1));
    spread(t, c0s, of_group(c0));
    over_batch(p, t, [&](int64_t i, int64_t j) {
      b.gx[i] = (b.gy[i] - gm[j]) * ks[j] + (a.x[i] - mu[j]) * c1s[j] + c0s[j];
    });
  }
}

}  // namespace

void batch_norm_backward(const Tensor& x, const Tensor& gy, const Tensor& scale, const Tensor& mean,
                         const Tensor& var, const Tensor& gx, const Tensor& gscale,
                         const Tensor& gshift, float eps, bool batch_stats) {
  if (x.numel() == 0) {  // an empty batch: nothing to scale or shift
    for (const Tensor& g : {gscale, gshift})
      if (g.defined()) std::fill_n(g.data(), g.numel(), 0.0f);
    return;
  }
  const Planes p(x);
  const NormArgs a = norm_args(x, scale, Tensor(), mean, var, eps, batch_stats);
  const BackwardArgs b{gy.data(), gx.data(), data_or_null(gscale), data_or_null(gshift)};
  for_each_group(p, [&](const Group& group) { backward_group(a, b, p, group); });
}

namespace {

// The double backward's operands beside NormArgs: gy, and u, the gradient arriving at gx; and its
// outputs (null: not wanted).
struct DoubleBackwardArgs {
  const float *gy, *u;
  float *d_gy, *d_x, *d_scale;
};

// The per-element factors of the double backward's outputs for one channel:
// d_gy = k_g (u - ubar - xh b) and d_x = k_x (cx xh + m u + b gy - q0), xh = (x - mu) r.
struct DoubleBackwardFactors {
  float mu, r, k_g, k_x, cx, q0, m, b, ubar;
};

// One channel's factors from its sums. With r = rstd, xhat = (x - mean) r and means over the
// channel's elements, gx = scale r Pg where P q = q - mean(q) - xhat mean(q xhat) (P is
// symmetric). Differentiating, with gbar = mean(gy), m = mean(gy xhat), ubar = mean(u), b =
// mean(u xhat) and c = mean(u Pg):
//   d_gy = scale r P u = scale r (u - ubar - xhat b)
//   d_x = -scale r^2 (c xhat + P(m u + b gy)) = -scale r^2 ((c - 2 m b) xhat + m u + b gy
//         - m ubar - b gbar)
//   d_scale = r sum(u Pg) = r count c
// (d_x: r's derivative gives the xhat c term, xhat's and m's give P(m u + b gy)).
// The sums s (of d, gy, gy d, u, u d and u gy, with d = x - mu) run over x - mu, mu being the
// forward's mean rounded to float, and take the exact mean as mu + mean(x - mu), as
// batch_norm_backward does; r is the forward's, from its float variance.
DoubleBackwardFactors double_backward_factors(const double (&s)[6], double n, double gamma,
                                              float mu, float rf, float* d_scale) {
  const double r = rf;
  const double offset = s[0] / n;  // the exact mean - mu
  const double sgx = (s[2] - s[1] * offset) * r, sux = (s[4] - s[3] * offset) * r;
  const double gbar = s[1] / n, m = sgx / n, ubar = s[3] / n, b = sux / n;
  const double c = s[5] / n - gbar * ubar - m * b;
  if (d_scale) *d_scale = static_cast<float>(r * n * c);
  return {mu,
          rf,
          static_cast<float>(gamma * r),
          static_cast<float>(-gamma * r * r),
          static_cast<float>(c - 2.0 * m * b),
          static_cast<float>(m * ubar + b * gbar),
          static_cast<float>(m),
          static_cast<float>(b),
          static_cast<float>(ubar)};
}

// batch_norm_double_backward for one channel group.
MINIMAX_VECTOR_CLONES void double_backward_group(const NormArgs& a, const DoubleBackwardArgs& d,
                                                 const Planes& p, const Group& group) {
  ChannelSums<6> sums = {};
  for (int64_t p0 = 0; p0 < p.hw; p0 += kTileElements) {
    const Tile t = group.tile(p, p0);
    float mu[kTileElements];
    ChannelSums<6> acc = {};
    spread(t, mu, [&](int64_t ch) { return a.mean[ch]; });
    over_batch(p, t, [&](int64_t i, int64_t j) {
      const double dx = static_cast<double>(a.x[i]) - mu[j], g = d.gy[i], u = d.u[i];
      acc[0][j] += dx;
      acc[1][j] += g;
      acc[2][j] += g * dx;
      acc[3][j] += u;
      acc[4][j] += u * dx;
      acc[5][j] += u * g;
    });
    add_to_channels<6>(t, group, acc, sums);
  }
  DoubleBackwardFactors f[kTileElements];
  for (int64_t ch = group.c0; ch < group.c1; ++ch) {
    const int64_t at = ch - group.c0;
    const double s[6] = {sums[0][at], sums[1][at], sums[2][at],
                         sums[3][at], sums[4][at], sums[5][at]};
    f[at] = double_backward_factors(s, static_cast<double>(p.count()), a.scale ? a.scale[ch] : 1.0,
                                    a.mean[ch], rstd_of(a.var[ch], a.eps),
                                    d.d_scale ? d.d_scale + ch : nullptr);
  }
  for (int64_t p0 = 0; p0 < p.hw; p0 += kTileElements) {
    const Tile t = group.tile(p, p0);
    auto factor = [&](float DoubleBackwardFactors::*member, float* out) {
      spread(t, out, [&](int64_t ch) { return f[ch - group.c0].*member; });
    };
    float mu[kTileElements], r[kTileElements], k_g[kTileElements], k_x[kTileElements],
        cx[kTileElements], q0[kTileElements], m[kTileElements], b[kTileElements],
        ubar[kTileElements];
    factor(&DoubleBackwardFactors::mu, mu);
    factor(&DoubleBackwardFactors::r, r);
    factor(&DoubleBackwardFactors::k_g, k_g);
    factor(&DoubleBackwardFactors::k_x, k_x);
    factor(&DoubleBackwardFactors::cx, cx);
    factor(&DoubleBackwardFactors::q0, q0);
    factor(&DoubleBackwardFactors::m, m);
    factor(&DoubleBackwardFactors::b, b);
    factor(&DoubleBackwardFactors::ubar, ubar);
    if (d.d_gy)
      over_batch(p, t, [&](int64_t i, int64_t j) {
        const float xh = (a.x[i] - mu[j]) * r[j];
        d.d_gy[i] = k_g[j] * (d.u[i] - ubar[j] - xh * b[j]);
      });
    if (d.d_x)
      over_batch(p, t, [&](int64_t i, int64_t j) {
        const float xh = (a.x[i] - mu[j]) * r[j];
        d.d_x[i] = k_x[j] * (cx[j] * xh + m[j] * d.u[i] + b[j] * d.gy[i] - q0[j]);
      });
  }
}

}  // namespace

void batch_norm_double_backward(const Tensor& x, const Tensor& gy, const Tensor& ggx,
                                const Tensor& scale, const Tensor& mean, const Tensor& var,
                                float eps, const Tensor& d_gy, const Tensor& d_x,
                                const Tensor& d_scale) {
  if (x.numel() == 0) {
    if (d_scale.defined()) std::fill_n(d_scale.data(), d_scale.numel(), 0.0f);
    return;
  }
  const Planes p(x);
  const NormArgs a = norm_args(x, scale, Tensor(), mean, var, eps, true);
  const DoubleBackwardArgs d{gy.data(), ggx.data(), data_or_null(d_gy), data_or_null(d_x),
                             data_or_null(d_scale)};
  for_each_group(p, [&](const Group& group) { double_backward_group(a, d, p, group); });
}

void batch_norm_update_running(const Tensor& running_mean, const Tensor& running_var,
                               const Tensor& mean, const Tensor& var, float momentum,
                               int64_t count) {
  const float keep = 1.0f - momentum;
  const float unbiased = momentum * (static_cast<float>(count) / static_cast<float>(count - 1));
  float* rm = running_mean.data();
  float* rv = running_var.data();
  const float* m = mean.data();
  const float* v = var.data();
  for (int64_t ch = 0; ch < mean.numel(); ++ch) {
    rm[ch] = rm[ch] * keep + m[ch] * momentum;
    rv[ch] = rv[ch] * keep + v[ch] * unbiased;
  }
}

// ---- layer normalization ----

using namespace dnnl_ctx;
using dnnl::memory;
using dnnl::normalization_flags;
using dnnl::prop_kind;

namespace {

normalization_flags flags_for(bool scale, bool shift) {
  auto f = static_cast<unsigned>(normalization_flags::none);
  if (scale) f |= static_cast<unsigned>(normalization_flags::use_scale);
  if (shift) f |= static_cast<unsigned>(normalization_flags::use_shift);
  return static_cast<normalization_flags>(f);
}

// Layer normalization of one [M,K] problem, eps and flags (which of scale and shift).
struct LayerNormEntry {
  memory::desc data, stat, param;
  normalization_flags flags;
  float eps;
  dnnl::layer_normalization_forward::primitive_desc forward_pd;
  dnnl::primitive forward, backward;  // backward built on first use
};

LayerNormEntry& layer_norm_entry(const Shape& x, float eps, normalization_flags flags) {
  return cached<LayerNormEntry>({key_of(eps), static_cast<int64_t>(flags), x[0], x[1]}, [&] {
    LayerNormEntry e{
        plain_desc(x), plain_desc(Shape{x[0]}), plain_desc(Shape{x[1]}), flags, eps, {}, {}, {}};
    dnnl::layer_normalization_forward::desc d(prop_kind::forward_training, e.data, e.stat, eps,
                                              flags);
    e.forward_pd = dnnl::layer_normalization_forward::primitive_desc(d, engine());
    e.forward = dnnl::layer_normalization_forward(e.forward_pd);
    return e;
  });
}

// The arguments every pass shares: data, statistics and the affine parameters that are given.
std::unordered_map<int, memory> layer_norm_args(const LayerNormEntry& e, const Tensor& x,
                                                const Tensor& scale, const Tensor& shift,
                                                const Tensor& mean, const Tensor& var) {
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(e.data, x.data())},
                                       {DNNL_ARG_MEAN, wrap(e.stat, mean.data())},
                                       {DNNL_ARG_VARIANCE, wrap(e.stat, var.data())}};
  if (scale.defined()) args.emplace(DNNL_ARG_SCALE, wrap(e.param, scale.data()));
  if (shift.defined()) args.emplace(DNNL_ARG_SHIFT, wrap(e.param, shift.data()));
  return args;
}

}  // namespace

void layer_norm_forward(const Tensor& x, const Tensor& scale, const Tensor& shift,
                        const Tensor& mean, const Tensor& var, const Tensor& y, float eps) {
  if (x.numel() == 0) return;
  LayerNormEntry& e = layer_norm_entry(x.shape(), eps, flags_for(scale.defined(), shift.defined()));
  auto args = layer_norm_args(e, x, scale, shift, mean, var);
  args.emplace(DNNL_ARG_DST, wrap(e.data, y.data()));
  execute(e.forward, args);
}

void layer_norm_backward(const Tensor& x, const Tensor& gy, const Tensor& scale,
                         const Tensor& shift, const Tensor& mean, const Tensor& var,
                         const Tensor& gx, const Tensor& gscale, const Tensor& gshift, float eps) {
  if (x.numel() == 0) {  // no rows: nothing to scale or shift
    for (const Tensor& g : {gscale, gshift})
      if (g.defined()) std::fill_n(g.data(), g.numel(), 0.0f);
    return;
  }
  LayerNormEntry& e = layer_norm_entry(x.shape(), eps, flags_for(scale.defined(), shift.defined()));
  if (!e.backward) {
    const bool affine = scale.defined() || shift.defined();
    dnnl::layer_normalization_backward::desc d(
        affine ? prop_kind::backward : prop_kind::backward_data, e.data, e.data, e.stat, e.eps,
        e.flags);
    e.backward = dnnl::layer_normalization_backward(
        dnnl::layer_normalization_backward::primitive_desc(d, engine(), e.forward_pd));
  }
  auto args = layer_norm_args(e, x, scale, shift, mean, var);
  args.emplace(DNNL_ARG_DIFF_DST, wrap(e.data, gy.data()));
  args.emplace(DNNL_ARG_DIFF_SRC, wrap(e.data, gx.data()));
  if (gscale.defined()) args.emplace(DNNL_ARG_DIFF_SCALE, wrap(e.param, gscale.data()));
  if (gshift.defined()) args.emplace(DNNL_ARG_DIFF_SHIFT, wrap(e.param, gshift.data()));
  execute(e.backward, args);
}

}  // namespace minimax::kernels
