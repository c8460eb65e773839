// The caching allocator behind every tensor's storage.
//
// A training step allocates the same sizes in the same order every iteration, so freed blocks are
// kept in per-size free lists and handed out again: after the first step the system is asked for
// nothing. Blocks are 64-byte aligned (one cache line, and what AVX-512 loads like).
#pragma once

#include <cstddef>
#include <cstdint>

namespace minimax {

struct AllocatorStats {
  int64_t system_allocations = 0;  // blocks obtained from the system, ever
  int64_t cache_hits = 0;          // requests served from a free list
  int64_t bytes_in_use = 0;        // handed out and not yet returned
  int64_t bytes_cached = 0;        // held in free lists
};

class CachingAllocator {
 public:
  static constexpr size_t kAlignment = 64;

  static CachingAllocator& instance();

  // Returns a block of at least `bytes` bytes, 64-byte aligned. Throws std::bad_alloc on failure.
  void* allocate(size_t bytes);
  // Returns a block obtained from allocate(bytes) to its free list.
  void deallocate(void* ptr, size_t bytes);
  // Gives every cached block back to the system.
  void release_cached();
  AllocatorStats stats() const;

 private:
  CachingAllocator() = default;
  ~CachingAllocator();
  struct Impl;
  Impl* impl();
};

}  // namespace minimax
