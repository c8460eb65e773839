// The loop behind every optimizer update: one pass over a parameter's elements, vectorized, and
// split over the OpenMP threads when the tensor is large enough to pay for waking them.
#pragma once

#include <cstdint>

#include "ops/runtime.h"

namespace minimax::optim::detail {

// Below kParallelMinElements (ops/runtime.h) the loop runs on one thread: the update is a handful
// of flops per element and memory-bound, and a parallel region would cost more.
// Calls body(k) for k in [0, n). body must only touch element k of its arrays (no reductions), so
// the result does not depend on the thread count.
template <class Body>
inline void for_each_element(int64_t n, Body body) {
#pragma omp parallel for simd schedule(static) if (parallel : n >= kParallelMinElements)
  for (int64_t k = 0; k < n; ++k) body(k);
}

}  // namespace minimax::optim::detail
