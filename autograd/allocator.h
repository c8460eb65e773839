// The caching allocator behind every tensor's storage.
//
// A training step allocates the same sizes in the same order every iteration, so freed blocks are
// kept in per-size free lists and handed out again: after the first step the system is asked for
// nothing. Blocks are 64-byte aligned (one cache line, and what AVX-512 loads like).
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <string>
#include <utility>

namespace minimax {

// A block too large for the memory the system has free: a std::bad_alloc that says how much was
// asked for and how much there was.
class OutOfMemory : public std::bad_alloc {
 public:
  explicit OutOfMemory(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

// The memory the system can still give this process, in bytes: /proc/meminfo's MemAvailable plus
// SwapFree, and no more than the cgroup's memory limit leaves (v2's memory.max - memory.current,
// v1's memory.limit_in_bytes - memory.usage_in_bytes, under `cgroup_root`). nullopt when
// `meminfo` cannot be read.
std::optional<int64_t> available_memory_bytes(const std::string& meminfo = "/proc/meminfo",
                                              const std::string& cgroup_root = "/sys/fs/cgroup");

struct AllocatorStats {
  int64_t system_allocations = 0;  // blocks obtained from the system, ever
  int64_t cache_hits = 0;          // requests served from a free list
  int64_t bytes_in_use = 0;        // handed out and not yet returned
  int64_t bytes_cached = 0;        // held in free lists
};

class CachingAllocator {
 public:
  static constexpr size_t kAlignment = 64;
  static constexpr size_t kCheckedBytes = size_t{64} << 20;  // see allocate

  static CachingAllocator& instance();

  // Returns a block of at least `bytes` bytes, 64-byte aligned. Throws std::bad_alloc on failure,
  // and OutOfMemory for a new block of kCheckedBytes or more that would not fit in
  // available_memory_bytes(), after giving the cached blocks back. Linux hands out address space
  // it does not have, and its OOM killer then ends the process when the block is written; the
  // check turns the kill into an error the caller can report. A checked block's pages are
  // written before it is returned, so that the system counts it as used and the next check sees
  // it. Smaller blocks are not checked.
  void* allocate(size_t bytes);
  // Returns a block obtained from allocate(bytes) to its free list.
  void deallocate(void* ptr, size_t bytes);
  // Gives every cached block back to the system.
  void release_cached();
  AllocatorStats stats() const;

 private:
  CachingAllocator() = default;
  // Throws OutOfMemory when a new block of `size` bytes would not fit (see allocate).
  void check_fits(size_t size);
  ~CachingAllocator();
  struct Impl;
  Impl* impl();
};

}  // namespace minimax
