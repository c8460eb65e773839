// The loops behind every optimizer update: one pass over a parameter's elements, vectorized, and
// split over the OpenMP threads when the tensor is large enough to pay for waking them.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include "ops/runtime.h"
#include "ops/streaming_stores.h"

namespace minimax::optim::detail {

using kernels::kLineFloats;

// One pass of an update that rewrites W arrays (the parameter and its state). block(begin, end,
// dst) computes elements [begin, end) and writes element k's new value of out[w] to
// dst[w][k - begin]; it may read element k of any array, the old values of `out` included. Each
// element's result depends on that element alone, so it does not depend on the thread count.
// A block should copy the scalars it captured into locals before its loop: the compiler cannot
// tell that the float stores through dst leave them unchanged, and would reload them per element.
//
// Below kParallelMinElements (ops/runtime.h) the pass runs on one thread, as one block with
// ordinary stores: it is a handful of flops per element, and a parallel region would cost more.
//
// Above it, the threads take whole cache lines, and each line's new values are computed into a
// local buffer and written with streaming stores. Why: a parameter's lines were just read by every
// thread's GEMMs, so each core holds a copy, and an ordinary store must first take the line from
// the other core. On the 2-core machines we measure on, that made SGD's momentum pass over the
// paper MLP's 1200x1200 weight take 1.3-1.5 ms inside an iteration against 0.3 ms alone (and 0.70
// against 0.13 ms in a small program where both threads first read the weight). Streaming stores
// write whole lines to memory without claiming them first (0.25 ms in that program). The next
// read of the parameter, the next forward's GEMM, then comes from memory, which it streams well.
// bench/shared_line_stores times both ways of writing, alone and after shared reads.
template <size_t W, class Block>
inline void for_each_block(int64_t n, const std::array<float*, W>& out, Block block) {
  auto in_place = [&](int64_t begin, int64_t end) {
    std::array<float*, W> dst;
    for (size_t w = 0; w < W; ++w) dst[w] = out[w] + begin;
    block(begin, end, dst);
  };
  if (n < kParallelMinElements) return in_place(0, n);
  const int64_t lines = n / kLineFloats;
  bool aligned = true;
  for (float* o : out) aligned = aligned && kernels::line_aligned(o);
  if (aligned) {
#pragma omp parallel
    {
#pragma omp for schedule(static) nowait
      for (int64_t line = 0; line < lines; ++line) {
        const int64_t begin = line * kLineFloats;
        alignas(64) float next[W][kLineFloats];
        std::array<float*, W> dst;
        for (size_t w = 0; w < W; ++w) dst[w] = next[w];
        block(begin, begin + kLineFloats, dst);
        for (size_t w = 0; w < W; ++w) kernels::stream_line(next[w], out[w] + begin);
      }
      // before the region's closing barrier, after which other threads read the parameter
      kernels::fence_streamed_lines();
    }
    return in_place(lines * kLineFloats, n);
  }
#pragma omp parallel for schedule(static)
  for (int64_t line = 0; line <= lines; ++line)
    in_place(line * kLineFloats, std::min(n, (line + 1) * kLineFloats));
}

}  // namespace minimax::optim::detail
