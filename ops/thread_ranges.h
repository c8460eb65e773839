// Splitting a loop over the OpenMP threads in contiguous shares.
#pragma once

#include <omp.h>

#include <cstdint>

namespace minimax::kernels {

// Calls range(begin, end) over [0, n): once on the calling thread when `parallel` is false, else
// once per thread on a contiguous share, thread t of T taking [n t / T, n (t + 1) / T), as a static
// schedule would. Two passes that split the same n alike give each thread the data it wrote, which
// it then finds in its own cache instead of the other core's.
template <class Range>
void in_ranges(int64_t n, bool parallel, Range range) {
  if (!parallel) return range(int64_t{0}, n);
#pragma omp parallel
  {
    const int64_t t = omp_get_thread_num(), threads = omp_get_num_threads();
    range(n * t / threads, n * (t + 1) / threads);
  }
}

}  // namespace minimax::kernels
