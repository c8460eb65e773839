// The GAN metrics against values worked out independently.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <numbers>

#include "minimax.h"
#include "models/gan/metrics.h"

using namespace minimax;

TEST_CASE("parzen log-likelihood matches a direct double-precision sum") {
  Generator gen(4);
  Tensor samples = Tensor::uniform({50, 3}, 0, 1, gen);
  Tensor x = Tensor::uniform({7, 3}, 0, 1, gen);
  double sigma = 0.3;
  std::vector<double> ll = gan::parzen_log_likelihoods(samples, x, sigma);
  REQUIRE(ll.size() == 7);
  for (int i = 0; i < 7; ++i) {
    double total = 0;
    for (int j = 0; j < 50; ++j) {
      double d2 = 0;
      for (int k = 0; k < 3; ++k) {
        double diff = x.data()[i * 3 + k] - samples.data()[j * 3 + k];
        d2 += diff * diff;
      }
      total +=
          std::exp(-d2 / (2 * sigma * sigma)) / std::pow(2 * std::numbers::pi * sigma * sigma, 1.5);
    }
    CHECK(ll[i] == doctest::Approx(std::log(total / 50)).epsilon(1e-4));
  }
}

TEST_CASE("parzen_evaluate picks the sigma that fits the validation data") {
  // Samples and held-out data from the same N(0, I) in 2-D: for 2000 samples the best kernel width
  // is near Silverman's n^(-1/6) = 0.28, inside the candidate range, not at either end.
  Generator gen(5);
  Tensor samples = Tensor::normal({2000, 2}, 0, 1, gen);
  Tensor validation = Tensor::normal({300, 2}, 0, 1, gen),
         test = Tensor::normal({300, 2}, 0, 1, gen);
  gan::ParzenResult r = gan::parzen_evaluate(samples, validation, test);
  CHECK(r.validation_ll.size() == 10);
  CHECK(r.sigma > 0.15);
  CHECK(r.sigma < 0.6);
  // The true density's mean log-likelihood is -log(2 pi) - 1 = -2.84; the estimate is close.
  CHECK(r.mean == doctest::Approx(-std::log(2 * std::numbers::pi) - 1).epsilon(0.05));
  CHECK(r.standard_error > 0);
  CHECK(r.standard_error < 0.2);
  CHECK_THROWS_AS(gan::parzen_log_likelihoods(samples, Tensor::ones({3, 5}), 0.1),
                  std::invalid_argument);
}

TEST_CASE("mode coverage counts captured modes, quality and the histogram's KL") {
  auto ring = data::GaussianMixture::ring8();
  Generator gen(6);
  Tensor labels = Tensor::empty({1000});
  for (int i = 0; i < 1000; ++i) labels.data()[i] = static_cast<float>(i % 4);  // only modes 0..3
  Tensor points = ring.sample_modes(labels, gen);
  gan::ModeCoverage c = gan::mode_coverage(ring, points);
  CHECK(c.total_modes == 8);
  CHECK(c.modes_captured == 4);
  CHECK(c.high_quality_fraction > 0.98);  // 3 sigma in 2-D holds 98.9%
  CHECK(c.kl_to_uniform ==
        doctest::Approx(std::log(2.0)).epsilon(0.01));  // uniform over half the modes

  Tensor far = Tensor::full({10, 2}, 5.0f);
  gan::ModeCoverage none = gan::mode_coverage(ring, far);
  CHECK(none.modes_captured == 0);
  CHECK(none.high_quality_fraction == 0.0);
  CHECK(std::isinf(none.kl_to_uniform));

  Tensor all = ring.sample(8000, gen);
  CHECK(gan::mode_coverage(ring, all).modes_captured == 8);
  CHECK(gan::mode_coverage(ring, all).kl_to_uniform < 0.01);
}

TEST_CASE("nearest_neighbours finds what a direct search finds, across reference blocks") {
  // 9000 references: more than one 4096-row block, so the running minimum crosses blocks.
  Generator gen(6);
  Tensor references = Tensor::uniform({9000, 12}, 0, 1, gen);
  Tensor queries = Tensor::uniform({5, 12}, 0, 1, gen);
  // Query 0 is a copy of reference 8500 (in the last block): it must be found, at distance ~0.
  std::copy_n(references.data() + 8500 * 12, 12, queries.data());
  gan::NearestNeighbours nn = gan::nearest_neighbours(queries, references);
  REQUIRE(nn.index.size() == 5);
  CHECK(nn.index[0] == 8500);
  CHECK(nn.distance[0] < 1e-3);
  for (int i = 0; i < 5; ++i) {
    int64_t best = -1;
    double best_d2 = INFINITY;
    for (int64_t j = 0; j < 9000; ++j) {
      double d2 = 0;
      for (int k = 0; k < 12; ++k) {
        double diff = queries.data()[i * 12 + k] - references.data()[j * 12 + k];
        d2 += diff * diff;
      }
      if (d2 < best_d2) best_d2 = d2, best = j;
    }
    CAPTURE(i);
    CHECK(nn.index[i] == best);
    CHECK(nn.distance[i] == doctest::Approx(std::sqrt(best_d2)).epsilon(1e-3));
  }
  CHECK_THROWS_AS(gan::nearest_neighbours(queries, Tensor::zeros({4, 3})), std::invalid_argument);
}

TEST_CASE("parzen_evaluate names an empty set or samples no width fits, instead of sigma 0") {
  Generator gen(6);
  Tensor samples = Tensor::normal({50, 2}, 0, 1, gen), data = Tensor::normal({20, 2}, 0, 1, gen);
  CHECK_THROWS_WITH_AS(gan::parzen_evaluate(samples, Tensor::zeros({0, 2}), data),
                       "parzen: the validation set is empty", std::invalid_argument);
  // An empty test set gave a NaN mean without complaint.
  CHECK_THROWS_WITH_AS(gan::parzen_evaluate(samples, data, Tensor::zeros({0, 2})),
                       "parzen: the test set is empty", std::invalid_argument);
  samples.data()[3] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(gan::parzen_evaluate(samples, data, data),
                       doctest::Contains("no sigma gave the validation set a finite mean"),
                       std::invalid_argument);
}

TEST_CASE("nearest_neighbours refuses a NaN or an infinity instead of calling it a copy") {
  // A NaN distance clamped at 0 reported an exact match: a sample "memorized" from the data.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor refs = Tensor::from_vector({0, 0, 1, 1, 2, 2}, {3, 2});
  Tensor bad_query = Tensor::from_vector({0.5f, 0.5f, nan, 1.0f}, {2, 2});
  CHECK_THROWS_WITH_AS(gan::nearest_neighbours(bad_query, refs),
                       doctest::Contains("query row 1 holds a NaN"), std::invalid_argument);
  Tensor bad_refs =
      Tensor::from_vector({0, 0, 1, std::numeric_limits<float>::infinity(), 2, 2}, {3, 2});
  CHECK_THROWS_WITH_AS(gan::nearest_neighbours(Tensor::zeros({1, 2}), bad_refs),
                       doctest::Contains("reference row 1"), std::invalid_argument);
  CHECK(gan::nearest_neighbours(Tensor::from_vector({1.9f, 2.1f}, {1, 2}), refs).index[0] == 2);
}
