// The gradient checkers themselves: each catches a deliberately wrong derivative (a wrong
// backward, a 1% error, a wrong backward of a backward, also of a linear op) and passes the right
// version of the same op. The wrong ops are recorded with hand-written backward closures.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "minimax.h"

using namespace minimax;

namespace {

Tensor drawn(const Shape& shape, uint64_t seed, float low = -1.0f, float high = 1.0f) {
  Generator gen(seed);
  return Tensor::uniform(shape, low, high, gen);
}

// y = x^2, whose backward is g * slope * x: slope 2 is right.
DifferentiableFn square_with_slope(float slope) {
  return [slope](const TensorList& xs) {
    Tensor x = xs[0];
    return record(
        "custom_square", square(x.detach()), {x},
        [x, slope](const Tensor& g, Node&) -> TensorList { return {mul(mul(g, x), slope)}; });
  };
}

// y = x W^T for a constant W [6, 8], whose backward is (g W) * scale: scale 1 is right.
DifferentiableFn product_with_scale(float scale) {
  Tensor w = drawn({6, 8}, 3);
  return [w, scale](const TensorList& xs) {
    Tensor x = xs[0];
    return record(
        "custom_product", matmul(x.detach(), w, false, true), {x},
        [w, scale](const Tensor& g, Node&) -> TensorList { return {mul(matmul(g, w), scale)}; });
  };
}

// y = 2x, whose backward returns a * g + (2 - a) * detach(g): the value 2g for any a, but the
// derivative of the backward in g is a. a = 2 is right; the second-order check must see the rest.
DifferentiableFn doubling_whose_backward_sees(float a) {
  return [a](const TensorList& xs) {
    Tensor x = xs[0];
    return record("custom_doubling", mul(x.detach(), 2.0f), {x},
                  [a](const Tensor& g, Node&) -> TensorList {
                    return {add(mul(g, a), mul(g.detach(), 2.0f - a))};
                  });
  };
}

}  // namespace

TEST_CASE("gradcheck catches a wrong backward and names input, element and both values") {
  Tensor x = Tensor::from_vector({0.5f, -1.0f, 2.0f}, {3}).requires_grad_();
  Tensor c = Tensor::from_vector({1.0f, 2.0f, 3.0f}, {3});
  DifferentiableFn wrong = [f = square_with_slope(3.0f)](const TensorList& xs) {
    return f({xs[1]});
  };
  GradcheckResult bad = gradcheck(wrong, {c, x});
  CHECK_FALSE(bad.ok);
  INFO(bad.message);
  // Element 0: the analytic 3 x w against the numeric 2 x w (w, the output weighting, in
  // [0.5, 1.5]).
  CHECK(bad.message.rfind("input 1 element 0: analytic ", 0) == 0);
  CHECK(bad.message.find(", numeric ") != std::string::npos);
  CHECK(bad.max_error_ratio > 1.0);
  CHECK(gradcheck(square_with_slope(2.0f), {x}).ok);
  CHECK_FALSE(gradcheck(square_with_slope(2.0f), {c}).ok);  // nothing to check
}

TEST_CASE("gradcheck catches a 1% error in a first derivative") {
  Tensor x = drawn({3}, 1, 0.5f, 2.0f).requires_grad_();
  GradcheckResult right = gradcheck(square_with_slope(2.0f), {x});
  CHECK(right.ok);
  CHECK_FALSE(gradcheck(square_with_slope(2.02f), {x}).ok);
  CHECK_FALSE(gradcheck(square_with_slope(1.98f), {x}).ok);
  // A product of 48 outputs, each a float32 sum of eight terms: rounding noise there is larger.
  Tensor a = drawn({4, 8}, 2).requires_grad_();
  GradcheckResult product = gradcheck(product_with_scale(1.0f), {a});
  INFO(product.message);
  CHECK(product.ok);
  CHECK_FALSE(gradcheck(product_with_scale(1.01f), {a}).ok);
  CHECK_FALSE(gradcheck(product_with_scale(0.99f), {a}).ok);
  // The rounding bound leaves room: the right version stays well inside it.
  CHECK(right.max_error_ratio < 0.5);
  CHECK(product.max_error_ratio < 0.5);
}

TEST_CASE("gradgradcheck catches a wrong second derivative in the input") {
  // tanh whose backward treats tanh' as a constant in x: first order right, second order wrong.
  DifferentiableFn frozen = [](const TensorList& xs) {
    Tensor x = xs[0];
    Tensor y = tanh(x.detach());
    Tensor slope = rsub(1.0f, square(y));  // a constant: no history
    return record("frozen_tanh", std::move(y), {x},
                  [slope](const Tensor& g, Node&) -> TensorList { return {mul(g, slope)}; });
  };
  Tensor x = Tensor::from_vector({0.5f, -1.0f, 0.2f}, {3}).requires_grad_();
  CHECK(gradcheck(frozen, {x}).ok);
  GradcheckResult bad = gradgradcheck(frozen, {x});
  CHECK_FALSE(bad.ok);
  INFO(bad.message);
  CHECK(bad.message.rfind("input 0 element", 0) == 0);
  CHECK(gradgradcheck([](const TensorList& xs) { return tanh(xs[0]); }, {x}).ok);
}

TEST_CASE("gradgradcheck checks the backward of a linear op in its incoming gradient") {
  // Every second derivative of y = 2x in x is 0, wrong backward or not: only v can tell.
  Tensor x = drawn({2, 3}, 4).requires_grad_();
  CHECK(gradcheck(doubling_whose_backward_sees(1.0f), {x}).ok);
  GradcheckResult bad = gradgradcheck(doubling_whose_backward_sees(1.0f), {x});
  CHECK_FALSE(bad.ok);
  INFO(bad.message);
  CHECK(bad.message.rfind("the incoming gradient v element", 0) == 0);
  CHECK(gradgradcheck(doubling_whose_backward_sees(2.0f), {x}).ok);
  // 1% off in the backward's own derivative.
  CHECK_FALSE(gradgradcheck(doubling_whose_backward_sees(2.02f), {x}).ok);
  CHECK_FALSE(gradgradcheck(doubling_whose_backward_sees(1.98f), {x}).ok);
}

TEST_CASE("gradgradcheck catches a 1% error in a second derivative") {
  // y = x^2 whose backward is 2 x g in value, but whose recorded dependence on x is 2.02 x g.
  auto square_curving = [](float slope) {
    return [slope](const TensorList& xs) {
      Tensor x = xs[0];
      return record("custom_square", square(x.detach()), {x},
                    [x, slope](const Tensor& g, Node&) -> TensorList {
                      Tensor twice = add(mul(x, slope), mul(x.detach(), 2.0f - slope));
                      return {mul(g, twice)};
                    });
    };
  };
  Tensor x = drawn({4, 3}, 5).requires_grad_();
  CHECK(gradcheck(square_curving(2.02f), {x}).ok);
  CHECK(gradgradcheck(square_curving(2.0f), {x}).ok);
  CHECK_FALSE(gradgradcheck(square_curving(2.02f), {x}).ok);
  CHECK_FALSE(gradgradcheck(square_curving(1.98f), {x}).ok);
  // And a first-order error stays a first-order error: gradcheck sees it, while the backward of
  // the wrong backward is consistent with it.
  Tensor a = drawn({4, 8}, 2).requires_grad_();
  CHECK(gradgradcheck(product_with_scale(1.0f), {a}).ok);
  CHECK_FALSE(gradcheck(product_with_scale(1.01f), {a}).ok);
}

TEST_CASE("gradgradcheck catches a backward whose graph drops part of its incoming gradient") {
  // The identity, whose backward returns g in value but records only g's first column: its first
  // derivatives are right, its derivative in v is 0 in every other column.
  DifferentiableFn first_column = [](const TensorList& xs) {
    Tensor x = xs[0];
    return record("custom_identity", x.detach().clone(), {x},
                  [](const Tensor& g, Node&) -> TensorList {
                    return {concat({slice(g, 1, 0, 1), slice(g.detach(), 1, 1, g.size(1))}, 1)};
                  });
  };
  Tensor a = drawn({4, 8}, 2).requires_grad_();
  CHECK(gradcheck(first_column, {a}).ok);
  GradcheckResult bad = gradgradcheck(first_column, {a});
  CHECK_FALSE(bad.ok);
  CHECK(bad.message.rfind("the incoming gradient v element 1:", 0) == 0);
  CHECK(gradgradcheck([](const TensorList& xs) { return xs[0].clone(); }, {a}).ok);
}

TEST_CASE("a NaN derivative fails the check") {
  Tensor x = Tensor::from_vector({0.5f, 1.0f}, {2}).requires_grad_();
  DifferentiableFn nan_backward = [](const TensorList& xs) {
    Tensor x = xs[0];
    return record("nan_backward", x.detach().clone(), {x},
                  [](const Tensor& g, Node&) -> TensorList { return {mul(g, NAN)}; });
  };
  CHECK_FALSE(gradcheck(nan_backward, {x}).ok);
}
