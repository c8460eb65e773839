// GEMM dispatch. oneDNN's sgemm is the default: on these machines it beats OpenBLAS (whose kernels
// are pinned to Haswell by OPENBLAS_CORETYPE) at every shape the bundled models use; see
// bench/gemm_backends.cpp for the measurement. MINIMAX_GEMM=openblas selects OpenBLAS everywhere,
// for comparison.
#include <cblas.h>
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "ops/kernel_calls.h"
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

// The GEMM on the chosen backend, uncounted.
void dispatch(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
              int64_t ldc) {
  // An empty sum (K = 0) leaves C = beta * C; both libraries refuse its leading dimensions.
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
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

// The call for a KernelCallRecorder: the same GEMM on buffers of its own, with the same leading
// dimensions, scalars and backend.
void record_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 int64_t lda, int64_t ldb, float beta, int64_t ldc) {
  KernelCall call{"gemm",
                  fmt::format("{}{} M={} N={} K={} beta {}", trans_a ? 'T' : 'N',
                              trans_b ? 'T' : 'N', M, N, K, beta),
                  num_threads(),
                  2 * M * N * K,
                  {}};
  call.prepare = [=]() -> std::function<void()> {
    Tensor a = call_buffer((trans_a ? K : M) * lda), b = call_buffer((trans_b ? N : K) * ldb);
    Tensor c = call_buffer(M * ldc);
    return [=] {
      dispatch(trans_a, trans_b, M, N, K, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
    };
  };
  record_kernel_call(std::move(call));
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  count_flops(2 * M * N * K);
  if (recording_kernel_calls()) record_gemm(trans_a, trans_b, M, N, K, alpha, lda, ldb, beta, ldc);
  dispatch(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_unrecorded(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                     const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                     int64_t ldc) {
  if (M == 0 || N == 0) return;
  dispatch(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace minimax::kernels
