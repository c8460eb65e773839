// Times oneDNN's sgemm against OpenBLAS's at the GEMM shapes of the bundled models and at n = 2048
// (the machine's peak), in one run, to choose the GEMM backend (ops/blas/gemm.cpp).
// Usage: gemm_backends [threads]
#include <cblas.h>
#include <fmt/format.h>
#include <omp.h>
#include <dnnl.hpp>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <vector>

namespace {

struct Case {
  const char* what;
  bool ta, tb;
  int64_t m, n, k;
};

double seconds_per_call(const std::function<void()>& f) {
  f();  // warm-up
  int reps = 0;
  auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (elapsed < 0.3) {
    f();
    ++reps;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return elapsed / reps;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
  // The paper's MNIST GAN at batch 100: linear forward (x W^T), input gradient (g W), weight
  // gradient (g^T x), for G (100-1200-1200-784) and D (784-1200 maxout 240, 240-1200, 240-1).
  std::vector<Case> cases = {
      {"G fwd 100->1200", false, true, 100, 1200, 100},
      {"G fwd 1200->1200", false, true, 100, 1200, 1200},
      {"G fwd 1200->784", false, true, 100, 784, 1200},
      {"D fwd 784->1200", false, true, 100, 1200, 784},
      {"D fwd 240->1200", false, true, 100, 1200, 240},
      {"D dx 1200->784", false, false, 100, 784, 1200},
      {"G dx 1200->1200", false, false, 100, 1200, 1200},
      {"G dW 1200x1200", true, false, 1200, 1200, 100},
      {"D dW 1200x784", true, false, 1200, 784, 100},
      {"square 2048", false, false, 2048, 2048, 2048},
  };
  fmt::print("threads {}\n{:<20} {:>12} {:>12} {:>8}\n", threads, "shape", "oneDNN GF/s",
             "OpenBLAS GF/s", "ratio");
  for (const Case& c : cases) {
    std::vector<float> a(c.m * c.k, 0.5f), b(c.k * c.n, 0.25f), out(c.m * c.n);
    int64_t lda = c.ta ? c.m : c.k, ldb = c.tb ? c.k : c.n;
    double flops = 2.0 * c.m * c.n * c.k;
    double t_dnnl = seconds_per_call([&] {
      dnnl_sgemm(c.ta ? 'T' : 'N', c.tb ? 'T' : 'N', c.m, c.n, c.k, 1.0f, a.data(), lda, b.data(),
                 ldb, 0.0f, out.data(), c.n);
    });
    double t_blas = seconds_per_call([&] {
      cblas_sgemm(CblasRowMajor, c.ta ? CblasTrans : CblasNoTrans, c.tb ? CblasTrans : CblasNoTrans,
                  c.m, c.n, c.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, out.data(), c.n);
    });
    fmt::print("{:<20} {:>12.1f} {:>12.1f} {:>8.2f}\n", c.what, flops / t_dnnl * 1e-9,
               flops / t_blas * 1e-9, t_blas / t_dnnl);
  }
}
