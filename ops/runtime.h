// Process-wide settings of the compute backends.
#pragma once

#include <cstdint>

namespace minimax {

// Sets the threads used by oneDNN, OpenBLAS and our own loops (one OpenMP pool for all three).
void set_num_threads(int threads);
int num_threads();

// Floating-point operations done by GEMMs and convolutions since the start (2 per multiply-add):
// what `minimax bench` divides by time. Counting is one relaxed atomic add per kernel call.
int64_t flops_counted();
void count_flops(int64_t flops);

}  // namespace minimax
