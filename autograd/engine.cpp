// The reverse pass.
//
// Every node carries its creation sequence number, and a node's inputs were all created before it.
// So processing nodes in decreasing sequence order (a max-heap, no recursion) visits each node only
// after every consumer of its output has sent it its gradient: the tape replayed in reverse.
#include "autograd/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <queue>
#include <span>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "ops/ops.h"

namespace minimax {

namespace {

thread_local bool grad_mode_enabled = true;
std::atomic<uint64_t> next_sequence{0};

struct LaterFirst {
  bool operator()(const std::shared_ptr<Node>& a, const std::shared_ptr<Node>& b) const {
    return a->sequence < b->sequence;
  }
};

Tensor accumulate(const Tensor& sum, const Tensor& g) {
  return sum.defined() ? add(sum, g) : g;
}

// Where a gradient wanted by grad() is collected: at a leaf, or at the node producing a non-leaf.
struct Targets {
  std::unordered_map<const TensorImpl*, size_t> leaves;
  std::unordered_map<const Node*, size_t> nodes;
  bool empty() const { return leaves.empty() && nodes.empty(); }
};

// All nodes reachable from the roots, without recursion.
std::vector<Node*> reachable_nodes(const std::vector<std::shared_ptr<Node>>& roots) {
  std::vector<Node*> found, stack;
  std::unordered_set<Node*> seen;
  for (const auto& r : roots)
    if (seen.insert(r.get()).second) stack.push_back(r.get());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    found.push_back(n);
    for (const Edge& e : n->edges)
      if (e.node && seen.insert(e.node.get()).second) stack.push_back(e.node.get());
  }
  return found;
}

// Marks, per edge, whether a gradient along it can reach a target, so that grad(D(x), x) does not
// compute gradients for D's parameters. Without targets every edge that requires grad is wanted.
void mark_active_edges(const std::vector<Node*>& nodes, const Targets& targets) {
  std::vector<Node*> order = nodes;
  std::sort(order.begin(), order.end(),
            [](const Node* a, const Node* b) { return a->sequence < b->sequence; });
  std::unordered_set<const Node*> leads_to_target;
  for (Node* n : order) {  // inputs before consumers
    n->active.assign(n->edges.size(), 0);
    bool any = targets.nodes.count(n) > 0;
    for (size_t i = 0; i < n->edges.size(); ++i) {
      const Edge& e = n->edges[i];
      bool wanted;
      if (targets.empty()) {
        wanted = e.requires_grad();
      } else if (e.node) {
        wanted = leads_to_target.count(e.node.get()) > 0;
      } else {
        auto leaf = e.leaf.lock();
        wanted = leaf && targets.leaves.count(leaf.get()) > 0;
      }
      n->active[i] = wanted;
      any = any || wanted;
    }
    if (any) leads_to_target.insert(n);
  }
}

void check_grad_shape(const Node& n, size_t i, const Tensor& g) {
  if (!(g.shape() == n.input_shapes[i]))
    throw std::logic_error(
        fmt::format("backward of '{}' returned a gradient of shape {} for input {} "
                    "of shape {}",
                    n.name, g.shape().str(), i, n.input_shapes[i].str()));
}

// Refuses to run a node whose backward would read data changed in place since it was recorded.
void check_saved_versions(const Node& n) {
  for (const Node::SavedVersion& s : n.saved_versions) {
    const uint64_t now = s.storage->version();
    if (now == s.version) continue;
    const std::string what = s.input == Node::SavedVersion::kOutput ? "its output"
                             : s.input == Node::SavedVersion::kOther
                                 ? "a tensor it reads"
                                 : fmt::format("its input {}", s.input);
    throw std::runtime_error(fmt::format(
        "backward through '{}': {} (shape {}) was changed in place after the op was recorded "
        "(its version is {}, {} when recorded), and the gradient would use the new values; change "
        "it only after backward(), or clone() it before it goes into the op",
        n.name, what, s.shape.str(), now, s.version));
  }
}

// The gradient stored in a leaf's .grad must not share storage with another tensor (an op like add
// hands the same gradient to both inputs), or an in-place update of one .grad would change another.
Tensor owned(const Tensor& g) {
  bool shared = g.impl_ptr().use_count() > 1 || g.impl_ptr()->storage.use_count() > 1;
  return shared && !g.requires_grad() ? g.detach().clone() : g;
}

void accumulate_into_leaf(TensorImpl& leaf, const Tensor& g) {
  Tensor current = leaf.grad ? Tensor(leaf.grad) : Tensor();
  Tensor sum = current.defined() ? add(current, g) : owned(g);
  leaf.grad = sum.impl_ptr();
}

// One reverse pass: seeded with the outputs' gradients, it pops nodes newest first and routes each
// input gradient along its edge, into the next node's pending sum or into a leaf (its .grad, or the
// result for a requested input of grad()).
class BackwardPass {
 public:
  BackwardPass(const TensorList& inputs, bool retain_graph)
      : results_(inputs.size()), collect_(!inputs.empty()), retain_graph_(retain_graph) {
    for (size_t j = 0; j < inputs.size(); ++j) {
      const Tensor& x = inputs[j];
      if (!x.requires_grad())
        throw std::invalid_argument(
            fmt::format("grad: input {} (shape {}) does not require grad", j, x.shape().str()));
      // A tensor given twice is one target: its later entries copy the first's gradient.
      const size_t first = x.is_leaf()
                               ? targets_.leaves.try_emplace(x.impl_ptr().get(), j).first->second
                               : targets_.nodes.try_emplace(x.grad_fn().get(), j).first->second;
      if (first != j) repeats_.emplace_back(j, first);
    }
  }

  // Gives each output its gradient (ones for a one-element output when none is given).
  void seed(const TensorList& outputs, const TensorList& grad_outputs) {
    for (size_t i = 0; i < outputs.size(); ++i) {
      const Tensor& y = outputs[i];
      Tensor g = seed_gradient(y, grad_outputs.empty() ? Tensor() : grad_outputs[i], i);
      if (y.is_leaf()) {  // d y / d y
        if (collect_) {
          auto it = targets_.leaves.find(y.impl_ptr().get());
          if (it != targets_.leaves.end()) add_result(it->second, g);
        } else {
          accumulate_into_leaf(*y.impl_ptr(), g);
        }
        continue;
      }
      Node* n = y.grad_fn().get();
      if (!pending_.count(n)) roots_.push_back(y.grad_fn());
      pending_[n] = accumulate(pending_[n], g);
    }
  }

  void run() {
    mark_active_edges(reachable_nodes(roots_), targets_);
    for (auto& r : roots_) {
      ready_.push(r);
      queued_.insert(r.get());
    }
    while (!ready_.empty()) {
      std::shared_ptr<Node> node = ready_.top();
      ready_.pop();
      Tensor g = std::move(pending_[node.get()]);
      pending_.erase(node.get());
      if (auto it = targets_.nodes.find(node.get()); it != targets_.nodes.end())
        add_result(it->second, g);
      run_node(*node, g);
    }
  }

  // The gradients of grad()'s inputs; throws for one no output reaches, unless allow_unused.
  TensorList results(const TensorList& inputs, bool allow_unused) const {
    TensorList out = results_;
    for (auto [j, first] : repeats_) out[j] = out[first];
    for (size_t j = 0; j < out.size(); ++j)
      if (!out[j].defined() && !allow_unused)
        throw std::invalid_argument(fmt::format(
            "grad: input {} (shape {}) is not reachable from the outputs; pass allow_unused=true "
            "if that is expected",
            j, inputs[j].shape().str()));
    return out;
  }

 private:
  static Tensor seed_gradient(const Tensor& y, Tensor g, size_t i) {
    if (!y.requires_grad())
      throw std::invalid_argument(fmt::format(
          "backward: output {} (shape {}) does not require grad: nothing it was computed from "
          "requires grad",
          i, y.shape().str()));
    if (g.defined()) {
      if (!(g.shape() == y.shape()))
        throw std::invalid_argument(
            fmt::format("backward: grad_output {} has shape {} but its output has shape {}", i,
                        g.shape().str(), y.shape().str()));
      return g;
    }
    if (y.numel() != 1)
      throw std::invalid_argument(fmt::format(
          "backward: output {} has shape {}; a gradient can be implied only for a one-element "
          "output, so pass grad_outputs",
          i, y.shape().str()));
    return Tensor::ones(y.shape());
  }

  void add_result(size_t j, const Tensor& g) { results_[j] = accumulate(results_[j], g); }

  // Calls the node's backward with its summed output gradient and routes what it returns.
  void run_node(Node& node, const Tensor& g) {
    if (std::none_of(node.active.begin(), node.active.end(), [](char a) { return a; })) return;
    if (node.released())
      throw std::runtime_error(fmt::format(
          "backward: the graph through '{}' was already freed by an earlier backward; pass "
          "retain_graph=true to the first call to go through it twice",
          node.name));
    check_saved_versions(node);
    const DropRunningSums drop{node.running_sums};
    if (node.adds_into_sums) offer_running_sums(node);
    TensorList grads = node.backward(g, node);
    if (grads.size() != node.edges.size())
      throw std::logic_error(fmt::format("backward of '{}' returned {} gradients for {} inputs",
                                         node.name, grads.size(), node.edges.size()));
    for (size_t i = 0; i < grads.size(); ++i) {
      if (!node.active[i] || !grads[i].defined()) continue;
      check_grad_shape(node, i, grads[i]);
      const bool added = node.running_sum(i).impl_ptr() == grads[i].impl_ptr();
      if (!added) route(node.edges[i], grads[i]);
    }
    node.active.clear();
    if (!retain_graph_) {
      node.backward = nullptr;
      node.saved_output_storage.reset();
      node.saved_versions.clear();
    }
  }

  // The sum collected so far where edge e leads: the next node's pending sum, a requested
  // input's result, or a leaf's .grad; null before the first gradient arrives.
  const std::shared_ptr<TensorImpl>* collected(const Edge& e) {
    if (e.node) {
      auto it = pending_.find(e.node.get());
      return it == pending_.end() ? nullptr : &it->second.impl_ptr();
    }
    auto leaf = e.leaf.lock();
    if (!leaf) return nullptr;
    // The leaf lives on after the lock (the edge only observes it): its owner holds it.
    return collect_ ? &results_[targets_.leaves.at(leaf.get())].impl_ptr() : &leaf->grad;
  }

  // Gives a node that adds into sums (Node::adds_into_sums) each wanted input's sum that is the
  // engine's alone: no other handle to it or to its storage (a user's .grad, a gradient also
  // routed elsewhere, a view), and no history. None while a graph is recorded (create_graph),
  // where an in-place change would alter a value the recorded backward reads.
  // The list is sized only when a sum is offered: the first use of a weight has none, and a
  // node's backward then allocates nothing here.
  void offer_running_sums(Node& node) {
    if (GradMode::is_enabled()) return;
    for (size_t i = 0; i < node.edges.size(); ++i) {
      if (!node.active[i]) continue;
      const std::shared_ptr<TensorImpl>* sum = collected(node.edges[i]);
      if (!sum || !*sum || sum->use_count() != 1 || (*sum)->storage.use_count() != 1 ||
          (*sum)->requires_grad)
        continue;
      if (node.running_sums.empty()) node.running_sums.resize(node.edges.size());
      node.running_sums[i] = Tensor(*sum);
    }
  }

  // Drops the handles offer_running_sums gave a node, however its backward ends.
  struct DropRunningSums {
    TensorList& sums;
    ~DropRunningSums() { sums.clear(); }
  };

  void route(const Edge& e, const Tensor& g) {
    if (e.node) {
      Node* next = e.node.get();
      pending_[next] = accumulate(pending_[next], g);
      if (queued_.insert(next).second) ready_.push(e.node);
    } else if (auto leaf = e.leaf.lock()) {
      if (collect_)
        add_result(targets_.leaves.at(leaf.get()), g);
      else
        accumulate_into_leaf(*leaf, g);
    }
  }

  Targets targets_;
  std::vector<std::pair<size_t, size_t>> repeats_;  // (input, the earlier input it repeats)
  TensorList results_;
  bool collect_, retain_graph_;
  std::unordered_map<Node*, Tensor> pending_;
  std::priority_queue<std::shared_ptr<Node>, std::vector<std::shared_ptr<Node>>, LaterFirst> ready_;
  std::vector<std::shared_ptr<Node>> roots_;
  std::unordered_set<Node*> queued_;
};

TensorList run_backward(const TensorList& outputs, const TensorList& grad_outputs,
                        const TensorList& inputs, bool retain_graph, bool create_graph,
                        bool allow_unused) {
  if (outputs.empty()) throw std::invalid_argument("backward: no outputs given");
  if (!grad_outputs.empty() && grad_outputs.size() != outputs.size())
    throw std::invalid_argument(fmt::format("backward: {} outputs but {} grad_outputs",
                                            outputs.size(), grad_outputs.size()));
  GradModeGuard mode(create_graph);
  BackwardPass pass(inputs, retain_graph);
  pass.seed(outputs, grad_outputs);
  pass.run();
  return pass.results(inputs, allow_unused);
}

}  // namespace

bool GradMode::is_enabled() {
  return grad_mode_enabled;
}
void GradMode::set_enabled(bool enabled) {
  grad_mode_enabled = enabled;
}

Node::~Node() {
  // Take the input nodes first, then drop the closure: the tensors it captured are (almost always)
  // inputs whose nodes are now held here, so dropping it frees nothing recursively.
  std::vector<std::shared_ptr<Node>> doomed;
  auto take_inputs = [&doomed](Node& n) {
    for (Edge& e : n.edges)
      if (e.node) doomed.push_back(std::move(e.node));
    n.backward = nullptr;
  };
  take_inputs(*this);
  while (!doomed.empty()) {
    std::shared_ptr<Node> n = std::move(doomed.back());
    doomed.pop_back();
    if (n.use_count() == 1) take_inputs(*n);  // the last reference: it dies here, with no inputs
  }
}

Tensor Node::saved_output() const {
  if (!saved_output_storage)
    throw std::logic_error(fmt::format("'{}' did not save its output", name));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = saved_output_storage;
  impl->shape = output_shape;
  impl->requires_grad = true;
  impl->grad_fn = self.lock();
  return Tensor(std::move(impl));
}

namespace {

// Notes t's data and its version now, for check_saved_versions.
void note_version(Node& node, const Tensor& t, int input) {
  if (!t.defined()) return;
  const auto& storage = t.impl_ptr()->storage;
  node.saved_versions.push_back({storage, storage->version(), input, t.shape()});
}

Tensor record_inputs(const char* name, Tensor output, std::span<const Input> inputs, BackwardFn fn,
                     SaveOutput save, std::span<const Tensor> also_reads) {
  if (!GradMode::is_enabled()) return output;
  bool any = std::any_of(inputs.begin(), inputs.end(),
                         [](const Input& x) { return x.tensor.requires_grad(); });
  if (!any) return output;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->sequence = next_sequence++;
  node->self = node;
  node->backward = std::move(fn);
  node->edges.reserve(inputs.size());
  node->input_shapes.reserve(inputs.size());
  node->saved_versions.reserve(
      std::count_if(inputs.begin(), inputs.end(), [](const Input& x) { return x.saved; }) +
      (save == SaveOutput::kYes ? 1 : 0) + also_reads.size());
  for (const Tensor& t : also_reads) note_version(*node, t, Node::SavedVersion::kOther);
  for (const Input& input : inputs) {
    const Tensor& x = input.tensor;
    if (input.saved) note_version(*node, x, static_cast<int>(node->edges.size()));
    Edge e;
    if (x.requires_grad()) {
      if (x.is_leaf()) {
        e.leaf = x.impl_ptr();
        e.is_leaf = true;
      } else {
        e.node = x.grad_fn();
      }
    }
    node->edges.push_back(std::move(e));
    node->input_shapes.push_back(x.defined() ? x.shape() : Shape{});
  }
  node->output_shape = output.shape();
  if (save == SaveOutput::kYes) {
    node->saved_output_storage = output.impl_ptr()->storage;
    note_version(*node, output, Node::SavedVersion::kOutput);
  }
  // Ops return fresh tensors; one that hands back an existing tensor gets a new handle, so that the
  // existing tensor's history is left as it was.
  std::shared_ptr<TensorImpl> impl = output.impl_ptr();
  if (impl.use_count() > 2) {
    impl = std::make_shared<TensorImpl>(*impl);
    impl->grad.reset();
  }
  impl->requires_grad = true;
  impl->grad_fn = std::move(node);
  return Tensor(std::move(impl));
}

}  // namespace

Tensor record(const char* name, Tensor output, std::initializer_list<Input> inputs, BackwardFn fn,
              SaveOutput save, std::initializer_list<Tensor> also_reads) {
  return record_inputs(name, std::move(output), std::span(inputs.begin(), inputs.size()),
                       std::move(fn), save, std::span(also_reads.begin(), also_reads.size()));
}

Tensor record(const char* name, Tensor output, const TensorList& inputs, BackwardFn fn,
              SaveOutput save) {
  const std::vector<Input> unsaved(inputs.begin(), inputs.end());
  return record_inputs(name, std::move(output), unsaved, std::move(fn), save, {});
}

void backward(const TensorList& outputs, const BackwardOptions& o) {
  run_backward(outputs, o.grad_outputs, {}, o.retain_graph.value_or(o.create_graph), o.create_graph,
               false);
}

TensorList grad(const TensorList& outputs, const TensorList& inputs, const GradOptions& o) {
  if (inputs.empty()) throw std::invalid_argument("grad: no inputs given");
  return run_backward(outputs, o.grad_outputs, inputs, o.retain_graph.value_or(o.create_graph),
                      o.create_graph, o.allow_unused);
}

}  // namespace minimax
