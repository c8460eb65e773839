// What oneDNN's kernels can use on this CPU (or under ONEDNN_MAX_CPU_ISA), for the few tests whose
// expectations depend on it.
#pragma once

#include <dnnl.hpp>

namespace minimax::testing {

// AVX2 and FMA, which oneDNN's x86 kernels take together. Below it (SSE4.1, AVX) its direct
// convolutions give way to gemm on plain layouts, and its exp reduces its argument without a fused
// multiply-add. oneDNN's ISA values are bit sets, each holding those of the ISAs it extends.
inline bool onednn_has_avx2() {
  const auto bits = [](dnnl::cpu_isa isa) { return static_cast<unsigned>(isa); };
  return (bits(dnnl::get_effective_cpu_isa()) & bits(dnnl::cpu_isa::avx2)) ==
         bits(dnnl::cpu_isa::avx2);
}

}  // namespace minimax::testing
