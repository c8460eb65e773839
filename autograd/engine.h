// Reverse-mode differentiation over the tape: backward() and grad().
#pragma once

#include <optional>

#include "autograd/node.h"

namespace minimax {

// Options are named, so that no call can swap two flags by position:
//   grad({loss}, params, {.create_graph = true});
//   backward({y}, {.grad_outputs = {w}, .retain_graph = true});
struct BackwardOptions {
  // The weights of the outputs (their gradients); a one-element output may omit its own (it is 1).
  TensorList grad_outputs = {};
  // Keep the graph for another pass; defaults to create_graph.
  std::optional<bool> retain_graph = std::nullopt;
  // Record the backward itself, so the gradients it produces can be differentiated again.
  bool create_graph = false;
};

struct GradOptions {
  TensorList grad_outputs = {};
  std::optional<bool> retain_graph = std::nullopt;
  bool create_graph = false;
  // An input the outputs do not depend on gets an undefined Tensor instead of an error.
  bool allow_unused = false;
};

// Accumulates d(sum of outputs[i] * grad_outputs[i]) / d(leaf) into every reachable leaf's .grad.
// Frees the graph unless retain_graph. With create_graph the accumulated gradients carry history.
void backward(const TensorList& outputs, const BackwardOptions& options = {});

// Returns d(sum of outputs[i] * grad_outputs[i]) / d(inputs[j]) for each input, without touching
// any .grad. With create_graph the returned gradients carry history and can be differentiated again
// (gradient penalties).
TensorList grad(const TensorList& outputs, const TensorList& inputs,
                const GradOptions& options = {});

}  // namespace minimax
