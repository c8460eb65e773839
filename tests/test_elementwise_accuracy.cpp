// Every unary elementwise op, its first derivative and (where not zero) its second, swept over its
// domain and compared with the same function evaluated in double with <cmath>.
//
// The error is counted in float ulps of the double reference: |got - ref| / ulp(max(|ref|, floor)).
// The floor is per op and order: where the float formula computes a small value as a difference of
// larger ones (tanh' = 1 - y^2 near |x| = 10, sigmoid'' crossing zero at x = 0, a curvature built
// from several rounded factors), the error can only be bounded relative to those larger terms, and
// the floor names their size. Forward values use floor 0 (pure ulps, denormals included): a float
// function has no excuse for more than a few ulps. A reference that rounds to +-inf must give that
// infinity; a NaN reference must give NaN; any other NaN or infinity fails. A result below FLT_MIN
// may be flushed to zero: oneDNN's JIT kernels (sigmoid, and the derivatives built on its exp)
// flush denormal results, which is their only error there; our own kernels (exp among them) keep
// them (a test below). oneDNN's exp, and so its sigmoid and the derivatives of softplus,
// log_sigmoid and elu (and silu's second, built on sigmoid), are up to 4.4 ulps off at the ends of
// its range (e^73, results near FLT_MIN); 1 ulp elsewhere.
// That is with AVX2: below it oneDNN's exp reduces its argument without a fused multiply-add and
// loses up to an ulp per unit of |x| (62 ulps at e^72, 50 at e^-86.7), which those ops are allowed
// there (exp_slack).
// pow's derivative p x^p / x rounds twice after pow itself: 2.1 ulps measured.
//
// Points: every binade from the smallest denormal to the domain's end, 48 mantissas each, both
// signs; 20,001 evenly spaced points over [-8, 8] (or the domain's part of it); and each point's
// neighbours where a function is most delicate (1 for log, 0 for most, the domain's ends).
// Kinks (relu at 0, clamp at its bounds) are left out of the derivatives.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "minimax.h"
#include "onednn_isa.h"

using namespace minimax;

namespace {

using Fn = std::function<double(double)>;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr float kInfF = std::numeric_limits<float>::infinity();
constexpr float kNaNF = std::numeric_limits<float>::quiet_NaN();

struct Bound {
  double ulps;
  double floor = 0.0;
};

struct Sweep {
  std::string name;
  std::function<Tensor(const Tensor&)> op;
  Fn f, d1, d2;      // d2 null: the second derivative is zero where defined, and not checked
  double low, high;  // the domain, closed
  std::vector<double> kinks;  // points left out of the derivatives
  Bound forward, first, second = {};
  // Points with 0 < |x| < tiny are left out: oneDNN's pow backward gets x^(p-1) from x^p, so it
  // gives 0 where x^p underflows (3 x^2 at x = 1.4e-18 is 0, not 6e-36).
  double tiny = 0.0;
};

std::vector<float> sweep_points(const Sweep& s) {
  std::vector<float> xs;
  auto keep = [&](double x) {
    if (x >= s.low && x <= s.high && !(x != 0 && std::abs(x) < s.tiny))
      xs.push_back(static_cast<float>(x));
  };
  for (int e = -149; e <= 127; ++e)
    for (int m = 0; m < 48; ++m) {
      double v = std::ldexp(1.0 + m / 48.0, e);
      keep(v);
      keep(-v);
    }
  for (int i = 0; i <= 20000; ++i) keep(-8.0 + 16.0 * i / 20000);
  for (double c : {0.0, 1.0, -1.0, s.low, s.high}) {
    float x = static_cast<float>(c);
    for (int k = 0; k < 8; ++k) {
      keep(x);
      x = std::nextafter(x, std::numeric_limits<float>::infinity());
    }
    x = static_cast<float>(c);
    for (int k = 0; k < 8; ++k)
      keep(x = std::nextafter(x, -std::numeric_limits<float>::infinity()));
  }
  return xs;
}

// The spacing of floats at |v| (the denormal spacing below FLT_MIN).
double ulp_at(double v) {
  v = std::abs(v);
  if (v < std::numeric_limits<float>::min()) return std::ldexp(1.0, -149);
  int e;
  std::frexp(v, &e);
  return std::ldexp(1.0, e - 24);
}

// The error of `got` against the double reference, in ulps of max(|ref|, floor).
double ulp_error(float got, double ref, double floor) {
  const float rounded = static_cast<float>(ref);
  if (std::isnan(ref)) return std::isnan(got) ? 0.0 : kInf;
  if (std::isinf(rounded)) return got == rounded ? 0.0 : kInf;
  if (!std::isfinite(got)) return kInf;
  if (got == 0.0f && std::abs(ref) < std::numeric_limits<float>::min()) return 0.0;  // flushed
  return std::abs(got - ref) / ulp_at(std::max(std::abs(ref), floor));
}

struct Worst {
  double ulps = 0.0;
  float x = 0.0f, got = 0.0f;
  double ref = 0.0;
};

// The ops whose values or derivatives come from oneDNN's exp.
bool uses_onednn_exp(const Sweep& s) {
  for (const char* name :
       {"sigmoid", "softplus", "log_sigmoid", "elu", "elu alpha 0.5", "silu", "gelu tanh"})
    if (s.name == name) return true;
  return false;
}

// The ulps allowed at x beyond the sweep's bound: |x| (up to exp's 89) for those ops where
// oneDNN's kernels lack AVX2 and so FMA (the header comment); none otherwise.
Fn exp_slack(const Sweep& s) {
  if (testing::onednn_has_avx2() || !uses_onednn_exp(s)) return [](double) { return 0.0; };
  return [](double x) { return std::min(std::abs(x), 89.0); };
}

// The point whose error most exceeds its slack; `ulps` holds the error less the slack.
Worst worst_error(const std::vector<float>& xs, const Tensor& got, const Fn& ref, double floor,
                  const Fn& slack) {
  std::vector<float> g = got.to_vector();
  Worst w;
  for (size_t i = 0; i < xs.size(); ++i) {
    double r = ref(xs[i]);
    double e = ulp_error(g[i], r, floor) - slack(xs[i]);
    if (!(e <= w.ulps)) w = {e, xs[i], g[i], r};
  }
  return w;
}

void check_worst(const std::string& what, const Worst& w, const Bound& b) {
  INFO(
      fmt::format("{}: {:.3g} ulps beyond the slack at x = {:.9g}: got {:.9g}, double gives "
                  "{:.17g}",
                  what, w.ulps, w.x, w.got, w.ref));
  CHECK(w.ulps <= b.ulps);
}

std::vector<float> away_from_kinks(const std::vector<float>& xs, const Sweep& s) {
  std::vector<float> kept;
  for (float x : xs) {
    bool near = false;
    for (double k : s.kinks) near = near || std::abs(x - k) < 1e-6;
    if (!near) kept.push_back(x);
  }
  return kept;
}

void run_sweep(const Sweep& s) {
  const std::vector<float> all = sweep_points(s);
  Tensor y = s.op(Tensor::from_vector(all, {int64_t(all.size())}));
  const Fn slack = exp_slack(s);
  check_worst(s.name, worst_error(all, y, s.f, s.forward.floor, slack), s.forward);
  const std::vector<float> xs = away_from_kinks(all, s);
  Tensor x = Tensor::from_vector(xs, {int64_t(xs.size())}).requires_grad_();
  Tensor g = grad({sum(s.op(x))}, {x}, {.create_graph = static_cast<bool>(s.d2)})[0];
  check_worst(s.name + "'", worst_error(xs, g, s.d1, s.first.floor, slack), s.first);
  if (!s.d2) return;
  Tensor gg = grad({sum(g)}, {x})[0];
  check_worst(s.name + "''", worst_error(xs, gg, s.d2, s.second.floor, slack), s.second);
}

double sigmoid_d(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}
double softplus_d(double x) {
  return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x)));
}

const double kFltMax = std::numeric_limits<float>::max();

// silu and gelu and their derivatives, in double. Phi through erfc keeps its tiny values for
// negative x relative-accurate.
double silu_d(double x) {
  return x * sigmoid_d(x);
}
double silu_d1(double x) {
  return sigmoid_d(x) * (1 + x * sigmoid_d(-x));
}
double silu_d2(double x) {
  return sigmoid_d(x) * sigmoid_d(-x) * (2 + x * (sigmoid_d(-x) - sigmoid_d(x)));
}
// gelu's tanh form is x sigmoid(z), z = 2 sqrt(2/pi) (x + 0.044715 x^3).
constexpr double kTanhGeluK = 1.5957691216057308;  // 2 sqrt(2/pi)
double tanh_gelu_z(double x) {
  return kTanhGeluK * (x + 0.044715 * x * x * x);
}
double tanh_gelu_d1(double x) {
  const double z = tanh_gelu_z(x), dz = kTanhGeluK * (1 + 3 * 0.044715 * x * x);
  return sigmoid_d(z) + x * dz * sigmoid_d(z) * sigmoid_d(-z);
}
double tanh_gelu_d2(double x) {
  const double z = tanh_gelu_z(x), dz = kTanhGeluK * (1 + 3 * 0.044715 * x * x);
  const double ddz = kTanhGeluK * 6 * 0.044715 * x, s = sigmoid_d(z), t = sigmoid_d(-z);
  return s * t * (2 * dz + x * ddz + x * dz * dz * (t - s));
}
double normal_cdf(double x) {
  return 0.5 * std::erfc(-x / std::sqrt(2.0));
}
double normal_pdf(double x) {
  return std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
}

std::vector<Sweep> transcendental_sweeps() {
  auto one = [](double) { return 1.0; };
  return {
      {"exp",
       [](const Tensor& x) { return exp(x); },
       [](double x) { return std::exp(x); },
       [](double x) { return std::exp(x); },
       [](double x) { return std::exp(x); },
       -104,
       89,
       {},
       {1},
       {1},
       {1}},
      {"log",
       [](const Tensor& x) { return log(x); },
       [](double x) { return std::log(x); },
       [](double x) { return 1 / x; },
       [](double x) { return -1 / (x * x); },
       0,
       kFltMax,
       {},
       {1},
       {1},
       {3}},
      {"sqrt",
       [](const Tensor& x) { return sqrt(x); },
       [](double x) { return std::sqrt(x); },
       [](double x) { return 0.5 / std::sqrt(x); },
       [](double x) { return -0.25 / (x * std::sqrt(x)); },
       0,
       kFltMax,
       {},
       {1},
       {2},
       {4}},
      {"sigmoid",
       [](const Tensor& x) { return sigmoid(x); },
       sigmoid_d,
       [](double x) { return sigmoid_d(x) * sigmoid_d(-x); },
       [](double x) { return sigmoid_d(x) * sigmoid_d(-x) * (1 - 2 * sigmoid_d(x)); },
       -kFltMax,
       kFltMax,
       {},
       {5},
       {2, 0.25},
       {8, 0.1}},
      {"tanh",
       [](const Tensor& x) { return tanh(x); },
       [](double x) { return std::tanh(x); },
       [](double x) { return 1 - std::tanh(x) * std::tanh(x); },
       [](double x) { return -2 * std::tanh(x) * (1 - std::tanh(x) * std::tanh(x)); },
       -kFltMax,
       kFltMax,
       {},
       {2},
       {2, 1},
       {4, 1}},
      {"softplus",
       [](const Tensor& x) { return softplus(x); },
       softplus_d,
       sigmoid_d,
       [](double x) { return sigmoid_d(x) * sigmoid_d(-x); },
       -kFltMax,
       kFltMax,
       {},
       {1},
       {5},
       {4, 0.25}},
      {"log_sigmoid",
       [](const Tensor& x) { return log_sigmoid(x); },
       [](double x) { return -softplus_d(-x); },
       [](double x) { return sigmoid_d(-x); },
       [](double x) { return -sigmoid_d(x) * sigmoid_d(-x); },
       -kFltMax,
       kFltMax,
       {},
       {1},
       {5},
       {4, 0.25}},
      {"elu",
       [](const Tensor& x) { return elu(x, 1.0f); },
       [](double x) { return x > 0 ? x : std::expm1(x); },
       [](double x) { return x > 0 ? 1 : std::exp(x); },
       [](double x) { return x > 0 ? 0 : std::exp(x); },
       -kFltMax,
       kFltMax,
       {0},
       {1},
       {5},
       {5}},
      {"elu alpha 0.5",
       [](const Tensor& x) { return elu(x, 0.5f); },
       [](double x) { return x > 0 ? x : 0.5 * std::expm1(x); },
       [](double x) { return x > 0 ? 1 : 0.5 * std::exp(x); },
       [](double x) { return x > 0 ? 0 : 0.5 * std::exp(x); },
       -kFltMax,
       kFltMax,
       {0},
       {1},
       {5},
       {5}},
      {"silu",
       [](const Tensor& x) { return silu(x); },
       silu_d,
       silu_d1,
       silu_d2,
       -kFltMax,
       kFltMax,
       {},
       {1},
       {1},
       {4, 0.25}},
      {"gelu",
       [](const Tensor& x) { return gelu(x); },
       [](double x) { return x * normal_cdf(x); },
       [](double x) { return normal_cdf(x) + x * normal_pdf(x); },
       [](double x) { return normal_pdf(x) * (2 - x * x); },
       -kFltMax,
       kFltMax,
       {},
       {1},
       {1},
       {4, 0.25}},
      {"gelu tanh",
       [](const Tensor& x) { return gelu(x, "tanh"); },
       [](double x) { return x * sigmoid_d(tanh_gelu_z(x)); },
       tanh_gelu_d1,
       tanh_gelu_d2,
       -kFltMax,
       kFltMax,
       {},
       {1},
       {1},
       {6, 0.25}},
      {"square",
       [](const Tensor& x) { return square(x); },
       [](double x) { return x * x; },
       [](double x) { return 2 * x; },
       [](double) { return 2.0; },
       -1.8e19,
       1.8e19,
       {},
       {1},
       {1},
       {1}},
      {"pow 3",
       [](const Tensor& x) { return pow(x, 3.0f); },
       [](double x) { return x * x * x; },
       [](double x) { return 3 * x * x; },
       [](double x) { return 6 * x; },
       -1e12,
       1e12,
       {},
       {2},
       {3},
       {4},
       1e-12},
      {"pow 1.5",
       [](const Tensor& x) { return pow(x, 1.5f); },
       [](double x) { return std::pow(x, 1.5); },
       [](double x) { return 1.5 * std::sqrt(x); },
       [](double x) { return 0.75 / std::sqrt(x); },
       0,
       1e25,
       {},
       {2},
       {3},
       {4},
       1e-24},
      {"pow -0.5",
       [](const Tensor& x) { return pow(x, -0.5f); },
       [](double x) { return 1 / std::sqrt(x); },
       [](double x) { return -0.5 / (x * std::sqrt(x)); },
       [](double x) { return 0.75 / (x * x * std::sqrt(x)); },
       1e-10,
       kFltMax,
       {},
       {2},
       {3},
       {4}},
      {"abs",
       [](const Tensor& x) { return abs(x); },
       [](double x) { return std::abs(x); },
       [](double x) { return x > 0 ? 1.0 : -1.0; },
       nullptr,
       -kFltMax,
       kFltMax,
       {0},
       {0},
       {0}},
      {"clamp",
       [](const Tensor& x) { return clamp(x, -0.5f, 0.5f); },
       [](double x) { return std::clamp(x, -0.5, 0.5); },
       [](double x) { return std::abs(x) < 0.5 ? 1.0 : 0.0; },
       nullptr,
       -kFltMax,
       kFltMax,
       {-0.5, 0.5},
       {0},
       {0}},
      {"leaky_relu",
       [](const Tensor& x) { return leaky_relu(x, 0.2f); },
       [](double x) { return x > 0 ? x : double(0.2f) * x; },
       [](double x) { return x > 0 ? 1.0 : double(0.2f); },
       nullptr,
       -kFltMax,
       kFltMax,
       {0},
       {0.5},
       {0}},
      {"rsub scalar",
       [](const Tensor& x) { return rsub(2.0f, x); },
       [](double x) { return 2 - x; },
       [](double) { return -1.0; },
       nullptr,
       -kFltMax / 2,
       kFltMax / 2,
       {},
       {0.5},
       {0}},
      {"relu",
       [](const Tensor& x) { return relu(x); },
       [](double x) { return std::max(x, 0.0); },
       [](double x) { return x > 0 ? 1.0 : 0.0; },
       nullptr,
       -kFltMax,
       kFltMax,
       {0},
       {0},
       {0}},
      {"mul scalar",
       [](const Tensor& x) { return mul(x, 3.0f); },
       [](double x) { return 3 * x; },
       [](double) { return 3.0; },
       nullptr,
       -1e38,
       1e38,
       {},
       {0.5},
       {0}},
      {"neg",
       [](const Tensor& x) { return neg(x); },
       [](double x) { return -x; },
       [](double) { return -1.0; },
       nullptr,
       -kFltMax,
       kFltMax,
       {},
       {0},
       {0}},
      {"add scalar",
       [](const Tensor& x) { return add(x, 0.5f); },
       [](double x) { return x + 0.5; },
       one,
       nullptr,
       -kFltMax / 2,
       kFltMax / 2,
       {},
       {0.5},
       {0}},
  };
}

}  // namespace

TEST_CASE("accuracy: every elementwise op and its derivatives against double precision") {
  for (const Sweep& s : transcendental_sweeps()) {
    CAPTURE(s.name);
    run_sweep(s);
  }
}

TEST_CASE("accuracy: our own kernels keep denormal results and exact limits") {
  // e^-100 = 3.7e-44 is a denormal float: softplus(-100) and log_sigmoid(100) must not flush it.
  const float tiny = static_cast<float>(std::exp(-100.0));
  REQUIRE(tiny > 0.0f);
  CHECK(softplus(Tensor::from_vector({-100.0f}, {1})).item() == tiny);
  CHECK(log_sigmoid(Tensor::from_vector({100.0f}, {1})).item() == -tiny);
  CHECK(log(Tensor::from_vector({1.0f}, {1})).item() == 0.0f);  // oneDNN's: -1.43e-6
  CHECK(log(Tensor::from_vector({2.0f}, {1})).item() == static_cast<float>(std::log(2.0)));
  const float denormal = std::numeric_limits<float>::denorm_min();
  CHECK(log(Tensor::from_vector({denormal}, {1})).item() ==
        static_cast<float>(std::log(static_cast<double>(denormal))));
  std::vector<float> special =
      log(Tensor::from_vector({0.0f, -1.0f, kInfF, -kInfF, kNaNF}, {5})).to_vector();
  CHECK(special[0] == -kInfF);
  CHECK(std::isnan(special[1]));
  CHECK(special[2] == kInfF);
  CHECK(std::isnan(special[3]));
  CHECK(std::isnan(special[4]));
  std::vector<float> sp =
      softplus(Tensor::from_vector({kInfF, -kInfF, kNaNF, 1e30f, -1e30f}, {5})).to_vector();
  CHECK(sp[0] == kInfF);
  CHECK(sp[1] == 0.0f);
  CHECK(std::isnan(sp[2]));
  CHECK(sp[3] == 1e30f);
  CHECK(sp[4] == 0.0f);
}

// PyTorch evaluates silu and gelu as x / (1 + e^-x) and x Phi(x) (or x (1 + tanh(u)) / 2): at
// -inf that is inf / inf or -inf * 0, NaN, and so is every derivative at +-inf (inf * 0 in each).
// Ours give the same.
TEST_CASE("accuracy: silu and gelu at infinities and NaN as in PyTorch") {
  const std::vector<std::function<Tensor(const Tensor&)>> ops = {
      silu, [](const Tensor& x) { return gelu(x); },
      [](const Tensor& x) { return gelu(x, "tanh"); }};
  for (const auto& op : ops) {
    Tensor x = Tensor::from_vector({kInfF, -kInfF, kNaNF, 0.0f}, {4}).requires_grad_();
    Tensor y = op(x);
    std::vector<float> ys = y.to_vector();
    CHECK(ys[0] == kInfF);
    CHECK(std::isnan(ys[1]));
    CHECK(std::isnan(ys[2]));
    CHECK(ys[3] == 0.0f);
    std::vector<float> g = grad({sum(y)}, {x})[0].to_vector();
    CHECK(std::isnan(g[0]));
    CHECK(std::isnan(g[1]));
    CHECK(std::isnan(g[2]));
    CHECK(g[3] == 0.5f);
  }
}

// oneDNN's relu and clip are max(x, bound) and its exp clamps x first, which turned NaN into 0, the
// bound and +inf; its gt is "not less or equal", true at NaN; its max reduction skipped NaN and
// began at the lowest float. PyTorch gives what IEEE 754 does.
TEST_CASE("accuracy: NaN and infinities go through as in PyTorch") {
  auto values = [](const Tensor& t) { return t.to_vector(); };
  const Tensor nan = Tensor::from_vector({kNaNF}, {1});
  CHECK(std::isnan(relu(nan).item()));
  CHECK(std::isnan(leaky_relu(nan, 0.0f).item()));
  CHECK(std::isnan(leaky_relu(nan, 0.2f).item()));
  CHECK(std::isnan(clamp(nan, 0.0f, 1.0f).item()));
  CHECK(std::isnan(exp(nan).item()));
  CHECK(gt(nan, Tensor::zeros({1})).item() == 0.0f);
  CHECK(gt(Tensor::zeros({1}), nan).item() == 0.0f);
  CHECK(values(gt(Tensor::from_vector({1.0f, -1.0f, 2.0f}, {3}), Tensor::zeros({1}))) ==
        std::vector<float>{1.0f, 0.0f, 1.0f});
  // The same values through the kernels' vector loops and their remainders.
  std::vector<float> mixed(37, -2.0f);
  mixed[3] = kNaNF, mixed[20] = 5.0f, mixed[36] = kNaNF;
  std::vector<float> r = values(relu(Tensor::from_vector(mixed, {37})));
  CHECK(std::isnan(r[3]));
  CHECK(std::isnan(r[36]));
  CHECK(r[0] == 0.0f);
  CHECK(r[20] == 5.0f);
  std::vector<float> c = values(clamp(Tensor::from_vector(mixed, {37}), -1.0f, 1.0f));
  CHECK(std::isnan(c[3]));
  CHECK(c[0] == -1.0f);
  CHECK(c[20] == 1.0f);
  CHECK(exp(Tensor::from_vector({kInfF}, {1})).item() == kInfF);
  CHECK(exp(Tensor::from_vector({-kInfF}, {1})).item() == 0.0f);

  const Tensor rows = Tensor::from_vector({1.0f, kNaNF, 3.0f, -kInfF, -kInfF, -kInfF}, {2, 3});
  std::vector<float> m = values(max(rows, {1}));
  CHECK(std::isnan(m[0]));
  CHECK(m[1] == -kInfF);
  CHECK(max(Tensor::from_vector({-kInfF, std::numeric_limits<float>::lowest()}, {2})).item() ==
        std::numeric_limits<float>::lowest());
  CHECK(max(Tensor::from_vector({2.0f, 7.0f, -1.0f}, {3})).item() == 7.0f);
  // Its sum is NaN (inf - inf), but it holds no NaN.
  CHECK(max(Tensor::from_vector({kInfF, -kInfF, 1.0f}, {3})).item() == kInfF);
  std::vector<float> lse = values(logsumexp(rows, {1}));
  CHECK(std::isnan(lse[0]));
  CHECK(lse[1] == -kInfF);
  CHECK(logsumexp(Tensor::from_vector({kInfF, 0.0f}, {2}), {0}).item() == kInfF);
}

// oneDNN's softmax put NaN only where a row (along the axis) held NaN or +inf, and gave the rest of
// the row the softmax of the other elements; PyTorch's row is NaN throughout.
TEST_CASE("accuracy: softmax makes a row with a NaN or +inf NaN throughout, as PyTorch") {
  // [2, 3, 2] along dimension 1: rows (n, :, j), their elements two apart in memory.
  std::vector<float> v = {0.5f, 1.0f, kNaNF, -1.0f,  2.0f, 0.0f,
                          1.0f, 3.0f, 0.0f,  -kInfF, 2.0f, kInfF};
  std::vector<float> y = softmax(Tensor::from_vector(v, {2, 3, 2}), 1).to_vector();
  auto row = [&](int n, int j) {
    return std::vector<float>{y[n * 6 + j], y[n * 6 + 2 + j], y[n * 6 + 4 + j]};
  };
  for (float e : row(0, 0)) CHECK(std::isnan(e));  // 0.5, NaN, 2
  for (float e : row(1, 1)) CHECK(std::isnan(e));  // 3, -inf, +inf
  for (auto [n, j] : {std::pair{0, 1}, std::pair{1, 0}}) {
    std::vector<float> r = row(n, j);
    CHECK(r[0] + r[1] + r[2] == doctest::Approx(1.0f));
  }
  CHECK(row(1, 0)[2] > row(1, 0)[0]);  // softmax of 1, 0, 2
  CHECK(softmax(Tensor::from_vector({-kInfF, 0.0f}, {2}), 0).to_vector() ==
        std::vector<float>{0.0f, 1.0f});
  // Along the last dimension, where oneDNN's kernel dropped the NaN (along the middle one, above,
  // it did not): rows of 37, a NaN in the first, +inf in the second, the third clean.
  std::vector<float> w(3 * 37, 0.5f);
  w[20] = kNaNF, w[37 + 36] = kInfF;
  std::vector<float> z = softmax(Tensor::from_vector(w, {3, 37}), 1).to_vector();
  for (int64_t i = 0; i < 2 * 37; ++i) CHECK(std::isnan(z[i]));
  for (int64_t i = 2 * 37; i < 3 * 37; ++i) CHECK(z[i] == doctest::Approx(1.0f / 37));
}

// oneDNN's max pooling skipped NaN and began at the lowest float, as its max reduction did.
TEST_CASE("accuracy: max_pool2d gives a window's NaN, and -inf for a window of -inf, as PyTorch") {
  const float lowest = std::numeric_limits<float>::lowest();
  // Four 2x2 windows: a NaN among numbers, all -inf, the lowest float beside -inf, numbers.
  const std::vector<float> v = {1.0f,   kNaNF,  -kInfF, -kInfF, 3.0f,   0.0f,   -kInfF, -kInfF,
                                lowest, -kInfF, 2.0f,   5.0f,   -kInfF, -kInfF, 4.0f,   -1.0f};
  for (bool training : {false, true}) {  // without and with the workspace a backward needs
    CAPTURE(training);
    Tensor x = Tensor::from_vector(v, {1, 1, 4, 4});
    if (training) x.requires_grad_();
    std::vector<float> y = max_pool2d(x, 2).to_vector();
    CHECK(std::isnan(y[0]));
    CHECK(y[1] == -kInfF);
    CHECK(y[2] == lowest);
    CHECK(y[3] == 5.0f);
  }
  // With padding, which never wins: each 2x2 window at stride 2 holds one element of x.
  std::vector<float> padded = max_pool2d(Tensor::full({1, 1, 2, 2}, -kInfF), 2, 2, 1).to_vector();
  for (float e : padded) CHECK(e == -kInfF);
}

// PyTorch's max pooling takes a NaN as a new maximum, so a window's gradient goes to its last NaN;
// oneDNN's skips NaN. The expected gradients are PyTorch 1.13's for these inputs.
TEST_CASE("accuracy: max_pool2d sends a NaN window's gradient to its last NaN, as PyTorch") {
  // 2x2 windows: a NaN among numbers (twice), a tie of 7s (the first wins), a tie of 1s and 0s.
  Tensor x =
      Tensor::from_vector({1, kNaNF, 3, kNaNF, 5, 2, 2, 0, 7, 7, 1, 1, 0, 0, 0, 0}, {1, 1, 4, 4})
          .requires_grad_();
  Tensor c = Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2}).requires_grad_();
  Tensor gx = grad({sum(mul(max_pool2d(x, 2), c))}, {x}, {.create_graph = true})[0];
  CHECK(gx.to_vector() == std::vector<float>{0, 1, 0, 2, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0});
  // Second order: d/dc of sum(gx * v) is v at each window's winner.
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[i] = 10.0f + i;
  Tensor gc = grad({sum(mul(gx, Tensor::from_vector(v, {1, 1, 4, 4})))}, {c})[0];
  CHECK(gc.to_vector() == std::vector<float>{11, 13, 18, 20});
  // Overlapping 3x3 windows with padding over one row: [pad NaN 1], [NaN 1 NaN], [1 NaN 2],
  // [NaN 2 pad]. The last three go to the NaN at index 2.
  Tensor row = Tensor::from_vector({kNaNF, 1, kNaNF, 2}, {1, 1, 1, 4}).requires_grad_();
  CHECK(grad({sum(max_pool2d(row, 3, 1, 1))}, {row})[0].to_vector() ==
        std::vector<float>{1, 0, 3, 0});
}

// elu's curvature multiplied 0 by e^x = inf for x >= 89; PyTorch gives [0, 0, e^-1 = 0.2707].
TEST_CASE("accuracy: elu's second derivative is finite for large inputs") {
  Tensor x = Tensor::from_vector({100.0f, 50.0f, -1.0f}, {3}).requires_grad_();
  Tensor g = grad({sum(elu(x))}, {x}, {.create_graph = true})[0];
  std::vector<float> gg = grad({sum(g)}, {x})[0].to_vector();
  CHECK(gg[0] == 0.0f);
  CHECK(gg[1] == 0.0f);
  CHECK(gg[2] == doctest::Approx(std::exp(-1.0)).epsilon(1e-6));
}

namespace {
// log_softmax along dim 1 of [rows, cols] in double.
std::vector<double> log_softmax_d(const std::vector<float>& x, int64_t rows, int64_t cols) {
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double m = -kInf, s = 0.0;
    for (int64_t c = 0; c < cols; ++c) m = std::max(m, double(x[r * cols + c]));
    for (int64_t c = 0; c < cols; ++c) s += std::exp(x[r * cols + c] - m);
    for (int64_t c = 0; c < cols; ++c) y[r * cols + c] = x[r * cols + c] - m - std::log(s);
  }
  return y;
}
}  // namespace

// The error in ulps of max(|y|, 1): log_softmax is x - logsumexp(x), and the subtraction's own
// rounding is an ulp of the larger of its operands (at least the row's logsumexp, order 1 here).
TEST_CASE("accuracy: log_softmax and cross_entropy against double precision") {
  Generator gen(17);
  for (auto [rows, cols, scale, offset] : {std::tuple{64, 10, 4.0f, 0.0f},
                                           {8, 1000, 10.0f, 0.0f},
                                           {16, 5, 1.0f, 1e3f},
                                           {32, 2, 1e-3f, 0.0f}}) {
    CAPTURE(cols);
    std::vector<float> x = Tensor::uniform({rows, cols}, -scale, scale, gen).to_vector();
    for (float& v : x) v += offset;
    Tensor logits = Tensor::from_vector(x, {rows, cols});
    std::vector<double> want = log_softmax_d(x, rows, cols);
    std::vector<float> got = log_softmax(logits, 1).to_vector();
    double worst = 0.0;
    for (size_t i = 0; i < got.size(); ++i)
      worst = std::max(worst, ulp_error(got[i], want[i], std::max(1.0, std::abs(double(offset)))));
    CHECK(worst <= 1.0);
    std::vector<float> labels(rows);
    double loss = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      labels[r] = static_cast<float>(r % cols);
      loss -= want[r * cols + r % cols] / rows;
    }
    float ce = cross_entropy(logits, Tensor::from_vector(labels, {rows})).item();
    CHECK(ulp_error(ce, loss, 0.0) <= 4.0);
  }
}

// A second operand that varies only along leading dimensions ([N,1,1,1] over [N,C,H,W], the
// gradient penalty's per-sample weight) takes our own loop (oneDNN runs it on a reference loop);
// an operand broadcast along a middle dimension takes oneDNN's. Each element is one float
// operation, so both must match a plain loop exactly.
TEST_CASE("accuracy: binary ops with a broadcast second operand equal a plain loop") {
  using BinaryOp = Tensor (*)(const Tensor&, const Tensor&);
  const std::vector<std::tuple<const char*, BinaryOp, std::function<float(float, float)>>> ops{
      {"add", add, std::plus<float>()},
      {"sub", sub, std::minus<float>()},
      {"mul", mul, std::multiplies<float>()},
      {"div", div, std::divides<float>()},
      {"gt", gt, [](float p, float q) { return p > q ? 1.0f : 0.0f; }},
      {"eq", eq, [](float p, float q) { return p == q ? 1.0f : 0.0f; }}};
  Generator gen(5);
  for (auto [a_shape, b_shape] : {std::pair<Shape, Shape>{{64, 1, 28, 28}, {64, 1, 1, 1}},
                                  {{6, 3, 4, 5}, {6, 3, 1, 1}},
                                  {{7, 9}, {7, 1}},
                                  {{2, 3, 4}, {1, 3, 1}}}) {
    Tensor a = Tensor::uniform(a_shape, -2.0f, 2.0f, gen);
    Tensor b = Tensor::uniform(b_shape, 0.5f, 2.0f, gen);
    a.data()[0] = b.data()[0];  // one equal pair for eq
    // b's element for a's flat index i: i's coordinates, with b's unit dimensions at 0.
    auto b_index = [&](int64_t i) {
      int64_t bi = 0, stride_a = a.numel(), stride_b = b.numel();
      for (int d = 0; d < a.dim(); ++d) {
        stride_a /= a_shape[d];
        stride_b /= b_shape[d];
        int64_t coord = (i / stride_a) % a_shape[d];
        if (b_shape[d] != 1) bi += coord * stride_b;
      }
      return bi;
    };
    for (const auto& [name, op, reference] : ops) {
      CAPTURE(name);
      CAPTURE(b_shape.str());
      std::vector<float> got = op(a, b).to_vector();
      int64_t wrong = 0;
      for (int64_t i = 0; i < a.numel(); ++i)
        wrong += got[i] != reference(a.data()[i], b.data()[b_index(i)]);
      CHECK(wrong == 0);
    }
  }
}

// expand copies; with broadcast dimensions it takes our own loop (oneDNN's reorder takes no zero
// strides), which merges neighbouring dimensions into runs. Every pattern of unit dimensions over
// a 4-D shape, a lower-rank source, and a per-channel source big enough to run on every thread.
TEST_CASE("accuracy: expand equals a plain loop for every pattern of broadcast dimensions") {
  std::vector<std::pair<Shape, Shape>> cases{
      {{5}, {2, 3, 5}}, {{256, 1, 1}, {64, 256, 3, 3}}, {{1, 256, 1, 1}, {64, 256, 3, 3}}};
  const Shape full{3, 4, 5, 6};
  for (int mask = 1; mask < 16; ++mask) {  // bit d set: dimension d is 1 in the source
    Shape from = full;
    for (int d = 0; d < 4; ++d)
      if (mask & (1 << d)) from[d] = 1;
    cases.emplace_back(from, full);
  }
  Generator gen(6);
  for (const auto& [from, to] : cases) {
    CAPTURE(from.str());
    CAPTURE(to.str());
    Tensor x = Tensor::uniform(from, -1.0f, 1.0f, gen);
    std::vector<float> got = expand(x, to).to_vector();
    Shape padded(std::vector<int64_t>(to.size() - from.size(), 1));
    for (int64_t d : from) padded.push_back(d);
    int64_t wrong = 0;
    for (int64_t i = 0; i < to.numel(); ++i) {
      int64_t source = 0, rest = i, stride = 1;
      for (int d = to.size() - 1; d >= 0; --d) {
        if (padded[d] != 1) source += (rest % to[d]) * stride;
        stride *= padded[d];
        rest /= to[d];
      }
      wrong += got[i] != x.data()[source];
    }
    CHECK(wrong == 0);
  }
}
