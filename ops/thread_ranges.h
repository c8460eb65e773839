// Splitting a loop over the OpenMP threads in contiguous shares, and carrying an exception out of
// the parallel region that threw it.
#pragma once

#include <omp.h>

#include <cstdint>
#include <exception>

namespace minimax::kernels {

// The first exception thrown by the bodies run inside one parallel region, kept to be rethrown
// after it: an exception that leaves an OpenMP region ends the program (std::terminate), so a
// kernel that can fail there (a GEMM that finds no memory for its packing buffers) would crash
// instead of reporting.
class FirstFailure {
 public:
  // Runs body() on the calling thread, keeping what it throws if nothing was kept yet.
  template <class Body>
  void run(Body body) noexcept {
    try {
      body();
    } catch (...) {
#pragma omp critical(minimax_first_failure)
      if (!failure_) failure_ = std::current_exception();
    }
  }
  // After the region: throws what a body threw, if one did.
  void rethrow() const {
    if (failure_) std::rethrow_exception(failure_);
  }

 private:
  std::exception_ptr failure_;
};

// Thread t's share of [0, n) when T threads split it: [n t / T, n (t + 1) / T), contiguous and in
// thread order as OpenMP's static schedule makes them (libgomp gives a remainder to the first
// threads, this rule to the last: a share differs by at most one element). Every pass that wants
// each thread to find its own data in cache splits by this one rule.
struct Share {
  int64_t begin, end;
};
inline Share share(int64_t n, int64_t t, int64_t threads) {
  return {n * t / threads, n * (t + 1) / threads};
}

// Calls range(begin, end) over [0, n): once on the calling thread when `parallel` is false, else
// once per thread on its share(). Two passes that split the same n alike give each thread the data
// it wrote, which it then finds in its own cache instead of the other core's. What a share throws
// is rethrown after the region, once every share has ended.
template <class Range>
void in_ranges(int64_t n, bool parallel, Range range) {
  if (!parallel) return range(int64_t{0}, n);
  FirstFailure failure;
#pragma omp parallel
  {
    const Share mine = share(n, omp_get_thread_num(), omp_get_num_threads());
    failure.run([&] { range(mine.begin, mine.end); });
  }
  failure.rethrow();
}

}  // namespace minimax::kernels
