// oneDNN plumbing shared by every kernel: one engine and stream, plain memory descriptors for our
// row-major tensors, and a cache of primitives keyed by everything that shapes them.
#pragma once

#include <dnnl.hpp>

#include <functional>
#include <unordered_map>
#include <vector>

#include "autograd/tensor.h"

namespace minimax::dnnl_ctx {

dnnl::engine& engine();
dnnl::stream& stream();

dnnl::memory::dims dims_of(const Shape& shape);
// A row-major f32 descriptor of `shape` (rank 0 is treated as [1]).
dnnl::memory::desc plain_desc(const Shape& shape);
dnnl::memory::desc plain_desc(const dnnl::memory::dims& dims);
dnnl::memory wrap(const dnnl::memory::desc& desc, const float* data);

// What identifies a primitive: op tag, algorithm, shapes, attributes. The thread count is added by
// the cache (an OpenMP primitive is built for the pool size it was created under).
using CacheKey = std::vector<int64_t>;

struct CacheKeyHash {
  size_t operator()(const CacheKey& k) const {
    size_t h = 1469598103934665603ULL;
    for (int64_t v : k) h = (h ^ static_cast<size_t>(v)) * 1099511628211ULL;
    return h;
  }
};

int64_t current_threads();

// How many primitives have been built since the start (cache misses): a repeated training step
// must add none.
int64_t primitives_created();
void count_primitive_created();

// Returns the cached entry for key, building it with make() the first time. Entry is typically a
// struct holding primitive descriptors and primitives; one cache per Entry type, per thread, so a
// key holds only what tells entries of one type apart (no tag for the type).
template <class Entry>
Entry& cached(CacheKey key, const std::function<Entry()>& make) {
  thread_local std::unordered_map<CacheKey, Entry, CacheKeyHash> cache;
  key.push_back(current_threads());
  auto it = cache.find(key);
  if (it == cache.end()) {
    it = cache.emplace(std::move(key), make()).first;
    count_primitive_created();
  }
  return it->second;
}

// Within its scope, oneDNN builds and runs primitives on one thread when they touch fewer than
// kParallelMinElements elements (ops/runtime.h): for a memory-bound primitive that small, opening
// a parallel region costs more than it saves. Put it before the cache lookup: the thread count is
// part of the key, so the small primitive is built for one thread, once.
class SerialBelow {
 public:
  explicit SerialBelow(int64_t elements);
  ~SerialBelow();
  SerialBelow(const SerialBelow&) = delete;
  SerialBelow& operator=(const SerialBelow&) = delete;

 private:
  int restore_ = 0;  // the thread count to restore, 0 when unchanged
};

// Runs a primitive on the shared stream and waits for it.
void execute(const dnnl::primitive& p, const std::unordered_map<int, dnnl::memory>& args);

// Turns a float's bits into a key element.
int64_t key_of(float v);

}  // namespace minimax::dnnl_ctx
