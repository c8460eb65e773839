// How good a generator is, by the numbers the literature reports.
#pragma once

#include <optional>
#include <vector>

#include "autograd/tensor.h"
#include "models/data/mixture.h"

namespace minimax::gan {

// ---- Parzen-window log-likelihood (the GAN paper's Table 1 protocol) ----
//
// A Gaussian kernel of width sigma on every generated sample gives a density; its mean
// log-likelihood on held-out data scores the generator. sigma is chosen by the validation set's
// mean log-likelihood; the result is the test set's mean and standard error.
struct ParzenResult {
  double mean = 0, standard_error = 0, sigma = 0;
  std::vector<double> validation_ll;  // per candidate sigma
};

// Log-likelihood of each row of x [n, d] under the Parzen window on samples [s, d]:
//   log (1/s) sum_i N(x; sample_i, sigma^2 I). Distances come from one GEMM per block of rows.
std::vector<double> parzen_log_likelihoods(const Tensor& samples, const Tensor& x, double sigma);

// The paper's protocol. Candidate sigmas default to logspace(-1, 0, 10).
ParzenResult parzen_evaluate(const Tensor& samples, const Tensor& validation, const Tensor& test,
                             std::vector<double> sigmas = {});

// ---- Nearest training examples (the GAN paper's Figure 2) ----
//
// Whether G memorizes: each sample beside the training example closest to it.
struct NearestNeighbours {
  std::vector<int64_t> index;    // per query, the row of `references` closest to it
  std::vector<double> distance;  // its Euclidean distance
};

// For each row of queries [q, d], the row of references [n, d] at the smallest Euclidean distance
// (the lowest index among equals). Squared distances ||a||^2 + ||b||^2 - 2 a.b take one GEMM per
// block of references, so memory stays bounded whatever n is.
NearestNeighbours nearest_neighbours(const Tensor& queries, const Tensor& references);

// ---- Mode coverage on a Gaussian mixture ----
//
// A sample is high quality within 3 sigma of its nearest mode; a mode is captured when it is the
// nearest mode of at least one high-quality sample. kl_to_uniform is KL(p || uniform) of the
// high-quality samples' mode histogram p (infinite when there are none). Given the labels a
// conditional G drew its samples for ([n], mode indices), on_label_mode is the fraction of samples
// whose nearest mode is their label's.
struct ModeCoverage {
  int modes_captured = 0, total_modes = 0;
  double high_quality_fraction = 0;
  double kl_to_uniform = 0;
  std::vector<int> high_quality_per_mode;
  std::optional<double> on_label_mode;
};

ModeCoverage mode_coverage(const data::GaussianMixture& mixture, const Tensor& samples,
                           const Tensor& labels = Tensor());

}  // namespace minimax::gan
