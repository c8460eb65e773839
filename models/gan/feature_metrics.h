// Scores of a generator in a feature space (the penultimate layer of a classifier,
// models/gan/feature_net.h): how far the feature distribution of its samples is from the data's
// (Frechet distance), how much of it lies on the data and how much of the data it covers
// (precision and recall), and how its samples spread over the classes.
#pragma once

#include <cstdint>
#include <vector>

#include "autograd/tensor.h"

namespace minimax::gan {

// ---- Frechet distance (FID, Heusel et al. 2017, in our own feature space) ----

// The mean and covariance (normalized by n - 1, as numpy's cov) of features [n, d], in double.
struct GaussianStats {
  int64_t dim = 0;
  std::vector<double> mean;        // [d]
  std::vector<double> covariance;  // [d, d], row-major
};
GaussianStats gaussian_stats(const Tensor& features);

// The eigenvalues and eigenvectors of a symmetric matrix a [d, d] (row-major, double), by cyclic
// Jacobi rotations: values ascending; vectors [d, d] row-major with eigenvector i in column i.
struct SymmetricEigen {
  std::vector<double> values, vectors;
};
SymmetricEigen symmetric_eigen(std::vector<double> a, int64_t d);

// ||mu_a - mu_b||^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2)), where the last trace is taken as
// tr((S_a^(1/2) S_b S_a^(1/2))^(1/2)): the same number, from two symmetric eigendecompositions.
double frechet_distance(const GaussianStats& a, const GaussianStats& b);

// ---- Improved precision and recall (Kynkaanniemi et al. 2019) ----
//
// Each real feature vector is the centre of a ball reaching to its k-th nearest real neighbour
// (itself not counted); precision is the fraction of generated vectors inside at least one real
// ball. Recall is the same with the roles swapped: real vectors inside the generated balls.
struct PrecisionRecall {
  double precision = 0, recall = 0;
  int k = 3;
};
PrecisionRecall precision_recall(const Tensor& real, const Tensor& generated, int k = 3);

// The distance from each row of points [n, d] to its k-th nearest other row (1 <= k < n).
// Squared distances ||a||^2 + ||b||^2 - 2 a.b come from one GEMM per block of rows, so memory is
// O(block x n), never n x n.
std::vector<double> kth_neighbour_distances(const Tensor& points, int k);

// The fraction of rows of queries [q, d] within radii[j] of some row j of centres [n, d].
double fraction_in_balls(const Tensor& queries, const Tensor& centres,
                         const std::vector<double>& radii);

// ---- How samples spread over the classes ----
//
// Given the classifier's class histogram of the samples: the classes holding at least
// `min_fraction` of them, and KL(p || uniform) = sum_i p_i log(p_i K) of the histogram's
// proportions p over its K classes (0 for a uniform spread, log K when all are in one class).
struct ClassSpread {
  int classes_present = 0, total_classes = 0;
  double kl_to_uniform = 0;
  std::vector<int64_t> histogram;
};
ClassSpread class_spread(const std::vector<int64_t>& histogram, double min_fraction = 0.01);

}  // namespace minimax::gan
