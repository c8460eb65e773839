#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "ops/runtime.h"

// The tests wait as every minimax program does: idle OpenMP threads sleep rather than spin, which
// on a machine busy with another build or test made tests 50 times slower.
int main(int argc, char** argv) {
  minimax::restart_with_openmp_wait_policy(argv);
  return doctest::Context(argc, argv).run();
}
