// MINIMAX_VECTOR_CLONES: a loop function compiled for AVX-512 (the x86-64-v4 level, whose DQ part
// multiplies 64-bit integers in vectors) and AVX2 beside the baseline, the best one chosen when the
// program loads. The library is built for any x86-64, where doubles go two
// to an SSE2 register; in the clones they go eight or four. A file that uses it is compiled with
// -ffp-contract=off (CMakeLists.txt), so that no clone fuses a multiply and an add the baseline
// rounds twice: every clone computes the same bits. flatten inlines every helper into each clone
// (a helper left out of line would run the baseline's code). An OpenMP parallel region is
// outlined into a function of the baseline's, so the clone is the loop a thread runs over its
// range, called from inside the region. Clang builds the baseline only, and so does a file compiled
// with MINIMAX_NO_VECTOR_CLONES (the sanitizer build's Winograd transforms, CMakeLists.txt).
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(MINIMAX_NO_VECTOR_CLONES)
#define MINIMAX_VECTOR_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "avx2", "default"), flatten))
#else
#define MINIMAX_VECTOR_CLONES
#endif
