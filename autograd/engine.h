// Reverse-mode differentiation over the tape: backward() and grad().
#pragma once

#include <optional>

#include "autograd/node.h"

namespace minimax {

// Accumulates d(sum of outputs[i] * grad_outputs[i]) / d(leaf) into every reachable leaf's .grad.
// A one-element output may omit its grad_output (it is 1). Frees the graph unless retain_graph.
void backward(const TensorList& outputs, const TensorList& grad_outputs = {},
              bool retain_graph = false);

// Returns d(sum of outputs[i] * grad_outputs[i]) / d(inputs[j]) for each input, without touching
// any .grad. With create_graph the returned gradients carry history and can be differentiated again
// (gradient penalties). retain_graph defaults to create_graph. An input the outputs do not depend
// on is an error unless allow_unused, where its gradient is an undefined Tensor.
TensorList grad(const TensorList& outputs, const TensorList& inputs,
                const TensorList& grad_outputs = {}, bool create_graph = false,
                std::optional<bool> retain_graph = std::nullopt, bool allow_unused = false);

}  // namespace minimax
