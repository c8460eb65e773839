// The loop behind every optimizer update: one pass over a parameter's elements, vectorized, and
// split over the OpenMP threads when the tensor is large enough to pay for waking them.
#pragma once

#include <cstdint>

namespace minimax::optim::detail {

// Below this many elements (128 KiB of floats) a parallel region costs more than the loop: the
// update is a handful of flops per element and memory-bound.
inline constexpr int64_t kParallelMinElements = int64_t{1} << 15;

// Calls body(k) for k in [0, n). body must only touch element k of its arrays (no reductions), so
// the result does not depend on the thread count.
template <class Body>
inline void for_each_element(int64_t n, Body body) {
#pragma omp parallel for simd schedule(static) if (parallel : n >= kParallelMinElements)
  for (int64_t k = 0; k < n; ++k) body(k);
}

}  // namespace minimax::optim::detail
