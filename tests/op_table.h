// The gradient-check table: one row per op and case, expanded into doctest cases.
//
// A row names the op, builds its inputs (shapes, value range, which require grad) and the function
// to check; tolerances and second-order checking are per row. Adding an op costs one row.
#pragma once

#include <doctest/doctest.h>

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

// Runs every row of a table: first-order always, second-order where asked.
inline void check_table(const std::vector<OpCase>& table) {
  for (const OpCase& c : table) {
    SUBCASE(c.name.c_str()) {
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
