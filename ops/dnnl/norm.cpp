// Batch normalization of plain nchw tensors (our own loops) and layer normalization of the rows
// of a plain [M,K] matrix (oneDNN), forward and fused backward.
//
// Batch norm is a loop over channels because oneDNN 2.6's for plain layouts (ncsp_bnorm) was about
// ten times slower than memory allows: 0.6 ms forward and 0.75 ms backward for DCGAN's
// [64,128,7,7]. Each channel's elements are N runs of H*W contiguous floats; the statistics and
// the reductions of the backward accumulate in double.
#include <dnnl.hpp>

#include <algorithm>
#include <cmath>

#include "ops/dnnl/context.h"
#include "ops/dnnl/nn_kernels.h"
#include "ops/runtime.h"

namespace minimax::kernels {

// ---- batch normalization ----

namespace {

// x [N,C,H,W] as N*C contiguous runs of H*W floats: channel ch's elements are the runs n*C + ch.
struct Planes {
  int64_t n, c, hw;
  explicit Planes(const Tensor& x)
      : n(x.size(0)), c(x.size(1)), hw(x.numel() / (x.size(0) * x.size(1))) {}
  int64_t count() const { return n * hw; }  // the elements of one channel
};

// Partial sums over kLanes lanes: a run's blocks of kLanes elements add lane by lane, the rest of
// the run to lane 0. The lanes are independent chains of additions, which the compiler keeps in
// vector registers: a single `omp simd` sum gets two (of two doubles each, with SSE2) and was
// bound by their latency: the forward of [64,128,7,7] took 0.19 ms instead of 0.14. (The
// backward's three sums give `omp simd` chains enough.)
constexpr int kLanes = 8;
struct Lanes {
  double v[kLanes] = {};
  double total() const {
    double t = 0.0;
    for (double x : v) t += x;
    return t;
  }
};

// Adds f(x[i]) over channel ch's elements into `sum`.
template <class F>
void add_channel(const float* x, const Planes& p, int64_t ch, Lanes& sum, F f) {
  for (int64_t s = 0; s < p.n; ++s) {
    const float* run = x + (s * p.c + ch) * p.hw;
    int64_t j = 0;
    for (; j + kLanes <= p.hw; j += kLanes)
      for (int k = 0; k < kLanes; ++k) sum.v[k] += f(run[j + k]);
    for (; j < p.hw; ++j) sum.v[0] += f(run[j]);
  }
}

// The mean and biased variance of one channel, in double.
struct Moments {
  double mean, var;
};

// Channel ch's moments in two passes: the mean, then the sum of squared deviations from it (no
// cancellation, unlike the mean of squares minus the squared mean).
Moments channel_moments(const float* x, const Planes& p, int64_t ch) {
  Lanes sum, squares;
  add_channel(x, p, ch, sum, [](float v) { return static_cast<double>(v); });
  const double mean = sum.total() / static_cast<double>(p.count());
  add_channel(x, p, ch, squares, [mean](float v) { return (v - mean) * (v - mean); });
  return {mean, squares.total() / static_cast<double>(p.count())};
}

float rstd_of(float var, float eps) {
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(var) + eps));
}

}  // namespace

void batch_norm_forward(const Tensor& x, const Tensor& scale, const Tensor& shift,
                        const Tensor& mean, const Tensor& var, const Tensor& y, float eps,
                        bool batch_stats) {
  if (x.numel() == 0) return;
  const Planes p(x);
  const float* xs = x.data();
  const float* sc = scale.defined() ? scale.data() : nullptr;
  const float* sh = shift.defined() ? shift.data() : nullptr;
  float* m = mean.data();
  float* v = var.data();
  float* ys = y.data();
#pragma omp parallel for if (x.numel() >= kParallelMinElements)
  for (int64_t ch = 0; ch < p.c; ++ch) {
    double exact_mean = m[ch];
    if (batch_stats) {
      const Moments batch = channel_moments(xs, p, ch);
      m[ch] = static_cast<float>(batch.mean);
      v[ch] = static_cast<float>(batch.var);
      exact_mean = batch.mean;
    }
    // y = (x - exact mean) a + shift, with the exact mean's offset from the stored one in b.
    const float mu = m[ch], a = (sc ? sc[ch] : 1.0f) * rstd_of(v[ch], eps);
    const float b = static_cast<float>((sh ? sh[ch] : 0.0) - (exact_mean - mu) * a);
    for (int64_t s = 0; s < p.n; ++s) {
      const int64_t run = (s * p.c + ch) * p.hw;
#pragma omp simd
      for (int64_t j = 0; j < p.hw; ++j) ys[run + j] = (xs[run + j] - mu) * a + b;
    }
  }
}

namespace {

// Channel ch's share of batch_norm_backward, with k = scale * rstd and xhat = (x - mean) rstd:
// gscale = sum(gy xhat) and gshift = sum(gy) when wanted; gx = k (gy - mean(gy) - xhat mean(gy
// xhat)) with batch statistics, k gy with given ones. The batch mean `mu` was rounded to float;
// the exact one is mu + mean(x - mu), and the sums use it, since the rounding times rstd |mean(gy)|
// would show in gx and gscale where the channel's mean is large against its spread.
void channel_backward(const float* x, const float* gy, float* gx, float* gscale, float* gshift,
                      const Planes& p, int64_t ch, float mu, float rstd, float k,
                      bool batch_stats) {
  double g = 0.0, sum_d = 0.0, sum_gd = 0.0;  // sum(gy), sum(x - mu), sum(gy (x - mu))
  for (int64_t s = 0; s < p.n && (batch_stats || gscale || gshift); ++s) {
    const int64_t run = (s * p.c + ch) * p.hw;
#pragma omp simd reduction(+ : g, sum_d, sum_gd)
    for (int64_t j = 0; j < p.hw; ++j) {
      const double d = static_cast<double>(x[run + j]) - mu;
      g += gy[run + j];
      sum_d += d;
      sum_gd += gy[run + j] * d;
    }
  }
  const double count = static_cast<double>(p.count());
  const double offset = batch_stats ? sum_d / count : 0.0;  // the exact mean - mu
  const double gd = sum_gd - g * offset;                    // sum(gy (x - mean))
  if (gscale) gscale[ch] = static_cast<float>(gd * rstd);
  if (gshift) gshift[ch] = static_cast<float>(g);
  // Training: gx = k (gy - mean(gy)) + c1 (x - mean). In floats, k (gy - g_mean) + c1 (x - mu) + c0
  // with g_mean and mu the two means rounded, c0 making up for both roundings. Subtracting g_mean
  // before scaling keeps k gy and k mean(gy) from cancelling where gy is far from 0 against its
  // spread.
  const double c1 = -k * static_cast<double>(rstd) * rstd * gd / count;
  const float g_mean = static_cast<float>(g / count);
  const float c0 = static_cast<float>(k * (g_mean - g / count) - c1 * offset);
  for (int64_t s = 0; s < p.n; ++s) {
    const int64_t run = (s * p.c + ch) * p.hw;
    if (batch_stats) {
#pragma omp simd
      for (int64_t j = 0; j < p.hw; ++j)
        gx[run + j] = (gy[run + j] - g_mean) * k + (x[run + j] - mu) * static_cast<float>(c1) + c0;
    } else {
#pragma omp simd
      for (int64_t j = 0; j < p.hw; ++j) gx[run + j] = gy[run + j] * k;
    }
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
  const float* sc = scale.defined() ? scale.data() : nullptr;
  const float* m = mean.data();
  const float* v = var.data();
  float* gsc = gscale.defined() ? gscale.data() : nullptr;
  float* gsh = gshift.defined() ? gshift.data() : nullptr;
#pragma omp parallel for if (x.numel() >= kParallelMinElements)
  for (int64_t ch = 0; ch < p.c; ++ch) {
    const float rstd = rstd_of(v[ch], eps);
    channel_backward(x.data(), gy.data(), gx.data(), gsc, gsh, p, ch, m[ch], rstd,
                     (sc ? sc[ch] : 1.0f) * rstd, batch_stats);
  }
}

namespace {

// Pointers to batch_norm_double_backward's operands and outputs (null: not wanted).
struct DoubleBackwardArgs {
  const float *x, *gy, *u;  // u: the gradient arriving at gx
  float *d_gy, *d_x, *d_scale;
};

// Channel ch's share of batch_norm_double_backward. With r = rstd, xhat = (x - mean) r and means
// over the channel's elements, gx = scale r Pg where P q = q - mean(q) - xhat mean(q xhat) (P is
// symmetric). Differentiating, with gbar = mean(gy), m = mean(gy xhat), ubar = mean(u), b =
// mean(u xhat) and c = mean(u Pg):
//   d_gy = scale r P u = scale r (u - ubar - xhat b)
//   d_x = -scale r^2 (c xhat + P(m u + b gy)) = -scale r^2 ((c - 2 m b) xhat + m u + b gy
//         - m ubar - b gbar)
//   d_scale = r sum(u Pg) = r count c
// (d_x: r's derivative gives the xhat c term, xhat's and m's give P(m u + b gy)).
// The sums run over x - mu, mu being the forward's mean rounded to float, and take the exact mean
// as mu + mean(x - mu), as channel_backward does; r is the forward's, from its float variance.
void channel_double_backward(const DoubleBackwardArgs& a, const Planes& p, int64_t ch, double gamma,
                             float mu, float rf) {
  const double r = rf, n = static_cast<double>(p.count());
  double sd = 0.0, sg = 0.0, sgd = 0.0, su = 0.0, sud = 0.0, sug = 0.0;
  for (int64_t s = 0; s < p.n; ++s) {
    const int64_t run = (s * p.c + ch) * p.hw;
#pragma omp simd reduction(+ : sd, sg, sgd, su, sud, sug)
    for (int64_t j = 0; j < p.hw; ++j) {
      const double d = static_cast<double>(a.x[run + j]) - mu, g = a.gy[run + j], u = a.u[run + j];
      sd += d;
      sg += g;
      sgd += g * d;
      su += u;
      sud += u * d;
      sug += u * g;
    }
  }
  const double offset = sd / n;  // the exact mean - mu
  const double sgx = (sgd - sg * offset) * r, sux = (sud - su * offset) * r;
  const double gbar = sg / n, m = sgx / n, ubar = su / n, b = sux / n;
  const double c = sug / n - gbar * ubar - m * b;
  if (a.d_scale) a.d_scale[ch] = static_cast<float>(r * n * c);
  // Per element, in float: d_gy = k_g (u - ubar - xh b); d_x = k_x (cx xh + m u + b gy - q0),
  // xh from the float mean as the forward's y.
  const float k_g = static_cast<float>(gamma * r), k_x = static_cast<float>(-gamma * r * r);
  const float cx = static_cast<float>(c - 2.0 * m * b),
              q0 = static_cast<float>(m * ubar + b * gbar);
  const float mf = static_cast<float>(m), bf = static_cast<float>(b), uf = static_cast<float>(ubar);
  for (int64_t s = 0; s < p.n; ++s) {
    const int64_t run = (s * p.c + ch) * p.hw;
#pragma omp simd
    for (int64_t j = 0; j < p.hw; ++j) {
      const float xh = (a.x[run + j] - mu) * rf, u = a.u[run + j];
      if (a.d_gy) a.d_gy[run + j] = k_g * (u - uf - xh * bf);
      if (a.d_x) a.d_x[run + j] = k_x * (cx * xh + mf * u + bf * a.gy[run + j] - q0);
    }
  }
}

float* data_or_null(const Tensor& t) {
  return t.defined() ? t.data() : nullptr;
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
  const DoubleBackwardArgs a{x.data(),           gy.data(),         ggx.data(),
                             data_or_null(d_gy), data_or_null(d_x), data_or_null(d_scale)};
  const float* sc = scale.defined() ? scale.data() : nullptr;
  const float *m = mean.data(), *v = var.data();
#pragma omp parallel for if (x.numel() >= kParallelMinElements)
  for (int64_t ch = 0; ch < p.c; ++ch)
    channel_double_backward(a, p, ch, sc ? sc[ch] : 1.0, m[ch], rstd_of(v[ch], eps));
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
