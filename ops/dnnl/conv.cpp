// Convolution forward, backward-data and backward-weights on plain nchw / oihw tensors.
//
// Three routes. A stride-2 convolution with a 4x4 kernel and at most 3x3 outputs runs Winograd's
// F(3x3, 2x2) on its input's phases, our transforms around 16 sgemm calls (ops/winograd_conv.h).
// A kernel that covers the whole unpadded input (a 1x1 output: the first layer of a
// DCGAN generator, the last of its discriminator) is a fully connected layer, so it is one sgemm
// per pass (ungrouped only: groups make the matrix block-diagonal). Everything else runs on oneDNN
// convolutions created with format `any`: oneDNN then picks its blocked layouts (nChw16c and
// friends), whose direct JIT kernels are several times faster than the im2col + gemm it falls back
// to on plain layouts. Our tensors stay plain; each pass reorders its operands into the chosen
// layouts and its result back, in scratch memory from the caching allocator, which costs far less
// than the convolution it enables. A stride-2 convolution with an even kernel and a narrow output
// runs its forward and backward data as the stride-1 convolution of its input's four phases (the
// phase-split route, below), where oneDNN's kernels are faster.
#include <fmt/format.h>
#include <dnnl.hpp>

#include <algorithm>
#include <atomic>
#include <optional>

#include "ops/dnnl/context.h"
#include "ops/dnnl/nn_kernels.h"
#include "ops/kernel_calls.h"
#include "ops/kernels.h"
#include "ops/runtime.h"
#include "ops/winograd_conv.h"

namespace minimax::kernels {

using namespace dnnl_ctx;
using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;

// ---- reordered activations, shared between passes ----

namespace {

// The memos of the open scopes, innermost last.
thread_local std::vector<ConvReorderMemo*> open_memos;
// The parameter memo while it is open, or null.
thread_local ConvReorderMemo* parameter_memo = nullptr;

}  // namespace

class ConvReorderMemo {
 public:
  // The copy of `source` (seen through `plain`) in layout `chosen`, or an undefined tensor. A
  // copy made before the source last changed in place (its version) is no copy of it.
  Tensor find(const Tensor& source, const memory::desc& plain, const memory::desc& chosen) {
    const Entry* e = entry(source, plain, chosen);
    return e && e->version == source.version() ? e->copy : Tensor();
  }
  void remember(const Tensor& source, const memory::desc& plain, const memory::desc& chosen,
                const Tensor& copy) {
    if (Entry* e = entry(source, plain, chosen)) {  // a copy of an older version
      e->version = source.version();
      e->copy = copy;
      return;
    }
    entries_.push_back({source.detach(), source.version(), plain, chosen, copy});
  }
  void clear() { entries_.clear(); }  // keeps the capacity for the next opening

 private:
  struct Entry {
    Tensor source;  // detached: it keeps the storage, not the graph, alive
    uint64_t version;
    memory::desc plain, chosen;
    Tensor copy;
  };
  Entry* entry(const Tensor& source, const memory::desc& plain, const memory::desc& chosen) {
    for (Entry& e : entries_)
      if (e.source.data() == source.data() && e.plain == plain && e.chosen == chosen) return &e;
    return nullptr;
  }
  std::vector<Entry> entries_;
};

ConvReorderScope::ConvReorderScope(ConvReorderMemoPtr memo)
    : memo_(memo ? std::move(memo) : std::make_shared<ConvReorderMemo>()) {
  open_memos.push_back(memo_.get());
}

ConvReorderScope::~ConvReorderScope() {
  open_memos.pop_back();
}

bool open_parameter_memo() {
  if (parameter_memo) return false;
  // One memo per thread, reused: a training step opens it every time.
  thread_local ConvReorderMemo memo;
  parameter_memo = &memo;
  return true;
}

void close_parameter_memo() {
  parameter_memo->clear();
  parameter_memo = nullptr;
}

namespace {

// Searches the open scopes from the innermost out; a copy found is remembered by all of them.
Tensor find_reordered(const Tensor& t, const memory::desc& plain, const memory::desc& chosen) {
  for (auto it = open_memos.rbegin(); it != open_memos.rend(); ++it) {
    Tensor copy = (*it)->find(t, plain, chosen);
    if (!copy.defined()) continue;
    for (ConvReorderMemo* m : open_memos) m->remember(t, plain, chosen, copy);
    return copy;
  }
  return Tensor();
}

void remember_reordered(const Tensor& t, const memory::desc& plain, const memory::desc& chosen,
                        const Tensor& copy) {
  for (ConvReorderMemo* m : open_memos) m->remember(t, plain, chosen, copy);
}

// ---- the fully connected case ----

// True when the kernel spans the whole input with no padding: y is [N, O, 1, 1] and
// y[n, o] = <x[n], w[o]> over C*kh*kw, whatever the stride.
bool is_fully_connected(const Shape& x, const Shape& w, const ConvGeometry& g) {
  return g.groups == 1 && g.padding == 0 && g.dilation == 1 && x[2] == w[2] && x[3] == w[3];
}

int64_t inner_size(const Shape& w) {
  return w[1] * w[2] * w[3];
}

// ---- the phase-split case ----
//
// A stride-2 convolution whose kernel is even in both dimensions is a stride-1 convolution of its
// input's four phases (space to depth), with the kernel split the same way and no padding:
//   x'[n, 4c + 2a + b, i, j] = x[n, c, 2i + a - pad, 2j + b - pad]  (zero outside x),
//   w'[o, 4c + 2a + b, d, e] = w[o, c, 2d + a, 2e + b],
// so that sum over c, kh, kw of w[o,c,kh,kw] x[n,c,2h+kh-pad,2v+kw-pad] (kh = 2d + a, kw = 2e + b)
// is sum over (c,a,b), d, e of w'[o,(c,a,b),d,e] x'[n,(c,a,b),h+d,v+e]: the same products, summed
// in another order. y keeps its shape. oneDNN's direct kernels block over the output width, and
// with 4 output columns or fewer its stride-2 kernels starve: on a 2-core AVX-512 machine
// (oneDNN 2.6, batch 64, each pass timed alone) a 4x4 kernel ran 160-280 GFLOP/s where the split
// problem ran 330-400. Forward: [128,7,7] -> [256,3,3] 3.42 -> 1.73 ms, [128,8,8] -> [256,4,4] 3.88
// -> 2.67, [128,5,5] -> [256,2,2] 1.65 -> 0.82, [256,6,6] -> [512,3,3] 9.34 -> 7.27; backward data
// 2.55 -> 1.72, 3.25 -> 2.64, 1.18 -> 0.88, 7.83 -> 6.27. With 7 output columns ([64,14,14] ->
// [128,7,7]) the two were even, and backward weights was slower split at every shape (2.98 ->
// 3.25 ms for the first), so it keeps the direct route.

// The widest output the route takes (the measurements above). From 4 input channels on, the split
// input has a block of 16 channels, so backward data stays on the blocked layouts
// (few_input_channels); an image layer with fewer keeps the direct route.
constexpr int64_t kMaxSplitOutputWidth = 4;
constexpr int64_t kMinSplitChannels = 4;

bool splits_phases(const Shape& x, const Shape& w, const Shape& y, const ConvGeometry& g) {
  return g.groups == 1 && g.dilation == 1 && g.stride == 2 && w[2] % 2 == 0 && w[3] % 2 == 0 &&
         x[1] >= kMinSplitChannels && y[3] <= kMaxSplitOutputWidth;
}

// The split tensor [N,4C,Hs,Ws] in a layout blocked by `block` channels (oneDNN's aBcd16b for 16,
// and 1 for plain nchw): split channel c' of image n, at (i,j), is at
// ((n 4C/block + c'/block) Hs Ws + i Ws + j) block + c' % block. Writing into a blocked layout
// directly saves a reorder after the split. The loops walk groups of G = max(block, 4) split
// channels, which hold G/4 whole input channels, with one table for every group: for each element
// of the group's split block, in memory order, its offset in the group's input planes (or -1 for
// the padding).
struct PhaseTable {
  int64_t group;                // G split channels, G/4 input channels
  std::vector<int64_t> source;  // G Hs Ws entries
};

PhaseTable phase_table(int64_t H, int64_t W, int64_t pad, int64_t Hs, int64_t Ws, int64_t block) {
  const int64_t group = std::max<int64_t>(block, 4), plane = Hs * Ws;
  PhaseTable t{group, std::vector<int64_t>(group * plane)};
  for (int64_t q = 0; q < group; ++q)  // split channel q of the group: input channel q/4, phase q%4
    for (int64_t i = 0; i < Hs; ++i)
      for (int64_t j = 0; j < Ws; ++j) {
        const int64_t h = 2 * i + (q % 4) / 2 - pad, v = 2 * j + q % 2 - pad;
        const int64_t at = ((q / block) * plane + i * Ws + j) * block + q % block;
        t.source[at] = h >= 0 && h < H && v >= 0 && v < W ? (q / 4) * H * W + h * W + v : -1;
      }
  return t;
}

// For each group g: dst[g out + k] = src[g in + table[k]], or zero where table[k] is -1, out being
// the table's size. With a phase table it splits; with its inverse it merges.
void gather_groups(const float* src, int64_t in, float* dst, const std::vector<int64_t>& table,
                   int64_t groups) {
  const int64_t out = static_cast<int64_t>(table.size());
  const int64_t* from = table.data();
#pragma omp parallel for if (groups * out >= kParallelMinElements)
  for (int64_t g = 0; g < groups; ++g) {
    const float* s = src + g * in;
    float* d = dst + g * out;
    for (int64_t k = 0; k < out; ++k) d[k] = from[k] >= 0 ? s[from[k]] : 0.0f;
  }
}

// ---- the oneDNN case ----

// Which tensor a pass splits into phases: none (empty shapes), or the caller's `original` into
// `split`, the original padding absorbed (0 for a weight).
struct PhaseSpec {
  int64_t pad = 0;
  Shape original, split;
};

// How an operand's plain tensor maps onto the primitive's: as it is, or split into phases. `desc`
// is the split tensor's plain layout. `block` is the layout our loop writes (or reads) the split
// in: the primitive's own when it is channels blocked by 8 or 16, else plain (1), with a reorder
// to or from the primitive's. `table` is the gather for one group of `groups`: the phase table of
// an input, its inverse for an output; `source_stride` is one group's extent in the tensor read.
struct Phases {
  memory::desc desc;
  int64_t block = 1, groups = 0, source_stride = 0;
  std::vector<int64_t> table;
  bool split() const { return groups > 0; }
};

// The channel block of `chosen` when it is oneDNN's aBcd8b or aBcd16b for the split shape and the
// channels fill whole blocks; else 1.
int64_t channel_block(const memory::desc& chosen, const Shape& split) {
  for (auto [block, tag] :
       {std::pair{16, memory::format_tag::aBcd16b}, std::pair{8, memory::format_tag::aBcd8b}})
    if (split[1] % block == 0 &&
        chosen == memory::desc(dims_of(split), memory::data_type::f32, tag))
      return block;
  return 1;
}

// The phases of `spec` for a pass whose layout is `chosen`: for an input, the split written from
// the caller's tensor; for an output, the caller's tensor merged from the split, an element no
// phase holds (a row or column the stride never reaches) zero.
Phases make_phases(const PhaseSpec& spec, const memory::desc& chosen, bool output) {
  if (spec.split.empty()) return {};
  const Shape &x = spec.original, &s = spec.split;
  Phases p{plain_desc(s), channel_block(chosen, s), 0, 0, {}};
  const PhaseTable t = phase_table(x[2], x[3], spec.pad, s[2], s[3], p.block);
  const int64_t split_group = t.group * s[2] * s[3], original_group = t.group / 4 * x[2] * x[3];
  p.groups = s[0] * s[1] / t.group;
  if (!output) {
    p.table = t.source;
    p.source_stride = original_group;
    return p;
  }
  p.table.assign(original_group, -1);
  for (int64_t k = 0; k < split_group; ++k)
    if (t.source[k] >= 0) p.table[t.source[k]] = k;
  p.source_stride = split_group;
  return p;
}

// One operand of a pass: the layout the primitive chose and, when that is not our plain layout,
// the reorders between the two. With phases, the reorders run between the split plain tensor and
// the chosen layout, and our loops between the split and the caller's tensor.
struct Operand {
  int arg;
  memory::desc plain, chosen;
  dnnl::reorder into_chosen, out_of_chosen;  // built when the layouts differ
  Phases phases;
};

Operand make_operand(int arg, const memory::desc& plain, const memory::desc& chosen, bool output,
                     const PhaseSpec& spec = {}) {
  Operand o{arg, plain, chosen, {}, {}, make_phases(spec, chosen, output)};
  const memory::desc& from = o.phases.split() ? o.phases.desc : plain;
  if (from == chosen || o.phases.block > 1) return o;
  if (output)
    o.out_of_chosen =
        dnnl::reorder(dnnl::reorder::primitive_desc(engine(), chosen, engine(), from));
  else
    o.into_chosen = dnnl::reorder(dnnl::reorder::primitive_desc(engine(), from, engine(), chosen));
  return o;
}

// A convolution problem as oneDNN states it.
struct Problem {
  Shape xs, ws, ys;  // ws: oneDNN's weight shape
  memory::dims strides, dilates, pad_l, pad_r;
};

// A primitive with its operands, the last one the output, and the problem it solves (a split one
// for a pass on the phase-split route).
struct Pass {
  dnnl::primitive primitive;
  std::vector<Operand> operands;
  Problem problem;
  bool split() const {
    return std::any_of(operands.begin(), operands.end(),
                       [](const Operand& o) { return o.phases.split(); });
  }
};

std::atomic<int64_t> input_reorders{0};

// A buffer for layout d from the caching allocator, held in `scratch` until the pass is done.
Tensor scratch_buffer(const memory::desc& d, std::vector<Tensor>& scratch) {
  Tensor buffer = Tensor::empty(Shape{static_cast<int64_t>(d.get_size() / sizeof(float))});
  scratch.push_back(buffer);
  return buffer;
}

// The memo that keeps a parameter's copies, when t is one (a leaf that requires grad) and the
// parameter memo is open; else null.
ConvReorderMemo* memo_for_parameter(const Tensor& t) {
  return t.is_leaf() && t.requires_grad() ? parameter_memo : nullptr;
}

// Writes t into `chosen`, operand o's layout: one reorder, or the phases split and then reordered.
void into_chosen(const Operand& o, const Tensor& t, memory chosen, std::vector<Tensor>& scratch) {
  if (!o.phases.split()) {
    memory plain = wrap(o.plain, t.data());
    o.into_chosen.execute(stream(), plain, chosen);
    return;
  }
  const Phases& ph = o.phases;
  if (!o.into_chosen) {  // the split is written in the chosen layout itself
    auto* out = static_cast<float*>(chosen.get_data_handle());
    gather_groups(t.data(), ph.source_stride, out, ph.table, ph.groups);
    return;
  }
  Tensor buffer = scratch_buffer(ph.desc, scratch);
  gather_groups(t.data(), ph.source_stride, buffer.data(), ph.table, ph.groups);
  memory plain_split = wrap(ph.desc, buffer.data());
  o.into_chosen.execute(stream(), plain_split, chosen);
}

// Writes a pass's output from `chosen`, operand o's layout, into t: one reorder, or the phases
// reordered and then merged.
void out_of_chosen(const Operand& o, memory chosen, const Tensor& t, std::vector<Tensor>& scratch) {
  if (!o.phases.split()) {
    memory plain = wrap(o.plain, t.data());
    if (o.out_of_chosen) o.out_of_chosen.execute(stream(), chosen, plain);
    return;
  }
  const float* split = static_cast<const float*>(chosen.get_data_handle());
  if (o.out_of_chosen) {
    Tensor buffer = scratch_buffer(o.phases.desc, scratch);
    memory plain_split = wrap(o.phases.desc, buffer.data());
    o.out_of_chosen.execute(stream(), chosen, plain_split);
    split = buffer.data();
  }
  stream().wait();  // our loop reads what the stream wrote
  const Phases& ph = o.phases;
  gather_groups(split, ph.source_stride, t.data(), ph.table, ph.groups);
}

// The input of operand o, tensor t, in the layout its pass chose: t itself, a copy an open scope
// remembers, or a new reorder (held in `scratch` until the pass is done, and remembered by the
// open scopes when t is an activation, by the parameter scope when it is a parameter).
memory input_memory(const Operand& o, const Tensor& t, std::vector<Tensor>& scratch) {
  memory plain = wrap(o.plain, t.data());
  if (o.plain == o.chosen) return plain;
  const bool activation = o.arg == DNNL_ARG_SRC || o.arg == DNNL_ARG_DIFF_DST;
  ConvReorderMemo* parameters = o.arg == DNNL_ARG_WEIGHTS ? memo_for_parameter(t) : nullptr;
  Tensor copy = activation   ? find_reordered(t, o.plain, o.chosen)
                : parameters ? parameters->find(t, o.plain, o.chosen)
                             : Tensor();
  if (copy.defined()) return wrap(o.chosen, copy.data());
  copy = scratch_buffer(o.chosen, scratch);
  memory chosen = wrap(o.chosen, copy.data());
  into_chosen(o, t, chosen, scratch);
  input_reorders.fetch_add(1, std::memory_order_relaxed);
  if (activation) remember_reordered(t, o.plain, o.chosen, copy);
  if (parameters) parameters->remember(t, o.plain, o.chosen, copy);
  return chosen;
}

// Runs a pass on plain tensors (tensors[i] for operands[i]): inputs are reordered (or split) into
// the chosen layouts, the primitive runs, and the output is reordered (or merged) back. `timed()`,
// called just before the primitive runs, returns the KernelCallTimer that times it: the primitive
// alone, as its recorded call runs it.
template <typename Timed>
void run(const Pass& pass, const std::vector<Tensor>& tensors, Timed timed) {
  std::vector<Tensor> scratch;  // keeps the reordered copies alive until the stream is done
  std::unordered_map<int, memory> args;
  const size_t inputs = pass.operands.size() - 1;
  for (size_t i = 0; i < inputs; ++i)
    args.emplace(pass.operands[i].arg, input_memory(pass.operands[i], tensors[i], scratch));
  const Operand& out = pass.operands.back();
  if (out.plain == out.chosen) {
    args.emplace(out.arg, wrap(out.plain, tensors.back().data()));
  } else {
    args.emplace(out.arg, wrap(out.chosen, scratch_buffer(out.chosen, scratch).data()));
  }
  {
    const KernelCallTimer timer = timed();
    pass.primitive.execute(stream(), args);
    stream().wait();
  }
  out_of_chosen(out, args.at(out.arg), tensors.back(), scratch);
  stream().wait();
}

memory::desc any_desc(const Shape& shape) {
  return memory::desc(dims_of(shape), memory::data_type::f32, memory::format_tag::any);
}

// oneDNN's shape of the weight [O,C/g,kh,kw]: [g,O/g,C/g,kh,kw] when grouped. Both are the same
// row-major memory, so PyTorch's grouped weights need no reordering of their own.
Shape onednn_weight_shape(const Shape& w, int64_t groups) {
  if (groups == 1) return w;
  return {groups, w[0] / groups, w[1], w[2], w[3]};
}

// Everything for one problem (x shape, w shape, geometry). The bias-free forward's primitive
// descriptor is the hint both backward passes require; each pass is built on first use. With a
// phase split, forward and backward data run the split problem, on its own hint, and backward
// weights the direct one.
struct ConvEntry {
  Problem direct;
  std::optional<Problem> split;
  int64_t split_pad = 0;       // the padding the split absorbs
  memory::desc x, w, y, bias;  // plain, the caller's shapes
  dnnl::convolution_forward::primitive_desc hint, split_hint;
  Pass forward, forward_bias, backward_data, backward_weights;

  const Problem& data_problem() const { return split ? *split : direct; }
  const dnnl::convolution_forward::primitive_desc& data_hint() const {
    return split ? split_hint : hint;
  }
  // How the data passes see x and w: as they are, or split.
  PhaseSpec x_phases() const {
    return split ? PhaseSpec{split_pad, direct.xs, split->xs} : PhaseSpec{};
  }
  PhaseSpec w_phases() const { return split ? PhaseSpec{0, direct.ws, split->ws} : PhaseSpec{}; }
};

dnnl::convolution_forward::desc forward_desc(const Problem& p, const memory::desc* bias) {
  const auto prop = prop_kind::forward_training;
  const auto alg = algorithm::convolution_direct;
  memory::desc x = any_desc(p.xs), w = any_desc(p.ws), y = any_desc(p.ys);
  if (bias) return {prop, alg, x, w, *bias, y, p.strides, p.dilates, p.pad_l, p.pad_r};
  return {prop, alg, x, w, y, p.strides, p.dilates, p.pad_l, p.pad_r};
}

ConvEntry make_entry(const Shape& x, const Shape& w, const Shape& y, const ConvGeometry& g) {
  ConvEntry e;
  // The same padding on the far side: oneDNN, like PyTorch, floors the output size, so the rows a
  // stride does not reach are simply never read. oneDNN counts the dilation's gaps: 0 is dense.
  e.direct = {x,
              onednn_weight_shape(w, g.groups),
              y,
              {g.stride, g.stride},
              {g.dilation - 1, g.dilation - 1},
              {g.padding, g.padding},
              {g.padding, g.padding}};
  e.x = plain_desc(x);
  e.w = plain_desc(e.direct.ws);
  e.y = plain_desc(y);
  e.bias = plain_desc(Shape{y[1]});
  e.hint = dnnl::convolution_forward::primitive_desc(forward_desc(e.direct, nullptr), engine());
  if (splits_phases(x, w, y, g)) {
    // x' [N,4C,OH-1+kh/2,OW-1+kw/2] and w' [O,4C,kh/2,kw/2], stride 1, no padding; y unchanged.
    e.split_pad = g.padding;
    e.split = Problem{{x[0], 4 * x[1], y[2] - 1 + w[2] / 2, y[3] - 1 + w[3] / 2},
                      {w[0], 4 * w[1], w[2] / 2, w[3] / 2},
                      y,
                      {1, 1},
                      {0, 0},
                      {0, 0},
                      {0, 0}};
    e.split_hint =
        dnnl::convolution_forward::primitive_desc(forward_desc(*e.split, nullptr), engine());
  }
  return e;
}

// The entry for x, w and y's shapes. y is determined by the other two, so it is not in the key.
ConvEntry& conv_entry(const Shape& x, const Shape& w, const Shape& y, const ConvGeometry& g) {
  CacheKey key{g.stride, g.padding, g.dilation, g.groups};
  for (int64_t d : x) key.push_back(d);
  for (int64_t d : w) key.push_back(d);
  return cached<ConvEntry>(std::move(key), [&] { return make_entry(x, w, y, g); });
}

Pass make_forward(const ConvEntry& e, bool bias) {
  const dnnl::convolution_forward::primitive_desc pd =
      bias ? dnnl::convolution_forward::primitive_desc(forward_desc(e.data_problem(), &e.bias),
                                                       engine())
           : e.data_hint();
  Pass p{dnnl::convolution_forward(pd), {}, e.data_problem()};
  p.operands.push_back(make_operand(DNNL_ARG_SRC, e.x, pd.src_desc(), false, e.x_phases()));
  p.operands.push_back(make_operand(DNNL_ARG_WEIGHTS, e.w, pd.weights_desc(), false, e.w_phases()));
  if (bias) p.operands.push_back(make_operand(DNNL_ARG_BIAS, e.bias, pd.bias_desc(), false));
  p.operands.push_back(make_operand(DNNL_ARG_DST, e.y, pd.dst_desc(), true));
  return p;
}

// True when x has fewer than a block of 16 channels per group: an image layer, 1 gray or 3 RGB.
// The blocked layouts pad the channels to 16, which backward data then computes: oneDNN's direct
// kernel took 1.3 ms for [64,1,28,28] from [64,64,14,14] (3 channels at 32x32: 1.9 ms), its
// im2col + gemm on the plain layouts 0.26 ms (0.78 ms), on a 2-core AVX-512 machine. Forward and
// backward weights on the same shapes are faster blocked, so only backward data stays plain.
// A split problem has 4 times the channels, at least 16 (kMinSplitChannels).
bool few_input_channels(const ConvEntry& e) {
  const Shape& ws = e.data_problem().ws;
  return ws[ws.size() - 3] < 16;
}

Pass make_backward_data(const ConvEntry& e) {
  const Problem& q = e.data_problem();
  const bool plain = few_input_channels(e);
  dnnl::convolution_backward_data::desc d(
      algorithm::convolution_direct, plain ? e.x : any_desc(q.xs), plain ? e.w : any_desc(q.ws),
      plain ? e.y : any_desc(q.ys), q.strides, q.dilates, q.pad_l, q.pad_r);
  dnnl::convolution_backward_data::primitive_desc pd(d, engine(), e.data_hint());
  Pass p{dnnl::convolution_backward_data(pd), {}, q};
  p.operands.push_back(make_operand(DNNL_ARG_DIFF_DST, e.y, pd.diff_dst_desc(), false));
  p.operands.push_back(make_operand(DNNL_ARG_WEIGHTS, e.w, pd.weights_desc(), false, e.w_phases()));
  p.operands.push_back(
      make_operand(DNNL_ARG_DIFF_SRC, e.x, pd.diff_src_desc(), true, e.x_phases()));
  return p;
}

Pass make_backward_weights(const ConvEntry& e) {
  const Problem& q = e.direct;
  dnnl::convolution_backward_weights::desc d(algorithm::convolution_direct, any_desc(q.xs),
                                             any_desc(q.ws), any_desc(q.ys), q.strides, q.dilates,
                                             q.pad_l, q.pad_r);
  dnnl::convolution_backward_weights::primitive_desc pd(d, engine(), e.hint);
  Pass p{dnnl::convolution_backward_weights(pd), {}, q};
  p.operands.push_back(make_operand(DNNL_ARG_SRC, e.x, pd.src_desc(), false));
  p.operands.push_back(make_operand(DNNL_ARG_DIFF_DST, e.y, pd.diff_dst_desc(), false));
  p.operands.push_back(make_operand(DNNL_ARG_DIFF_WEIGHTS, e.w, pd.diff_weights_desc(), true));
  return p;
}

// The pass for a KernelCallRecorder: the convolution primitive alone, on buffers of its own in the
// layouts it chose. The reorders into and out of them are left out: they are overhead a model
// that kept its activations in the blocked layouts would not pay.
KernelCallTimer record_pass(const char* kind, const Pass& pass, int64_t flops) {
  const Problem& q = pass.problem;
  KernelCall call{kind,
                  fmt::format("x {} w {} y {} stride {} pad {} dilation {}{}{}", q.xs.str(),
                              q.ws.str(), q.ys.str(), q.strides[0], q.pad_l[0], q.dilates[0] + 1,
                              pass.operands.size() == 4 ? " bias" : "",
                              pass.split() ? " (the phases of a stride-2 convolution)" : ""),
                  static_cast<int>(current_threads()),
                  flops,
                  {}};
  call.prepare = [pass]() -> std::function<void()> {
    std::vector<Tensor> buffers;
    std::unordered_map<int, memory> args;
    for (const Operand& o : pass.operands) {
      buffers.push_back(call_buffer(static_cast<int64_t>(o.chosen.get_size() / sizeof(float))));
      args.emplace(o.arg, wrap(o.chosen, buffers.back().data()));
    }
    return [pass, buffers, args] {
      pass.primitive.execute(stream(), args);
      stream().wait();
    };
  };
  return record_kernel_call(std::move(call));
}

// Counts the pass's flops, records it when a recorder listens, and runs it.
void run_counted(const char* kind, const Pass& pass, int64_t flops,
                 const std::vector<Tensor>& tensors) {
  count_flops(flops);
  run(pass, tensors, [&] {
    return recording_kernel_calls() ? record_pass(kind, pass, flops) : KernelCallTimer();
  });
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                    const ConvGeometry& g) {
  if (y.numel() == 0) return;
  if (is_fully_connected(x.shape(), w.shape(), g)) {
    const int64_t n = x.size(0), o = w.size(0), k = inner_size(w.shape());
    float beta = 0;
    if (bias.defined()) {
      for (int64_t i = 0; i < n; ++i) std::copy_n(bias.data(), o, y.data() + i * o);
      beta = 1;
    }
    gemm(false, true, n, o, k, 1, x.data(), k, w.data(), k, beta, y.data(), o);
    return;
  }
  if (winograd_applies(x.shape(), w.shape(), y.shape(), g)) {
    winograd_forward(x, w, bias, y, g);
    return;
  }
  const int64_t flops = 2 * y.numel() * w.size(1) * w.size(2) * w.size(3);
  ConvEntry& e = conv_entry(x.shape(), w.shape(), y.shape(), g);
  if (bias.defined()) {
    if (!e.forward_bias.primitive) e.forward_bias = make_forward(e, true);
    run_counted("conv forward", e.forward_bias, flops, {x, w, bias, y});
    return;
  }
  if (!e.forward.primitive) e.forward = make_forward(e, false);
  run_counted("conv forward", e.forward, flops, {x, w, y});
}

void conv2d_backward_data(const Tensor& gy, const Tensor& w, const Tensor& gx,
                          const ConvGeometry& g) {
  if (gx.numel() == 0) return;
  if (is_fully_connected(gx.shape(), w.shape(), g)) {
    const int64_t n = gx.size(0), o = w.size(0), k = inner_size(w.shape());
    gemm(false, false, n, k, o, 1, gy.data(), o, w.data(), k, 0, gx.data(), k);
    return;
  }
  if (winograd_applies(gx.shape(), w.shape(), gy.shape(), g)) {
    winograd_backward_data(gy, w, gx, g);
    return;
  }
  const int64_t flops = 2 * gy.numel() * w.size(1) * w.size(2) * w.size(3);
  ConvEntry& e = conv_entry(gx.shape(), w.shape(), gy.shape(), g);
  if (!e.backward_data.primitive) e.backward_data = make_backward_data(e);
  run_counted("conv backward data", e.backward_data, flops, {gy, w, gx});
}

void conv2d_backward_weights(const Tensor& x, const Tensor& gy, const Tensor& gw,
                             const ConvGeometry& g) {
  if (gw.numel() == 0) return;
  if (x.numel() == 0) {  // an empty batch contributes nothing
    std::fill_n(gw.data(), gw.numel(), 0.0f);
    return;
  }
  if (is_fully_connected(x.shape(), gw.shape(), g)) {
    const int64_t n = x.size(0), o = gw.size(0), k = inner_size(gw.shape());
    gemm(true, false, o, k, n, 1, gy.data(), o, x.data(), k, 0, gw.data(), k);
    return;
  }
  if (winograd_applies(x.shape(), gw.shape(), gy.shape(), g)) {
    winograd_backward_weights(x, gy, gw, g);
    return;
  }
  const int64_t flops = 2 * gy.numel() * gw.size(1) * gw.size(2) * gw.size(3);
  ConvEntry& e = conv_entry(x.shape(), gw.shape(), gy.shape(), g);
  if (!e.backward_weights.primitive) e.backward_weights = make_backward_weights(e);
  run_counted("conv backward weights", e.backward_weights, flops, {x, gy, gw});
}

bool conv2d_add_backward_weights(const Tensor& x, const Tensor& gy, const Tensor& gw,
                                 const ConvGeometry& g) {
  if (x.numel() == 0 || !winograd_applies(x.shape(), gw.shape(), gy.shape(), g)) return false;
  winograd_backward_weights(x, gy, gw, g, true);
  return true;
}

namespace {

// A new copy in `layout`, written by `write`, counted as an input reorder.
Tensor new_copy(const memory::desc& layout, const std::function<void(float*)>& write) {
  Tensor copy = Tensor::empty(Shape{static_cast<int64_t>(layout.get_size() / sizeof(float))});
  write(copy.data());
  input_reorders.fetch_add(1, std::memory_order_relaxed);
  return copy;
}

}  // namespace

Tensor parameter_copy(const Tensor& t, const memory::desc& layout,
                      const std::function<void(float*)>& write) {
  ConvReorderMemo* memo = memo_for_parameter(t);
  const memory::desc plain = plain_desc(t.shape());
  Tensor copy = memo ? memo->find(t, plain, layout) : Tensor();
  if (copy.defined()) return copy;
  copy = new_copy(layout, write);
  if (memo) memo->remember(t, plain, layout, copy);
  return copy;
}

Tensor activation_copy(const Tensor& t, const memory::desc& layout,
                       const std::function<void(float*)>& write) {
  const memory::desc plain = plain_desc(t.shape());
  Tensor copy = find_reordered(t, plain, layout);
  if (copy.defined()) return copy;
  copy = new_copy(layout, write);
  remember_reordered(t, plain, layout, copy);
  return copy;
}

int64_t conv_input_reorders() {
  return input_reorders.load(std::memory_order_relaxed);
}

}  // namespace minimax::kernels
