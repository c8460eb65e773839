#include "ops/runtime.h"

#include <cblas.h>
#include <fmt/format.h>
#include <omp.h>

#include <atomic>
#include <stdexcept>

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
std::atomic<int64_t> flops{0};
}  // namespace

int64_t flops_counted() { return flops.load(std::memory_order_relaxed); }

void count_flops(int64_t n) { flops.fetch_add(n, std::memory_order_relaxed); }

}  // namespace minimax
