// The examples train what they claim to.
#include <doctest/doctest.h>

#include <cstddef>

#include "examples/conditional_gan.h"
#include "examples/gaussian_1d.h"

using namespace minimax::examples;

TEST_CASE("the conditional GAN puts each label's samples on that label's mode") {
  ConditionalGanOptions options;
  ConditionalGanResult r = train_conditional_ring8(options);
  REQUIRE(r.label_accuracy.size() == 8);
  for (std::size_t k = 0; k < 8; ++k) {
    INFO("label ", k);
    CHECK(r.label_accuracy[k] > 0.9f);
  }
}

TEST_CASE("the 1-D demo learns the data's mean") {
  Gaussian1dOptions options;
  Gaussian1dResult r = train_gaussian_1d(options, false);
  CHECK(r.sample_mean == doctest::Approx(options.data_mean).epsilon(0.05));
  CHECK(r.sample_std < 1.0f);
}
