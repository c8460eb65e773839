// Winograd F(3x3, 2x2) for stride-2 convolutions with a 4x4 kernel and at most 3x3 outputs (see
// the header). Notation: x [N,C,H,W], w [K,C,4,4], y [N,K,OH,OW], padding p.
//
// Phases. Kernel row a = 2s + i (s the phase, i the tap) reads input row 2(r + i) + s - p for
// output row r, so phase s of the input, x_s[u] = x[2u + s - p] for u = 0..3, meets the 2-tap
// kernel w_s[i] = w[2i + s] in a stride-1 correlation with 3 outputs: y[r] = sum over s, i of
// w_s[i] x_s[r + i]. In two dimensions each channel has 4 phases (s_row, s_col), so the problem is
// a 2x2 correlation over C' = 4C channels, one 4x4 tile per image and channel.
//
// F(3, 2), from the points 0, 1, -1 and infinity, for one dimension (d the 4 inputs, g the 2
// taps, y the 3 outputs): y = A^T [(G g) . (B^T d)] with
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 -1 0 1],  G = [1 0; 1/2 1/2; 1/2 -1/2; 0 1],
//   A^T = [1 1 1 0; 0 1 -1 0; 0 1 1 1].
// In two dimensions: V = B^T d B per tile, U = G g G^T per kernel, M = U . V summed over the
// channels, y = A^T M A. For each of the 16 points xi of the transformed tile, the sum over
// channels is a GEMM: M_xi [K,N] = U_xi [K,C'] V_xi [C',N]. The backward passes run the adjoints:
// dM = A dy A^T, dV_xi = U_xi^T dM_xi and dd = B dV B^T (backward data); dU_xi = dM_xi V_xi^T and
// dg = G^T dU G (backward weights).
//
// The transforms run over a block of images at a time with the image index innermost, so each is a
// vector loop over contiguous values. Each phase tile covers padded rows 0..7 once, so backward
// data writes every element of dx once, with no sums.
#include "ops/winograd_conv.h"

#include <fmt/format.h>

#include <algorithm>

#include "ops/kernel_calls.h"
#include "ops/kernels.h"
#include "ops/runtime.h"
#include "ops/thread_ranges.h"
#include "ops/vector_clones.h"

namespace minimax::kernels {

namespace {

constexpr int kPoints = 16;  // the transformed 4x4 tile
constexpr int kPadded = 8;   // padded input rows (and columns) the phase tiles cover
constexpr int64_t kImageBlock = 64;
// Thinner layers (C' = 4C in, K out) stay on the other routes: their GEMMs would be a few columns
// wide. The bound keeps them out; it was not tuned by measurement.
constexpr int64_t kMinChannels = 16;

// Sizes, and the strides of the transformed tensors: V [16][C'][N], U [16][K][C'], M [16][K][N].
// Each point's matrix is padded by a cache line, so that the 16 rows a transform writes at once
// are not a power of two apart, where they would share cache sets.
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

// ---- one dimension of each transform ----

inline void input_1d(const float d[4], float v[4]) {  // B^T d
  v[0] = d[0] - d[2];
  v[1] = d[1] + d[2];
  v[2] = d[2] - d[1];
  v[3] = d[3] - d[1];
}
inline void input_adjoint_1d(const float v[4], float d[4]) {  // B v
  d[0] = v[0];
  d[1] = v[1] - v[2] - v[3];
  d[2] = v[1] + v[2] - v[0];
  d[3] = v[3];
}
inline void kernel_1d(const float g[2], float u[4]) {  // G g
  u[0] = g[0];
  u[1] = 0.5f * (g[0] + g[1]);
  u[2] = 0.5f * (g[0] - g[1]);
  u[3] = g[1];
}
inline void kernel_adjoint_1d(const float u[4], float g[2]) {  // G^T u
  g[0] = u[0] + 0.5f * (u[1] + u[2]);
  g[1] = 0.5f * (u[1] - u[2]) + u[3];
}
inline void output_1d(const float m[4], float y[3]) {  // A^T m
  y[0] = m[0] + m[1] + m[2];
  y[1] = m[1] - m[2];
  y[2] = m[1] + m[2] + m[3];
}
inline void output_adjoint_1d(const float y[3], float m[4]) {  // A y
  m[0] = y[0];
  m[1] = y[0] + y[1] + y[2];
  m[2] = y[0] - y[1] + y[2];
  m[3] = y[2];
}

// out = T in T' for a 1-D transform f from I to O values, applied along rows, then columns.
template <int I, int O, typename F>
inline void apply_2d(const float in[I][I], float out[O][O], F f) {
  float rows[I][O];
  for (int i = 0; i < I; ++i) f(in[i], rows[i]);
  for (int j = 0; j < O; ++j) {
    float col[I], res[O];
    for (int i = 0; i < I; ++i) col[i] = rows[i][j];
    f(col, res);
    for (int i = 0; i < O; ++i) out[i][j] = res[i];
  }
}

// ---- the transforms ----
//
// Each pass splits its loops over the threads by output channel k or input channel c, always the
// same way (in_ranges), so that a thread's GEMMs read the transformed rows it wrote itself.

bool parallel(int64_t elements) {
  return elements >= kParallelMinElements;
}

int64_t image_blocks(const Dims& d) {
  return (d.n + kImageBlock - 1) / kImageBlock;
}

// A block of images' padded planes of one channel, image index innermost.
using PaddedBlock = float[kPadded][kPadded][kImageBlock];

// V from x, channels [c_begin, c_end): the phase tiles of every image, transformed.
MINIMAX_VECTOR_CLONES void transform_input(const Dims& d, const float* x, float* v, int64_t c_begin,
                                           int64_t c_end) {
  for (int64_t c = c_begin; c < c_end; ++c)
    for (int64_t b = 0; b < image_blocks(d); ++b) {
      const int64_t n0 = b * kImageBlock, count = std::min(kImageBlock, d.n - n0);
      PaddedBlock p;
      for (int64_t j = 0; j < count; ++j) {
        const float* plane = x + ((n0 + j) * d.c + c) * d.h * d.w;
        for (int64_t r = 0; r < kPadded; ++r)
          for (int64_t q = 0; q < kPadded; ++q) {
            const int64_t row = r - d.pad, col = q - d.pad;
            const bool inside = row >= 0 && row < d.h && col >= 0 && col < d.w;
            p[r][q][j] = inside ? plane[row * d.w + col] : 0.0f;
          }
      }
      for (int s = 0; s < 4; ++s) {
        float* out = v + (4 * c + s) * d.n + n0;
        for (int64_t j = 0; j < count; ++j) {
          float tile[4][4], t[4][4];
          for (int u = 0; u < 4; ++u)
            for (int q = 0; q < 4; ++q) tile[u][q] = p[2 * u + s / 2][2 * q + s % 2][j];
          apply_2d<4, 4>(tile, t, input_1d);
          for (int xi = 0; xi < kPoints; ++xi) out[xi * d.v_stride() + j] = t[xi / 4][xi % 4];
        }
      }
    }
}

// dx from dV, channels [c_begin, c_end): each phase tile's adjoint written back to the rows and
// columns it came from; input elements outside every tile (beyond padded row 7) get zero.
MINIMAX_VECTOR_CLONES void transform_input_adjoint(const Dims& d, const float* dv, float* dx,
                                                   int64_t c_begin, int64_t c_end) {
  for (int64_t c = c_begin; c < c_end; ++c)
    for (int64_t b = 0; b < image_blocks(d); ++b) {
      const int64_t n0 = b * kImageBlock, count = std::min(kImageBlock, d.n - n0);
      PaddedBlock p;
      for (int s = 0; s < 4; ++s) {
        const float* in = dv + (4 * c + s) * d.n + n0;
        for (int64_t j = 0; j < count; ++j) {
          float t[4][4], tile[4][4];
          for (int xi = 0; xi < kPoints; ++xi) t[xi / 4][xi % 4] = in[xi * d.v_stride() + j];
          apply_2d<4, 4>(t, tile, input_adjoint_1d);
          for (int u = 0; u < 4; ++u)
            for (int q = 0; q < 4; ++q) p[2 * u + s / 2][2 * q + s % 2][j] = tile[u][q];
        }
      }
      for (int64_t j = 0; j < count; ++j) {
        float* plane = dx + ((n0 + j) * d.c + c) * d.h * d.w;
        for (int64_t row = 0; row < d.h; ++row)
          for (int64_t col = 0; col < d.w; ++col) {
            const int64_t r = row + d.pad, q = col + d.pad;
            plane[row * d.w + col] = r < kPadded && q < kPadded ? p[r][q][j] : 0.0f;
          }
      }
    }
}

// U from w, output channels [k_begin, k_end): each phase's 2x2 kernel, transformed.
MINIMAX_VECTOR_CLONES void transform_kernel(const Dims& d, const float* w, float* u,
                                            int64_t k_begin, int64_t k_end) {
  for (int64_t k = k_begin; k < k_end; ++k)
    for (int64_t c = 0; c < d.c; ++c) {
      const float* kernel = w + (k * d.c + c) * 16;
      for (int s = 0; s < 4; ++s) {
        float g[2][2], t[4][4];
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j) g[i][j] = kernel[(2 * i + s / 2) * 4 + 2 * j + s % 2];
        apply_2d<2, 4>(g, t, kernel_1d);
        float* out = u + k * d.channels() + 4 * c + s;
        for (int xi = 0; xi < kPoints; ++xi) out[xi * d.u_stride()] = t[xi / 4][xi % 4];
      }
    }
}

// dw from dU, output channels [k_begin, k_end): each phase's 2x2 kernel gradient, written to the
// taps it came from.
MINIMAX_VECTOR_CLONES void transform_kernel_adjoint(const Dims& d, const float* du, float* dw,
                                                    int64_t k_begin, int64_t k_end) {
  for (int64_t k = k_begin; k < k_end; ++k)
    for (int64_t c = 0; c < d.c; ++c) {
      float* kernel = dw + (k * d.c + c) * 16;
      for (int s = 0; s < 4; ++s) {
        const float* in = du + k * d.channels() + 4 * c + s;
        float t[4][4], g[2][2];
        for (int xi = 0; xi < kPoints; ++xi) t[xi / 4][xi % 4] = in[xi * d.u_stride()];
        apply_2d<4, 2>(t, g, kernel_adjoint_1d);
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j) kernel[(2 * i + s / 2) * 4 + 2 * j + s % 2] = g[i][j];
      }
    }
}

// y from M, output channels [k_begin, k_end): each image's 3x3 tile, cropped to OH x OW, plus the
// bias when there is one.
MINIMAX_VECTOR_CLONES void transform_output(const Dims& d, const float* m, const float* bias,
                                            float* y, int64_t k_begin, int64_t k_end) {
  for (int64_t k = k_begin; k < k_end; ++k)
    for (int64_t b = 0; b < image_blocks(d); ++b) {
      const int64_t n0 = b * kImageBlock, count = std::min(kImageBlock, d.n - n0);
      const float* in = m + k * d.n + n0;
      float out[3][3][kImageBlock];
      for (int64_t j = 0; j < count; ++j) {
        float t[4][4], tile[3][3];
        for (int xi = 0; xi < kPoints; ++xi) t[xi / 4][xi % 4] = in[xi * d.m_stride() + j];
        apply_2d<4, 3>(t, tile, output_1d);
        for (int r = 0; r < 3; ++r)
          for (int q = 0; q < 3; ++q) out[r][q][j] = tile[r][q];
      }
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
MINIMAX_VECTOR_CLONES void transform_output_adjoint(const Dims& d, const float* dy, float* dm,
                                                    int64_t k_begin, int64_t k_end) {
  for (int64_t k = k_begin; k < k_end; ++k)
    for (int64_t b = 0; b < image_blocks(d); ++b) {
      const int64_t n0 = b * kImageBlock, count = std::min(kImageBlock, d.n - n0);
      float in[3][3][kImageBlock];
      for (int64_t j = 0; j < count; ++j) {
        const float* plane = dy + ((n0 + j) * d.k + k) * d.oh * d.ow;
        for (int64_t r = 0; r < 3; ++r)
          for (int64_t q = 0; q < 3; ++q)
            in[r][q][j] = r < d.oh && q < d.ow ? plane[r * d.ow + q] : 0.0f;
      }
      float* out = dm + k * d.n + n0;
      for (int64_t j = 0; j < count; ++j) {
        float tile[3][3], t[4][4];
        for (int r = 0; r < 3; ++r)
          for (int q = 0; q < 3; ++q) tile[r][q] = in[r][q][j];
        apply_2d<3, 4>(tile, t, output_adjoint_1d);
        for (int xi = 0; xi < kPoints; ++xi) out[xi * d.m_stride() + j] = t[xi / 4][xi % 4];
      }
    }
}

// ---- the 16 GEMMs ----

// One operand of the GEMMs: point xi's matrix starts at data + xi * stride.
struct PointMatrices {
  const float* data;
  int64_t ld, stride;
};

// C_xi rows [row_begin, row_end) = op(A_xi) op(B_xi) for each point xi, on the calling thread.
void point_gemms(bool ta, bool tb, int64_t row_begin, int64_t row_end, int64_t n, int64_t k,
                 PointMatrices a, PointMatrices b, float* c, int64_t ldc, int64_t c_stride) {
  const int64_t a_offset = ta ? row_begin : row_begin * a.ld;
  for (int xi = 0; xi < kPoints; ++xi)
    gemm_unrecorded(ta, tb, row_end - row_begin, n, k, 1.0f, a.data + xi * a.stride + a_offset,
                    a.ld, b.data + xi * b.stride, b.ld, 0.0f, c + xi * c_stride + row_begin * ldc,
                    ldc);
}

// ---- the transformed operands ----
//
// Each is a copy of a pass's operand kept like a reordered one (ops/dnnl/nn_kernels.h): U of a
// parameter once per training step; V of x and dM of dy by the convolution op's scope, so that
// backward weights reuses the forward's V and backward data's dM.

bool runs_parallel(const Dims& d) {
  return parallel(d.k * d.channels() * kPoints);
}

// kPoints rows of `stride` floats. The last dimension takes no memory (its stride is 0): it names
// the padding the copy was made with, so that one tensor's tiles for two paddings are two copies.
dnnl::memory::desc transformed_layout(int64_t stride, int64_t padding = 0) {
  return dnnl::memory::desc({kPoints, stride, padding + 1}, dnnl::memory::data_type::f32,
                            dnnl::memory::dims{stride, 1, 0});
}

Tensor transformed_kernel(const Dims& d, const Tensor& w) {
  return parameter_copy(w, transformed_layout(d.u_stride()), [&](float* u) {
    in_ranges(d.k, runs_parallel(d),
              [&](int64_t k0, int64_t k1) { transform_kernel(d, w.data(), u, k0, k1); });
  });
}

Tensor transformed_input(const Dims& d, const Tensor& x) {
  return activation_copy(x, transformed_layout(d.v_stride(), d.pad), [&](float* v) {
    in_ranges(d.c, runs_parallel(d),
              [&](int64_t c0, int64_t c1) { transform_input(d, x.data(), v, c0, c1); });
  });
}

Tensor transformed_output_grad(const Dims& d, const Tensor& dy) {
  return activation_copy(dy, transformed_layout(d.m_stride()), [&](float* m) {
    in_ranges(d.k, runs_parallel(d),
              [&](int64_t k0, int64_t k1) { transform_output_adjoint(d, dy.data(), m, k0, k1); });
  });
}

// ---- the passes' GEMMs and last transforms, uncounted ----
//
// Each thread runs its share of the GEMMs (one thread per GEMM: the matrices are small) and of the
// transform that reads their products, split as the operand it wrote was: by output channel, or
// by input channel for backward data, whose U rows all threads read.

void forward_products(const Dims& d, const float* u, const float* v, const float* bias, float* y) {
  const int64_t cp = d.channels();
  Tensor m = Tensor::empty({kPoints * d.m_stride()});
  in_ranges(d.k, runs_parallel(d), [&](int64_t k0, int64_t k1) {
    point_gemms(false, false, k0, k1, d.n, cp, {u, cp, d.u_stride()}, {v, d.n, d.v_stride()},
                m.data(), d.n, d.m_stride());
    transform_output(d, m.data(), bias, y, k0, k1);
  });
}

void backward_data_products(const Dims& d, const float* u, const float* m, float* dx) {
  const int64_t cp = d.channels();
  Tensor v = Tensor::empty({kPoints * d.v_stride()});
  in_ranges(d.c, runs_parallel(d), [&](int64_t c0, int64_t c1) {
    point_gemms(true, false, 4 * c0, 4 * c1, d.n, d.k, {u, cp, d.u_stride()},
                {m, d.n, d.m_stride()}, v.data(), d.n, d.v_stride());
    transform_input_adjoint(d, v.data(), dx, c0, c1);
  });
}

void backward_weights_products(const Dims& d, const float* v, const float* m, float* dw) {
  const int64_t cp = d.channels();
  Tensor u = Tensor::empty({kPoints * d.u_stride()});
  in_ranges(d.k, runs_parallel(d), [&](int64_t k0, int64_t k1) {
    point_gemms(false, true, k0, k1, cp, d.n, {m, d.n, d.m_stride()}, {v, d.n, d.v_stride()},
                u.data(), cp, d.u_stride());
    transform_kernel_adjoint(d, u.data(), dw, k0, k1);
  });
}

// Counts the direct convolution's flops (what the model computes, as on every other route),
// records the pass for a KernelCallRecorder, and runs products(d, inputs, output). The recorded
// call runs the products alone on buffers of its own, sized as `inputs` and `output`: the
// transformed operands are left out, as the reorders around oneDNN's primitives are.
template <typename Products>
void run_counted(const char* kind, const Dims& d, Products products,
                 const std::vector<Tensor>& inputs, const Tensor& output) {
  const int64_t flops = 2 * d.n * d.k * d.oh * d.ow * d.c * 16;
  count_flops(flops);
  if (recording_kernel_calls()) {
    KernelCall call{kind,
                    fmt::format("x {} w {} y {} stride 2 pad {} dilation 1 (Winograd F(3x3, 2x2))",
                                Shape{d.n, d.c, d.h, d.w}.str(), Shape{d.k, d.c, 4, 4}.str(),
                                Shape{d.n, d.k, d.oh, d.ow}.str(), d.pad),
                    num_threads(),
                    flops,
                    {}};
    std::vector<int64_t> sizes;
    for (const Tensor& t : inputs) sizes.push_back(t.numel());
    call.prepare = [d, sizes, out = output.numel(), products]() -> std::function<void()> {
      std::vector<Tensor> buffers;
      for (int64_t floats : sizes) buffers.push_back(call_buffer(floats));
      Tensor result = call_buffer(out);
      return [d, buffers, result, products] { products(d, buffers, result); };
    };
    record_kernel_call(std::move(call));
  }
  products(d, inputs, output);
}

}  // namespace

bool winograd_applies(const Shape& x, const Shape& w, const Shape& y, const ConvGeometry& g) {
  return g.stride == 2 && g.dilation == 1 && g.groups == 1 && w[2] == 4 && w[3] == 4 && y[2] <= 3 &&
         y[3] <= 3 && 4 * x[1] >= kMinChannels && w[0] >= kMinChannels;
}

void winograd_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                      const ConvGeometry& g) {
  const Dims d = dims_of(x.shape(), w.shape(), y.shape(), g);
  auto products = [](const Dims& d, const std::vector<Tensor>& in, const Tensor& out) {
    const float* bias = in.size() > 2 ? in[2].data() : nullptr;
    forward_products(d, in[0].data(), in[1].data(), bias, out.data());
  };
  std::vector<Tensor> in{transformed_kernel(d, w), transformed_input(d, x)};
  if (bias.defined()) in.push_back(bias);
  run_counted("conv forward", d, products, in, y);
}

void winograd_backward_data(const Tensor& gy, const Tensor& w, const Tensor& gx,
                            const ConvGeometry& g) {
  const Dims d = dims_of(gx.shape(), w.shape(), gy.shape(), g);
  auto products = [](const Dims& d, const std::vector<Tensor>& in, const Tensor& out) {
    backward_data_products(d, in[0].data(), in[1].data(), out.data());
  };
  run_counted("conv backward data", d, products,
              {transformed_kernel(d, w), transformed_output_grad(d, gy)}, gx);
}

void winograd_backward_weights(const Tensor& x, const Tensor& gy, const Tensor& gw,
                               const ConvGeometry& g) {
  const Dims d = dims_of(x.shape(), gw.shape(), gy.shape(), g);
  auto products = [](const Dims& d, const std::vector<Tensor>& in, const Tensor& out) {
    backward_weights_products(d, in[0].data(), in[1].data(), out.data());
  };
  run_counted("conv backward weights", d, products,
              {transformed_input(d, x), transformed_output_grad(d, gy)}, gw);
}

}  // namespace minimax::kernels
