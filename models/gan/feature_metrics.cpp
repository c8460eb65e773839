#include "models/gan/feature_metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "ops/ops.h"

namespace minimax::gan {

namespace {

void check_matrix(const Tensor& x, const char* what, int64_t min_rows) {
  if (x.shape().size() != 2 || x.size(0) < min_rows || x.size(1) < 1)
    throw std::invalid_argument(fmt::format("{}: features {} must be [n, d] with n >= {}", what,
                                            x.shape().str(), min_rows));
}

}  // namespace

GaussianStats gaussian_stats(const Tensor& features) {
  check_matrix(features, "gaussian_stats", 2);
  const int64_t n = features.size(0), d = features.size(1);
  const float* x = features.data();
  GaussianStats s{d, std::vector<double>(d, 0.0), std::vector<double>(d * d, 0.0)};
  for (int64_t i = 0; i < n; ++i)
    for (int64_t a = 0; a < d; ++a) s.mean[a] += x[i * d + a];
  for (double& m : s.mean) m /= static_cast<double>(n);
  // Centred products summed in double: 10,000 rows of float features lose nothing that matters.
  std::vector<double> centred(d);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t a = 0; a < d; ++a) centred[a] = x[i * d + a] - s.mean[a];
    for (int64_t a = 0; a < d; ++a)
      for (int64_t b = a; b < d; ++b) s.covariance[a * d + b] += centred[a] * centred[b];
  }
  for (int64_t a = 0; a < d; ++a)
    for (int64_t b = a; b < d; ++b)
      s.covariance[b * d + a] = s.covariance[a * d + b] /= static_cast<double>(n - 1);
  return s;
}

namespace {

// One Jacobi rotation in the (p, q) plane: a = P^T a P with P chosen to zero a[p][q]; the same
// rotation accumulates into the eigenvectors v = v P.
void rotate(std::vector<double>& a, std::vector<double>& v, int64_t d, int64_t p, int64_t q) {
  const double apq = a[p * d + q];
  const double theta = (a[q * d + q] - a[p * d + p]) / (2 * apq);
  const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
  const double c = 1 / std::sqrt(t * t + 1), s = t * c;
  auto columns = [&](std::vector<double>& m) {
    for (int64_t k = 0; k < d; ++k) {
      const double mp = m[k * d + p], mq = m[k * d + q];
      m[k * d + p] = c * mp - s * mq;
      m[k * d + q] = s * mp + c * mq;
    }
  };
  columns(a);
  for (int64_t k = 0; k < d; ++k) {
    const double ap = a[p * d + k], aq = a[q * d + k];
    a[p * d + k] = c * ap - s * aq;
    a[q * d + k] = s * ap + c * aq;
  }
  a[p * d + q] = a[q * d + p] = 0;  // exactly, not a rounding residue
  columns(v);
}

double off_diagonal_squares(const std::vector<double>& a, int64_t d) {
  double off = 0;
  for (int64_t p = 0; p < d; ++p)
    for (int64_t q = p + 1; q < d; ++q) off += a[p * d + q] * a[p * d + q];
  return off;
}

}  // namespace

// Jacobi rather than LAPACK's dsyevd: the matrices are at most a few hundred wide, where a sweep
// costs milliseconds; the method is accurate to rounding in every eigenvalue, small ones included
// (which a covariance of nearly dependent features has); and it keeps the library free of a
// Fortran symbol that only some OpenBLAS builds export.
SymmetricEigen symmetric_eigen(std::vector<double> a, int64_t d) {
  if (d < 1 || static_cast<int64_t>(a.size()) != d * d)
    throw std::invalid_argument(
        fmt::format("symmetric_eigen: {} values are not a {}x{} matrix", a.size(), d, d));
  std::vector<double> v(d * d, 0.0);
  for (int64_t i = 0; i < d; ++i) v[i * d + i] = 1;
  const double norm = std::inner_product(a.begin(), a.end(), a.begin(), 0.0);
  for (int sweep = 0; sweep < 100 && off_diagonal_squares(a, d) > 1e-30 * norm; ++sweep)
    for (int64_t p = 0; p < d; ++p)
      for (int64_t q = p + 1; q < d; ++q)
        if (a[p * d + q] != 0) rotate(a, v, d, p, q);
  std::vector<int64_t> order(d);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int64_t i, int64_t j) { return a[i * d + i] < a[j * d + j]; });
  SymmetricEigen out{std::vector<double>(d), std::vector<double>(d * d)};
  for (int64_t i = 0; i < d; ++i) {
    out.values[i] = a[order[i] * d + order[i]];
    for (int64_t k = 0; k < d; ++k) out.vectors[k * d + i] = v[k * d + order[i]];
  }
  return out;
}

namespace {

// c = a b for [d, d] matrices.
std::vector<double> multiply(const std::vector<double>& a, const std::vector<double>& b,
                             int64_t d) {
  std::vector<double> c(d * d, 0.0);
  for (int64_t i = 0; i < d; ++i)
    for (int64_t k = 0; k < d; ++k)
      for (int64_t j = 0; j < d; ++j) c[i * d + j] += a[i * d + k] * b[k * d + j];
  return c;
}

// The symmetric square root V sqrt(L) V^T of a positive semi-definite matrix; eigenvalues that
// rounding made slightly negative count as 0.
std::vector<double> symmetric_sqrt(const std::vector<double>& a, int64_t d) {
  SymmetricEigen e = symmetric_eigen(a, d);
  std::vector<double> out(d * d, 0.0);
  for (int64_t i = 0; i < d; ++i) {
    const double root = std::sqrt(std::max(e.values[i], 0.0));
    for (int64_t r = 0; r < d; ++r)
      for (int64_t c = 0; c < d; ++c)
        out[r * d + c] += e.vectors[r * d + i] * root * e.vectors[c * d + i];
  }
  return out;
}

}  // namespace

double frechet_distance(const GaussianStats& a, const GaussianStats& b) {
  if (a.dim != b.dim || a.dim < 1)
    throw std::invalid_argument(
        fmt::format("frechet_distance: statistics of {} and {} features", a.dim, b.dim));
  const int64_t d = a.dim;
  double distance = 0;
  for (int64_t i = 0; i < d; ++i) {
    distance += (a.mean[i] - b.mean[i]) * (a.mean[i] - b.mean[i]);
    distance += a.covariance[i * d + i] + b.covariance[i * d + i];
  }
  std::vector<double> root_a = symmetric_sqrt(a.covariance, d);
  std::vector<double> m = multiply(multiply(root_a, b.covariance, d), root_a, d);
  for (int64_t r = 0; r < d; ++r)  // symmetric up to rounding; made exactly so for Jacobi
    for (int64_t c = r + 1; c < d; ++c)
      m[r * d + c] = m[c * d + r] = (m[r * d + c] + m[c * d + r]) / 2;
  for (double lambda : symmetric_eigen(std::move(m), d).values)
    distance -= 2 * std::sqrt(std::max(lambda, 0.0));
  return distance;
}

namespace {

std::vector<double> squared_norms(const Tensor& x) {
  const int64_t n = x.size(0), d = x.size(1);
  std::vector<double> out(n, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) out[i] += double{x.data()[i * d + j]} * x.data()[i * d + j];
  return out;
}

// Calls visit(first, rows, d2) for consecutive blocks of rows of a, d2 being the [rows, m]
// squared distances from those rows to the m rows of b (clamped at 0 against rounding): one GEMM
// per block, so a 10,000 x 10,000 comparison holds 20 MB at a time, not 400.
template <class Visit>
void for_distance_blocks(const Tensor& a, const Tensor& b, Visit visit) {
  constexpr int64_t kBlock = 512;
  NoGradGuard no_grad;
  const std::vector<double> na = squared_norms(a), nb = squared_norms(b);
  const int64_t n = a.size(0), m = b.size(0);
  std::vector<double> d2;
  for (int64_t first = 0; first < n; first += kBlock) {
    const int64_t rows = std::min(kBlock, n - first);
    Tensor dots = matmul(slice(a, 0, first, first + rows), b, false, true);
    d2.resize(rows * m);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < m; ++j)
        d2[i * m + j] = std::max(0.0, na[first + i] + nb[j] - 2.0 * dots.data()[i * m + j]);
    visit(first, rows, d2);
  }
}

}  // namespace

std::vector<double> kth_neighbour_distances(const Tensor& points, int k) {
  check_matrix(points, "kth_neighbour_distances", 2);
  const int64_t n = points.size(0);
  if (k < 1 || k >= n)
    throw std::invalid_argument(
        fmt::format("kth_neighbour_distances: k = {} needs 1 <= k < {} points", k, n));
  std::vector<double> out(n);
  for_distance_blocks(points, points, [&](int64_t first, int64_t rows, std::vector<double>& d2) {
    for (int64_t i = 0; i < rows; ++i) {
      auto row = d2.begin() + i * n;
      row[first + i] = std::numeric_limits<double>::infinity();  // a point is not its own neighbour
      std::nth_element(row, row + (k - 1), row + n);
      out[first + i] = std::sqrt(row[k - 1]);
    }
  });
  return out;
}

double fraction_in_balls(const Tensor& queries, const Tensor& centres,
                         const std::vector<double>& radii) {
  check_matrix(queries, "fraction_in_balls", 1);
  check_matrix(centres, "fraction_in_balls", 1);
  const int64_t m = centres.size(0);
  if (queries.size(1) != centres.size(1) || static_cast<int64_t>(radii.size()) != m)
    throw std::invalid_argument(fmt::format("fraction_in_balls: queries {}, centres {}, {} radii",
                                            queries.shape().str(), centres.shape().str(),
                                            radii.size()));
  std::vector<double> r2(m);
  for (int64_t j = 0; j < m; ++j) r2[j] = radii[j] * radii[j];
  int64_t inside = 0;
  for_distance_blocks(queries, centres, [&](int64_t, int64_t rows, std::vector<double>& d2) {
    for (int64_t i = 0; i < rows; ++i) {
      const double* row = d2.data() + i * m;
      for (int64_t j = 0; j < m; ++j)
        if (row[j] <= r2[j]) {
          ++inside;
          break;
        }
    }
  });
  return static_cast<double>(inside) / static_cast<double>(queries.size(0));
}

PrecisionRecall precision_recall(const Tensor& real, const Tensor& generated, int k) {
  PrecisionRecall out;
  out.k = k;
  out.precision = fraction_in_balls(generated, real, kth_neighbour_distances(real, k));
  out.recall = fraction_in_balls(real, generated, kth_neighbour_distances(generated, k));
  return out;
}

ClassSpread class_spread(const std::vector<int64_t>& histogram, double min_fraction) {
  const int64_t total = std::accumulate(histogram.begin(), histogram.end(), int64_t{0});
  if (histogram.empty() || total <= 0 ||
      std::any_of(histogram.begin(), histogram.end(), [](int64_t c) { return c < 0; }))
    throw std::invalid_argument("class_spread: the histogram must count at least one sample");
  ClassSpread out{0, static_cast<int>(histogram.size()), 0.0, histogram};
  const double classes = static_cast<double>(histogram.size());
  for (int64_t count : histogram) {
    const double p = static_cast<double>(count) / static_cast<double>(total);
    if (p >= min_fraction) ++out.classes_present;
    if (count > 0) out.kl_to_uniform += p * std::log(p * classes);
  }
  return out;
}

}  // namespace minimax::gan
