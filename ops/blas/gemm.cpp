// GEMM dispatch. oneDNN's sgemm is the default: on these machines it beats OpenBLAS (whose kernels
// are pinned to Haswell by OPENBLAS_CORETYPE) at every shape the bundled models use; see
// bench/gemm_backends.cpp for the measurement. MINIMAX_GEMM=openblas selects OpenBLAS everywhere,
// for comparison.
#include <cblas.h>
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "ops/kernel_calls.h"
#include "ops/kernels.h"
#include "ops/runtime.h"
#include "ops/thread_ranges.h"

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
KernelCallTimer record_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                            float alpha, int64_t lda, int64_t ldb, float beta, int64_t ldc) {
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
  return record_kernel_call(std::move(call));
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  count_flops(2 * M * N * K);
  const KernelCallTimer timer =
      recording_kernel_calls() ? record_gemm(trans_a, trans_b, M, N, K, alpha, lda, ldb, beta, ldc)
                               : KernelCallTimer();
  dispatch(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_unrecorded(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                     const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                     int64_t ldc) {
  if (M == 0 || N == 0) return;
  dispatch(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// ---- a linear layer's products, split by its weight's rows ----

namespace {

// Below these, a product runs as one gemm: a share of fewer rows, or a product with less work than
// an elementwise pass worth a parallel region, gains nothing from being split this way.
constexpr int64_t kMinRowsPerThread = 16;

enum class WeightProduct { kForward, kInputGrad, kWeightGrad };

// x or dy [m, i or o], W or dW [o, i].
struct WeightDims {
  int64_t m, o, i;
};

bool split_by_weight_rows(const WeightDims& d) {
  const int64_t threads = num_threads();
  return threads > 1 && d.o >= kMinRowsPerThread * threads &&
         d.m * d.o * d.i >= kParallelMinElements;
}

// Thread t's part of dx, summed over its rows of W: dx itself for thread 0, else a part of parts.
float* input_grad_part(float* dx, float* parts, int64_t t, int64_t size) {
  return t == 0 ? dx : parts + (t - 1) * size;
}

// The operands: a = x, b = W, c = y (forward); a = dy, b = W, c = dx (input gradient); a = dy,
// b = x, c = dW (weight gradient, beta 1 when it adds to a gradient already there). A forward's
// bias, when not null, is written into its columns of y by the thread that then adds the product to
// them (beta 1), so that y's columns stay on one core; the bench's replay of the call leaves it
// out, as it times products only.
struct WeightOperands {
  const float* a;
  const float* b;
  const float* bias;
  float beta;
  float* c;
};

// The product on rows [r0, r1) of W, on the calling thread; c is this thread's part for dx.
void product_on_rows(WeightProduct p, const WeightDims& d, int64_t r0, int64_t r1,
                     const WeightOperands& o) {
  const int64_t rows = r1 - r0;
  const float *a = o.a, *b = o.b;
  float* c = o.c;
  switch (p) {
    case WeightProduct::kForward:
      if (o.bias)
        for (int64_t r = 0; r < d.m; ++r) std::copy(o.bias + r0, o.bias + r1, c + r * d.o + r0);
      return dispatch(false, true, d.m, rows, d.i, 1.0f, a, d.i, b + r0 * d.i, d.i, o.beta, c + r0,
                      d.o);
    case WeightProduct::kInputGrad:
      return dispatch(false, false, d.m, d.i, rows, 1.0f, a + r0, d.o, b + r0 * d.i, d.i, 0.0f, c,
                      d.i);
    case WeightProduct::kWeightGrad:
      return dispatch(true, false, rows, d.i, d.m, 1.0f, a + r0, d.o, b, d.i, o.beta, c + r0 * d.i,
                      d.i);
  }
}

void split_product(WeightProduct p, const WeightDims& d, const WeightOperands& o) {
  const int64_t dx_size = d.m * d.i;
  Tensor parts;
  if (p == WeightProduct::kInputGrad) parts = Tensor::empty({(num_threads() - 1) * dx_size});
  FirstFailure failure;
#pragma omp parallel
  {
    const int64_t t = omp_get_thread_num(), threads = omp_get_num_threads();
    const Share rows = share(d.o, t, threads);
    WeightOperands mine = o;
    if (p == WeightProduct::kInputGrad) mine.c = input_grad_part(o.c, parts.data(), t, dx_size);
    failure.run([&] { product_on_rows(p, d, rows.begin, rows.end, mine); });
    if (p == WeightProduct::kInputGrad) {
#pragma omp barrier
      const Share elements = share(dx_size, t, threads);
      for (int64_t q = 1; q < threads; ++q) {
        const float* part = input_grad_part(o.c, parts.data(), q, dx_size);
        for (int64_t e = elements.begin; e < elements.end; ++e) o.c[e] += part[e];
      }
    }
  }
  failure.rethrow();
}

// The call for a KernelCallRecorder: the same split product on buffers of its own.
KernelCallTimer record_weight_rows(WeightProduct p, const WeightDims& d, float beta) {
  const char* transposes[] = {"NT", "NN", "TN"};
  const int64_t mnk[3][3] = {{d.m, d.o, d.i}, {d.m, d.i, d.o}, {d.o, d.i, d.m}};
  const int k = static_cast<int>(p);
  KernelCall call{"gemm",
                  fmt::format("{} M={} N={} K={} beta {} by weight rows", transposes[k], mnk[k][0],
                              mnk[k][1], mnk[k][2], beta),
                  num_threads(),
                  2 * d.m * d.o * d.i,
                  {}};
  call.prepare = [=]() -> std::function<void()> {
    const int64_t x = d.m * d.i, w = d.o * d.i, y = d.m * d.o;
    const int64_t sizes[3][3] = {{x, w, y}, {y, w, x}, {y, x, w}};
    Tensor a = call_buffer(sizes[k][0]), b = call_buffer(sizes[k][1]);
    Tensor c = call_buffer(sizes[k][2]);
    return [=] { split_product(p, d, {a.data(), b.data(), nullptr, beta, c.data()}); };
  };
  return record_kernel_call(std::move(call));
}

void weight_rows_product(WeightProduct p, const WeightDims& d, const WeightOperands& o) {
  count_flops(2 * d.m * d.o * d.i);
  const KernelCallTimer timer =
      recording_kernel_calls() ? record_weight_rows(p, d, o.beta) : KernelCallTimer();
  split_product(p, d, o);
}

}  // namespace

void weight_rows_forward(int64_t M, int64_t O, int64_t I, const float* x, const float* w,
                         const float* bias, float* y) {
  const WeightDims d{M, O, I};
  const float beta = bias ? 1.0f : 0.0f;
  if (split_by_weight_rows(d))
    return weight_rows_product(WeightProduct::kForward, d, {x, w, bias, beta, y});
  if (bias)
    for (int64_t r = 0; r < M; ++r) std::copy_n(bias, O, y + r * O);
  gemm(false, true, M, O, I, 1.0f, x, I, w, I, beta, y, O);
}

void weight_rows_input_grad(int64_t M, int64_t O, int64_t I, const float* dy, const float* w,
                            float* dx) {
  const WeightDims d{M, O, I};
  if (!split_by_weight_rows(d)) return gemm(false, false, M, I, O, 1.0f, dy, O, w, I, 0.0f, dx, I);
  weight_rows_product(WeightProduct::kInputGrad, d, {dy, w, nullptr, 0.0f, dx});
}

void weight_rows_weight_grad(int64_t M, int64_t O, int64_t I, const float* dy, const float* x,
                             float beta, float* dw) {
  const WeightDims d{M, O, I};
  if (!split_by_weight_rows(d)) return gemm(true, false, O, I, M, 1.0f, dy, O, x, I, beta, dw, I);
  weight_rows_product(WeightProduct::kWeightGrad, d, {dy, x, nullptr, beta, dw});
}

}  // namespace minimax::kernels
