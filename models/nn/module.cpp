#include "models/nn/module.h"

#include <fmt/format.h>

#include <set>
#include <stdexcept>

namespace minimax::nn {

Tensor Module::forward(const Tensor&) {
  throw std::logic_error(
      fmt::format("{} has no one-input forward; call its own forward", type_name_));
}

void Module::rethrow_named(const std::invalid_argument& e) const {
  if (name_.empty()) throw;  // an unnamed top-level module adds nothing to the path
  if (auto* inner = dynamic_cast<const ModuleError*>(&e))
    throw ModuleError(name_ + "." + inner->path(), inner->message());
  throw ModuleError(name_, e.what());
}

void Module::collect_modules(const std::string& prefix,
                             std::vector<std::pair<std::string, Module*>>& out) {
  out.emplace_back(prefix, this);
  for (const auto& [name, child] : children_)
    child->collect_modules(prefix.empty() ? name : prefix + "." + name, out);
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  collect_modules("", out);
  return out;
}

void Module::apply(const std::function<void(Module&)>& f) {
  for (auto& [name, module] : named_modules()) f(*module);
}

Module& Module::requires_grad_(bool on) {
  for (Tensor t : parameters()) t.requires_grad_(on);
  return *this;
}

void Module::check_new_name(const std::string& name) const {
  if (name.empty() || name.find('.') != std::string::npos || name.find('/') != std::string::npos)
    throw std::invalid_argument(
        fmt::format("{}: '{}' is not a valid name (non-empty, no '.' or '/')", type_name_, name));
  auto taken = [&](const auto& list) {
    for (const auto& entry : list)
      if (entry.first == name) return true;
    return false;
  };
  if (taken(parameters_) || taken(buffers_) || taken(children_))
    throw std::invalid_argument(
        fmt::format("{}: the name '{}' is already registered", type_name_, name));
}

void Module::check_new_child(const std::string& name, const Module* child) const {
  check_new_name(name);
  if (!child)
    throw std::invalid_argument(fmt::format("{}: child module '{}' is null", type_name_, name));
  if (child->holds(this))
    throw std::invalid_argument(
        fmt::format("{}: child module '{}' is this module or holds it, which would make a cycle",
                    type_name_, name));
}

bool Module::holds(const Module* m) const {
  if (m == this) return true;
  for (const auto& [name, child] : children_)
    if (child->holds(m)) return true;
  return false;
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  check_new_name(name);
  if (!t.defined())
    throw std::invalid_argument(fmt::format("{}: parameter '{}' is undefined", type_name_, name));
  t.requires_grad_();
  parameters_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_new_name(name);
  buffers_.emplace_back(name, t);
  return t;
}

void Module::collect(const std::string& prefix, bool parameters, NamedTensors& out) const {
  for (const auto& [name, t] : parameters ? parameters_ : buffers_)
    out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", parameters, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, out);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, out);
  return out;
}

NamedTensors Module::named_state_tensors() const {
  NamedTensors out = named_parameters();
  collect("", false, out);
  return out;
}

namespace {

// Throws unless `from` and `to` (a module's parameters, or its buffers) agree in count, names and
// shapes.
void check_same(const std::string& type_name, const char* what, const NamedTensors& from,
                const NamedTensors& to) {
  if (from.size() != to.size())
    throw std::invalid_argument(
        fmt::format("{}: copy_state_from: the source has {} {}s, this one {}", type_name,
                    from.size(), what, to.size()));
  for (size_t i = 0; i < from.size(); ++i) {
    const auto& [name, t] = from[i];
    const auto& [to_name, to_t] = to[i];
    if (name != to_name || !(t.shape() == to_t.shape()))
      throw std::invalid_argument(
          fmt::format("{}: copy_state_from: the source's {} {} {} differs from this one's {} {}",
                      type_name, what, name, t.shape().str(), to_name, to_t.shape().str()));
  }
}

}  // namespace

void Module::copy_state_from(const Module& other) {
  check_same(type_name_, "parameter", other.named_parameters(), named_parameters());
  check_same(type_name_, "buffer", other.named_buffers(), named_buffers());
  NamedTensors from = other.named_state_tensors(), to = named_state_tensors();
  for (size_t i = 0; i < from.size(); ++i) to[i].second.detach().copy_(from[i].second);
}

TensorList Module::parameters() const {
  TensorList out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const Tensor& t : parameters()) n += t.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (Tensor t : parameters()) t.zero_grad();
}

void Module::summarize(const std::string& name, int depth, std::string& out) const {
  std::string own;
  for (const auto& [pname, t] : parameters_) own += fmt::format(" {} {}", pname, t.shape().str());
  out += fmt::format("{:{}}{}{}{}  ({} parameters)\n", "", 2 * depth,
                     name.empty() ? "" : name + ": ", describe(), own, parameter_count());
  for (const auto& [cname, child] : children_) child->summarize(cname, depth + 1, out);
}

std::string Module::summary() const {
  std::string out;
  summarize("", 0, out);
  return out;
}

void Module::save(Checkpoint& checkpoint, const std::string& prefix) const {
  for (const auto& [name, t] : named_parameters())
    checkpoint.tensors[prefix + "/" + name] = t.detach().clone();
  for (const auto& [name, t] : named_buffers())
    checkpoint.tensors[prefix + "/" + name] = t.detach().clone();
}

void Module::load(const Checkpoint& checkpoint, const std::string& prefix) {
  // Every entry is checked before the first is copied: a checkpoint that does not fit leaves the
  // module as it was. As PyTorch's strict load_state_dict, a tensor under the prefix that the
  // module has no place for is an error too (a deeper network saved there, say).
  NamedTensors targets = named_parameters(), buffers = named_buffers();
  targets.insert(targets.end(), buffers.begin(), buffers.end());
  const std::string under = prefix + "/";
  std::set<std::string> expected;
  for (const auto& [name, t] : targets) {
    checkpoint.matching(under + name, t);
    expected.insert(under + name);
  }
  for (auto it = checkpoint.tensors.lower_bound(under);
       it != checkpoint.tensors.end() && it->first.starts_with(under); ++it)
    if (!expected.count(it->first))
      throw CheckpointError(fmt::format(
          "checkpoint {}: '{}' has no place in the {} (a checkpoint of another architecture?)",
          checkpoint.source, it->first, type_name_));
  for (auto& [name, t] : targets) checkpoint.restore(under + name, t);
}

EvalModeGuard::EvalModeGuard(Module& module) {
  for (auto& [name, m] : module.named_modules()) modes_.emplace_back(m, m->is_training());
  module.eval();
}

EvalModeGuard::~EvalModeGuard() {
  // Parents come first and train() is recursive, so each module's own call comes last.
  for (auto [m, training] : modes_) m->train(training);
}

}  // namespace minimax::nn
