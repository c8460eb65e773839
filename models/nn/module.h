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

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "autograd/node.h"
#include "models/io/checkpoint.h"

namespace minimax::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// An error from inside a module, its message prefixed by the path of modules it happened in
// ("D.body.2: linear: ..."). Still a std::invalid_argument, as the op's own error was.
class ModuleError : public std::invalid_argument {
 public:
  ModuleError(std::string path, std::string message)
      : std::invalid_argument(path + ": " + message),
        path_(std::move(path)),
        message_(std::move(message)) {}
  const std::string& path() const { return path_; }
  const std::string& message() const { return message_; }

 private:
  std::string path_, message_;
};

class Module {
 public:
  explicit Module(std::string type_name = "Module") : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The one-input forward that Sequential chains. A module with another signature (several inputs,
  // a label) defines its own forward and need not override this one (add `using
  // Module::forward;` beside it, or -Woverloaded-virtual says it hides this one).
  virtual Tensor forward(const Tensor& x);
  // forward(x), with an error from inside it named by where it happened: "D.body.2: linear:
  // ...". Sequential calls its children this way; so should a hand-written module.
  Tensor operator()(const Tensor& x) {
    return named_errors([&] { return forward(x); });
  }
  // Runs `f` (a module's own forward, e.g. [&] { return forward(z, label); }) naming any
  // std::invalid_argument it throws with this module's name, as operator() does.
  template <class F>
  auto named_errors(F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const std::invalid_argument& e) {
      rethrow_named(e);
    }
  }

  // Recursive, in registration order, named "child.grandchild.param".
  NamedTensors named_parameters() const;
  TensorList parameters() const;
  NamedTensors named_buffers() const;
  // The module's state: every parameter, then every buffer, each in registration order (the
  // order named_parameters() and named_buffers() give). What a copy, a moving average or a
  // broadcast of the whole module walks.
  NamedTensors named_state_tensors() const;
  // Copies the values of `other`'s parameters and buffers into this module's (in place, recording
  // nothing; the two stay independent). `other` must hold parameters and buffers of the same
  // names and shapes in the same order, as a module of the same architecture does; otherwise
  // std::invalid_argument names the first that differs, or the counts, and nothing is copied.
  void copy_state_from(const Module& other);
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const {
    return children_;
  }
  // This module ("") and every module under it ("body", "body.0", ..., "head"), depth first.
  std::vector<std::pair<std::string, Module*>> named_modules();
  // Calls f on this module and every module under it, parents first.
  void apply(const std::function<void(Module&)>& f);
  // Sets requires_grad on every parameter: false freezes the module (no gradient reaches its
  // parameters, and an optimizer built before the freeze skips them), true unfreezes it.
  Module& requires_grad_(bool on = true);
  // The name errors from inside this module start with: its name in the module it is registered
  // in, or what set_name gave a top-level module ("G", "D").
  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }
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
    check_new_child(name, module.get());
    if (module->name_.empty()) module->name_ = name;
    children_.emplace_back(name, module);
    return module;
  }

 private:
  [[noreturn]] void rethrow_named(const std::invalid_argument& e) const;
  void check_new_name(const std::string& name) const;
  // A child must exist and must not hold this module: a cycle would recurse forever.
  void check_new_child(const std::string& name, const Module* child) const;
  bool holds(const Module* m) const;  // m is this module or one below it
  void collect(const std::string& prefix, bool parameters, NamedTensors& out) const;
  void collect_modules(const std::string& prefix,
                       std::vector<std::pair<std::string, Module*>>& out);
  void summarize(const std::string& name, int depth, std::string& out) const;

  std::string type_name_, name_;
  NamedTensors parameters_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// Puts a module and every module below it in eval mode for a scope, and gives each its own mode
// back when the scope ends, an exception included.
class EvalModeGuard {
 public:
  explicit EvalModeGuard(Module& module);
  ~EvalModeGuard();
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  std::vector<std::pair<Module*, bool>> modes_;
};

}  // namespace minimax::nn
