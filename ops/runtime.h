// Process-wide settings of the compute backends.
#pragma once

namespace minimax {

// Sets the threads used by oneDNN, OpenBLAS and our own loops (one OpenMP pool for all three).
void set_num_threads(int threads);
int num_threads();

}  // namespace minimax
