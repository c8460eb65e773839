// Streaming (non-temporal) stores: whole 64-byte cache lines written to memory without the core
// first claiming each line (reading it from memory, or taking it from the core that holds it).
// Worth it for data the writer will not read again soon and that no cache would keep anyway: an
// optimizer's pass over a parameter the other core's GEMMs just read (models/optim/loop.h), or a
// Winograd operand, transformed into a copy several times the caches' size (ops/winograd_conv.cpp).
// Streamed lines are weakly ordered: a writer fences them (fence_streamed_lines) before another
// thread may read them. Without SSE the stores are ordinary ones and the fence does nothing.
#pragma once

#include <algorithm>
#include <cstdint>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace minimax::kernels {

// Floats per 64-byte cache line.
inline constexpr int64_t kLineFloats = 16;

inline bool line_aligned(const float* p) {
  return reinterpret_cast<uintptr_t>(p) % 64 == 0;
}

// Writes the kLineFloats floats at `from` to the line at `to` (line_aligned) by streaming stores.
inline void stream_line(const float* from, float* to) {
#if defined(__SSE__)
  for (int64_t j = 0; j < kLineFloats; j += 4) _mm_stream_ps(to + j, _mm_loadu_ps(from + j));
#else
  std::copy_n(from, kLineFloats, to);
#endif
}

// Orders this thread's streamed lines before its later stores (and the barrier other threads wait
// at before reading them).
inline void fence_streamed_lines() {
#if defined(__SSE__)
  _mm_sfence();
#endif
}

}  // namespace minimax::kernels
