// GEMM dispatch. oneDNN's sgemm is the default: on these machines it beats OpenBLAS (whose kernels
// are pinned to Haswell by OPENBLAS_CORETYPE) at every shape the bundled models use; see
// bench/gemm_backends.cpp for the measurement. MINIMAX_GEMM=openblas selects OpenBLAS everywhere,
// for comparison.
#include <cblas.h>
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "ops/kernels.h"
#include "ops/runtime.h"

namespace minimax::kernels {

namespace {
bool use_openblas() {
  static const bool chosen = [] {
    const char* v = std::getenv("MINIMAX_GEMM");
    return v != nullptr && std::strcmp(v, "openblas") == 0;
  }();
  return chosen;
}
}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  count_flops(2 * M * N * K);
  if (use_openblas()) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  dnnl_status_t status = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A,
                                    lda, B, ldb, beta, C, ldc);
  if (status != dnnl_success)
    throw std::runtime_error(fmt::format("dnnl_sgemm failed (status {}) for M={} N={} K={}",
                                         static_cast<int>(status), M, N, K));
}

}  // namespace minimax::kernels
