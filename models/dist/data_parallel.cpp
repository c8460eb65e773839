#include "models/dist/data_parallel.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace minimax::dist {

namespace {

int64_t total_floats(const TensorList& tensors) {
  int64_t n = 0;
  for (const Tensor& t : tensors) n += t.numel();
  return n;
}

TensorList parameters_and_buffers(const std::vector<nn::Module*>& modules) {
  TensorList out;
  for (nn::Module* m : modules)
    for (auto& [name, t] : m->named_state_tensors()) out.push_back(t);
  return out;
}

TensorList buffers_of(const std::vector<nn::Module*>& modules) {
  TensorList out;
  for (nn::Module* m : modules)
    for (auto& [name, t] : m->named_buffers()) out.push_back(t);
  return out;
}

std::vector<float> pack(const TensorList& tensors) {
  std::vector<float> buffer(total_floats(tensors));
  float* at = buffer.data();
  for (const Tensor& t : tensors) at = std::copy_n(t.data(), t.numel(), at);
  return buffer;
}

void unpack(const std::vector<float>& buffer, const TensorList& tensors) {
  const float* at = buffer.data();
  for (const Tensor& t : tensors) {
    std::copy_n(at, t.numel(), t.data());
    at += t.numel();
  }
}

}  // namespace

GradientAverager::GradientAverager(Communicator& world, TensorList parameters)
    : world_(world), parameters_(std::move(parameters)), buffer_(total_floats(parameters_)) {}

void GradientAverager::average() {
  float* at = buffer_.data();
  for (const Tensor& p : parameters_) {
    Tensor g = p.grad();
    if (g.defined() && g.numel() != p.numel())
      throw std::logic_error(
          fmt::format("GradientAverager: a gradient of shape {} for a parameter "
                      "of shape {}",
                      g.shape().str(), p.shape().str()));
    if (g.defined())
      std::copy_n(g.data(), p.numel(), at);
    else
      std::fill_n(at, p.numel(), 0.0f);
    at += p.numel();
  }
  world_.allreduce_mean(buffer_);
  at = buffer_.data();
  for (const Tensor& p : parameters_) {
    Tensor g = p.grad();
    if (g.defined()) std::copy_n(at, p.numel(), g.data());
    at += p.numel();
  }
}

std::function<void(optim::Optimizer&)> gradient_sync(
    Communicator& world, const std::vector<optim::Optimizer*>& optimizers) {
  struct Entry {
    const optim::Optimizer* optimizer;
    std::shared_ptr<GradientAverager> averager;  // shared: std::function must be copyable
  };
  std::vector<Entry> entries;
  for (optim::Optimizer* opt : optimizers)
    entries.push_back({opt, std::make_shared<GradientAverager>(world, opt->parameters())});
  return [entries](optim::Optimizer& opt) {
    for (const Entry& e : entries) {
      if (e.optimizer == &opt) return e.averager->average();
    }
    throw std::logic_error(fmt::format(
        "gradient_sync: asked to average the gradients of an unknown {} optimizer", opt.name()));
  };
}

void broadcast_state(Communicator& world, const std::vector<nn::Module*>& modules) {
  TensorList tensors = parameters_and_buffers(modules);
  std::vector<float> buffer = pack(tensors);
  world.broadcast(std::span<float>(buffer));
  unpack(buffer, tensors);
}

void average_buffers(Communicator& world, const std::vector<nn::Module*>& modules) {
  TensorList buffers = buffers_of(modules);
  if (buffers.empty()) return;
  std::vector<float> buffer = pack(buffers);
  world.allreduce_mean(buffer);
  unpack(buffer, buffers);
}

uint64_t state_hash(const std::vector<nn::Module*>& modules) {
  // FNV-1a over 64-bit words: XOR and multiplication by an odd constant are both one-to-one, so a
  // single differing word always changes the hash.
  constexpr uint64_t kPrime = 0x100000001b3ULL;
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&](uint64_t word) { h = (h ^ word) * kPrime; };
  for (const Tensor& t : parameters_and_buffers(modules)) {
    mix(static_cast<uint64_t>(t.numel()));
    const auto* bytes = reinterpret_cast<const unsigned char*>(t.data());
    size_t n = static_cast<size_t>(t.numel()) * sizeof(float), i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t word;
      std::memcpy(&word, bytes + i, 8);
      mix(word);
    }
    if (i < n) {
      uint64_t tail = 0;
      std::memcpy(&tail, bytes + i, n - i);
      mix(tail);
    }
  }
  return h;
}

}  // namespace minimax::dist
