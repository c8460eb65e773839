// Checks minimax against PyTorch's values and gradients, read from tests/data/torch_reference.json
// (written by tests/reference/make_torch_reference.py, which documents the format).
//
// For each case: the forward output; the gradients of L = sum(output * w) with respect to every
// input that requires grad, both with and without create_graph; and, where the case has them, the
// second-order gradients d/dx_j of S = sum_i <dL/dx_i, v_i>.
//
// Tolerance: |got - expected| <= 1e-5 + 1e-4 |expected| per element. The reference is PyTorch in
// float64 rounded to float32, so this bounds minimax's own float32 rounding: a few ulps per op
// (2^-23 ~ 1.2e-7) accumulated over the tens of terms of the small reductions, GEMMs and
// convolutions here stays well below 1e-4 relative, and 1e-5 absolute covers results that cancel
// to near zero.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "minimax.h"
#include "reference_fixture.h"

namespace minimax::torch_reference {

using json = nlohmann::json;

inline constexpr int kFormatVersion = 1;
inline constexpr const char* kFixtureName = "torch_reference.json";
inline constexpr const char* kRegenerate =
    "regenerate it with /usr/bin/python3 tests/reference/make_torch_reference.py";

// Every family the fixture may hold, each checked by one TEST_CASE "torch: <family>".
inline const std::set<std::string>& known_families() {
  static const std::set<std::string> families = {
      "elementwise", "activations", "matmul",           "reductions",    "shape",
      "nn",          "losses",      "composition",      "conv2d",        "conv_transpose2d",
      "batch_norm",  "pooling",     "conv_composition", "normalization", "resampling",
      "padding",     "modules"};
  return families;
}

using Fixture = testing::ReferenceFixture;

inline const Fixture& fixture() {
  static const Fixture f =
      testing::read_reference_fixture(kFixtureName, kFormatVersion, kRegenerate);
  return f;
}

inline Shape shape_of(const json& t) {
  return Shape(t.at("shape").get<std::vector<int64_t>>());
}

inline Tensor to_tensor(const json& t) {
  return Tensor::from_vector(t.at("values").get<std::vector<float>>(), shape_of(t));
}

struct Tolerance {
  double rel = 1e-4, abs = 1e-5;
};

// Empty when `got` matches `expected` (shape and every value within tol); otherwise what differs.
inline std::string mismatch(const Tensor& got, const json& expected, const Tolerance& tol) {
  if (!got.defined()) return "undefined tensor";
  Shape want = shape_of(expected);
  if (!(got.shape() == want)) return "shape " + got.shape().str() + ", expected " + want.str();
  std::vector<float> g = got.to_vector();
  std::vector<float> e = expected.at("values").get<std::vector<float>>();
  int bad = 0;
  size_t worst = 0;
  double worst_excess = 0.0;
  for (size_t i = 0; i < e.size(); ++i) {
    double err = std::abs(static_cast<double>(g[i]) - e[i]);
    double allowed = tol.abs + tol.rel * std::abs(static_cast<double>(e[i]));
    if (!(err <= allowed)) {  // NaN fails too
      if (bad == 0 || !(err / allowed <= worst_excess)) {
        worst = i;
        worst_excess = err / allowed;
      }
      ++bad;
    }
  }
  if (bad == 0) return {};
  std::ostringstream msg;
  msg.precision(9);
  msg << bad << " of " << e.size() << " values differ; worst at flat index " << worst << ": got "
      << g[worst] << ", expected " << e[worst] << " (" << worst_excess << "x the tolerance)";
  return msg.str();
}

// A minimax call for one op: inputs (the case's inputs, in order) and the whole case (options,
// state) -> output. It may replace an input by a tensor of the same value that it used instead (a
// module's own parameter, loaded from the input): gradients are then taken with respect to that.
using OpFn = std::function<Tensor(TensorList& inputs, const json& c)>;
using OpTable = std::map<std::string, OpFn>;

inline const json& options(const json& c) {
  return c.at("options");
}

// Checks one tensor, as one doctest assertion naming the case and the quantity.
inline void check_tensor(const std::string& where, const Tensor& got, const json& expected,
                         const Tolerance& tol) {
  std::string m = mismatch(got, expected, tol);
  CHECK_MESSAGE(m.empty(), where, ": ", m);
}

inline Tensor zeros_if_undefined(const Tensor& g, const Tensor& like) {
  return g.defined() ? g : Tensor::zeros(like.shape());
}

// Runs one case: forward, first-order gradients (plain and with create_graph), second order.
inline void check_case(const json& c, const OpFn& fn, const Tolerance& tol = {}) {
  const std::string name = c.at("name").get<std::string>();
  TensorList inputs, wanted;  // wanted: the inputs that require grad
  for (const json& in : c.at("inputs")) {
    Tensor x = to_tensor(in);
    if (in.at("requires_grad").get<bool>()) x.requires_grad_();
    inputs.push_back(x);
  }
  Tensor out = fn(inputs, c);
  for (size_t i = 0; i < inputs.size(); ++i)
    if (c.at("inputs").at(i).at("requires_grad").get<bool>()) wanted.push_back(inputs[i]);
  check_tensor(name + " output", out, c.at("output"), tol);
  const json& grads = c.at("grads");
  if (grads.size() != wanted.size()) {
    FAIL_CHECK(name, ": the fixture lists ", grads.size(), " gradients for ", wanted.size(),
               " inputs that require grad");
    return;
  }
  if (wanted.empty()) {
    CHECK_MESSAGE(!out.requires_grad(), name, ": output requires grad though no input does");
    return;
  }
  const bool second_order = c.contains("second_order");
  Tensor w = to_tensor(c.at("weight"));

  // Without create_graph (what an optimizer step does), keeping the graph for the next pass.
  TensorList plain = grad({out}, wanted, {.grad_outputs = {w}, .retain_graph = true});
  for (size_t i = 0; i < wanted.size(); ++i)
    check_tensor(name + " grad of input " + std::to_string(i), plain[i], grads[i], tol);

  // With create_graph (what a gradient penalty does).
  TensorList g = grad({out}, wanted, {.grad_outputs = {w}, .create_graph = true});
  for (size_t i = 0; i < wanted.size(); ++i)
    check_tensor(name + " grad of input " + std::to_string(i) + " (create_graph)", g[i], grads[i],
                 tol);
  if (!second_order) return;

  const json& so = c.at("second_order");
  Tensor s;
  for (size_t i = 0; i < wanted.size(); ++i) {
    Tensor term = sum(mul(g[i], to_tensor(so.at("v").at(i))));
    s = s.defined() ? add(s, term) : term;
  }
  TensorList gg(wanted.size());
  // S carries no history when every dL/dx_i is independent of the inputs (a linear op): its
  // gradients are zero, and grad() would rightly refuse to differentiate a constant.
  if (s.requires_grad()) gg = grad({s}, wanted, {.allow_unused = true});
  for (size_t i = 0; i < wanted.size(); ++i)
    check_tensor(name + " second-order grad of input " + std::to_string(i),
                 zeros_if_undefined(gg[i], wanted[i]), so.at("grads").at(i), tol);
}

// Checks every case of `family` with `ops`. Fails (without crashing) on a missing fixture, an
// empty family, an op with no mapping, or an exception from minimax.
inline void check_family(const std::string& family, const OpTable& ops, const Tolerance& tol = {}) {
  const Fixture& f = fixture();
  REQUIRE_MESSAGE(f.error.empty(), f.error);
  int count = 0;
  for (const json& c : f.cases()) {
    if (c.at("family") != family) continue;
    ++count;
    const std::string name = c.at("name").get<std::string>();
    auto it = ops.find(c.at("op").get<std::string>());
    if (it == ops.end()) {
      FAIL_CHECK(name, ": no minimax mapping for op '", c.at("op").get<std::string>(), "'");
      continue;
    }
    try {
      check_case(c, it->second, tol);
    } catch (const std::exception& e) {
      FAIL_CHECK(name, ": threw ", std::string(e.what()));
    }
  }
  CHECK_MESSAGE(count > 0, "no cases of family '", family, "' in ", f.path, "; ", kRegenerate);
}

// Option helpers.
inline Dims dims_of(const json& o, const char* key) {
  return o.at(key).get<Dims>();
}
inline Shape shape_option(const json& o, const char* key) {
  return Shape(o.at(key).get<std::vector<int64_t>>());
}

}  // namespace minimax::torch_reference
