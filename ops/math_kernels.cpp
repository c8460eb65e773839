// Float kernels evaluated in double and rounded once (see math_kernels.h for the accuracy).
#include "ops/math_kernels.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <iterator>
#include <limits>

#include "ops/runtime.h"
#include "ops/thread_ranges.h"
#include "ops/vector_clones.h"

namespace minimax::kernels {

namespace {

constexpr double kLn2 = 0x1.62e42fefa39efp-1;
constexpr double kShifter =
    0x1.8p52;  // adding it rounds a double of magnitude < 2^51 to an integer

// e^r - 1 for |r| <= 0.35: Taylor to r^11/11!, whose truncation error is below 2e-14 relative.
inline double expm1_small(double r) {
  double p = 1.0 / 39916800;
  p = p * r + 1.0 / 3628800;
  p = p * r + 1.0 / 362880;
  p = p * r + 1.0 / 40320;
  p = p * r + 1.0 / 5040;
  p = p * r + 1.0 / 720;
  p = p * r + 1.0 / 120;
  p = p * r + 1.0 / 24;
  p = p * r + 1.0 / 6;
  p = p * r + 0.5;
  p = p * r + 1.0;
  return p * r;
}

// e^x for |x| <= 700 (callers clamp): x = k ln2 + r with |r| <= ln2 / 2, e^x = 2^k e^r. The integer
// k lives in the low bits of t, so 2^k is built from bits without an int/double conversion.
inline double exp_d(double x) {
  const double t = x * (1.0 / kLn2) + kShifter;
  const double k = t - kShifter;
  const double r = x - k * kLn2;
  const uint64_t ki = std::bit_cast<uint64_t>(t) - std::bit_cast<uint64_t>(kShifter);
  const double scale = std::bit_cast<double>((ki + 1023) << 52);
  return scale + scale * expm1_small(r);
}

// log(d) for a positive finite double of float range: d = 2^k m with m in [sqrt(1/2), sqrt(2)),
// log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172, as an odd series to s^17.
inline double log_d(double d) {
  constexpr uint64_t kSqrtHalf = 0x3fe6a09e667f3bcdULL;  // sqrt(1/2)
  const uint64_t b = std::bit_cast<uint64_t>(d);
  const uint64_t u = b - kSqrtHalf;
  const uint64_t biased_k = (u + (uint64_t{1} << 63)) >> 52;  // k + 2048, in [0, 4096)
  const double k = std::bit_cast<double>(0x4330000000000000ULL | biased_k) - (0x1p52 + 2048);
  const double m = std::bit_cast<double>(b - (u & 0xfff0000000000000ULL));
  const double f = m - 1.0;  // exact (Sterbenz)
  const double s = f / (2.0 + f), z = s * s;
  double p = 1.0 / 17;
  p = p * z + 1.0 / 15;
  p = p * z + 1.0 / 13;
  p = p * z + 1.0 / 11;
  p = p * z + 1.0 / 9;
  p = p * z + 1.0 / 7;
  p = p * z + 1.0 / 5;
  p = p * z + 1.0 / 3;
  return k * kLn2 + (2.0 * s + 2.0 * s * z * p);
}

// log(1 + t) for 0 <= t <= 1: u = 1 + t rounds; c is what it lost, and log(u + c) ~ log u + c / u.
inline double log1p_d(double t) {
  const double u = 1.0 + t;
  const double c = t - (u - 1.0);
  return log_d(u) + c / u;
}

inline float log_one(float x) {
  const float r = static_cast<float>(log_d(static_cast<double>(x)));
  if (x > 0.0f && x < std::numeric_limits<float>::infinity()) return r;
  if (x == 0.0f) return -std::numeric_limits<float>::infinity();
  return x > 0.0f ? x : std::numeric_limits<float>::quiet_NaN();  // +inf; negative or NaN
}

// max(x, 0) + log(1 + e^-|x|); |x| is clamped at 200, beyond which e^-|x| underflows float anyway.
inline float softplus_one(float x) {
  const double xd = x;
  const double a = std::min(std::abs(xd), 200.0);
  const float r = static_cast<float>(std::max(xd, 0.0) + log1p_d(exp_d(-a)));
  return x == x ? r : x;
}

// x for x > 0, else alpha (e^x - 1): the small-|x| series keeps e^x - 1 accurate relative to
// itself.
inline float elu_one(float x, float alpha) {
  const double xd = std::max(static_cast<double>(x), -200.0);
  const double em1 = xd > -0.35 ? expm1_small(xd) : exp_d(xd) - 1.0;
  const float r = static_cast<float>(alpha * em1);
  return x > 0.0f || x != x ? x : r;
}

// e^x, clamped to +-200 where float overflows to inf or underflows to 0 anyway.
inline float exp_one(float x) {
  const float r = static_cast<float>(exp_d(std::clamp(static_cast<double>(x), -200.0, 200.0)));
  return x == x ? r : x;
}

// The loops one thread runs over its range, MINIMAX_VECTOR_CLONES (ops/vector_clones.h), where a
// register holds eight or four doubles instead of two. f must be a lambda, a type of its own, so
// that each kernel gets its own clones with f inlined (a function pointer would be called).
template <class F>
MINIMAX_VECTOR_CLONES void map_range(const float* x, float* y, int64_t n, F f) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}
// gx = g f'(x), the product taken in double and rounded once.
template <class D>
MINIMAX_VECTOR_CLONES void grad_range(const float* g, const float* x, float* gx, int64_t n,
                                      D derivative) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i)
    gx[i] = static_cast<float>(static_cast<double>(g[i]) * derivative(x[i]));
}
// y = f(a, b), in float.
template <class F>
MINIMAX_VECTOR_CLONES void zip_range(const float* a, const float* b, float* y, int64_t n, F f) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
}
template <class F>
void map(const float* x, float* y, int64_t n, F f) {
  in_ranges(n, n >= kParallelMinElements,
            [=](int64_t b, int64_t e) { map_range(x + b, y + b, e - b, f); });
}
template <class D>
void map_grad(const float* g, const float* x, float* gx, int64_t n, D derivative) {
  in_ranges(n, n >= kParallelMinElements,
            [=](int64_t b, int64_t e) { grad_range(g + b, x + b, gx + b, e - b, derivative); });
}

// PyTorch evaluates x / (1 + e^-x) and x Phi(x) as written, so an infinite input gives NaN
// where the formula meets inf / inf or inf * 0: silu and gelu at -inf, both derivatives at +-inf.
inline bool is_inf(float x) {
  return std::abs(x) == std::numeric_limits<float>::infinity();
}
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr float kNaNF = std::numeric_limits<float>::quiet_NaN();

// x / (1 + e^-x); -x clamped to +-200, beyond which the result is x or rounds to 0 anyway.
inline float silu_one(float x) {
  const double xd = x;
  const float r = static_cast<float>(xd / (1.0 + exp_d(std::clamp(-xd, -200.0, 200.0))));
  return x == -std::numeric_limits<float>::infinity() ? kNaNF : r;
}
// silu'(x) = sigmoid(x) (1 + x (1 - sigmoid(x))) = (1 + e (1 + x)) / (1 + e)^2 with e = e^-x, a
// form without the cancellation 1 - sigmoid(x) has for large x.
inline double silu_derivative(float x) {
  const double xd = x, e = exp_d(std::clamp(-xd, -200.0, 200.0));
  const double d = (1.0 + e * (1.0 + xd)) / ((1.0 + e) * (1.0 + e));
  return is_inf(x) ? kNaN : d;
}

constexpr double kSqrtHalf = 0x1.6a09e667f3bcdp-1;    // 1 / sqrt(2)
constexpr double kInvSqrt2Pi = 0x1.9884533d43651p-2;  // 1 / sqrt(2 pi)

// e^(t^2) erfc(t) for 0 <= t <= 12, within 2e-14 relative: a Chebyshev series in v, where u =
// 4 / (4 + t) runs over [1/4, 1] and v = (2u - 5/4) / (3/4) over [-1, 1]. The coefficients are
// tests/reference/fit_erfcx.py's fit to libm's erfc, which has no vector form.
constexpr double kErfcxSeries[] = {
    0.35986108535047523,    0.4293309031496401,    0.15208688038334145,     0.04491978350603232,
    0.011097833204452937,   0.002274171391799407,  0.00037734139448334264,  4.7965557226688056e-05,
    4.003910218510695e-06,  6.996815887726595e-08, -3.3795246326187926e-08, -4.136732020320522e-09,
    5.715793593890819e-11,  5.710247012494103e-11, 2.6273358609336944e-12,  -6.833146407949603e-13,
    -6.485690446805677e-14, 8.570074180431893e-15, 1.1675408533417145e-15,  -8.918714851915874e-17,
    -4.864753555590475e-17,
};
inline double erfcx_d(double t) {
  const double v = (8.0 / (4.0 + t) - 1.25) * (4.0 / 3.0);
  // Clenshaw's recurrence, unrolled so that the caller's loop vectorizes.
  double b1 = 0.0, b2 = 0.0;
#pragma GCC unroll 32
  for (int k = std::size(kErfcxSeries) - 1; k > 0; --k) {
    const double b = kErfcxSeries[k] + 2.0 * v * b1 - b2;
    b2 = b1;
    b1 = b;
  }
  return kErfcxSeries[0] + v * b1 - b2;
}
// Phi(x) = erfc(-x / sqrt 2) / 2, through the tail e^(-t^2) erfcx(t) / 2 at t = |x| / sqrt 2, so
// that the tiny values for negative x keep their relative accuracy. Beyond t = 12 (|x| = 17) the
// tail is below 4e-65 and x Phi(x) rounds to 0 in float for every x (even -FLT_MAX, which a tail
// held at its t = 12 value would turn into -2e-26): the tail is 0 there.
inline double normal_cdf_d(double x) {
  const double s = std::abs(x) * kSqrtHalf, t = std::min(s, 12.0);
  const double tail = s > 12.0 ? 0.0 : 0.5 * exp_d(-t * t) * erfcx_d(t);
  return x < 0.0 ? tail : 1.0 - tail;
}
// x Phi(x).
inline float gelu_one(float x) {
  const double xd = x;
  const float r = static_cast<float>(xd * normal_cdf_d(xd));
  return x == -std::numeric_limits<float>::infinity() ? kNaNF : r;
}
// gelu's tanh form, x (1 + tanh(u)) / 2 with u = sqrt(2/pi) (x + 0.044715 x^3), is x sigmoid(z)
// with z = 2u: 1 + tanh(u) = 2 sigmoid(2u), without the cancellation 1 + tanh(u) has for negative
// x. Both it and its derivative are written in m = e^-|z| <= 1, so that no e^|z| overflows and no
// clamped exponential meets the x^3 that grows beside it.
constexpr double kSqrt2OverPi = 0x1.9884533d43651p-1;
constexpr double kGeluCubic = 0.044715;
inline double gelu_tanh_z(double x) {
  return 2.0 * kSqrt2OverPi * (x + kGeluCubic * x * x * x);
}
inline float gelu_tanh_one(float x) {
  const double xd = x, z = gelu_tanh_z(xd);
  const double m = exp_d(std::max(-std::abs(z), -700.0));
  const float r = static_cast<float>(z >= 0.0 ? xd / (1.0 + m) : xd * m / (1.0 + m));
  return x == -std::numeric_limits<float>::infinity() ? kNaNF : r;
}
// d/dx x sigmoid(z) = s + x z' s (1 - s), z' = 2 sqrt(2/pi) (1 + 3 * 0.044715 x^2): in m, (1 + m +
// x z' m) / (1 + m)^2 for z >= 0 and m (1 + m + x z') / (1 + m)^2 below.
inline double gelu_tanh_derivative(float x) {
  const double xd = x, z = gelu_tanh_z(xd);
  const double m = exp_d(std::max(-std::abs(z), -700.0));
  const double dz = 2.0 * kSqrt2OverPi * (1.0 + 3.0 * kGeluCubic * xd * xd);
  const double d =
      (z >= 0.0 ? 1.0 + m + xd * dz * m : m * (1.0 + m + xd * dz)) / ((1.0 + m) * (1.0 + m));
  return is_inf(x) ? kNaN : d;
}
// gelu'(x) = Phi(x) + x phi(x); phi(x) x is below any double for |x| > 38, and is taken as 0
// there, where x^2 / 2 leaves exp_d's range.
inline double gelu_derivative(float x) {
  const double xd = x;
  const double x_phi = std::abs(xd) < 38.0 ? xd * exp_d(-0.5 * xd * xd) * kInvSqrt2Pi : 0.0;
  return is_inf(x) ? kNaN : normal_cdf_d(xd) + x_phi;
}

}  // namespace

void log(const float* x, float* y, int64_t n) {
  map(x, y, n, [](float v) { return log_one(v); });
}
void softplus(const float* x, float* y, int64_t n) {
  map(x, y, n, [](float v) { return softplus_one(v); });
}
void log_sigmoid(const float* x, float* y, int64_t n) {
  map(x, y, n, [](float v) { return -softplus_one(-v); });
}
void elu(const float* x, float* y, int64_t n, float alpha) {
  map(x, y, n, [alpha](float v) { return elu_one(v, alpha); });
}
void exp(const float* x, float* y, int64_t n) {
  map(x, y, n, [](float v) { return exp_one(v); });
}
void silu(const float* x, float* y, int64_t n) {
  map(x, y, n, [](float v) { return silu_one(v); });
}
void silu_backward(const float* g, const float* x, float* gx, int64_t n) {
  map_grad(g, x, gx, n, [](float v) { return silu_derivative(v); });
}
void gelu_tanh(const float* x, float* y, int64_t n) {
  map(x, y, n, [](float v) { return gelu_tanh_one(v); });
}
void gelu_tanh_backward(const float* g, const float* x, float* gx, int64_t n) {
  map_grad(g, x, gx, n, [](float v) { return gelu_tanh_derivative(v); });
}
void gelu(const float* x, float* y, int64_t n) {
  map(x, y, n, [](float v) { return gelu_one(v); });
}
void gelu_backward(const float* g, const float* x, float* gx, int64_t n) {
  map_grad(g, x, gx, n, [](float v) { return gelu_derivative(v); });
}
void relu(const float* x, float* y, int64_t n) {
  map(x, y, n, [](float v) { return relu_value(v); });
}
void leaky_relu(const float* x, float* y, int64_t n, float slope) {
  map(x, y, n, [slope](float v) { return leaky_relu_value(v, slope); });
}
void relu_backward(const float* g, const float* s, float* gx, int64_t n, float slope) {
  in_ranges(n, n >= kParallelMinElements, [=](int64_t b, int64_t e) {
    zip_range(g + b, s + b, gx + b, e - b,
              [slope](float gi, float si) { return si > 0.0f ? gi : gi * slope; });
  });
}
void clamp(const float* x, float* y, int64_t n, float low, float high) {
  map(x, y, n, [low, high](float v) { return v < low ? low : v > high ? high : v; });
}

namespace {

// One row of `count` elements `stride` apart. The sum of e^(x - max) is in [1, count] (or NaN), so
// log_d applies; a row of all -inf gives NaN, as in PyTorch.
void log_softmax_row(const float* x, float* y, int64_t count, int64_t stride) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < count; ++j) m = std::max(m, x[j * stride]);
  double s = 0.0;
  for (int64_t j = 0; j < count; ++j)
    s += exp_d(std::max(static_cast<double>(x[j * stride]) - m, -700.0));
  const double lse = m + (s == s ? log_d(s) : s);
  for (int64_t j = 0; j < count; ++j) y[j * stride] = static_cast<float>(x[j * stride] - lse);
}

}  // namespace

void log_softmax(const Tensor& x, const Tensor& y, int axis) {
  const Shape& shape = x.shape();
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= shape[d];
  for (int d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  const int64_t count = shape[axis];
  const float* xs = x.data();
  float* ys = y.data();
#pragma omp parallel for schedule(static) if (parallel \
                                              : outer * inner * count >= kParallelMinElements)
  for (int64_t r = 0; r < outer * inner; ++r) {
    const int64_t offset = (r / inner) * count * inner + r % inner;
    log_softmax_row(xs + offset, ys + offset, count, inner);
  }
}

}  // namespace minimax::kernels
