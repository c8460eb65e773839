// The feature-space metrics (models/gan/feature_metrics.h): the Frechet distance against numpy,
// precision and recall and the class spread on hand-made inputs whose answers are known.
#include <doctest/doctest.h>

#include <cmath>
#include <numeric>

#include "autograd/random.h"
#include "models/gan/feature_metrics.h"
#include "ops/ops.h"
#include "reference_fixture.h"

using namespace minimax;
using namespace minimax::gan;

namespace {

const testing::ReferenceFixture& fid_fixture() {
  static const testing::ReferenceFixture f = testing::read_reference_fixture(
      "fid_reference.json", 1,
      "regenerate with /usr/bin/python3 tests/reference/make_fid_reference.py");
  return f;
}

std::vector<double> doubles(const nlohmann::json& j) {
  return j.get<std::vector<double>>();
}

Tensor matrix(const std::vector<float>& values, int64_t rows) {
  return Tensor::from_vector(values, {rows, static_cast<int64_t>(values.size()) / rows});
}

}  // namespace

TEST_CASE("feature metrics: the Frechet distance is numpy's, for random and singular covariances") {
  const auto& f = fid_fixture();
  REQUIRE_MESSAGE(f.error.empty(), f.error);
  for (const auto& c : f.cases()) {
    CAPTURE(c["name"].get<std::string>());
    const int64_t d = c["dim"];
    GaussianStats a{d, doubles(c["mean_a"]), doubles(c["cov_a"])}, b;
    if (c.contains("features_a")) {
      const int64_t n = c["rows"];
      a = gaussian_stats(matrix(c["features_a"].get<std::vector<float>>(), n));
      b = gaussian_stats(matrix(c["features_b"].get<std::vector<float>>(), n));
      for (int64_t i = 0; i < d; ++i)
        CHECK(a.mean[i] == doctest::Approx(c["mean_a"][i].get<double>()).epsilon(1e-12));
      for (int64_t i = 0; i < d * d; ++i)
        CHECK(a.covariance[i] == doctest::Approx(c["cov_a"][i].get<double>()).epsilon(1e-10));
    } else {
      b = {d, doubles(c["mean_b"]), doubles(c["cov_b"])};
    }
    // A singular covariance has eigenvalues that are 0 up to rounding (1e-16 either way), whose
    // square roots (1e-8) enter numpy's trace and ours alike: there the two agree to 1e-7.
    const double want = c["distance"];
    const double tolerance = c["name"] == "d8 singular" ? 1e-7 : 1e-9 * std::max(1.0, want);
    CHECK(std::abs(frechet_distance(a, b) - want) < tolerance);
  }
}

TEST_CASE("feature metrics: the symmetric eigendecomposition reconstructs its matrix") {
  const int64_t d = 40;
  Generator gen(3);
  std::vector<double> a(d * d);
  for (int64_t r = 0; r < d; ++r)
    for (int64_t c = 0; c <= r; ++c) a[r * d + c] = a[c * d + r] = gen.normal();
  SymmetricEigen e = symmetric_eigen(a, d);
  CHECK(std::is_sorted(e.values.begin(), e.values.end()));
  double worst = 0;  // A v_i = lambda_i v_i for every eigenpair
  for (int64_t i = 0; i < d; ++i)
    for (int64_t r = 0; r < d; ++r) {
      double av = 0;
      for (int64_t k = 0; k < d; ++k) av += a[r * d + k] * e.vectors[k * d + i];
      worst = std::max(worst, std::abs(av - e.values[i] * e.vectors[r * d + i]));
    }
  CHECK(worst < 1e-12);
}

TEST_CASE("feature metrics: FID of a set with itself is 0, of a shifted copy the squared shift") {
  Generator gen(5);
  Tensor x = Tensor::empty({2000, 16});
  float* p = x.data();
  for (int64_t i = 0; i < x.numel(); ++i)
    p[i] = static_cast<float>(gen.normal()) * (1 + i % 16) * 0.2f;
  GaussianStats s = gaussian_stats(x);
  CHECK(std::abs(frechet_distance(s, s)) < 1e-9);
  std::vector<float> shift(16);
  double squared = 0;
  for (int j = 0; j < 16; ++j) squared += double{shift[j] = 0.25f * (j % 5) - 0.5f} * shift[j];
  Tensor moved = x + Tensor::from_vector(shift, {16});
  CHECK(frechet_distance(s, gaussian_stats(moved)) == doctest::Approx(squared).epsilon(1e-5));
}

// Real points 0, 1, ..., 9 on a line: with k = 3 the ball of 0 reaches to -3 and that of 9 to 12,
// inner balls reach 2 either way. A wrong k (or counting a point as its own neighbour, which is
// k = 2) moves the ends.
TEST_CASE("feature metrics: precision and recall with k = 3 on points whose balls are known") {
  std::vector<float> line(10);
  std::iota(line.begin(), line.end(), 0.0f);
  Tensor real = matrix(line, 10);
  std::vector<double> radii = kth_neighbour_distances(real, 3);
  CHECK(radii == std::vector<double>{3, 2, 2, 2, 2, 2, 2, 2, 2, 3});
  // -2.5 lies in 0's ball only for k >= 3; -3.5 and 12.5 only for k >= 4.
  Tensor generated = matrix({4.5f, -2.5f, -3.5f, 12.5f}, 4);
  CHECK(fraction_in_balls(generated, real, radii) == 0.5);
  CHECK(precision_recall(real, generated).precision == 0.5);
  // Generated points 0, 0.5, ..., 4 and 4.7: 4.7's ball (its 3rd neighbour is 3.0) reaches 6.4, so
  // the reals 0 to 6 are covered (k = 2 would stop at 5.9); every generated point is on the data.
  PrecisionRecall pr =
      precision_recall(real, matrix({0, 0.5f, 1, 1.5f, 2, 2.5f, 3, 3.5f, 4, 4.7f}, 10));
  CHECK(pr.precision == 1.0);
  CHECK(pr.recall == doctest::Approx(0.7));
}

TEST_CASE("feature metrics: the blocked neighbour distances are the brute-force ones") {
  Generator gen(9);
  const int64_t n = 1100, d = 5;  // more than two blocks of 512 rows
  Tensor x = Tensor::empty({n, d});
  for (int64_t i = 0; i < n * d; ++i) x.data()[i] = static_cast<float>(gen.normal());
  std::vector<double> fast = kth_neighbour_distances(x, 3);
  for (int64_t i : {0L, 511L, 512L, 1023L, 1099L}) {
    std::vector<double> all;
    for (int64_t j = 0; j < n; ++j) {
      if (j == i) continue;
      double s = 0;
      for (int64_t c = 0; c < d; ++c) s += std::pow(x.data()[i * d + c] - x.data()[j * d + c], 2);
      all.push_back(std::sqrt(s));
    }
    std::sort(all.begin(), all.end());
    CHECK(fast[i] == doctest::Approx(all[2]).epsilon(1e-5));
  }
}

TEST_CASE("feature metrics: the class spread of a made-up histogram") {
  ClassSpread s = class_spread({500, 300, 150, 45, 5, 0, 0, 0, 0, 0});
  CHECK(s.total_classes == 10);
  CHECK(s.classes_present == 4);  // 5 of 1000 is under 1%
  const double kl = 0.5 * std::log(5.0) + 0.3 * std::log(3.0) + 0.15 * std::log(1.5) +
                    0.045 * std::log(0.45) + 0.005 * std::log(0.05);
  CHECK(s.kl_to_uniform == doctest::Approx(kl).epsilon(1e-12));
  CHECK(class_spread({7, 7, 7}).kl_to_uniform == doctest::Approx(0.0));
  CHECK(class_spread({0, 9, 0, 0}).kl_to_uniform == doctest::Approx(std::log(4.0)));
  CHECK_THROWS_AS(class_spread({0, 0}), std::invalid_argument);
}
