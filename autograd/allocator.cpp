#include "autograd/allocator.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <mutex>
#include <new>
#include <sstream>
#include <unordered_map>
#include <vector>

namespace minimax {

namespace {

size_t round_up(size_t bytes) {
  size_t a = CachingAllocator::kAlignment;
  return bytes == 0 ? a : (bytes + a - 1) / a * a;
}

// Writes a byte of every page of a new block, so that the system counts the block as used at once.
// Untouched it is only address space: MemAvailable does not drop, and the next block's check (which
// an op asking for its output and scratch before writing any of them makes at once) would pass
// on memory this one is about to take.
void touch_pages(void* block, size_t size) {
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  auto* bytes = static_cast<volatile char*>(block);
  for (size_t i = 0; i < size; i += page) bytes[i] = 0;
}

// The value of a "Name:   123 kB" line of /proc/meminfo, in bytes.
std::optional<int64_t> meminfo_bytes(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + ":", 0) != 0) continue;
    int64_t kib = 0;
    std::istringstream(line.substr(name.size() + 1)) >> kib;
    return kib * 1024;
  }
  return std::nullopt;
}

// The first word of a file as a non-negative whole number: nullopt for "max", garbage or no file.
std::optional<int64_t> file_number(const std::string& path) {
  std::ifstream in(path);
  std::string word;
  const auto digit = [](unsigned char c) { return std::isdigit(c) != 0; };
  if (!(in >> word) || !std::all_of(word.begin(), word.end(), digit)) return std::nullopt;
  try {
    return std::stoll(word);
  } catch (const std::out_of_range&) {  // more than int64 holds: no limit to speak of
    return std::nullopt;
  }
}

// What the cgroup's memory limit leaves, if it sets one.
std::optional<int64_t> cgroup_memory_left(const std::string& root) {
  for (auto [limit, usage] :
       {std::pair{"/memory.max", "/memory.current"},
        std::pair{"/memory/memory.limit_in_bytes", "/memory/memory.usage_in_bytes"}}) {
    std::optional<int64_t> l = file_number(root + limit), u = file_number(root + usage);
    if (l && u) return std::max<int64_t>(0, *l - *u);
  }
  return std::nullopt;
}

std::string gib(int64_t bytes) {
  return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (int64_t{1} << 30));
}

}  // namespace

std::optional<int64_t> available_memory_bytes(const std::string& meminfo,
                                              const std::string& cgroup_root) {
  std::ifstream in(meminfo);
  std::stringstream text;
  text << in.rdbuf();
  std::optional<int64_t> available = meminfo_bytes(text.str(), "MemAvailable");
  if (!available) return std::nullopt;
  const int64_t free = *available + meminfo_bytes(text.str(), "SwapFree").value_or(0);
  const std::optional<int64_t> left = cgroup_memory_left(cgroup_root);
  return left ? std::min(free, *left) : free;
}

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
  if (size >= kCheckedBytes) check_fits(size);
  void* p = std::aligned_alloc(kAlignment, size);
  if (p == nullptr) {
    release_cached();  // memory may be parked in free lists of other sizes
    p = std::aligned_alloc(kAlignment, size);
    if (p == nullptr) throw std::bad_alloc();
  }
  if (size >= kCheckedBytes) touch_pages(p, size);
  std::lock_guard lock(s->mutex);
  s->stats.system_allocations++;
  s->stats.bytes_in_use += static_cast<int64_t>(size);
  return p;
}

void CachingAllocator::check_fits(size_t size) {
  const int64_t bytes =
      static_cast<int64_t>(std::min<size_t>(size, std::numeric_limits<int64_t>::max()));
  const auto fits = [&] {
    std::optional<int64_t> free = available_memory_bytes();
    return !free || bytes <= *free;
  };
  if (fits()) return;
  release_cached();  // what our free lists hold counts as free once given back
  if (fits()) return;
  throw OutOfMemory(
      fmt::format("a block of {} does not fit in the {} of memory the system has free", gib(bytes),
                  gib(available_memory_bytes().value_or(0))));
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
