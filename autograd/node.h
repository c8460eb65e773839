// The tape: one Node per recorded op, numbered in creation order.
//
// An op that has an input requiring grad records a Node holding its backward closure and an edge to
// each input. A node is owned by the tensors it produced and by the nodes downstream of it, so a
// graph nobody can reach any more frees itself. backward() replays the reachable nodes in reverse
// creation order (see engine.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include "autograd/tensor.h"

namespace minimax {

using TensorList = std::vector<Tensor>;

// Where the gradient of one input goes: into the node that produced it, or into a leaf's .grad.
// Leaves are held weakly so that a leaf whose .grad carries history (create_graph) is no cycle.
struct Edge {
  std::shared_ptr<Node> node;
  std::weak_ptr<TensorImpl> leaf;
  bool is_leaf = false;
  bool requires_grad() const { return node != nullptr || is_leaf; }
};

// A backward closure maps the gradient of the op's output to one gradient per input (an undefined
// Tensor where an input needs none). It is written with differentiable ops, so that running it with
// grad mode on (create_graph) records the backward itself.
using BackwardFn = std::function<TensorList(const Tensor& grad_output, Node& node)>;

struct Node {
  const char* name;         // the op, for error messages
  uint64_t sequence;        // position on the tape
  std::vector<Edge> edges;  // one per input
  std::vector<Shape> input_shapes;
  BackwardFn backward;                            // emptied when the graph is freed
  std::shared_ptr<Storage> saved_output_storage;  // only for ops whose backward uses the output
  Shape output_shape;
  // The data the backward reads (the saved() inputs, the output when saved, and the tensors it
  // also reads) with its version at record time; backward() checks them before it runs the node.
  struct SavedVersion {
    static constexpr int kOutput = -1, kOther = -2;
    std::shared_ptr<Storage> storage;
    uint64_t version;
    int input;  // its position among the inputs, or kOutput, or kOther
    Shape shape;
  };
  std::vector<SavedVersion> saved_versions;
  std::weak_ptr<Node> self;
  std::vector<char> active;  // per edge, during one backward pass: is this gradient wanted?
  // Set by an op whose backward can add an input's gradient into the sum already collected for
  // that input, at no cost of its own (linear: its weight gradient is a GEMM, whose beta = 1 adds
  // as it writes). During such a node's backward, running_sums[i] is that sum when the backward
  // may change it in place: the engine alone holds it and no graph is being recorded; otherwise
  // it is undefined. A backward that adds into it returns that very tensor, and the engine then
  // skips the addition it would make.
  bool adds_into_sums = false;
  TensorList running_sums;

  bool needs_input_grad(size_t i) const {
    return active.empty() ? edges[i].requires_grad() : active[i];
  }
  Tensor running_sum(size_t i) const {
    return i < running_sums.size() ? running_sums[i] : Tensor();
  }
  // The op's output, linked to this node, for backwards written in terms of the output (sigmoid,
  // tanh, exp). Saving the output Tensor itself in the closure would be a reference cycle.
  Tensor saved_output() const;
  bool released() const { return !backward; }

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Frees a chain of nodes iteratively: the default destructor would recurse once per node and
  // overflow the stack on a deep graph.
  ~Node();
};

enum class SaveOutput { kNo, kYes };

// One input of a recorded op. An input whose data the backward reads is passed as saved(x): the
// node notes the version of its data, and backward() refuses to run the node once the data has
// changed in place (Tensor::version). Inputs the backward needs only the shape of are passed as
// they are, so changing them is no error, as in libtorch.
struct Input {
  Input(const Tensor& t) : tensor(t) {}  // implicit: a plain tensor is an input not saved
  Tensor tensor;
  bool saved = false;
};
inline Input saved(const Tensor& t) {
  Input input(t);
  input.saved = true;
  return input;
}

// Records `output` as produced by op `name` from `inputs` when grad mode is on and any input
// requires grad; returns output (now carrying the history). Otherwise returns output unchanged.
// `also_reads` are tensors other than the inputs whose values the backward reads (max's output,
// which it compares with), checked as the saved() inputs are.
Tensor record(const char* name, Tensor output, std::initializer_list<Input> inputs, BackwardFn fn,
              SaveOutput save = SaveOutput::kNo, std::initializer_list<Tensor> also_reads = {});
// The same for a list of inputs none of which the backward reads (concat).
Tensor record(const char* name, Tensor output, const TensorList& inputs, BackwardFn fn,
              SaveOutput save = SaveOutput::kNo);

// Grad mode: when off, no op records anything (inference, optimizer updates, backward without
// create_graph). Thread-local.
class GradMode {
 public:
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

// Turns recording off for a scope, like torch::NoGradGuard.
class NoGradGuard {
 public:
  NoGradGuard() : previous_(GradMode::is_enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Sets grad mode for a scope (used by the engine: backward records only with create_graph).
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : previous_(GradMode::is_enabled()) {
    GradMode::set_enabled(enabled);
  }
  ~GradModeGuard() { GradMode::set_enabled(previous_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace minimax
