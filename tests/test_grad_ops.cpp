// Gradient checks for every op (first order), and second order for the ops a gradient penalty
// passes through. Rows: {name, {inputs: shape, low, high, requires_grad}, fn, second_order}.
#include <cmath>

#include "autograd/allocator.h"
#include "op_table.h"
#include "ops/kernel_calls.h"

using namespace minimax;
using minimax::testing::check_close;
using minimax::testing::check_table;
using minimax::testing::OpCase;

namespace {
constexpr bool k2nd = true;  // second order too
Tensor a0(const TensorList& x) {
  return x[0];
}
}  // namespace

// ---- elementwise, with broadcasting ----
TEST_CASE("grad: add") {
  auto f = [](const TensorList& x) { return add(x[0], x[1]); };
  check_table({{"same shape", {{{3, 4}}, {{3, 4}}}, f, k2nd},
               {"row broadcast", {{{3, 4}}, {{4}}}, f, k2nd},
               {"both broadcast", {{{3, 1}}, {{1, 4}}}, f, k2nd},
               {"per-sample broadcast", {{{2, 3, 2, 2}}, {{2, 1, 1, 1}}}, f, k2nd},
               {"scalar", {{{2, 3}}}, [](const TensorList& x) { return add(x[0], 0.5f); }, k2nd}});
}
TEST_CASE("grad: sub") {
  auto f = [](const TensorList& x) { return sub(x[0], x[1]); };
  check_table(
      {{"same shape", {{{3, 4}}, {{3, 4}}}, f, k2nd},
       {"first broadcast", {{{4}}, {{3, 4}}}, f, k2nd},
       {"rsub scalar", {{{2, 3}}}, [](const TensorList& x) { return rsub(2.0f, x[0]); }, k2nd}});
}
TEST_CASE("grad: mul") {
  auto f = [](const TensorList& x) { return mul(x[0], x[1]); };
  check_table({{"same shape", {{{3, 4}}, {{3, 4}}}, f, k2nd},
               {"channel broadcast", {{{2, 3, 2, 2}}, {{1, 3, 1, 1}}}, f, k2nd},
               {"per-sample broadcast", {{{2, 3, 2, 2}}, {{2, 1, 1, 1}}}, f, k2nd},
               {"scalar", {{{2, 3}}}, [](const TensorList& x) { return mul(x[0], -1.5f); }, k2nd}});
}
TEST_CASE("grad: div") {
  auto f = [](const TensorList& x) { return div(x[0], x[1]); };
  check_table({{"same shape", {{{3, 4}}, {{3, 4}, 0.5f, 2.0f}}, f, k2nd},
               {"first broadcast", {{{4}}, {{3, 4}, 0.5f, 2.0f}}, f, k2nd}});
}
TEST_CASE("grad: neg") {
  check_table({{"neg", {{{5}}}, [](const TensorList& x) { return neg(x[0]); }, k2nd}});
}
TEST_CASE("grad: exp") {
  check_table({{"exp", {{{3, 4}}}, [](const TensorList& x) { return exp(x[0]); }, k2nd}});
}
TEST_CASE("grad: log") {
  check_table(
      {{"log", {{{3, 4}, 0.5f, 2.0f}}, [](const TensorList& x) { return log(x[0]); }, k2nd}});
}
TEST_CASE("grad: sqrt") {
  check_table(
      {{"sqrt", {{{3, 4}, 0.5f, 2.0f}}, [](const TensorList& x) { return sqrt(x[0]); }, k2nd}});
}
TEST_CASE("grad: pow") {
  check_table({{"cube", {{{3, 4}}}, [](const TensorList& x) { return pow(x[0], 3.0f); }, k2nd},
               {"square", {{{3, 4}}}, [](const TensorList& x) { return pow(x[0], 2.0f); }, k2nd},
               {"fractional",
                {{{3, 4}, 0.5f, 2.0f}},
                [](const TensorList& x) { return pow(x[0], 1.5f); },
                k2nd},
               {"negative",
                {{{3, 4}, 0.5f, 2.0f}},
                [](const TensorList& x) { return pow(x[0], -0.5f); },
                k2nd}});
}
TEST_CASE("grad: abs") {
  check_table(
      {{"positive side", {{{6}, 0.1f, 1.0f}}, [](const TensorList& x) { return abs(x[0]); }, k2nd},
       {"negative side",
        {{{6}, -1.0f, -0.1f}},
        [](const TensorList& x) { return abs(x[0]); },
        k2nd}});
}
TEST_CASE("grad: clamp") {
  // Inputs away from the bounds +-0.5 (the kinks): one row inside, one row on each side.
  auto f = [](const TensorList& x) { return clamp(x[0], -0.5f, 0.5f); };
  check_table({{"inside", {{{6}, -0.4f, 0.4f}}, f, k2nd},
               {"above", {{{6}, 0.6f, 1.0f}}, f, k2nd},
               {"below", {{{6}, -1.0f, -0.6f}}, f, k2nd}});
}

// ---- activations ----
TEST_CASE("grad: relu") {
  auto f = [](const TensorList& x) { return relu(x[0]); };
  check_table({{"positive", {{{4, 5}, 0.1f, 1.0f}}, f, k2nd},
               {"negative", {{{4, 5}, -1.0f, -0.1f}}, f, k2nd}});
}
TEST_CASE("grad: leaky_relu") {
  // A positive slope takes the gradient from the output, a negative one from the input.
  auto f = [](const TensorList& x) { return leaky_relu(x[0], 0.2f); };
  auto g = [](const TensorList& x) { return leaky_relu(x[0], -0.3f); };
  check_table({{"positive", {{{4, 5}, 0.1f, 1.0f}}, f, k2nd},
               {"negative", {{{4, 5}, -1.0f, -0.1f}}, f, k2nd},
               {"negative slope, positive", {{{4, 5}, 0.1f, 1.0f}}, g, k2nd},
               {"negative slope, negative", {{{4, 5}, -1.0f, -0.1f}}, g, k2nd}});
}
// relu's input (in a network, often a batch norm's output) is freed once relu has run: the backward
// reads the output, which the next layer keeps anyway. A negative slope needs the input.
TEST_CASE("relu and leaky_relu with a slope >= 0 do not keep their input for the backward") {
  Generator gen(3);
  Tensor w = Tensor::uniform({1024}, -1, 1, gen).requires_grad_();
  auto in_use = [] { return CachingAllocator::instance().stats().bytes_in_use; };
  for (float slope : {0.0f, 0.2f, -0.3f}) {
    CAPTURE(slope);
    Tensor y;
    int64_t with_input = 0;
    {
      Tensor x = mul(w, 2.0f);  // whose backward keeps nothing
      with_input = in_use();
      y = leaky_relu(x, slope);
    }
    const int64_t kept = in_use() - with_input;  // y, and x if the backward keeps it
    CHECK(kept == (slope >= 0 ? 0 : static_cast<int64_t>(y.numel() * sizeof(float))));
    Tensor gw = grad({sum(y)}, {w})[0];
    for (int64_t i = 0; i < w.numel(); ++i) {
      const float x = 2 * w.data()[i];
      CHECK(gw.data()[i] == (x > 0 ? 2.0f : 2.0f * slope));
    }
  }
}
TEST_CASE("grad: sigmoid") {
  check_table({{"sigmoid",
                {{{4, 5}, -3.0f, 3.0f}},
                [](const TensorList& x) { return sigmoid(x[0]); },
                k2nd}});
}
TEST_CASE("grad: tanh") {
  check_table(
      {{"tanh", {{{4, 5}, -2.0f, 2.0f}}, [](const TensorList& x) { return tanh(x[0]); }, k2nd}});
}
TEST_CASE("grad: softplus") {
  check_table({{"softplus",
                {{{4, 5}, -3.0f, 3.0f}},
                [](const TensorList& x) { return softplus(x[0]); },
                k2nd}});
}
TEST_CASE("grad: log_sigmoid") {
  check_table({{"log_sigmoid",
                {{{4, 5}, -3.0f, 3.0f}},
                [](const TensorList& x) { return log_sigmoid(x[0]); },
                k2nd}});
}
TEST_CASE("grad: elu") {
  auto f = [](const TensorList& x) { return elu(x[0], 0.7f); };
  check_table({{"positive", {{{4, 5}, 0.1f, 1.0f}}, f, k2nd},
               {"negative", {{{4, 5}, -2.0f, -0.1f}}, f, k2nd}});
}

TEST_CASE("grad: silu") {
  auto f = [](const TensorList& x) { return silu(x[0]); };
  check_table({{"around 0", {{{4, 5}, -3.0f, 3.0f}}, f, k2nd},
               {"large", {{{4, 5}, 4.0f, 12.0f}}, f, k2nd},
               {"negative", {{{4, 5}, -12.0f, -4.0f}}, f, k2nd}});
}
TEST_CASE("grad: gelu") {
  auto f = [](const TensorList& x) { return gelu(x[0]); };
  check_table({{"around 0", {{{4, 5}, -3.0f, 3.0f}}, f, k2nd},
               {"tails", {{{4, 5}, -6.0f, -3.0f}}, f, k2nd}});
  auto tanh_form = [](const TensorList& x) { return gelu(x[0], "tanh"); };
  check_table({{"tanh form around 0", {{{4, 5}, -3.0f, 3.0f}}, tanh_form, k2nd},
               {"tanh form tails", {{{4, 5}, -5.0f, -2.5f}}, tanh_form, k2nd}});
  CHECK_THROWS_WITH_AS(gelu(Tensor::ones({2}), "erf"),
                       "gelu: approximate is \"none\" or \"tanh\", not \"erf\"",
                       std::invalid_argument);
}

TEST_CASE("grad: softmax") {
  auto along = [](int dim) { return [dim](const TensorList& x) { return softmax(x[0], dim); }; };
  check_table({{"last dim", {{{3, 5}, -2.0f, 2.0f}}, along(-1), k2nd},
               {"dim 0 of 3-d", {{{3, 2, 4}, -2.0f, 2.0f}}, along(0), k2nd},
               {"middle dim", {{{2, 3, 4}, -2.0f, 2.0f}}, along(1), k2nd},
               {"1-d", {{{6}, -2.0f, 2.0f}}, along(0), k2nd},
               {"one element along dim", {{{4, 1}}}, along(1), k2nd},
               // The incoming gradient depends on x: second order through softmax_backward's y.
               {"squared",
                {{{3, 4}, -2.0f, 2.0f}},
                [](const TensorList& x) { return square(softmax(x[0], 1)); },
                k2nd}});
}
TEST_CASE("grad: log_softmax") {
  auto along = [](int dim) {
    return [dim](const TensorList& x) { return log_softmax(x[0], dim); };
  };
  check_table({{"last dim", {{{3, 5}, -2.0f, 2.0f}}, along(-1), k2nd},
               {"dim 0 of 3-d", {{{3, 2, 4}, -2.0f, 2.0f}}, along(0), k2nd},
               {"middle dim", {{{2, 3, 4}, -2.0f, 2.0f}}, along(-2), k2nd},
               {"one element along dim", {{{4, 1}}}, along(1), k2nd},
               {"squared",
                {{{3, 4}, -2.0f, 2.0f}},
                [](const TensorList& x) { return square(log_softmax(x[0], 1)); },
                k2nd}});
}
TEST_CASE("softmax: rows sum to one, large logits stay finite, bad dims are refused") {
  Tensor x = Tensor::from_vector({1000, 0, -1000, 1, 2, 3}, {2, 3});
  std::vector<float> p = softmax(x, 1).to_vector(), lp = log_softmax(x, -1).to_vector();
  CHECK(p[0] == doctest::Approx(1.0f));
  CHECK(p[1] == 0.0f);
  CHECK(lp[2] == doctest::Approx(-2000.0f));  // exact where exp underflows
  CHECK(p[3] + p[4] + p[5] == doctest::Approx(1.0f));
  CHECK(lp[5] == doctest::Approx(-std::log(1 + std::exp(-1.0f) + std::exp(-2.0f))));
  CHECK_THROWS_AS(softmax(x, 2), std::invalid_argument);
  CHECK_THROWS_AS(log_softmax(x, -3), std::invalid_argument);
  CHECK_THROWS_AS(softmax(Tensor::scalar(1.0f), 0), std::invalid_argument);
  CHECK_THROWS_AS(softmax(Tensor(), 0), std::invalid_argument);
}

// ---- matrix products ----
TEST_CASE("grad: matmul") {
  check_table({{"plain",
                {{{3, 4}}, {{4, 5}}},
                [](const TensorList& x) { return matmul(x[0], x[1]); },
                k2nd},
               {"a transposed",
                {{{4, 3}}, {{4, 5}}},
                [](const TensorList& x) { return matmul(x[0], x[1], true); },
                k2nd},
               {"b transposed",
                {{{3, 4}}, {{5, 4}}},
                [](const TensorList& x) { return matmul(x[0], x[1], false, true); },
                k2nd},
               {"both transposed",
                {{{4, 3}}, {{5, 4}}},
                [](const TensorList& x) { return matmul(x[0], x[1], true, true); },
                k2nd}});
}
TEST_CASE("grad: linear") {
  check_table({{"with bias",
                {{{3, 4}}, {{5, 4}}, {{5}}},
                [](const TensorList& x) { return linear(x[0], x[1], x[2]); },
                k2nd},
               {"no bias",
                {{{3, 4}}, {{5, 4}}},
                [](const TensorList& x) { return linear(x[0], x[1]); },
                k2nd}});
}

// A linear layer wide enough for it runs its three products split by the weight's rows on two or
// more threads (kernels::weight_rows_*), backward data adding one part per thread. x [8, 128] with
// W [32, 128] is about the smallest shape that takes that route at two threads.
TEST_CASE("grad: linear split by the weight's rows") {
  const ScopedThreads two(2);
  check_table({{"x [8, 128], weight [32, 128]",
                {{{8, 128}}, {{32, 128}}, {{32}}},
                [](const TensorList& x) { return linear(x[0], x[1], x[2]); },
                k2nd}});
}

// linear's backward products are ops of their own (the input gradient dy W and the weight gradient
// dy^T x), each with its own backward. linear's second-order rows check those backwards; these rows
// check the backwards' own derivatives, at the split route's shape: a gradient through linear's
// gradient, seeded by dy, differentiated twice.
TEST_CASE("grad: linear's gradients, to second order, split by the weight's rows") {
  const ScopedThreads two(2);
  // Inputs x, W, dy. The gradient with respect to one of x and W does not depend on it: it is
  // taken at a detached copy, and the row does not ask for a derivative with respect to it.
  auto gradient_of_linear = [](size_t wrt) {
    return [wrt](const TensorList& in) {
      const GradModeGuard enabled(true);  // gradcheck evaluates the function without grad
      TensorList x_w = {in[0], in[1]};
      x_w[wrt] = in[wrt].detach().requires_grad_();
      const Tensor y = linear(x_w[0], x_w[1]);
      return grad({y}, {x_w[wrt]}, {.grad_outputs = {in[2]}, .create_graph = true})[0];
    };
  };
  const testing::InputSpec dy{{8, 32}};
  check_table({{"input gradient dy W",
                {{{8, 128}, -1.0f, 1.0f, false}, {{32, 128}}, dy},
                gradient_of_linear(0),
                k2nd},
               {"weight gradient dy^T x",
                {{{8, 128}}, {{32, 128}, -1.0f, 1.0f, false}, dy},
                gradient_of_linear(1),
                k2nd}});
}

TEST_CASE("linear split by the weight's rows matches direct loops at 1, 2 and 3 threads") {
  const int64_t m = 5, o = 67, in = 120;  // 67 rows: shares of 33 and 34, or 22, 22 and 23
  Generator gen(8);
  Tensor x0 = Tensor::uniform({m, in}, -1, 1, gen), w0 = Tensor::uniform({o, in}, -1, 1, gen);
  Tensor b = Tensor::uniform({o}, -1, 1, gen), gy = Tensor::uniform({m, o}, -1, 1, gen);
  std::vector<float> want_y(m * o), want_gx(m * in), want_gw(o * in);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t k = 0; k < o; ++k) {
      double acc = b.data()[k];
      for (int64_t j = 0; j < in; ++j) acc += double(x0.data()[r * in + j]) * w0.data()[k * in + j];
      want_y[r * o + k] = static_cast<float>(acc);
    }
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = 0; j < in; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < o; ++k) acc += double(gy.data()[r * o + k]) * w0.data()[k * in + j];
      want_gx[r * in + j] = static_cast<float>(acc);
    }
  for (int64_t k = 0; k < o; ++k)
    for (int64_t j = 0; j < in; ++j) {
      double acc = 0;
      for (int64_t r = 0; r < m; ++r) acc += double(gy.data()[r * o + k]) * x0.data()[r * in + j];
      want_gw[k * in + j] = static_cast<float>(acc);
    }
  for (int threads : {1, 2, 3}) {
    CAPTURE(threads);
    const ScopedThreads count(threads);
    Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_();
    kernels::KernelCallRecorder recorder;
    Tensor y = linear(x, w, b);
    const TensorList grads = grad({y}, {x, w}, {.grad_outputs = {gy}});
    check_close(y.to_vector(), want_y, 1e-5f);
    check_close(grads[0].to_vector(), want_gx, 1e-5f);
    check_close(grads[1].to_vector(), want_gw, 1e-5f);
    REQUIRE(recorder.calls().size() == 3);
    for (const kernels::KernelCall& call : recorder.calls())
      CHECK((call.shape.find("by weight rows") != std::string::npos) == (threads > 1));
  }
}

TEST_CASE("grad: bmm") {
  check_table({{"plain",
                {{{2, 3, 4}}, {{2, 4, 5}}},
                [](const TensorList& x) { return bmm(x[0], x[1]); },
                k2nd},
               {"b transposed",
                {{{2, 3, 4}}, {{2, 5, 4}}},
                [](const TensorList& x) { return bmm(x[0], x[1], false, true); },
                k2nd}});
}

// ---- reductions ----
TEST_CASE("grad: sum") {
  check_table({{"all", {{{3, 4}}}, [](const TensorList& x) { return sum(x[0]); }, k2nd},
               {"dim 1", {{{3, 4}}}, [](const TensorList& x) { return sum(x[0], {1}); }, k2nd},
               {"dims 0,2 keepdim",
                {{{2, 3, 4}}},
                [](const TensorList& x) {
                  return sum(x[0], {0, 2}, true);
                },
                k2nd},
               // Leading dimensions only: the column-sum GEMM path.
               {"dims 0,1",
                {{{2, 3, 4}}},
                [](const TensorList& x) {
                  return sum(x[0], {0, 1});
                },
                k2nd}});
}
TEST_CASE("grad: mean") {
  check_table({{"all", {{{3, 4}}}, [](const TensorList& x) { return mean(x[0]); }, k2nd},
               {"dim -1", {{{3, 4}}}, [](const TensorList& x) { return mean(x[0], {-1}); }, k2nd},
               {"dim 0", {{{5, 3}}}, [](const TensorList& x) { return mean(x[0], {0}); }, k2nd},
               // Around a kept block: the two-GEMM path of batch norm's channel statistics.
               {"dims 0,2,3",
                {{{3, 2, 2, 3}}},
                [](const TensorList& x) {
                  return mean(x[0], {0, 2, 3});
                },
                k2nd}});
}

// The per-channel sums of [N, C, H, W] (two GEMMs with ones) against a double loop.
TEST_CASE("sum and mean over the batch and the plane give each channel's total") {
  Generator gen(9);
  Tensor x = Tensor::uniform({5, 3, 4, 6}, -1, 1, gen);
  Tensor s = sum(x, {0, 2, 3}), m = mean(x, {0, 2, 3}, true);
  REQUIRE(s.shape() == Shape{3});
  REQUIRE(m.shape() == Shape{1, 3, 1, 1});
  for (int64_t c = 0; c < 3; ++c) {
    double total = 0;
    for (int64_t n = 0; n < 5; ++n)
      for (int64_t i = 0; i < 24; ++i) total += x.data()[(n * 3 + c) * 24 + i];
    CHECK(s.data()[c] == doctest::Approx(total).epsilon(1e-5));
    CHECK(m.data()[c] == doctest::Approx(total / 120).epsilon(1e-5));
  }
}
TEST_CASE("grad: max") {
  check_table({{"all", {{{3, 4}}}, [](const TensorList& x) { return max(x[0]); }, k2nd},
               {"dim 1", {{{3, 4}}}, [](const TensorList& x) { return max(x[0], {1}); }, k2nd},
               {"dim 0 keepdim",
                {{{3, 4}}},
                [](const TensorList& x) { return max(x[0], {0}, true); },
                k2nd}});
}
TEST_CASE("grad: logsumexp") {
  check_table({{"dim 1",
                {{{3, 4}, -3.0f, 3.0f}},
                [](const TensorList& x) { return logsumexp(x[0], {1}); },
                k2nd}});
}
TEST_CASE("grad: sum_to") {
  check_table({{"to row", {{{3, 4}}}, [](const TensorList& x) { return sum_to(x[0], {4}); }, k2nd},
               {"to column",
                {{{3, 4}}},
                [](const TensorList& x) {
                  return sum_to(x[0], {3, 1});
                },
                k2nd}});
}

// ---- shape ----
TEST_CASE("grad: reshape") {
  check_table(
      {{"reshape",
        {{{3, 4}}},
        [](const TensorList& x) {
          return reshape(x[0], {2, -1});
        },
        k2nd},
       {"flatten", {{{2, 3, 2}}}, [](const TensorList& x) { return flatten(x[0]); }, k2nd}});
}
TEST_CASE("grad: permute") {
  check_table(
      {{"permute",
        {{{2, 3, 4}}},
        [](const TensorList& x) {
          return permute(x[0], {2, 0, 1});
        },
        k2nd},
       {"transpose", {{{3, 4}}}, [](const TensorList& x) { return transpose(x[0], 0, 1); }, k2nd}});
}
TEST_CASE("grad: expand") {
  check_table({{"expand",
                {{{3, 1}}},
                [](const TensorList& x) {
                  return expand(x[0], {2, 3, 4});
                },
                k2nd}});
}
TEST_CASE("grad: concat") {
  check_table({{"dim 0",
                {{{2, 3}}, {{1, 3}}},
                [](const TensorList& x) {
                  return concat({x[0], x[1]}, 0);
                },
                k2nd},
               {"dim 1",
                {{{2, 3}}, {{2, 2}}, {{2, 1}}},
                [](const TensorList& x) {
                  return concat({x[0], x[1], x[2]}, 1);
                },
                k2nd}});
}
TEST_CASE("grad: slice") {
  check_table(
      {{"middle", {{{4, 5}}}, [](const TensorList& x) { return slice(x[0], 1, 1, 3); }, k2nd},
       {"head", {{{4, 5}}}, [](const TensorList& x) { return slice(x[0], 0, 0, 2); }, k2nd}});
}

// ---- neural-network ops ----
TEST_CASE("grad: maxout") {
  check_table({{"maxout", {{{3, 8}}}, [](const TensorList& x) { return maxout(x[0], 4); }, k2nd},
               {"maxout of a square",
                {{{2, 6}}},
                [](const TensorList& x) { return maxout(square(x[0]), 3); },
                k2nd}});
}

TEST_CASE("maxout: a tie sends the gradient to the first winning piece") {
  Tensor x = Tensor::from_vector({1, 3, 3, 0, -2, -2}, {1, 6}).requires_grad_();
  Tensor y = maxout(x, 3);
  CHECK(y.to_vector() == std::vector<float>{3, 0});
  sum(y).backward();
  CHECK(x.grad().to_vector() == std::vector<float>{0, 1, 0, 1, 0, 0});
}

// Maxout's forward, its gradient (a scatter) and that gradient's gradient (a gather) are split over
// the threads above kParallelMinElements inputs: each must write exactly what direct loops do, at
// one thread and at two (80 x 128 units of 5 pieces, 51,200 inputs: two shares of 5,120 units).
TEST_CASE("maxout and its derivatives match direct loops at 1 and 2 threads") {
  const int64_t rows = 80, units = 128, pieces = 5;
  REQUIRE(rows * units * pieces >= kParallelMinElements);
  Generator gen(21);
  const Tensor x0 = Tensor::uniform({rows, units * pieces}, -1, 1, gen);
  const Tensor w = Tensor::uniform({rows, units}, -1, 1, gen);
  const Tensor v = Tensor::uniform({rows, units * pieces}, -1, 1, gen);
  std::vector<float> want_y(rows * units), want_gx(rows * units * pieces, 0.0f),
      want_ggw(rows * units);
  const std::vector<float> xs = x0.to_vector(), ws = w.to_vector(), vs = v.to_vector();
  for (int64_t u = 0; u < rows * units; ++u) {
    const int64_t first = u * pieces;
    const int64_t best = std::max_element(xs.begin() + first, xs.begin() + first + pieces) -
                         xs.begin();  // the first of equal maxima, as maxout breaks ties
    want_y[u] = xs[best];
    want_gx[best] = ws[u];
    want_ggw[u] = vs[best];
  }
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    const ScopedThreads count(threads);
    {
      // NaN in the free blocks the outputs will get, so that an element a kernel skips shows.
      const std::vector<Tensor> nan_blocks = {
          Tensor::full({rows, units}, NAN), Tensor::full({rows, units}, NAN),
          Tensor::full({rows, units}, NAN), Tensor::full({rows, units * pieces}, NAN),
          Tensor::full({rows, units * pieces}, NAN)};  // x's clone takes one of these
    }
    Tensor x = x0.clone().requires_grad_(), wg = w.clone().requires_grad_();
    const Tensor y = maxout(x, pieces);
    CHECK(y.to_vector() == want_y);
    const Tensor gx = grad({y}, {x}, {.grad_outputs = {wg}, .create_graph = true})[0];
    CHECK(gx.to_vector() == want_gx);
    CHECK(grad({gx}, {wg}, {.grad_outputs = {v}})[0].to_vector() == want_ggw);
  }
}
namespace {
// Integer indices for the rows below, as the float tensors the ops take.
Tensor indices(const std::vector<float>& v, const Shape& shape) {
  return Tensor::from_vector(v, shape);
}
}  // namespace

TEST_CASE("grad: embedding") {
  // Index 1 three times: the backward's scatter must accumulate.
  auto lookup = [](std::vector<float> v, Shape shape, bool squared) {
    return [=](const TensorList& x) {
      Tensor y = embedding(x[0], indices(v, shape));
      return squared ? square(y) : y;
    };
  };
  check_table(
      {{"2-d indices, repeated", {{{5, 3}}}, lookup({1, 4, 1, 0, 1, 3}, {2, 3}, false), k2nd},
       {"1-d indices", {{{4, 2}}}, lookup({3, 0, 2}, {3}, false), k2nd},
       {"0-d index", {{{4, 3}}}, lookup({2}, {}, false), k2nd},
       // Second order through the scatter's own backward, the gather.
       {"squared, repeated", {{{4, 3}}}, lookup({2, 2, 0, 3, 2}, {5}, true), k2nd}});
}

TEST_CASE("embedding: picks rows, accumulates repeats, and keeps its own copy of the indices") {
  Tensor w = Tensor::from_vector({0, 1, 10, 11, 20, 21}, {3, 2}).requires_grad_();
  Tensor idx = indices({2, 0, 2}, {3});
  Tensor y = embedding(w, idx);
  CHECK(y.shape() == Shape{3, 2});
  CHECK(y.to_vector() == std::vector<float>{20, 21, 0, 1, 20, 21});
  // A caller refilling its index buffer before backpropagating (a batch sampler's labels) must
  // not move the gradient.
  idx.fill_(1.0f);
  sum(mul(y, Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2}))).backward();
  CHECK(w.grad().to_vector() == std::vector<float>{3, 4, 0, 0, 6, 8});
}

TEST_CASE("embedding and one_hot refuse indices that are not whole numbers in range") {
  Tensor w = Tensor::zeros({4, 2});
  CHECK_NOTHROW(embedding(w, indices({0, 3}, {2})));
  CHECK_THROWS_WITH_AS(embedding(w, indices({0, 4}, {2})),
                       "embedding: indices [2] holds 4 at flat index 1, which is not a whole "
                       "number in [0, 4)",
                       std::invalid_argument);
  CHECK_THROWS_AS(embedding(w, indices({-1}, {1})), std::invalid_argument);
  CHECK_THROWS_AS(embedding(w, indices({1.5f}, {1})), std::invalid_argument);
  CHECK_THROWS_AS(embedding(w, indices({NAN}, {1})), std::invalid_argument);
  CHECK_THROWS_AS(embedding(Tensor::zeros({4}), indices({0}, {1})), std::invalid_argument);
  CHECK_THROWS_AS(embedding(w, Tensor()), std::invalid_argument);
  CHECK_THROWS_AS(embedding(w, Tensor::zeros({1, 1, 1, 1, 1, 1, 1, 1})), std::invalid_argument);
  CHECK_THROWS_AS(one_hot(indices({0, 3}, {2}), 3), std::invalid_argument);
  CHECK_THROWS_AS(one_hot(indices({0.5f}, {1}), 3), std::invalid_argument);
  CHECK_THROWS_AS(one_hot(indices({0}, {1}), 0), std::invalid_argument);
}

TEST_CASE("one_hot: a 1 at each label, any label shape, no gradient") {
  Tensor labels = indices({2, 0, 1, 2}, {2, 2}).requires_grad_();
  Tensor y = one_hot(labels, 3);
  CHECK(y.shape() == Shape{2, 2, 3});
  CHECK(y.to_vector() == std::vector<float>{0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1});
  CHECK_FALSE(y.requires_grad());
}

// one_hot itself is a constant: its row checks a product with it (a projection discriminator's
// pick of a class's logit) differentiates in x alone, to second order.
TEST_CASE("grad: one_hot") {
  auto pick = [](const TensorList& x) {
    return sum(mul(square(x[0]), one_hot(indices({3, 0, 3}, {3}), 4)), {1});
  };
  check_table({{"class logits of 3 rows", {{{3, 4}}}, pick, k2nd}});
}

TEST_CASE("grad: pixel_shuffle") {
  auto shuffle = [](int64_t r, bool squared) {
    return [=](const TensorList& x) {
      Tensor y = pixel_shuffle(x[0], r);
      return squared ? square(y) : y;
    };
  };
  check_table({{"r 2", {{{2, 8, 2, 3}}}, shuffle(2, false), k2nd},
               {"r 3", {{{1, 9, 2, 1}}}, shuffle(3, false), k2nd},
               {"r 1", {{{1, 2, 2, 2}}}, shuffle(1, false), k2nd},
               {"squared r 2", {{{1, 4, 2, 2}}}, shuffle(2, true), k2nd}});
}

TEST_CASE("pixel_shuffle: channel c*r*r + i*r + j lands at row i, column j of each block") {
  std::vector<float> v(8);
  for (int i = 0; i < 8; ++i) v[i] = static_cast<float>(i);
  // Channels 0..3 of one pixel each, then channels 4..7: two output channels of 2x2.
  Tensor y = pixel_shuffle(Tensor::from_vector(v, {1, 8, 1, 1}), 2);
  CHECK(y.shape() == Shape{1, 2, 2, 2});
  CHECK(y.to_vector() == v);
  Tensor x = Tensor::from_vector({0, 1, 10, 11, 20, 21, 30, 31}, {1, 4, 1, 2});
  CHECK(pixel_shuffle(x, 2).to_vector() == std::vector<float>{0, 10, 1, 11, 20, 30, 21, 31});
  CHECK_THROWS_AS(pixel_shuffle(Tensor::zeros({1, 6, 2, 2}), 2), std::invalid_argument);
  CHECK_THROWS_AS(pixel_shuffle(Tensor::zeros({1, 4, 2, 2}), 0), std::invalid_argument);
  CHECK_THROWS_AS(pixel_shuffle(Tensor::zeros({4, 2, 2}), 2), std::invalid_argument);
}
TEST_CASE("grad: dropout") {
  // The same seed each call, so every finite-difference evaluation sees the same mask.
  check_table({{"dropout",
                {{{4, 6}}},
                [](const TensorList& x) {
                  Generator gen(3);
                  return dropout(x[0], 0.4f, true, gen);
                },
                k2nd}});
}

// ---- losses ----
TEST_CASE("grad: binary_cross_entropy_with_logits") {
  check_table({{"bce",
                {{{4, 3}, -4.0f, 4.0f}, {{4, 3}, 0.0f, 1.0f, false}},
                [](const TensorList& x) { return binary_cross_entropy_with_logits(x[0], x[1]); },
                k2nd}});
}
TEST_CASE("grad: mse_loss") {
  check_table({{"mse",
                {{{4, 3}}, {{4, 3}}},
                [](const TensorList& x) { return mse_loss(x[0], x[1]); },
                k2nd}});
}

TEST_CASE("grad: cross_entropy") {
  auto loss = [](std::vector<float> labels) {
    return [labels](const TensorList& x) {
      return cross_entropy(x[0], indices(labels, {static_cast<int64_t>(labels.size())}));
    };
  };
  check_table({{"4 rows 5 classes", {{{4, 5}, -3.0f, 3.0f}}, loss({0, 4, 2, 4}), k2nd},
               {"one row", {{{1, 3}, -3.0f, 3.0f}}, loss({1}), k2nd},
               {"one class", {{{3, 1}}}, loss({0, 0, 0}), k2nd}});
}

TEST_CASE("cross_entropy: the mean of -log p(label), labels checked, no gradient to labels") {
  Tensor logits = Tensor::from_vector({0, 0, std::log(3.0f), 0}, {2, 2}).requires_grad_();
  Tensor labels = indices({1, 0}, {2}).requires_grad_();
  Tensor loss = cross_entropy(logits, labels);
  // Row 0: p = (1/2, 1/2), label 1; row 1: p = (3/4, 1/4), label 0.
  CHECK(loss.item() == doctest::Approx((std::log(2.0f) + std::log(4.0f / 3.0f)) / 2));
  loss.backward();
  std::vector<float> g = logits.grad().to_vector(), want{0.25f, -0.25f, -0.125f, 0.125f};
  for (int i = 0; i < 4; ++i) CHECK(g[i] == doctest::Approx(want[i]));  // (p - one_hot) / N
  CHECK_FALSE(labels.grad().defined());
  CHECK_THROWS_WITH_AS(cross_entropy(logits, indices({1, 2}, {2})),
                       "cross_entropy: labels [2] holds 2 at flat index 1, which is not a whole "
                       "number in [0, 2)",
                       std::invalid_argument);
  CHECK_THROWS_AS(cross_entropy(logits, indices({1, 0.5f}, {2})), std::invalid_argument);
  CHECK_THROWS_AS(cross_entropy(logits, indices({1, 0, 1}, {3})), std::invalid_argument);
  CHECK_THROWS_AS(cross_entropy(logits, indices({1, 0}, {2, 1})), std::invalid_argument);
  CHECK_THROWS_AS(cross_entropy(Tensor::zeros({2}), indices({1, 0}, {2})), std::invalid_argument);
  CHECK_THROWS_AS(cross_entropy(Tensor::zeros({0, 3}), Tensor::zeros({0})), std::invalid_argument);
  CHECK_THROWS_AS(cross_entropy(logits, Tensor()), std::invalid_argument);
}

// ---- composition: a small MLP discriminator, and the gradient-penalty pattern ----
TEST_CASE("grad: mlp composition") {
  check_table({{"linear-leaky-linear",
                {{{3, 4}}, {{6, 4}}, {{6}}, {{1, 6}}},
                [](const TensorList& x) {
                  return linear(leaky_relu(linear(x[0], x[1], x[2]), 0.2f), x[3]);
                },
                k2nd}});
  (void)a0;
}
