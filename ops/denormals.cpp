#include "ops/denormals.h"

#if defined(__SSE2__)
#include <pmmintrin.h>
#include <xmmintrin.h>
#endif

namespace minimax {

bool set_flush_denormals(bool on) {
#if defined(__SSE2__)
  auto set_on_this_thread = [on] {
    _MM_SET_FLUSH_ZERO_MODE(on ? _MM_FLUSH_ZERO_ON : _MM_FLUSH_ZERO_OFF);
    _MM_SET_DENORMALS_ZERO_MODE(on ? _MM_DENORMALS_ZERO_ON : _MM_DENORMALS_ZERO_OFF);
  };
  set_on_this_thread();
#pragma omp parallel
  set_on_this_thread();
  return true;
#else
  (void)on;
  return false;
#endif
}

}  // namespace minimax
