#include "ops/dnnl/context.h"

#include <omp.h>

#include <atomic>
#include <bit>

#include "ops/runtime.h"

namespace minimax::dnnl_ctx {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

dnnl::memory::dims dims_of(const Shape& shape) {
  if (shape.empty()) return {1};
  return {shape.begin(), shape.end()};
}

dnnl::memory::desc plain_desc(const dnnl::memory::dims& dims) {
  dnnl::memory::dims strides(dims.size());
  int64_t s = 1;
  for (int i = static_cast<int>(dims.size()) - 1; i >= 0; --i) {
    strides[i] = s;
    s *= dims[i];
  }
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

dnnl::memory::desc plain_desc(const Shape& shape) {
  return plain_desc(dims_of(shape));
}

dnnl::memory wrap(const dnnl::memory::desc& desc, const float* data) {
  // oneDNN takes a non-const handle for inputs too; it does not write to them.
  return dnnl::memory(desc, engine(), const_cast<float*>(data));
}

int64_t current_threads() {
  return omp_get_max_threads();
}

SerialBelow::SerialBelow(int64_t elements) {
  if (elements >= kParallelMinElements) return;
  int threads = omp_get_max_threads();
  if (threads == 1) return;
  restore_ = threads;
  omp_set_num_threads(1);
}

SerialBelow::~SerialBelow() {
  if (restore_ > 0) omp_set_num_threads(restore_);
}

namespace {
std::atomic<int64_t> created{0};
}  // namespace

int64_t primitives_created() {
  return created.load();
}
void count_primitive_created() {
  created++;
}

void execute(const dnnl::primitive& p, const std::unordered_map<int, dnnl::memory>& args) {
  p.execute(stream(), args);
  stream().wait();
}

int64_t key_of(float v) {
  return std::bit_cast<int32_t>(v);
}

}  // namespace minimax::dnnl_ctx
