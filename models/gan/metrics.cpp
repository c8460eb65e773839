#include "models/gan/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>

#include "autograd/node.h"
#include "ops/ops.h"

namespace minimax::gan {

namespace {

void check_rows(const Tensor& a, const Tensor& b, const char* what) {
  if (a.dim() != 2 || b.dim() != 2 || a.size(1) != b.size(1))
    throw std::invalid_argument(
        fmt::format("parzen: samples {} and {} {} must be [n, d] with the same d", a.shape().str(),
                    what, b.shape().str()));
}

}  // namespace

std::vector<double> parzen_log_likelihoods(const Tensor& samples, const Tensor& x, double sigma) {
  check_rows(samples, x, "data");
  if (samples.size(0) == 0) throw std::invalid_argument("parzen: no samples");
  if (!(sigma > 0))
    throw std::invalid_argument(fmt::format("parzen: sigma {} is not positive", sigma));
  NoGradGuard no_grad;
  const int64_t d = x.size(1), s = samples.size(0);
  const double log_norm =
      std::log(static_cast<double>(s)) + 0.5 * d * std::log(2 * std::numbers::pi * sigma * sigma);
  Tensor sample_sq = sum(square(samples), {1});  // [s]
  std::vector<double> out;
  out.reserve(x.size(0));
  constexpr int64_t kBlock = 256;  // rows per GEMM: a [256, s] block of distances
  for (int64_t start = 0; start < x.size(0); start += kBlock) {
    Tensor rows = slice(x, 0, start, std::min(start + kBlock, x.size(0)));
    // ||x - s||^2 = ||x||^2 + ||s||^2 - 2 x.s
    Tensor dist = add(add(mul(matmul(rows, samples, false, true), -2.0f),
                          reshape(sum(square(rows), {1}), {-1, 1})),
                      sample_sq);
    Tensor ll = logsumexp(mul(dist, static_cast<float>(-0.5 / (sigma * sigma))), {1});
    for (float v : ll.to_vector()) out.push_back(static_cast<double>(v) - log_norm);
  }
  return out;
}

ParzenResult parzen_evaluate(const Tensor& samples, const Tensor& validation, const Tensor& test,
                             std::vector<double> sigmas) {
  if (validation.defined() && validation.dim() >= 1 && validation.size(0) == 0)
    throw std::invalid_argument("parzen: the validation set is empty");
  if (test.defined() && test.dim() >= 1 && test.size(0) == 0)
    throw std::invalid_argument("parzen: the test set is empty");
  if (sigmas.empty())
    for (int i = 0; i < 10; ++i) sigmas.push_back(std::pow(10.0, -1.0 + i / 9.0));
  ParzenResult result;
  double best = -std::numeric_limits<double>::infinity();
  for (double sigma : sigmas) {
    std::vector<double> ll = parzen_log_likelihoods(samples, validation, sigma);
    double m = 0;
    for (double v : ll) m += v;
    m /= static_cast<double>(ll.size());
    result.validation_ll.push_back(m);
    if (m > best) best = m, result.sigma = sigma;
  }
  if (result.sigma == 0)  // no width gave a finite mean: -inf (or NaN) for every one
    throw std::invalid_argument(fmt::format(
        "parzen: no sigma gave the validation set a finite mean log-likelihood (the best was "
        "{}): the samples hold NaN, or lie too far from the data for these widths",
        result.validation_ll.empty()
            ? 0.0
            : *std::max_element(result.validation_ll.begin(), result.validation_ll.end())));
  std::vector<double> ll = parzen_log_likelihoods(samples, test, result.sigma);
  double n = static_cast<double>(ll.size()), sum1 = 0, sum2 = 0;
  for (double v : ll) sum1 += v;
  result.mean = sum1 / n;
  for (double v : ll) sum2 += (v - result.mean) * (v - result.mean);
  result.standard_error = std::sqrt(sum2 / n) / std::sqrt(n);  // population std, as parzen_ll.py
  return result;
}

namespace {

// A row whose squared norm is not finite holds a NaN or an infinity (or values too large to
// square): its distances would be NaN, and a NaN compares as no distance at all.
void check_finite_rows(const std::vector<float>& squared_norms, int64_t first_row,
                       const char* what) {
  for (size_t i = 0; i < squared_norms.size(); ++i)
    if (!std::isfinite(squared_norms[i]))
      throw std::invalid_argument(
          fmt::format("nearest_neighbours: {} row {} holds a NaN, an infinity or a value too "
                      "large to square",
                      what, first_row + static_cast<int64_t>(i)));
}

}  // namespace

NearestNeighbours nearest_neighbours(const Tensor& queries, const Tensor& references) {
  if (queries.dim() != 2 || references.dim() != 2 || queries.size(1) != references.size(1))
    throw std::invalid_argument(fmt::format(
        "nearest_neighbours: queries {} and references {} must be [q, d] and [n, d], the same d",
        queries.shape().str(), references.shape().str()));
  if (references.size(0) == 0) throw std::invalid_argument("nearest_neighbours: no references");
  NoGradGuard no_grad;
  const int64_t q = queries.size(0), n = references.size(0);
  NearestNeighbours out{std::vector<int64_t>(q, 0),
                        std::vector<double>(q, std::numeric_limits<double>::infinity())};
  std::vector<float> query_sq = sum(square(queries), {1}).to_vector();
  check_finite_rows(query_sq, 0, "query");
  // A block of references at a time: CIFAR-10's 50,000 x 3072 floats would double the memory if
  // squared whole, and a [q, block] product is all that is needed at once.
  constexpr int64_t kBlock = 4096;
  for (int64_t start = 0; start < n; start += kBlock) {
    Tensor block = slice(references, 0, start, std::min(start + kBlock, n));
    std::vector<float> block_sq = sum(square(block), {1}).to_vector();
    check_finite_rows(block_sq, start, "reference");
    Tensor dot = matmul(queries, block, false, true);  // [q, block]
    const int64_t b = block.size(0);
    for (int64_t i = 0; i < q; ++i)
      for (int64_t j = 0; j < b; ++j) {
        // Rounding can make the distance of a duplicate slightly negative: clamp at 0.
        double d2 = std::max(0.0, double(query_sq[i]) + block_sq[j] - 2.0 * dot.data()[i * b + j]);
        if (d2 < out.distance[i]) out.distance[i] = d2, out.index[i] = start + j;
      }
  }
  for (double& d : out.distance) d = std::sqrt(d);
  return out;
}

namespace {

// The index of the mode nearest to (x, y), and the squared distance to it.
std::pair<size_t, double> nearest_mode(const data::GaussianMixture& mixture, float x, float y) {
  const auto& modes = mixture.modes();
  size_t nearest = 0;
  double best = std::numeric_limits<double>::infinity();
  for (size_t k = 0; k < modes.size(); ++k) {
    double dx = x - modes[k].x, dy = y - modes[k].y, d2 = dx * dx + dy * dy;
    if (d2 < best) best = d2, nearest = k;
  }
  return {nearest, best};
}

void check_mode_labels(const Tensor& labels, int64_t n) {
  if (labels.defined() && (labels.dim() != 1 || labels.size(0) != n))
    throw std::invalid_argument(
        fmt::format("mode_coverage: labels must be [{}], got {}", n, labels.shape().str()));
}

}  // namespace

ModeCoverage mode_coverage(const data::GaussianMixture& mixture, const Tensor& samples,
                           const Tensor& labels) {
  if (samples.dim() != 2 || samples.size(1) != 2)
    throw std::invalid_argument(
        fmt::format("mode_coverage: samples must be [n, 2], got {}", samples.shape().str()));
  check_mode_labels(labels, samples.size(0));
  ModeCoverage c;
  c.total_modes = static_cast<int>(mixture.modes().size());
  c.high_quality_per_mode.assign(mixture.modes().size(), 0);
  const double radius = 3.0 * mixture.sigma();
  int64_t high_quality = 0, on_label = 0;
  for (int64_t i = 0; i < samples.size(0); ++i) {
    auto [nearest, d2] = nearest_mode(mixture, samples.data()[2 * i], samples.data()[2 * i + 1]);
    if (std::sqrt(d2) <= radius) {
      ++high_quality;
      ++c.high_quality_per_mode[nearest];
    }
    if (labels.defined()) on_label += static_cast<float>(nearest) == labels.data()[i];
  }
  const double n = static_cast<double>(samples.size(0));
  c.high_quality_fraction = samples.size(0) ? high_quality / n : 0.0;
  if (labels.defined()) c.on_label_mode = samples.size(0) ? on_label / n : 0.0;
  c.kl_to_uniform = high_quality ? 0.0 : std::numeric_limits<double>::infinity();
  for (int count : c.high_quality_per_mode) {
    if (count == 0) continue;
    ++c.modes_captured;
    double p = static_cast<double>(count) / high_quality;
    c.kl_to_uniform += p * std::log(p * c.total_modes);
  }
  return c;
}

}  // namespace minimax::gan
