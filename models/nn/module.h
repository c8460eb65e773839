// Module: the unit users compose generators and discriminators from.
//
// A module registers its parameters, buffers (state that is saved but not trained, like batch
// norm's running averages) and submodules by name, so that named_parameters(), train()/eval(),
// zero_grad(), checkpoints and per-network optimizers work on any graph, Sequential or
// hand-written.
//
// Registered tensors are handles shared with the module's members: `weight = register_parameter(
// "weight", ...)` and the registry see the same tensor.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/node.h"
#include "models/io/checkpoint.h"

namespace minimax::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  explicit Module(std::string type_name = "Module") : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The one-input forward that Sequential chains. A module with another signature (several inputs,
  // a label) defines its own forward and need not override this one.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  // Recursive, in registration order, named "child.grandchild.param".
  NamedTensors named_parameters() const;
  TensorList parameters() const;
  NamedTensors named_buffers() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const {
    return children_;
  }
  int64_t parameter_count() const;

  // Training mode (dropout active, batch norm on batch statistics), recursively.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();

  // One line per module, indented by depth: what it is, its parameters' shapes, and the total.
  std::string summary() const;
  const std::string& type_name() const { return type_name_; }
  // The line summary() shows for this module, e.g. "Linear(784 -> 240)".
  virtual std::string describe() const { return type_name_; }

  // Every parameter and buffer as prefix + "/" + its name.
  void save(Checkpoint& checkpoint, const std::string& prefix) const;
  // Restores every parameter and buffer; a missing entry or another shape is a CheckpointError.
  void load(const Checkpoint& checkpoint, const std::string& prefix);

 protected:
  // Marks t as requiring grad, registers it, and returns the same handle.
  Tensor register_parameter(const std::string& name, Tensor t);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    check_new_name(name);
    children_.emplace_back(name, module);
    return module;
  }

 private:
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, bool parameters, NamedTensors& out) const;
  void summarize(const std::string& name, int depth, std::string& out) const;

  std::string type_name_;
  NamedTensors parameters_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace minimax::nn
