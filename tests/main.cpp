#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "ops/runtime.h"

// Run directly, the tests wait as every minimax program does (ops/runtime.h): libgomp's default
// spinning, on a machine busy with another build or test, made tests 50 times slower. Under ctest
// they sleep at once (tests/CMakeLists.txt).
int main(int argc, char** argv) {
  minimax::restart_with_openmp_wait_policy(argv);
  return doctest::Context(argc, argv).run();
}
