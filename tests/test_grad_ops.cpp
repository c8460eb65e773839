// Gradient checks for every op (first order), and second order for the ops a gradient penalty
// passes through. Rows: {name, {inputs: shape, low, high, requires_grad}, fn, second_order}.
#include "op_table.h"

using namespace minimax;
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
  auto f = [](const TensorList& x) { return leaky_relu(x[0], 0.2f); };
  check_table({{"positive", {{{4, 5}, 0.1f, 1.0f}}, f, k2nd},
               {"negative", {{{4, 5}, -1.0f, -0.1f}}, f, k2nd}});
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
               {"dim 0", {{{5, 3}}}, [](const TensorList& x) { return mean(x[0], {0}); }, k2nd}});
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
