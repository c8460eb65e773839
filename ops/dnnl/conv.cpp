// Convolution forward, backward-data and backward-weights on plain nchw / oihw tensors.
//
// Two routes. A kernel that covers the whole unpadded input (a 1x1 output: the first layer of a
// DCGAN generator, the last of its discriminator) is a fully connected layer, so it is one sgemm
// per pass (ungrouped only: groups make the matrix block-diagonal). Everything else runs on oneDNN
// convolutions created with format `any`: oneDNN then picks its blocked layouts (nChw16c and
// friends), whose direct JIT kernels are several times faster than the im2col + gemm it falls back
// to on plain layouts. Our tensors stay plain; each pass reorders its operands into the chosen
// layouts and its result back, in scratch memory from the caching allocator, which costs far less
// than the convolution it enables.
#include <fmt/format.h>
#include <dnnl.hpp>

#include <algorithm>
#include <atomic>

#include "ops/dnnl/context.h"
#include "ops/dnnl/nn_kernels.h"
#include "ops/kernel_calls.h"
#include "ops/kernels.h"
#include "ops/runtime.h"

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

// ---- the oneDNN case ----

// One operand of a pass: the layout the primitive chose and, when that is not our plain layout,
// the reorders between the two.
struct Operand {
  int arg;
  memory::desc plain, chosen;
  dnnl::reorder into_chosen, out_of_chosen;  // built when the layouts differ
};

Operand make_operand(int arg, const memory::desc& plain, const memory::desc& chosen, bool output) {
  Operand o{arg, plain, chosen, {}, {}};
  if (plain == chosen) return o;
  if (output)
    o.out_of_chosen =
        dnnl::reorder(dnnl::reorder::primitive_desc(engine(), chosen, engine(), plain));
  else
    o.into_chosen = dnnl::reorder(dnnl::reorder::primitive_desc(engine(), plain, engine(), chosen));
  return o;
}

// A primitive with its operands; the last operand is the output.
struct Pass {
  dnnl::primitive primitive;
  std::vector<Operand> operands;
};

std::atomic<int64_t> input_reorders{0};

// A buffer for layout d from the caching allocator, held in `scratch` until the pass is done.
Tensor scratch_buffer(const memory::desc& d, std::vector<Tensor>& scratch) {
  Tensor buffer = Tensor::empty(Shape{static_cast<int64_t>(d.get_size() / sizeof(float))});
  scratch.push_back(buffer);
  return buffer;
}

// The memo that keeps a parameter's reordered copies, when t is one read as the weight of a pass
// while the parameter memo is open; else null.
ConvReorderMemo* memo_for_parameter(const Operand& o, const Tensor& t) {
  const bool parameter = t.is_leaf() && t.requires_grad();
  return o.arg == DNNL_ARG_WEIGHTS && parameter ? parameter_memo : nullptr;
}

// The input of operand o, tensor t, in the layout its pass chose: t itself, a copy an open scope
// remembers, or a new reorder (held in `scratch` until the pass is done, and remembered by the
// open scopes when t is an activation, by the parameter scope when it is a parameter).
memory input_memory(const Operand& o, const Tensor& t, std::vector<Tensor>& scratch) {
  memory plain = wrap(o.plain, t.data());
  if (o.plain == o.chosen) return plain;
  const bool activation = o.arg == DNNL_ARG_SRC || o.arg == DNNL_ARG_DIFF_DST;
  ConvReorderMemo* parameters = memo_for_parameter(o, t);
  Tensor copy = activation   ? find_reordered(t, o.plain, o.chosen)
                : parameters ? parameters->find(t, o.plain, o.chosen)
                             : Tensor();
  if (copy.defined()) return wrap(o.chosen, copy.data());
  copy = scratch_buffer(o.chosen, scratch);
  memory chosen = wrap(o.chosen, copy.data());
  o.into_chosen.execute(stream(), plain, chosen);
  input_reorders.fetch_add(1, std::memory_order_relaxed);
  if (activation) remember_reordered(t, o.plain, o.chosen, copy);
  if (parameters) parameters->remember(t, o.plain, o.chosen, copy);
  return chosen;
}

// Runs a pass on plain tensors (tensors[i] for operands[i]): inputs are reordered into the chosen
// layouts, the primitive runs, and the output is reordered back.
void run(const Pass& pass, const std::vector<Tensor>& tensors) {
  std::vector<Tensor> scratch;  // keeps the reordered copies alive until the stream is done
  std::unordered_map<int, memory> args;
  const size_t inputs = pass.operands.size() - 1;
  for (size_t i = 0; i < inputs; ++i)
    args.emplace(pass.operands[i].arg, input_memory(pass.operands[i], tensors[i], scratch));
  const Operand& out = pass.operands.back();
  memory plain_out = wrap(out.plain, tensors.back().data());
  if (out.plain == out.chosen) {
    args.emplace(out.arg, plain_out);
  } else {
    args.emplace(out.arg, wrap(out.chosen, scratch_buffer(out.chosen, scratch).data()));
  }
  pass.primitive.execute(stream(), args);
  if (out.out_of_chosen) out.out_of_chosen.execute(stream(), args.at(out.arg), plain_out);
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
// descriptor is the hint both backward passes require; each pass is built on first use.
struct ConvEntry {
  Shape xs, ws, ys;            // ws: oneDNN's weight shape
  memory::desc x, w, y, bias;  // plain
  memory::dims strides, dilates, pad_l, pad_r;
  dnnl::convolution_forward::primitive_desc hint;
  Pass forward, forward_bias, backward_data, backward_weights;
};

dnnl::convolution_forward::desc forward_desc(const ConvEntry& e, bool bias) {
  const auto prop = prop_kind::forward_training;
  const auto alg = algorithm::convolution_direct;
  memory::desc x = any_desc(e.xs), w = any_desc(e.ws), y = any_desc(e.ys);
  if (bias) return {prop, alg, x, w, e.bias, y, e.strides, e.dilates, e.pad_l, e.pad_r};
  return {prop, alg, x, w, y, e.strides, e.dilates, e.pad_l, e.pad_r};
}

ConvEntry make_entry(const Shape& x, const Shape& w, const Shape& y, const ConvGeometry& g) {
  ConvEntry e;
  e.xs = x;
  e.ws = onednn_weight_shape(w, g.groups);
  e.ys = y;
  e.x = plain_desc(x);
  e.w = plain_desc(e.ws);
  e.y = plain_desc(y);
  e.bias = plain_desc(Shape{y[1]});
  e.strides = {g.stride, g.stride};
  e.dilates = {g.dilation - 1, g.dilation - 1};  // oneDNN counts the gaps: 0 is dense
  // The same padding on the far side: oneDNN, like PyTorch, floors the output size, so the rows a
  // stride does not reach are simply never read.
  e.pad_l = e.pad_r = {g.padding, g.padding};
  e.hint = dnnl::convolution_forward::primitive_desc(forward_desc(e, false), engine());
  return e;
}

// The entry for x, w and y's shapes. y is determined by the other two, so it is not in the key.
ConvEntry& conv_entry(const Shape& x, const Shape& w, const Shape& y, const ConvGeometry& g) {
  CacheKey key{g.stride, g.padding, g.dilation, g.groups};
  for (int64_t d : x) key.push_back(d);
  for (int64_t d : w) key.push_back(d);
  return cached<ConvEntry>(std::move(key), [&] { return make_entry(x, w, y, g); });
}

Pass make_forward(const ConvEntry& e, const dnnl::convolution_forward::primitive_desc& pd,
                  bool bias) {
  Pass p{dnnl::convolution_forward(pd), {}};
  p.operands.push_back(make_operand(DNNL_ARG_SRC, e.x, pd.src_desc(), false));
  p.operands.push_back(make_operand(DNNL_ARG_WEIGHTS, e.w, pd.weights_desc(), false));
  if (bias) p.operands.push_back(make_operand(DNNL_ARG_BIAS, e.bias, pd.bias_desc(), false));
  p.operands.push_back(make_operand(DNNL_ARG_DST, e.y, pd.dst_desc(), true));
  return p;
}

// True when x has fewer than a block of 16 channels per group: an image layer, 1 gray or 3 RGB.
// The blocked layouts pad the channels to 16, which backward data then computes: oneDNN's direct
// kernel took 1.3 ms for [64,1,28,28] from [64,64,14,14] (3 channels at 32x32: 1.9 ms), its
// im2col + gemm on the plain layouts 0.26 ms (0.78 ms), on a 2-core AVX-512 machine. Forward and
// backward weights on the same shapes are faster blocked, so only backward data stays plain.
bool few_input_channels(const ConvEntry& e) {
  return e.ws[e.ws.size() - 3] < 16;
}

Pass make_backward_data(const ConvEntry& e) {
  const bool plain = few_input_channels(e);
  dnnl::convolution_backward_data::desc d(
      algorithm::convolution_direct, plain ? e.x : any_desc(e.xs), plain ? e.w : any_desc(e.ws),
      plain ? e.y : any_desc(e.ys), e.strides, e.dilates, e.pad_l, e.pad_r);
  dnnl::convolution_backward_data::primitive_desc pd(d, engine(), e.hint);
  Pass p{dnnl::convolution_backward_data(pd), {}};
  p.operands.push_back(make_operand(DNNL_ARG_DIFF_DST, e.y, pd.diff_dst_desc(), false));
  p.operands.push_back(make_operand(DNNL_ARG_WEIGHTS, e.w, pd.weights_desc(), false));
  p.operands.push_back(make_operand(DNNL_ARG_DIFF_SRC, e.x, pd.diff_src_desc(), true));
  return p;
}

Pass make_backward_weights(const ConvEntry& e) {
  dnnl::convolution_backward_weights::desc d(algorithm::convolution_direct, any_desc(e.xs),
                                             any_desc(e.ws), any_desc(e.ys), e.strides, e.dilates,
                                             e.pad_l, e.pad_r);
  dnnl::convolution_backward_weights::primitive_desc pd(d, engine(), e.hint);
  Pass p{dnnl::convolution_backward_weights(pd), {}};
  p.operands.push_back(make_operand(DNNL_ARG_SRC, e.x, pd.src_desc(), false));
  p.operands.push_back(make_operand(DNNL_ARG_DIFF_DST, e.y, pd.diff_dst_desc(), false));
  p.operands.push_back(make_operand(DNNL_ARG_DIFF_WEIGHTS, e.w, pd.diff_weights_desc(), true));
  return p;
}

// The pass for a KernelCallRecorder: the convolution primitive alone, on buffers of its own in the
// layouts it chose. The reorders into and out of them are left out: they are overhead a model
// that kept its activations in the blocked layouts would not pay.
void record_pass(const char* kind, const ConvEntry& e, const Pass& pass, int64_t flops) {
  KernelCall call{kind,
                  fmt::format("x {} w {} y {} stride {} pad {} dilation {}{}", e.xs.str(),
                              e.ws.str(), e.ys.str(), e.strides[0], e.pad_l[0], e.dilates[0] + 1,
                              pass.operands.size() == 4 ? " bias" : ""),
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
  record_kernel_call(std::move(call));
}

// Counts the pass's flops, records it when a recorder listens, and runs it.
void run_counted(const char* kind, const ConvEntry& e, const Pass& pass, int64_t flops,
                 const std::vector<Tensor>& tensors) {
  count_flops(flops);
  if (recording_kernel_calls()) record_pass(kind, e, pass, flops);
  run(pass, tensors);
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
  const int64_t flops = 2 * y.numel() * w.size(1) * w.size(2) * w.size(3);
  ConvEntry& e = conv_entry(x.shape(), w.shape(), y.shape(), g);
  if (bias.defined()) {
    if (!e.forward_bias.primitive) {
      dnnl::convolution_forward::primitive_desc pd(forward_desc(e, true), engine());
      e.forward_bias = make_forward(e, pd, true);
    }
    run_counted("conv forward", e, e.forward_bias, flops, {x, w, bias, y});
    return;
  }
  if (!e.forward.primitive) e.forward = make_forward(e, e.hint, false);
  run_counted("conv forward", e, e.forward, flops, {x, w, y});
}

void conv2d_backward_data(const Tensor& gy, const Tensor& w, const Tensor& gx,
                          const ConvGeometry& g) {
  if (gx.numel() == 0) return;
  if (is_fully_connected(gx.shape(), w.shape(), g)) {
    const int64_t n = gx.size(0), o = w.size(0), k = inner_size(w.shape());
    gemm(false, false, n, k, o, 1, gy.data(), o, w.data(), k, 0, gx.data(), k);
    return;
  }
  const int64_t flops = 2 * gy.numel() * w.size(1) * w.size(2) * w.size(3);
  ConvEntry& e = conv_entry(gx.shape(), w.shape(), gy.shape(), g);
  if (!e.backward_data.primitive) e.backward_data = make_backward_data(e);
  run_counted("conv backward data", e, e.backward_data, flops, {gy, w, gx});
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
  const int64_t flops = 2 * gy.numel() * gw.size(1) * gw.size(2) * gw.size(3);
  ConvEntry& e = conv_entry(x.shape(), gw.shape(), gy.shape(), g);
  if (!e.backward_weights.primitive) e.backward_weights = make_backward_weights(e);
  run_counted("conv backward weights", e, e.backward_weights, flops, {x, gy, gw});
}

int64_t conv_input_reorders() {
  return input_reorders.load(std::memory_order_relaxed);
}

}  // namespace minimax::kernels
