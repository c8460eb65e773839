#include "ops/runtime.h"

#include <cblas.h>
#include <fmt/format.h>
#include <omp.h>

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

}  // namespace minimax
