#include "ops/runtime.h"

#include <cblas.h>
#include <fmt/format.h>
#include <omp.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <vector>

namespace minimax {

void set_num_threads(int threads) {
  if (threads < 1)
    throw std::invalid_argument(
        fmt::format("set_num_threads: {} is not a positive count", threads));
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
}

int num_threads() {
  return omp_get_max_threads();
}

namespace {

// The first whitespace-separated words of a file; empty when it cannot be read.
std::vector<std::string> words_of(const std::filesystem::path& file, int count) {
  std::ifstream in(file);
  std::vector<std::string> words;
  std::string w;
  while (static_cast<int>(words.size()) < count && in >> w) words.push_back(w);
  return words;
}

// A positive whole number, or nullopt ("max", "-1", garbage).
std::optional<double> positive(const std::string& word) {
  char* end = nullptr;
  double v = std::strtod(word.c_str(), &end);
  if (end == word.c_str() || *end != '\0' || !(v > 0) || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<int> whole_cpus(std::optional<double> quota, std::optional<double> period) {
  if (!quota || !period) return std::nullopt;
  return std::max(1, static_cast<int>(std::ceil(*quota / *period)));
}

// The CPUs this process may use; empty when they cannot be read. When the user binds OpenMP's
// threads (OMP_PROC_BIND, or OMP_PLACES alone), libgomp has already narrowed the main thread's
// affinity to the first place, before main; its places, built from the mask the process started
// with, still name every CPU.
cpu_set_t usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (omp_get_proc_bind() != omp_proc_bind_false) {
    for (int place = 0; place < omp_get_num_places(); ++place) {
      std::vector<int> ids(static_cast<size_t>(omp_get_place_num_procs(place)));
      omp_get_place_proc_ids(place, ids.data());
      for (int id : ids)
        if (id >= 0 && id < CPU_SETSIZE) CPU_SET(id, &set);
    }
    if (CPU_COUNT(&set) > 0) return set;
  }
  if (sched_getaffinity(0, sizeof set, &set) != 0) CPU_ZERO(&set);
  return set;
}

int affinity_cpus() {
  cpu_set_t set = usable_cpus();
  if (CPU_COUNT(&set) == 0) return std::max(1, omp_get_num_procs());
  return CPU_COUNT(&set);
}

}  // namespace

std::optional<int> cgroup_cpu_quota(const std::filesystem::path& root) {
  std::vector<std::string> v2 = words_of(root / "cpu.max", 2);
  if (v2.size() == 2) return whole_cpus(positive(v2[0]), positive(v2[1]));
  std::vector<std::string> quota = words_of(root / "cpu" / "cpu.cfs_quota_us", 1);
  std::vector<std::string> period = words_of(root / "cpu" / "cpu.cfs_period_us", 1);
  if (quota.empty() || period.empty()) return std::nullopt;
  return whole_cpus(positive(quota[0]), positive(period[0]));
}

CoreBudget available_cores() {
  CoreBudget b;
  b.affinity = affinity_cpus();
  b.quota = cgroup_cpu_quota("/sys/fs/cgroup");
  b.cores = b.quota ? std::min(b.affinity, *b.quota) : b.affinity;
  return b;
}

std::string CoreBudget::why() const {
  std::string q = quota ? fmt::format("cgroup quota {} core{}", *quota, *quota == 1 ? "" : "s")
                        : "no cgroup quota";
  return fmt::format("affinity {} core{}, {}", affinity, affinity == 1 ? "" : "s", q);
}

std::string use_threads(int requested) {
  if (requested < 0)
    throw std::invalid_argument(fmt::format("use_threads: {} is not a thread count", requested));
  std::string why = "requested";
  int threads = requested;
  if (requested == 0) {
    CoreBudget budget = available_cores();
    threads = budget.cores;
    why = budget.why();
  }
  set_num_threads(threads);
  return fmt::format("{} thread{} ({})", threads, threads == 1 ? "" : "s", why);
}

std::pair<const char*, const char*> openmp_wait_setting() {
  return {"GOMP_SPINCOUNT", "1000"};
}

void restart_with_openmp_wait_policy(char** argv) {
  // Either variable set, by the user or by the first run of this very function, means done.
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  auto [name, value] = openmp_wait_setting();
  if (::setenv(name, value, 0) != 0) return;
  // A bound main thread would pass its one place on to the new process, whose libgomp would then
  // find a single CPU; it starts with every CPU this one started with.
  cpu_set_t started, cpus = usable_cpus();
  const bool widened = ::sched_getaffinity(0, sizeof started, &started) == 0 &&
                       CPU_COUNT(&cpus) > 0 && ::sched_setaffinity(0, sizeof cpus, &cpus) == 0;
  ::execv("/proc/self/exe", argv);
  // exec failed (no /proc?): run on with libgomp's default, as started
  ::unsetenv(name);
  if (widened) ::sched_setaffinity(0, sizeof started, &started);
}

namespace {
std::atomic<int64_t> flops{0};
}  // namespace

int64_t flops_counted() {
  return flops.load(std::memory_order_relaxed);
}

void count_flops(int64_t n) {
  flops.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace minimax
