// Winograd F(3x3, 2x2) and F(7x7, 2x2) for stride-2 convolutions with a 4x4 kernel and at most 7x7
// outputs (see the header). Notation: x [N,C,H,W], w [K,C,4,4], y [N,K,OH,OW], padding p.
//
// Phases. Kernel row a = 2s + i (s the phase, i the tap) reads input row 2(r + i) + s - p for
// output row r, so phase s of the input, x_s[u] = x[2u + s - p], meets the 2-tap kernel
// w_s[i] = w[2i + s] in a stride-1 correlation: y[r] = sum over s, i of w_s[i] x_s[r + i]. In two
// dimensions each channel has 4 phases (s_row, s_col), so the problem is a 2x2 correlation over
// C' = 4C channels, one tile per image and channel: m x m outputs from (m + 1) x (m + 1) inputs,
// m = 3 when the output fits, else 7.
//
// F(m, 2) in one dimension (d the m + 1 inputs, g the 2 taps, y the m outputs) is Toom-Cook's
// y = A^T [(G g) . (B^T d)], from m finite points and infinity: 0, 1, -1 for m = 3, and also 2, -2,
// 1/2, -1/2 for m = 7 (the points of the common F(6x6, 3x3), whose B^T this is too). The matrices
// (the tile types below) solve the identity exactly; tests compare both routes with direct loops.
// In two dimensions: V = B^T d B per tile, U = G g G^T per kernel, M = U . V summed over the
// channels, y = A^T M A. For each of the (m + 1)^2 points xi of the transformed tile, the sum over
// channels is a GEMM: M_xi [K,N] = U_xi [K,C'] V_xi [C',N]. The backward passes run the adjoints:
// dM = A dy A^T, dV_xi = U_xi^T dM_xi and dd = B dV B^T (backward data); dU_xi = dM_xi V_xi^T and
// dg = G^T dU G (backward weights).
//
// The transforms run over kLanes tiles at a time, images (or kernel channels) innermost, so that
// each step of a transform is a vector operation on contiguous values. Each phase tile covers
// padded rows 0..2m+1 once, so backward data writes every element of dx once, with no sums.
#include "ops/winograd_conv.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "ops/kernel_calls.h"
#include "ops/kernels.h"
#include "ops/runtime.h"
#include "ops/streaming_stores.h"
#include "ops/thread_ranges.h"
#include "ops/vector_clones.h"

namespace minimax::kernels {

namespace {

// Tiles a transform handles at once: one AVX-512 vector of floats, one cache line.
constexpr int kLanes = 16;
static_assert(kLanes == kLineFloats);
// Thinner layers (C' = 4C in, K out) stay on the other routes: their GEMMs would be a few columns
// wide. The bound keeps them out; it was not tuned by measurement.
constexpr int64_t kMinChannels = 16;
// F(7x7, 2x2) takes outputs from 6x6 on: 64 multiplications per tile and channel pair where the
// direct kernel needs 4 per output, so at 36 outputs it saves more than half of them, enough to
// pay for the transforms (at 7x7 the passes ran 1.5-1.8x faster). Smaller outputs stay on the
// other routes; the bound was not tuned by measurement.
constexpr int64_t kMinF7Outputs = 36;

template <int Rows, int Cols>
using Matrix = std::array<std::array<float, Cols>, Rows>;

template <int Rows, int Cols>
constexpr Matrix<Cols, Rows> transposed(const Matrix<Rows, Cols>& m) {
  Matrix<Cols, Rows> t{};
  for (int r = 0; r < Rows; ++r)
    for (int c = 0; c < Cols; ++c) t[c][r] = m[r][c];
  return t;
}

// F(m, 2)'s matrices and sizes. kInput is B^T, kKernel G and kOutput A^T; the adjoints are their
// transposes.
template <int M, int N>
struct TileType {
  static constexpr int kOut = M, kIn = N;  // m outputs from m + 1 inputs, per dimension
  static constexpr int kPoints = N * N;    // of the transformed tile
  static constexpr int kPadded = 2 * N;    // padded input rows (and columns) the phase tiles cover
};

struct F3 : TileType<3, 4> {
  static constexpr const char* kName = "F(3x3, 2x2)";
  static constexpr Matrix<4, 4> kInput = {
      {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, -1, 0, 1}}};
  static constexpr Matrix<4, 2> kKernel = {{{1, 0}, {0.5f, 0.5f}, {0.5f, -0.5f}, {0, 1}}};
  static constexpr Matrix<3, 4> kOutput = {{{1, 1, 1, 0}, {0, 1, -1, 0}, {0, 1, 1, 1}}};
};

struct F7 : TileType<7, 8> {
  static constexpr const char* kName = "F(7x7, 2x2)";
  static constexpr Matrix<8, 8> kInput = {{{1, 0, -5.25f, 0, 5.25f, 0, -1, 0},
                                           {0, 1, 1, -4.25f, -4.25f, 1, 1, 0},
                                           {0, -1, 1, 4.25f, -4.25f, -1, 1, 0},
                                           {0, 0.5f, 0.25f, -2.5f, -1.25f, 2, 1, 0},
                                           {0, -0.5f, 0.25f, 2.5f, -1.25f, -2, 1, 0},
                                           {0, 2, 4, -2.5f, -5, 0.5f, 1, 0},
                                           {0, -2, 4, 2.5f, -5, -0.5f, 1, 0},
                                           {0, -1, 0, 5.25f, 0, -5.25f, 0, 1}}};
  static constexpr Matrix<8, 2> kKernel = {{{1, 0},
                                            {-2.0f / 9, -2.0f / 9},
                                            {-2.0f / 9, 2.0f / 9},
                                            {1.0f / 90, 1.0f / 45},
                                            {1.0f / 90, -1.0f / 45},
                                            {32.0f / 45, 16.0f / 45},
                                            {32.0f / 45, -16.0f / 45},
                                            {0, 1}}};
  static constexpr Matrix<7, 8> kOutput = {{{1, 1, 1, 1, 1, 1, 1, 0},
                                            {0, 1, -1, 2, -2, 0.5f, -0.5f, 0},
                                            {0, 1, 1, 4, 4, 0.25f, 0.25f, 0},
                                            {0, 1, -1, 8, -8, 0.125f, -0.125f, 0},
                                            {0, 1, 1, 16, 16, 1.0f / 16, 1.0f / 16, 0},
                                            {0, 1, -1, 32, -32, 1.0f / 32, -1.0f / 32, 0},
                                            {0, 1, 1, 64, 64, 1.0f / 64, 1.0f / 64, 1}}};
};

// Sizes, and the strides of the transformed tensors: V [points][C'][N], U [points][K][C'],
// M [points][K][N]. Each point's matrix is padded by a cache line, so that the rows a transform
// writes at once are not a power of two apart, where they would share cache sets.
struct Dims {
  int64_t n, c, h, w, k, oh, ow, pad;
  int64_t channels() const { return 4 * c; }  // C': channel c's phase s is channel 4c + s
  int64_t v_stride() const { return channels() * n + 16; }
  int64_t u_stride() const { return k * channels() + 16; }
  int64_t m_stride() const { return k * n + 16; }
};

Dims dims_of(const Shape& x, const Shape& w, const Shape& y, const ConvGeometry& g) {
  return {x[0], x[1], x[2], x[3], w[0], y[2], y[3], g.padding};
}

// Calls pass(tile) with the smallest tile type whose outputs cover the problem's.
template <typename Pass>
void with_tile(const Dims& d, Pass pass) {
  if (d.oh <= F3::kOut && d.ow <= F3::kOut)
    pass(F3{});
  else
    pass(F7{});
}

// ---- the 2-D transform of kLanes tiles ----

// out[j] = sum over q of coef[q] source(q)[j] for each lane j. The loop over q is unrolled, so the
// matrix's zeros cost nothing, its ones no multiplication, and the lane loop is a vector loop.
template <int I, typename Source>
inline void combine(const std::array<float, I>& coef, Source source, float* out) {
  for (int j = 0; j < kLanes; ++j) {
    float sum = 0.0f;
    bool first = true;
#pragma GCC unroll 8
    for (int q = 0; q < I; ++q)
      if (coef[q] != 0.0f) {
        const float term = coef[q] * source(q)[j];
        sum = first ? term : sum + term;
        first = false;
      }
    out[j] = sum;
  }
}

// out = T in T^T for kLanes tiles at once (tile element [a][b] of lane j at [a][b][j]): rows first,
// then columns.
template <int O, int I>
inline void transform_tiles(const Matrix<O, I>& t, const float (&in)[I][I][kLanes],
                            float (&out)[O][O][kLanes]) {
  float half[I][O][kLanes];  // in T^T
#pragma GCC unroll 8
  for (int a = 0; a < I; ++a)
#pragma GCC unroll 8
    for (int b = 0; b < O; ++b)
      combine<I>(
          t[b], [&](int q) { return in[a][q]; }, half[a][b]);
#pragma GCC unroll 8
  for (int a = 0; a < O; ++a)
#pragma GCC unroll 8
    for (int b = 0; b < O; ++b)
      combine<I>(
          t[a], [&](int q) { return half[q][b]; }, out[a][b]);
}

// ---- the transforms ----
//
// Each pass splits its loops over the threads by output channel k or input channel c, always the
// same way (in_ranges), so that a thread's GEMMs read the transformed rows it wrote itself.

bool parallel(int64_t elements) {
  return elements >= kParallelMinElements;
}

// Copies `count` values of a lane block: kLanes, except at the end of a row. The full block's copy
// has a fixed size, so it compiles to a vector move, where one of variable length is a `rep movs`.
inline void copy_lanes(const float* from, int64_t count, float* to) {
  if (count == kLanes)
    std::copy_n(from, kLanes, to);
  else
    std::copy_n(from, count, to);
}

// Copies a lane block into a transformed operand (V, U or dM). These copies are megabytes, several
// times a core's L2, and the GEMMs read them back point by point, so a full, aligned block is
// streamed: an ordinary store would first read its line from memory. Inside a DCGAN iteration
// that took F(7x7, 2x2)'s input, kernel and output-gradient transforms from 0.83, 0.62 and 0.28
// ms a call to 0.60, 0.42 and 0.21 ms (docs/performance-log.md, 2026-12-07 morning). A transform
// that writes blocks this way fences them before it returns, ahead of the barrier after which the
// GEMMs read them.
inline void write_lanes(const float* from, int64_t count, float* to) {
  if (count == kLanes && line_aligned(to))
    stream_line(from, to);
  else
    copy_lanes(from, count, to);
}

// V from x, channels [c_begin, c_end): the phase tiles of every image, transformed.
template <typename T>
MINIMAX_VECTOR_CLONES void transform_input(const Dims& d, const float* x, float* v, int64_t c_begin,
                                           int64_t c_end) {
  constexpr int I = T::kIn;
  for (int64_t c = c_begin; c < c_end; ++c)
    for (int64_t n0 = 0; n0 < d.n; n0 += kLanes) {
      const int64_t count = std::min<int64_t>(kLanes, d.n - n0);
      float padded[T::kPadded][T::kPadded][kLanes];
      if (count < kLanes) std::fill_n(&padded[0][0][0], sizeof padded / sizeof(float), 0.0f);
      for (int64_t j = 0; j < count; ++j) {
        const float* plane = x + ((n0 + j) * d.c + c) * d.h * d.w;
        for (int64_t r = 0; r < T::kPadded; ++r)
          for (int64_t q = 0; q < T::kPadded; ++q) {
            const int64_t row = r - d.pad, col = q - d.pad;
            const bool inside = row >= 0 && row < d.h && col >= 0 && col < d.w;
            padded[r][q][j] = inside ? plane[row * d.w + col] : 0.0f;
          }
      }
      for (int s = 0; s < 4; ++s) {
        float tile[I][I][kLanes], t[I][I][kLanes];
        for (int u = 0; u < I; ++u)
          for (int q = 0; q < I; ++q)
            std::copy_n(padded[2 * u + s / 2][2 * q + s % 2], kLanes, tile[u][q]);
        transform_tiles<I, I>(T::kInput, tile, t);
        float* out = v + (4 * c + s) * d.n + n0;
        for (int xi = 0; xi < T::kPoints; ++xi)
          write_lanes(t[xi / I][xi % I], count, out + xi * d.v_stride());
      }
    }
  fence_streamed_lines();
}

// dx from dV, channels [c_begin, c_end): each phase tile's adjoint written back to the rows and
// columns it came from; input elements outside every tile (beyond the padded rows the tiles cover)
// get zero.
template <typename T>
MINIMAX_VECTOR_CLONES void transform_input_adjoint(const Dims& d, const float* dv, float* dx,
                                                   int64_t c_begin, int64_t c_end) {
  constexpr int I = T::kIn;
  constexpr Matrix<I, I> adjoint = transposed<I, I>(T::kInput);
  for (int64_t c = c_begin; c < c_end; ++c)
    for (int64_t n0 = 0; n0 < d.n; n0 += kLanes) {
      const int64_t count = std::min<int64_t>(kLanes, d.n - n0);
      float padded[T::kPadded][T::kPadded][kLanes];
      for (int s = 0; s < 4; ++s) {
        const float* in = dv + (4 * c + s) * d.n + n0;
        float t[I][I][kLanes], tile[I][I][kLanes];
        if (count < kLanes) std::fill_n(&t[0][0][0], sizeof t / sizeof(float), 0.0f);
        for (int xi = 0; xi < T::kPoints; ++xi)
          copy_lanes(in + xi * d.v_stride(), count, t[xi / I][xi % I]);
        transform_tiles<I, I>(adjoint, t, tile);
        for (int u = 0; u < I; ++u)
          for (int q = 0; q < I; ++q)
            std::copy_n(tile[u][q], kLanes, padded[2 * u + s / 2][2 * q + s % 2]);
      }
      for (int64_t j = 0; j < count; ++j) {
        float* plane = dx + ((n0 + j) * d.c + c) * d.h * d.w;
        for (int64_t row = 0; row < d.h; ++row)
          for (int64_t col = 0; col < d.w; ++col) {
            const int64_t r = row + d.pad, q = col + d.pad;
            plane[row * d.w + col] = r < T::kPadded && q < T::kPadded ? padded[r][q][j] : 0.0f;
          }
      }
    }
}

// Kernel channel c' = 4c + s of output channel k is phase s of w[k, c]; tap (i, j) of that
// phase's 2x2 kernel is at this offset from w[k, c, 0, 0].
inline int64_t phase_tap(int64_t s, int i, int j) {
  return (2 * i + s / 2) * 4 + 2 * j + s % 2;
}

// U from w, output channels [k_begin, k_end): each phase's 2x2 kernel, transformed, kLanes kernel
// channels at a time.
template <typename T>
MINIMAX_VECTOR_CLONES void transform_kernel(const Dims& d, const float* w, float* u,
                                            int64_t k_begin, int64_t k_end) {
  constexpr int I = T::kIn;
  const int64_t cp = d.channels();
  for (int64_t k = k_begin; k < k_end; ++k)
    for (int64_t c0 = 0; c0 < cp; c0 += kLanes) {
      const int64_t count = std::min<int64_t>(kLanes, cp - c0);
      float g[2][2][kLanes], t[I][I][kLanes];
      if (count < kLanes) std::fill_n(&g[0][0][0], sizeof g / sizeof(float), 0.0f);
      for (int64_t j = 0; j < count; ++j) {
        const int64_t c = (c0 + j) / 4, s = (c0 + j) % 4;
        const float* kernel = w + (k * d.c + c) * 16;
        for (int a = 0; a < 2; ++a)
          for (int b = 0; b < 2; ++b) g[a][b][j] = kernel[phase_tap(s, a, b)];
      }
      transform_tiles<I, 2>(T::kKernel, g, t);
      float* out = u + k * cp + c0;
      for (int xi = 0; xi < T::kPoints; ++xi)
        write_lanes(t[xi / I][xi % I], count, out + xi * d.u_stride());
    }
  fence_streamed_lines();
}

// dw from dU, output channels [k_begin, k_end): each phase's 2x2 kernel gradient, written to the
// taps it came from, or added to them.
template <typename T>
MINIMAX_VECTOR_CLONES void transform_kernel_adjoint(const Dims& d, const float* du, float* dw,
                                                    bool add, int64_t k_begin, int64_t k_end) {
  constexpr int I = T::kIn;
  constexpr Matrix<2, I> adjoint = transposed<I, 2>(T::kKernel);
  const int64_t cp = d.channels();
  for (int64_t k = k_begin; k < k_end; ++k)
    for (int64_t c0 = 0; c0 < cp; c0 += kLanes) {
      const int64_t count = std::min<int64_t>(kLanes, cp - c0);
      float t[I][I][kLanes], g[2][2][kLanes];
      if (count < kLanes) std::fill_n(&t[0][0][0], sizeof t / sizeof(float), 0.0f);
      const float* in = du + k * cp + c0;
      for (int xi = 0; xi < T::kPoints; ++xi)
        copy_lanes(in + xi * d.u_stride(), count, t[xi / I][xi % I]);
      transform_tiles<2, I>(adjoint, t, g);
      for (int64_t j = 0; j < count; ++j) {
        const int64_t c = (c0 + j) / 4, s = (c0 + j) % 4;
        float* kernel = dw + (k * d.c + c) * 16;
        for (int a = 0; a < 2; ++a)
          for (int b = 0; b < 2; ++b) {
            float& tap = kernel[phase_tap(s, a, b)];
            tap = add ? tap + g[a][b][j] : g[a][b][j];
          }
      }
    }
}

// y from M, output channels [k_begin, k_end): each image's m x m tile, cropped to OH x OW, plus
// the bias when there is one.
template <typename T>
MINIMAX_VECTOR_CLONES void transform_output(const Dims& d, const float* m, const float* bias,
                                            float* y, int64_t k_begin, int64_t k_end) {
  constexpr int I = T::kIn, O = T::kOut;
  for (int64_t k = k_begin; k < k_end; ++k)
    for (int64_t n0 = 0; n0 < d.n; n0 += kLanes) {
      const int64_t count = std::min<int64_t>(kLanes, d.n - n0);
      const float* in = m + k * d.n + n0;
      float t[I][I][kLanes], out[O][O][kLanes];
      if (count < kLanes) std::fill_n(&t[0][0][0], sizeof t / sizeof(float), 0.0f);
      for (int xi = 0; xi < T::kPoints; ++xi)
        copy_lanes(in + xi * d.m_stride(), count, t[xi / I][xi % I]);
      transform_tiles<O, I>(T::kOutput, t, out);
      const float shift = bias ? bias[k] : 0.0f;
      for (int64_t j = 0; j < count; ++j) {
        float* plane = y + ((n0 + j) * d.k + k) * d.oh * d.ow;
        for (int64_t r = 0; r < d.oh; ++r)
          for (int64_t q = 0; q < d.ow; ++q) plane[r * d.ow + q] = out[r][q][j] + shift;
      }
    }
}

// dM from dy, output channels [k_begin, k_end): each image's output gradient, zero where the
// tile's outputs were cropped.
template <typename T>
MINIMAX_VECTOR_CLONES void transform_output_adjoint(const Dims& d, const float* dy, float* dm,
                                                    int64_t k_begin, int64_t k_end) {
  constexpr int I = T::kIn, O = T::kOut;
  constexpr Matrix<I, O> adjoint = transposed<O, I>(T::kOutput);
  for (int64_t k = k_begin; k < k_end; ++k)
    for (int64_t n0 = 0; n0 < d.n; n0 += kLanes) {
      const int64_t count = std::min<int64_t>(kLanes, d.n - n0);
      float in[O][O][kLanes], t[I][I][kLanes];
      if (count < kLanes || d.oh < O || d.ow < O)
        std::fill_n(&in[0][0][0], sizeof in / sizeof(float), 0.0f);
      for (int64_t j = 0; j < count; ++j) {
        const float* plane = dy + ((n0 + j) * d.k + k) * d.oh * d.ow;
        for (int64_t r = 0; r < d.oh; ++r)
          for (int64_t q = 0; q < d.ow; ++q) in[r][q][j] = plane[r * d.ow + q];
      }
      transform_tiles<I, O>(adjoint, in, t);
      float* out = dm + k * d.n + n0;
      for (int xi = 0; xi < T::kPoints; ++xi)
        write_lanes(t[xi / I][xi % I], count, out + xi * d.m_stride());
    }
  fence_streamed_lines();
}

// ---- the GEMMs, one per point ----

// One operand of the GEMMs: point xi's matrix starts at data + xi * stride.
struct PointMatrices {
  const float* data;
  int64_t ld, stride;
};

// C_xi rows [row_begin, row_end) = op(A_xi) op(B_xi) for each of the `points` points xi, on the
// calling thread.
void point_gemms(int points, bool ta, bool tb, int64_t row_begin, int64_t row_end, int64_t n,
                 int64_t k, PointMatrices a, PointMatrices b, float* c, int64_t ldc,
                 int64_t c_stride) {
  const int64_t a_offset = ta ? row_begin : row_begin * a.ld;
  for (int xi = 0; xi < points; ++xi)
    gemm_unrecorded(ta, tb, row_end - row_begin, n, k, 1.0f, a.data + xi * a.stride + a_offset,
                    a.ld, b.data + xi * b.stride, b.ld, 0.0f, c + xi * c_stride + row_begin * ldc,
                    ldc);
}

// ---- the transformed operands ----
//
// Each is a copy of a pass's operand kept like a reordered one (ops/dnnl/nn_kernels.h): U of a
// parameter once per training step; V of x and dM of dy by the convolution op's scope, so that
// backward weights reuses the forward's V and backward data's dM.

template <typename T>
bool runs_parallel(const Dims& d) {
  return parallel(d.k * d.channels() * T::kPoints);
}

// T::kPoints rows of `stride` floats. The last dimension takes no memory (its stride is 0): it
// names the padding the copy was made with, so that one tensor's tiles for two paddings are two
// copies.
template <typename T>
dnnl::memory::desc transformed_layout(int64_t stride, int64_t padding = 0) {
  return dnnl::memory::desc({T::kPoints, stride, padding + 1}, dnnl::memory::data_type::f32,
                            dnnl::memory::dims{stride, 1, 0});
}

// The problem as the recorded calls name it: "x [..] w [..] y [..] stride 2 pad 1 dilation 1
// (Winograd F(7x7, 2x2))".
template <typename T>
std::string problem(const Dims& d) {
  return fmt::format("x {} w {} y {} stride 2 pad {} dilation 1 (Winograd {})",
                     Shape{d.n, d.c, d.h, d.w}.str(), Shape{d.k, d.c, 4, 4}.str(),
                     Shape{d.n, d.k, d.oh, d.ow}.str(), d.pad, T::kName);
}

// The copy of `source` in `layout` that `keep` (parameter_copy or activation_copy) returns, written
// by transform(d, source, target, begin, end) over [0, items), split over the threads as the
// passes split it. Each transform it runs is recorded for a KernelCallRecorder as a call of its
// own: the transforms are part of the route's arithmetic, where the reorders around oneDNN's
// primitives only change the layout, so the compute floor times each one the work runs. A kept
// copy is neither made nor recorded again.
template <typename T, typename Keep, typename Transform>
Tensor transformed(Keep keep, const char* operand, const Dims& d, int64_t items,
                   const Tensor& source, const dnnl::memory::desc& layout, Transform transform) {
  const bool split = runs_parallel<T>(d);
  const auto record = [&] {
    KernelCall call{
        "winograd transform", fmt::format("{}, {}", operand, problem<T>(d)), num_threads(), 0, {}};
    call.prepare = [=, floats = source.numel(),
                    target_floats = layout.get_size() / sizeof(float)]() -> std::function<void()> {
      Tensor in = call_buffer(floats), out = call_buffer(static_cast<int64_t>(target_floats));
      return [=] {
        in_ranges(items, split,
                  [&](int64_t b, int64_t e) { transform(d, in.data(), out.data(), b, e); });
      };
    };
    return record_kernel_call(std::move(call));
  };
  return keep(source, layout, [&](float* target) {
    const KernelCallTimer timer = recording_kernel_calls() ? record() : KernelCallTimer();
    in_ranges(items, split,
              [&](int64_t b, int64_t e) { transform(d, source.data(), target, b, e); });
  });
}

template <typename T>
Tensor transformed_kernel(const Dims& d, const Tensor& w) {
  return transformed<T>(parameter_copy, "kernel", d, d.k, w, transformed_layout<T>(d.u_stride()),
                        transform_kernel<T>);
}

template <typename T>
Tensor transformed_input(const Dims& d, const Tensor& x) {
  return transformed<T>(activation_copy, "input", d, d.c, x,
                        transformed_layout<T>(d.v_stride(), d.pad), transform_input<T>);
}

template <typename T>
Tensor transformed_output_grad(const Dims& d, const Tensor& dy) {
  return transformed<T>(activation_copy, "output gradient", d, d.k, dy,
                        transformed_layout<T>(d.m_stride()), transform_output_adjoint<T>);
}

// ---- the passes' GEMMs and last transforms, uncounted ----
//
// Each thread runs its share of the GEMMs (one thread per GEMM: the matrices are small) and of the
// transform that reads their products, split as the operand it wrote was: by output channel, or
// by input channel for backward data, whose U rows all threads read.

template <typename T>
void forward_products(const Dims& d, const float* u, const float* v, const float* bias, float* y) {
  const int64_t cp = d.channels();
  Tensor m = Tensor::empty({T::kPoints * d.m_stride()});
  in_ranges(d.k, runs_parallel<T>(d), [&](int64_t k0, int64_t k1) {
    point_gemms(T::kPoints, false, false, k0, k1, d.n, cp, {u, cp, d.u_stride()},
                {v, d.n, d.v_stride()}, m.data(), d.n, d.m_stride());
    transform_output<T>(d, m.data(), bias, y, k0, k1);
  });
}

template <typename T>
void backward_data_products(const Dims& d, const float* u, const float* m, float* dx) {
  const int64_t cp = d.channels();
  Tensor v = Tensor::empty({T::kPoints * d.v_stride()});
  in_ranges(d.c, runs_parallel<T>(d), [&](int64_t c0, int64_t c1) {
    point_gemms(T::kPoints, true, false, 4 * c0, 4 * c1, d.n, d.k, {u, cp, d.u_stride()},
                {m, d.n, d.m_stride()}, v.data(), d.n, d.v_stride());
    transform_input_adjoint<T>(d, v.data(), dx, c0, c1);
  });
}

template <typename T>
void backward_weights_products(const Dims& d, const float* v, const float* m, float* dw, bool add) {
  const int64_t cp = d.channels();
  Tensor u = Tensor::empty({T::kPoints * d.u_stride()});
  in_ranges(d.k, runs_parallel<T>(d), [&](int64_t k0, int64_t k1) {
    point_gemms(T::kPoints, false, true, k0, k1, cp, d.n, {m, d.n, d.m_stride()},
                {v, d.n, d.v_stride()}, u.data(), cp, d.u_stride());
    transform_kernel_adjoint<T>(d, u.data(), dw, add, k0, k1);
  });
}

// Counts the direct convolution's flops (what the model computes, as on every other route),
// records the pass for a KernelCallRecorder, and runs products(d, inputs, output). The recorded
// call runs the products alone on buffers of its own, sized as `inputs` and `output`: the
// transformed operands are left out, as the reorders around oneDNN's primitives are.
template <typename T, typename Products>
void run_counted(const char* kind, const Dims& d, Products products,
                 const std::vector<Tensor>& inputs, const Tensor& output) {
  const int64_t flops = 2 * d.n * d.k * d.oh * d.ow * d.c * 16;
  count_flops(flops);
  const auto record = [&] {
    KernelCall call{kind, problem<T>(d), num_threads(), flops, {}};
    std::vector<int64_t> sizes;
    for (const Tensor& t : inputs) sizes.push_back(t.numel());
    call.prepare = [d, sizes, out = output.numel(), products]() -> std::function<void()> {
      std::vector<Tensor> buffers;
      for (int64_t floats : sizes) buffers.push_back(call_buffer(floats));
      Tensor result = call_buffer(out);
      return [d, buffers, result, products] { products(d, buffers, result); };
    };
    return record_kernel_call(std::move(call));
  };
  const KernelCallTimer timer = recording_kernel_calls() ? record() : KernelCallTimer();
  products(d, inputs, output);
}

}  // namespace

bool winograd_applies(const Shape& x, const Shape& w, const Shape& y, const ConvGeometry& g) {
  const bool fits_f3 = y[2] <= F3::kOut && y[3] <= F3::kOut;
  const bool fills_f7 = y[2] <= F7::kOut && y[3] <= F7::kOut && y[2] * y[3] >= kMinF7Outputs;
  return g.stride == 2 && g.dilation == 1 && g.groups == 1 && w[2] == 4 && w[3] == 4 &&
         (fits_f3 || fills_f7) && 4 * x[1] >= kMinChannels && w[0] >= kMinChannels;
}

void winograd_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                      const ConvGeometry& g) {
  const Dims d = dims_of(x.shape(), w.shape(), y.shape(), g);
  with_tile(d, [&]<typename T>(T) {
    auto products = [](const Dims& d, const std::vector<Tensor>& in, const Tensor& out) {
      const float* bias = in.size() > 2 ? in[2].data() : nullptr;
      forward_products<T>(d, in[0].data(), in[1].data(), bias, out.data());
    };
    std::vector<Tensor> in{transformed_kernel<T>(d, w), transformed_input<T>(d, x)};
    if (bias.defined()) in.push_back(bias);
    run_counted<T>("conv forward", d, products, in, y);
  });
}

void winograd_backward_data(const Tensor& gy, const Tensor& w, const Tensor& gx,
                            const ConvGeometry& g) {
  const Dims d = dims_of(gx.shape(), w.shape(), gy.shape(), g);
  with_tile(d, [&]<typename T>(T) {
    auto products = [](const Dims& d, const std::vector<Tensor>& in, const Tensor& out) {
      backward_data_products<T>(d, in[0].data(), in[1].data(), out.data());
    };
    run_counted<T>("conv backward data", d, products,
                   {transformed_kernel<T>(d, w), transformed_output_grad<T>(d, gy)}, gx);
  });
}

void winograd_backward_weights(const Tensor& x, const Tensor& gy, const Tensor& gw,
                               const ConvGeometry& g, bool add) {
  const Dims d = dims_of(x.shape(), gw.shape(), gy.shape(), g);
  with_tile(d, [&]<typename T>(T) {
    auto products = [add](const Dims& d, const std::vector<Tensor>& in, const Tensor& out) {
      backward_weights_products<T>(d, in[0].data(), in[1].data(), out.data(), add);
    };
    run_counted<T>("conv backward weights", d, products,
                   {transformed_input<T>(d, x), transformed_output_grad<T>(d, gy)}, gw);
  });
}

}  // namespace minimax::kernels
