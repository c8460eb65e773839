// The gradient-check table: one row per op and case, expanded into doctest cases.
//
// A row names the op, builds its inputs (shapes, value range, which require grad) and the function
// to check; tolerances and second-order checking are per row. Adding an op costs one row.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "minimax.h"

namespace minimax::testing {

struct InputSpec {
  Shape shape;
  float low = -1.0f, high = 1.0f;  // uniform range; keep away from an op's kinks and poles
  bool requires_grad = true;
};

struct OpCase {
  std::string name;
  std::vector<InputSpec> inputs;
  DifferentiableFn fn;
  bool second_order = false;  // also run gradgradcheck
  GradcheckOptions options = {};
  // A known inaccuracy of the op that makes the row fail: the row then must fail, so that it is
  // noticed (and this emptied) once the op is fixed.
  std::string known_inaccuracy = "";
};

// Inputs drawn for a case; a fixed seed per case, so failures reproduce.
inline TensorList make_inputs(const OpCase& c, uint64_t seed = 1234) {
  Generator gen(seed);
  TensorList xs;
  for (const InputSpec& s : c.inputs) {
    Tensor x = Tensor::uniform(s.shape, s.low, s.high, gen);
    if (s.requires_grad) x.requires_grad_();
    xs.push_back(x);
  }
  return xs;
}

// The gradients of <y, weights> with respect to the inputs xs that require grad.
inline TensorList weighted_grads(const Tensor& y, const TensorList& xs, const Tensor& weights) {
  TensorList wanted;
  for (const Tensor& x : xs)
    if (x.requires_grad()) wanted.push_back(x);
  return grad({y}, wanted, {.grad_outputs = {weights}, .allow_unused = true});
}

// Changes each input in place between the forward and the backward: the backward must either
// refuse (the op read that input and marked it saved) or give the gradients of the unchanged
// inputs bit for bit (it never read the values). A missing saved() mark fails here.
inline void check_in_place_changes(const OpCase& c) {
  const TensorList xs = make_inputs(c);
  if (std::none_of(xs.begin(), xs.end(), [](const Tensor& x) { return x.requires_grad(); })) return;
  const Tensor y = c.fn(xs);
  Generator gen(99);
  const Tensor weights = Tensor::uniform(y.shape(), -1, 1, gen);
  const TensorList want = weighted_grads(y, xs, weights);
  for (size_t i = 0; i < xs.size(); ++i) {
    const TensorList fresh = make_inputs(c);
    const Tensor fresh_y = c.fn(fresh);
    fresh[i].detach().copy_(make_inputs(c, 4321)[i]);  // other values from the same range
    INFO(c.name, ": input ", i, " changed in place after the forward");
    try {
      const TensorList got = weighted_grads(fresh_y, fresh, weights);
      for (size_t j = 0; j < got.size(); ++j)
        CHECK((got[j].defined() ? got[j].to_vector() : std::vector<float>()) ==
              (want[j].defined() ? want[j].to_vector() : std::vector<float>()));
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()).find("changed in place") != std::string::npos);
    }
  }
}

// Each element of `actual` within a relative `tol` of `expected`'s (the direct loops' values).
inline void check_close(const std::vector<float>& actual, const std::vector<float>& expected,
                        float tol = 1e-4f) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    INFO("element ", i);
    CHECK(actual[i] == doctest::Approx(expected[i]).epsilon(tol));
  }
}

// Runs every row of a table: first-order always, second-order where asked, and the in-place
// check.
inline void check_table(const std::vector<OpCase>& table) {
  for (const OpCase& c : table) {
    SUBCASE(c.name.c_str()) {
      check_in_place_changes(c);
      TensorList xs = make_inputs(c);
      GradcheckResult first = gradcheck(c.fn, xs, c.options);
      INFO(c.name, " first order: ", first.message);
      GradcheckResult second = c.second_order ? gradgradcheck(c.fn, xs, c.options) : first;
      INFO(c.name, " second order: ", second.message);
      if (c.known_inaccuracy.empty()) {
        CHECK(first.ok);
        CHECK(second.ok);
      } else {
        INFO("known inaccuracy: ", c.known_inaccuracy, "; if fixed, drop it from the row");
        CHECK_FALSE((first.ok && second.ok));
      }
    }
  }
}

}  // namespace minimax::testing
