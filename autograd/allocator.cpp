#include "autograd/allocator.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace minimax {

namespace {
size_t round_up(size_t bytes) {
  size_t a = CachingAllocator::kAlignment;
  return bytes == 0 ? a : (bytes + a - 1) / a * a;
}
}  // namespace

struct CachingAllocator::Impl {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_lists;  // keyed by rounded size
  AllocatorStats stats;
};

CachingAllocator& CachingAllocator::instance() {
  // Never destroyed: tensors with static storage duration may release blocks during exit.
  static CachingAllocator* allocator = new CachingAllocator();
  return *allocator;
}

CachingAllocator::Impl* CachingAllocator::impl() {
  static Impl* state = new Impl();
  return state;
}

CachingAllocator::~CachingAllocator() {
  release_cached();
}

void* CachingAllocator::allocate(size_t bytes) {
  size_t size = round_up(bytes);
  Impl* s = impl();
  {
    std::lock_guard lock(s->mutex);
    auto it = s->free_lists.find(size);
    if (it != s->free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      s->stats.cache_hits++;
      s->stats.bytes_cached -= static_cast<int64_t>(size);
      s->stats.bytes_in_use += static_cast<int64_t>(size);
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlignment, size);
  if (p == nullptr) {
    release_cached();  // memory may be parked in free lists of other sizes
    p = std::aligned_alloc(kAlignment, size);
    if (p == nullptr) throw std::bad_alloc();
  }
  std::lock_guard lock(s->mutex);
  s->stats.system_allocations++;
  s->stats.bytes_in_use += static_cast<int64_t>(size);
  return p;
}

void CachingAllocator::deallocate(void* ptr, size_t bytes) {
  if (ptr == nullptr) return;
  size_t size = round_up(bytes);
  Impl* s = impl();
  std::lock_guard lock(s->mutex);
  s->free_lists[size].push_back(ptr);
  s->stats.bytes_in_use -= static_cast<int64_t>(size);
  s->stats.bytes_cached += static_cast<int64_t>(size);
}

void CachingAllocator::release_cached() {
  Impl* s = impl();
  std::lock_guard lock(s->mutex);
  for (auto& [size, blocks] : s->free_lists) {
    for (void* p : blocks) std::free(p);
    s->stats.bytes_cached -= static_cast<int64_t>(size * blocks.size());
    blocks.clear();
  }
}

AllocatorStats CachingAllocator::stats() const {
  Impl* s = const_cast<CachingAllocator*>(this)->impl();
  std::lock_guard lock(s->mutex);
  return s->stats;
}

}  // namespace minimax
