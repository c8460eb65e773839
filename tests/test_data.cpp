// Data sources: the 2-D Gaussian mixtures.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "minimax.h"
#include "models/data/mixture.h"

using namespace minimax;

TEST_CASE("ring8 and grid25 have the modes and spreads of the literature") {
  auto ring = data::GaussianMixture::ring8();
  REQUIRE(ring.modes().size() == 8);
  CHECK(ring.sigma() == 0.01f);
  CHECK(ring.modes()[2].x == doctest::Approx(0.0f).epsilon(1e-6));
  CHECK(ring.modes()[2].y == doctest::Approx(1.0f));
  auto grid = data::GaussianMixture::grid25();
  REQUIRE(grid.modes().size() == 25);
  CHECK(grid.sigma() == 0.05f);
  // Mode 5i + j at (2j - 4, 2i - 4): labels count along x first, then up.
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) {
      CAPTURE(5 * i + j);
      CHECK(grid.modes()[5 * i + j].x == 2.0f * j - 4);
      CHECK(grid.modes()[5 * i + j].y == 2.0f * i - 4);
    }
  for (int k = 0; k < 8; ++k) {
    CHECK(ring.modes()[k].x == doctest::Approx(std::cos(2 * std::numbers::pi * k / 8)));
    CHECK(ring.modes()[k].y == doctest::Approx(std::sin(2 * std::numbers::pi * k / 8)));
  }
}

TEST_CASE("mixture samples sit around their labelled mode with the mixture's sigma") {
  auto ring = data::GaussianMixture::ring8();
  Generator gen(3);
  Tensor labels;
  Tensor points = ring.sample(20000, gen, &labels);
  CHECK(points.shape() == Shape{20000, 2});
  std::vector<int> counts(8, 0);
  double sq = 0;
  for (int64_t i = 0; i < 20000; ++i) {
    int k = static_cast<int>(labels.data()[i]);
    counts[k]++;
    double dx = points.data()[2 * i] - ring.modes()[k].x,
           dy = points.data()[2 * i + 1] - ring.modes()[k].y;
    sq += dx * dx + dy * dy;
  }
  for (int c : counts) CHECK(c == doctest::Approx(2500).epsilon(0.1));  // uniform over modes
  CHECK(std::sqrt(sq / 40000) == doctest::Approx(0.01).epsilon(0.05));  // per-axis sigma
  CHECK_THROWS_AS(ring.sample_modes(Tensor::full({1}, 8.0f), gen), std::invalid_argument);
  // Labels were truncated: 1.5 drew from mode 1 and -0.5 from mode 0.
  CHECK_THROWS_WITH_AS(ring.sample_modes(Tensor::full({1}, 1.5f), gen),
                       doctest::Contains("label 1.5 is not a mode"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(ring.sample_modes(Tensor::full({1}, -0.5f), gen),
                       doctest::Contains("label -0.5 is not a mode"), std::invalid_argument);
}

TEST_CASE("a generator's state survives a checkpoint") {
  Generator a(5);
  a.normal();  // leaves a cached normal in the state
  Checkpoint c;
  save_generator(c, "rng", a);
  Generator b(0);
  load_generator(c, "rng", b);
  for (int i = 0; i < 5; ++i) CHECK(a.normal() == b.normal());
  c.words["short"] = {1, 2};
  CHECK_THROWS_AS(load_generator(c, "short", b), CheckpointError);
  // States no generator is in, refused before anything changes: xoshiro256** stays at zero
  // forever, and state() writes the cached normal's flag as bit 32 alone.
  const Generator::State before = b.state();
  c.words["zero"] = {0, 0, 0, 0, 0};
  CHECK_THROWS_WITH_AS(load_generator(c, "zero", b),
                       doctest::Contains("generator state 'zero': Generator: a state of four zero"),
                       CheckpointError);
  c.words["flag"] = {1, 2, 3, 4, uint64_t{3} << 32};
  CHECK_THROWS_WITH_AS(load_generator(c, "flag", b),
                       doctest::Contains("cached-normal word 0x300000000 is not one"),
                       CheckpointError);
  CHECK(b.state() == before);
  CHECK_THROWS_AS(b.set_state({0, 0, 0, 0, 1}), std::invalid_argument);
  CHECK_THROWS_AS(b.set_state({1, 2, 3, 4, 7}), std::invalid_argument);  // a float, no flag
}
