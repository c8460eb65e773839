// Random graphs: seeded compositions of the ops, checked to first and second order.
//
// A case starts from a random 2-d or 4-d input and applies two to five random ops, each drawing
// the extra inputs it needs (weights, a second operand) as further leaves. Every op is applied only
// where it is valid (shapes) and smooth: the value an op with a kink (relu, abs, clamp, max,
// maxout, max pooling) receives must be at least kMargin from the kink, and normalizations need a
// spread. A failing case prints its seed and its ops with their shapes;
// MINIMAX_RANDOM_GRAPH_SEED=<seed> runs that case alone; MINIMAX_RANDOM_GRAPH_VALUES=1 also prints
// its inputs' values (to compare with PyTorch in float64).
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "minimax.h"

using namespace minimax;

namespace {

#ifdef MINIMAX_SANITIZED
constexpr int kCases = 40;  // every op is several times slower under ASan + UBSan
#else
constexpr int kCases = 300;
#endif

// How far a kink must be from every value an op with one receives. A step of eps = 1e-3 in an
// input moves an intermediate value by eps times the gain of the ops before it, well below this.
constexpr float kMargin = 0.05f;
constexpr int64_t kMaxElements = 48;
// The rounding allowance of each op, in units of float32 roundoff (see autograd/gradcheck.h).
constexpr double kUlpsPerOp = 4.0;  // keeps each case's 2 x (elements) evaluations cheap

using Step = std::function<Tensor(const Tensor& z, const TensorList& leaves)>;

struct Graph {
  TensorList leaves;  // leaves[0] is the start; every leaf requires grad but constants
  std::vector<std::string> leaf_text, step_text;
  std::vector<Step> steps;

  Tensor run(const TensorList& xs) const {
    Tensor z = xs[0];
    for (const Step& s : steps) z = s(z, xs);
    return z;
  }
  std::string describe() const {
    std::string text;
    for (size_t i = 0; i < leaves.size(); ++i) text += fmt::format("  x{} = {}\n", i, leaf_text[i]);
    for (const std::string& s : step_text) text += "  " + s + "\n";
    return text;
  }
};

// Draws one graph: its own random engine for the structure, a Generator for the values.
class Builder {
 public:
  explicit Builder(uint64_t seed) : rng_(seed), gen_(seed) {}

  Graph build();

 private:
  std::mt19937_64 rng_;
  Generator gen_;
  Graph g_;
  Tensor z_;  // the current value, for the validity checks

  int64_t pick(int64_t low, int64_t high) {  // uniform in [low, high]
    return std::uniform_int_distribution<int64_t>(low, high)(rng_);
  }
  float uniform(float low, float high) {
    return std::uniform_real_distribution<float>(low, high)(rng_);
  }
  int leaf(const Shape& shape, float low = -1.0f, float high = 1.0f, bool grad = true);
  bool apply(const std::string& text, Step step);
  bool step();
  bool unary();
  bool binary();
  bool matrix();
  bool reduce();
  bool reshape_or_join();
  bool normalize();
  bool image();
  bool lookup();
  bool terminal();
  bool convolution(bool transposed);
};

int Builder::leaf(const Shape& shape, float low, float high, bool grad) {
  Tensor x = Tensor::uniform(shape, low, high, gen_);
  if (grad) x.requires_grad_();
  g_.leaves.push_back(x);
  g_.leaf_text.push_back(fmt::format("{} {} in [{}, {}){}", grad ? "input" : "constant",
                                     shape.str(), low, high, grad ? "" : ", no gradient"));
  return static_cast<int>(g_.leaves.size()) - 1;
}

bool Builder::apply(const std::string& text, Step step) {
  Tensor next;
  {
    NoGradGuard no_grad;
    next = step(z_, g_.leaves);
  }
  // Values of order 1 (a few roundings of them stay small) and few elements.
  for (float v : next.to_vector())
    if (!(std::abs(v) <= 20.0f)) return false;
  if (next.numel() > kMaxElements) return false;
  z_ = next;
  g_.step_text.push_back(fmt::format("z = {} -> {}", text, z_.shape().str()));
  g_.steps.push_back(std::move(step));
  return true;
}

// ---- validity: kinks, spreads and sizes ----

std::vector<float> values(const Tensor& z) {
  return z.to_vector();
}

bool far_from(const Tensor& z, float point) {
  for (float v : values(z))
    if (std::abs(v - point) < kMargin) return false;
  return true;
}

float max_abs(const Tensor& z) {
  float m = 0.0f;
  for (float v : values(z)) m = std::max(m, std::abs(v));
  return m;
}

// Every group of `size` consecutive elements at stride `stride` (an [outer, size, inner] view)
// has its maximum at least kMargin clear of the runner-up, or its standard deviation above 0.1.
bool groups_ok(const Tensor& z, int64_t outer, int64_t size, int64_t inner, bool want_gap) {
  std::vector<float> v = values(z);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      std::vector<float> g;
      for (int64_t k = 0; k < size; ++k) g.push_back(v[(o * size + k) * inner + i]);
      std::sort(g.rbegin(), g.rend());
      double mean = 0.0, var = 0.0;
      for (float x : g) mean += x / static_cast<double>(size);
      for (float x : g) var += (x - mean) * (x - mean) / static_cast<double>(size);
      if (want_gap && size > 1 && g[0] - g[1] < kMargin) return false;
      if (!want_gap && std::sqrt(var) < 0.1) return false;
    }
  return true;
}

// The [outer, size, inner] view of reducing dim d of z.
bool along_ok(const Tensor& z, int d, bool want_gap) {
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= z.size(i);
  for (int i = d + 1; i < static_cast<int>(z.dim()); ++i) inner *= z.size(i);
  return groups_ok(z, outer, z.size(d), inner, want_gap);
}

// Declared after the validity checks they use.
bool Builder::step() {
  const size_t leaves = g_.leaves.size();
  bool ok = false;
  switch (pick(0, 8)) {
    case 0:
    case 1:
      ok = unary();
      break;
    case 2:
      ok = binary();
      break;
    case 3:
      ok = matrix();
      break;
    case 4:
      ok = reduce();
      break;
    case 5:
      ok = reshape_or_join();
      break;
    case 6:
      ok = normalize();
      break;
    case 7:
      ok = z_.dim() == 4 ? image() : lookup();
      break;
    default:
      ok = z_.dim() == 4 && image();
      break;
  }
  if (!ok) {  // forget the leaves a refused op drew
    g_.leaves.resize(leaves);
    g_.leaf_text.resize(leaves);
  }
  return ok;
}

Graph Builder::build() {
  const bool image = pick(0, 2) == 0;
  leaf(image ? Shape{pick(1, 2), pick(1, 4), pick(2, 4), pick(2, 4)}
             : Shape{pick(2, 4), pick(2, 5)});
  z_ = g_.leaves[0].detach();
  const int64_t steps = pick(2, 5);
  for (int done = 0, tries = 0; done < steps && tries < 200; ++tries)
    if (step()) ++done;
  for (int tries = 0; pick(0, 3) == 0 && tries < 20; ++tries)
    if (terminal()) break;
  return g_;
}

// Most ops read only z; those of two or more operands read the leaves, xs.
#define OP(text, expr) \
  apply(text, [=](const Tensor& z, [[maybe_unused]] const TensorList& xs) { return expr; })

bool Builder::unary() {
  const float c = static_cast<float>(pick(-8, 8)) / 4.0f;
  switch (pick(0, 20)) {
    case 0:
      return OP("neg(z)", neg(z));
    case 1:
      return max_abs(z_) <= 2.0f && OP("exp(z)", exp(z));
    case 2:
      return OP("log(square(z) + 0.5)", log(add(square(z), 0.5f)));
    case 3:
      return OP("sqrt(square(z) + 0.5)", sqrt(add(square(z), 0.5f)));
    case 4:
      return OP("pow(square(z) + 0.5, -1.5)", pow(add(square(z), 0.5f), -1.5f));
    case 5:
      return max_abs(z_) <= 1.5f && OP("pow(z, 3)", pow(z, 3.0f));
    case 6:
      return max_abs(z_) <= 2.0f && OP("square(z)", square(z));
    case 7:
      return far_from(z_, 0.0f) && OP("abs(z)", abs(z));
    case 8:
      return far_from(z_, -0.5f) && far_from(z_, 0.5f) &&
             OP("clamp(z, -0.5, 0.5)", clamp(z, -0.5f, 0.5f));
    case 9:
      return far_from(z_, 0.0f) && OP("relu(z)", relu(z));
    case 10:
      return far_from(z_, 0.0f) && OP("leaky_relu(z, 0.2)", leaky_relu(z, 0.2f));
    case 11:
      return far_from(z_, 0.0f) && OP("elu(z, 0.7)", elu(z, 0.7f));  // f'' jumps at 0
    case 12:
      return OP("sigmoid(z)", sigmoid(z));
    case 13:
      return OP("tanh(z)", tanh(z));
    case 14:
      return OP("softplus(z)", softplus(z));
    case 15:
      return OP("log_sigmoid(z)", log_sigmoid(z));
    case 16:
      return OP(fmt::format("mul(z, {})", c), mul(z, c));
    case 17:
      return OP("silu(z)", silu(z));
    case 18:
      return OP("gelu(z)", gelu(z));
    case 19:
      return OP("gelu(z, tanh)", gelu(z, "tanh"));
    default:
      return pick(0, 1) ? OP(fmt::format("add(z, {})", c), add(z, c))
                        : OP(fmt::format("rsub({}, z)", c), rsub(c, z));
  }
}

// A second operand as a new leaf, of z's shape or one that broadcasts to it.
bool Builder::binary() {
  Shape other = z_.shape();
  switch (pick(0, 2)) {
    case 0:
      break;
    case 1:
      other = Shape{other.back()};
      break;
    default:
      for (int d = 0; d < other.size(); ++d)
        if (pick(0, 1)) other[d] = 1;
  }
  const int i = leaf(other);
  switch (pick(0, 4)) {
    case 0:
      return OP(fmt::format("add(z, x{})", i), add(z, xs[i]));
    case 1:
      return pick(0, 1) ? OP(fmt::format("sub(z, x{})", i), sub(z, xs[i]))
                        : OP(fmt::format("sub(x{}, z)", i), sub(xs[i], z));
    case 2:
      return OP(fmt::format("mul(z, x{})", i), mul(z, xs[i]));
    case 3:
      return OP(fmt::format("div(z, square(x{}) + 0.5)", i), div(z, add(square(xs[i]), 0.5f)));
    default:
      return OP(fmt::format("div(x{}, square(z) + 0.5)", i), div(xs[i], add(square(z), 0.5f)));
  }
}

bool Builder::matrix() {
  if (z_.dim() != 2) return false;
  const int64_t n = z_.size(0), m = z_.size(1), k = pick(1, 4);
  const bool t = pick(0, 1);
  switch (pick(0, 3)) {
    case 0: {
      const int i = leaf(t ? Shape{k, m} : Shape{m, k});
      return OP(fmt::format("matmul(z, x{}{})", i, t ? ", transpose_b" : ""),
                matmul(z, xs[i], false, t));
    }
    case 1: {
      const int i = leaf(t ? Shape{k, n} : Shape{n, k});
      return OP(fmt::format("matmul(z, x{}, transpose_a{})", i, t ? ", transpose_b" : ""),
                matmul(z, xs[i], true, t));
    }
    case 2: {
      const int w = leaf({k, m}), b = leaf({k});
      return t ? OP(fmt::format("linear(z, x{}, x{})", w, b), linear(z, xs[w], xs[b]))
               : OP(fmt::format("linear(z, x{})", w), linear(z, xs[w]));
    }
    default: {
      const int i = leaf({1, m, k});
      return OP(fmt::format("reshape(bmm(reshape(z, [1, {}, {}]), x{}), [{}, {}])", n, m, i, n, k),
                reshape(bmm(reshape(z, {1, n, m}), xs[i]), {n, k}));
    }
  }
}

bool Builder::reduce() {
  const int d = static_cast<int>(pick(0, z_.dim() - 1));
  if (z_.size(d) < 2) return false;
  switch (pick(0, 5)) {
    case 0:
      return OP(fmt::format("sum(z, {{{}}}, keepdim)", d), sum(z, {d}, true));
    case 1:
      return OP(fmt::format("mean(z, {{{}}}, keepdim)", d), mean(z, {d}, true));
    case 2:
      return along_ok(z_, d, true) &&
             OP(fmt::format("max(z, {{{}}}, keepdim)", d), max(z, {d}, true));
    case 3:
      return OP(fmt::format("logsumexp(z, {{{}}}, keepdim)", d), logsumexp(z, {d}, true));
    case 4:
      return OP(fmt::format("softmax(z, {})", d), softmax(z, d));
    default:
      return OP(fmt::format("log_softmax(z, {})", d), log_softmax(z, d));
  }
}

bool Builder::reshape_or_join() {
  const int d = static_cast<int>(pick(0, z_.dim() - 1));
  const Shape s = z_.shape();
  switch (pick(0, 5)) {
    case 0: {
      Shape other = s;
      other[d] = pick(1, 2);
      const int i = leaf(other);
      return OP(fmt::format("concat({{z, x{}}}, {})", i, d), concat({z, xs[i]}, d));
    }
    case 1: {
      if (s[d] < 2) return false;
      const int64_t a = pick(0, s[d] - 2), b = pick(a + 1, s[d]);
      return OP(fmt::format("slice(z, {}, {}, {})", d, a, b), slice(z, d, a, b));
    }
    case 2: {
      if (s[d] != 1) return false;
      Shape to = s;
      to[d] = pick(2, 3);
      return OP(fmt::format("expand(z, {})", to.str()), expand(z, to));
    }
    case 3:
      if (s.size() == 4) return OP("flatten(z)", flatten(z));
      return OP(fmt::format("transpose(z, 0, 1)"), transpose(z, 0, 1));
    case 4:
      if (s.size() == 4) return OP("permute(z, {0, 2, 3, 1})", permute(z, {0, 2, 3, 1}));
      return OP(fmt::format("reshape(z, [{}, {}])", s[1], s[0]), reshape(z, {s[1], s[0]}));
    default: {
      const uint64_t seed = rng_();
      return OP(fmt::format("dropout(z, 0.3, training, Generator({}))", seed), [&] {
        Generator gen(seed);
        return dropout(z, 0.3f, true, gen);
      }());
    }
  }
}

// Normalizations need a spread in every group they normalize (a flat group has a derivative of
// 1/std); maxout, a gap between each unit's pieces.
bool Builder::normalize() {
  const Shape s = z_.shape();
  const bool four = s.size() == 4;
  switch (pick(0, 3)) {
    case 0: {
      if (s.back() < 3 || !groups_ok(z_, z_.numel() / s.back(), s.back(), 1, false)) return false;
      const int w = leaf({s.back()}), b = leaf({s.back()});
      return OP(fmt::format("layer_norm(z, [{}], x{}, x{})", s.back(), w, b),
                layer_norm(z, {s.back()}, xs[w], xs[b]));
    }
    case 1: {
      if (!four && (s.size() != 2 || s[0] < 3)) return false;
      Tensor channels_first = four ? flatten(permute(z_, {1, 0, 2, 3}), 1) : transpose(z_, 0, 1);
      if (channels_first.size(1) < 3 ||
          !groups_ok(channels_first, s[1], channels_first.size(1), 1, false))
        return false;
      const int w = leaf({s[1]}), b = leaf({s[1]});
      return OP(fmt::format("batch_norm(z, x{}, x{}, training)", w, b), [&] {
        BatchNormState st;
        return batch_norm(z, xs[w], xs[b], st, true);
      }());
    }
    case 2: {
      if (!four) return false;
      const int64_t groups = s[1] % 2 == 0 && pick(0, 1) ? 2 : 1, per = s.numel() / (s[0] * groups);
      if (per < 3 || !groups_ok(z_, s[0] * groups, per, 1, false)) return false;
      const int w = leaf({s[1]}), b = leaf({s[1]});
      return OP(fmt::format("group_norm(z, {}, x{}, x{})", groups, w, b),
                group_norm(z, groups, xs[w], xs[b]));
    }
    default:
      if (four || s[1] % 2 != 0 || !groups_ok(z_, z_.numel() / 2, 2, 1, true)) return false;
      return OP("maxout(z, 2)", maxout(z, 2));
  }
}

// Every 2x2 window (stride 2) of every plane has its maximum kMargin clear of the runner-up.
bool pool_windows_ok(const Tensor& z) {
  const int64_t planes = z.size(0) * z.size(1), h = z.size(2), w = z.size(3);
  std::vector<float> v = values(z);
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i + 1 < h; i += 2)
      for (int64_t j = 0; j + 1 < w; j += 2) {
        const float* base = v.data() + (p * h + i) * w + j;
        std::vector<float> win{base[0], base[1], base[w], base[w + 1]};
        std::sort(win.rbegin(), win.rend());
        if (win[0] - win[1] < kMargin) return false;
      }
  return true;
}

bool Builder::convolution(bool transposed) {
  const Shape s = z_.shape();
  const int64_t groups = s[1] % 2 == 0 && pick(0, 2) == 0 ? 2 : 1, out = groups * pick(1, 2);
  const int64_t k = pick(1, 3);
  Conv2dOptions o{
      .stride = pick(1, 2), .padding = pick(0, k / 2), .dilation = pick(1, 2), .groups = groups};
  const int64_t span = o.dilation * (k - 1) + 1;
  if (!transposed && (s[2] + 2 * o.padding < span || s[3] + 2 * o.padding < span)) return false;
  if (transposed && o.stride > 1) o.output_padding = pick(0, o.stride - 1);
  const int w =
      leaf(transposed ? Shape{s[1], out / groups, k, k} : Shape{out, s[1] / groups, k, k});
  const int b = leaf({out});
  const std::string options =
      fmt::format("stride {} padding {} dilation {} groups {}{}", o.stride, o.padding, o.dilation,
                  o.groups, transposed ? fmt::format(" output_padding {}", o.output_padding) : "");
  if (transposed)
    return OP(fmt::format("conv_transpose2d(z, x{}, x{}, {})", w, b, options),
              conv_transpose2d(z, xs[w], xs[b], o));
  return OP(fmt::format("conv2d(z, x{}, x{}, {})", w, b, options), conv2d(z, xs[w], xs[b], o));
}

bool Builder::image() {
  const Shape s = z_.shape();
  if (s.size() != 4) return false;
  const bool even = s[2] >= 2 && s[3] >= 2;
  switch (pick(0, 6)) {
    case 0:
      return convolution(false);
    case 1:
      return convolution(true);
    case 2:
      return even && OP("avg_pool2d(z, 2)", avg_pool2d(z, 2));
    case 3:
      return even && pool_windows_ok(z_) && OP("max_pool2d(z, 2)", max_pool2d(z, 2));
    case 4:
      return OP("upsample_nearest2d(z, 2)", upsample_nearest2d(z, 2));
    case 5:
      return OP("upsample_bilinear2d(z, 2)", upsample_bilinear2d(z, 2));
    default:
      return s[1] % 4 == 0 && OP("pixel_shuffle(z, 2)", pixel_shuffle(z, 2));
  }
}

// Rows of a new leaf picked by constant indices, and a class pick by a constant one_hot mask.
bool Builder::lookup() {
  const int64_t n = z_.size(0), m = z_.size(1);
  std::vector<float> rows;
  for (int64_t r = 0; r < n; ++r) rows.push_back(static_cast<float>(pick(0, 2)));
  const Tensor idx = Tensor::from_vector(rows, {n});
  std::string text = "[";
  for (float r : rows) text += fmt::format("{}{}", text.size() > 1 ? ", " : "", r);
  text += "]";
  if (pick(0, 1)) {
    const int w = leaf({3, m});
    return OP(fmt::format("mul(z, embedding(x{}, {}))", w, text), mul(z, embedding(xs[w], idx)));
  }
  if (m < 3) return false;
  return OP(fmt::format("sum(mul(z, one_hot({}, {})), {{1}}, keepdim)", text, m),
            sum(mul(z, one_hot(idx, m)), {1}, true));
}

// A loss: the graph's output becomes a scalar.
bool Builder::terminal() {
  if (z_.dim() != 2) return false;
  switch (pick(0, 2)) {
    case 0: {
      const int t = leaf(z_.shape());
      return OP(fmt::format("mse_loss(z, x{})", t), mse_loss(z, xs[t]));
    }
    case 1: {
      const int t = leaf(z_.shape(), 0.0f, 1.0f, false);
      return OP(fmt::format("binary_cross_entropy_with_logits(z, x{})", t),
                binary_cross_entropy_with_logits(z, xs[t]));
    }
    default: {
      std::vector<float> labels;
      for (int64_t r = 0; r < z_.size(0); ++r)
        labels.push_back(static_cast<float>(pick(0, z_.size(1) - 1)));
      const Tensor l = Tensor::from_vector(labels, {z_.size(0)});
      return OP(fmt::format("cross_entropy(z, {})", l.str()), cross_entropy(z, l));
    }
  }
}

#undef OP

}  // namespace

TEST_CASE("random graphs of the ops: first and second order against finite differences") {
  uint64_t first = 1, count = kCases;
  if (const char* s = std::getenv("MINIMAX_RANDOM_GRAPH_SEED")) {
    first = std::stoull(s);
    count = 1;
  }
  int failures = 0;
  std::set<std::string> ops;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    const Graph g = Builder(seed).build();
    for (const std::string& s : g.step_text) ops.insert(s.substr(4, s.find('(') - 4));
    const DifferentiableFn f = [&g](const TensorList& xs) { return g.run(xs); };
    // Each op adds its own roundings: the allowance grows with the graph.
    const GradcheckOptions o{.ulps = kUlpsPerOp * static_cast<double>(g.steps.size())};
    const GradcheckResult r1 = gradcheck(f, g.leaves, o), r2 = gradgradcheck(f, g.leaves, o);
    if (std::getenv("MINIMAX_RANDOM_GRAPH_VALUES"))
      for (size_t i = 0; i < g.leaves.size(); ++i) {
        fmt::print("x{}=[", i);
        for (float v : g.leaves[i].to_vector()) fmt::print("{:.9g},", v);
        fmt::print("]\n");
      }
    if (r1.ok && r2.ok) continue;
    ++failures;
    FAIL_CHECK(fmt::format(
        "random graph {} (MINIMAX_RANDOM_GRAPH_SEED={} reruns it alone):\n{}"
        "  first order: {}\n  second order: {}",
        seed, seed, g.describe(), r1.ok ? "ok" : r1.message, r2.ok ? "ok" : r2.message));
  }
  CHECK(failures == 0);
  if (count == kCases) {
    INFO("ops drawn: ", fmt::format("{}", fmt::join(ops, ", ")));
    CHECK(ops.size() >= 40);  // the generator reaches (nearly) every op, not a few
  }
}
