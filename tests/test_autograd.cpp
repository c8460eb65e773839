// The tape, backward/grad, grad mode, the gradient checker itself, and their errors.
#include <doctest/doctest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "minimax.h"
#include "ops/kernel_calls.h"
#include "temp_dir.h"

using namespace minimax;

namespace {
std::vector<float> values(const Tensor& t) {
  return t.to_vector();
}
}  // namespace

TEST_CASE("backward accumulates into leaves through a shared subexpression") {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3}).requires_grad_();
  Tensor y = mul(x, x);       // x^2
  Tensor z = sum(add(y, y));  // 2 x^2
  z.backward();
  CHECK(values(x.grad()) == std::vector<float>{4, 8, 12});
}

TEST_CASE("a second backward adds to .grad, and zero_grad clears it") {
  Tensor x = Tensor::from_vector({1, 2}, {2}).requires_grad_();
  sum(mul(x, 3.0f)).backward();
  sum(mul(x, 3.0f)).backward();
  CHECK(values(x.grad()) == std::vector<float>{6, 6});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("two leaves given the same gradient by add do not share .grad storage") {
  Tensor a = Tensor::ones({2}).requires_grad_(), b = Tensor::ones({2}).requires_grad_();
  sum(add(a, b)).backward();
  a.grad().data()[0] = 100.0f;  // an in-place change to one gradient
  CHECK(b.grad().data()[0] == 1.0f);
}

TEST_CASE("backward frees the graph, and a second pass names the op and suggests retain_graph") {
  Tensor x = Tensor::from_vector({0.5f}, {1}).requires_grad_();
  Tensor y = sum(sigmoid(x));
  y.backward();
  try {
    y.backward();
    FAIL("second backward through a freed graph did not throw");
  } catch (const std::runtime_error& e) {
    std::string msg = e.what();
    CHECK(msg.find("already freed") != std::string::npos);
    CHECK(msg.find("retain_graph") != std::string::npos);
    CHECK(msg.find("sum") != std::string::npos);
  }
}

TEST_CASE("retain_graph allows a second backward") {
  Tensor x = Tensor::from_vector({2.0f}, {1}).requires_grad_();
  Tensor y = sum(mul(x, x));
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  CHECK(x.grad().item() == doctest::Approx(8.0f));
}

TEST_CASE("the graph is released when its tensors go out of scope") {
  std::weak_ptr<Node> node;
  {
    Tensor x = Tensor::ones({3}).requires_grad_();
    Tensor y = exp(x);
    node = y.grad_fn();
    CHECK_FALSE(node.expired());
  }
  CHECK(node.expired());
}

TEST_CASE("ops that save their output make no reference cycle") {
  std::weak_ptr<Node> node;
  {
    Tensor x = Tensor::ones({3}).requires_grad_();
    Tensor y = sigmoid(x);  // sigmoid's backward uses its output
    node = y.grad_fn();
    sum(y).backward(Tensor(), true);
  }
  CHECK(node.expired());
}

TEST_CASE("a deep graph backpropagates without recursion") {
  Tensor x = Tensor::from_vector({1.0f}, {1}).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = add(y, 0.0f);
  sum(y).backward();
  CHECK(x.grad().item() == 1.0f);
}

TEST_CASE("a deep graph is freed without recursion") {
  // mul's closure captures its inputs, so freeing walks closures as well as edges.
  Tensor x = Tensor::from_vector({1.0f}, {1}).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 50000; ++i) y = mul(y, x);
  std::weak_ptr<Node> head = y.grad_fn();
  y = Tensor();
  CHECK(head.expired());
}

TEST_CASE("backward visits nodes in reverse creation order") {
  // z depends on x through two paths of different length; the shorter path's node must wait for the
  // longer one's gradient. A wrong order would give 1 or 2 instead of 3.
  Tensor x = Tensor::from_vector({1.0f}, {1}).requires_grad_();
  Tensor a = mul(x, 1.0f);
  Tensor b = mul(mul(a, 1.0f), 2.0f);
  sum(add(a, b)).backward();
  CHECK(x.grad().item() == doctest::Approx(3.0f));
}

TEST_CASE("no-grad guard records nothing and restores the mode") {
  Tensor x = Tensor::ones({2}).requires_grad_();
  {
    NoGradGuard guard;
    Tensor y = mul(x, 2.0f);
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
  }
  CHECK(GradMode::is_enabled());
  CHECK(mul(x, 2.0f).requires_grad());
}

TEST_CASE("detach shares data but cuts history") {
  Tensor x = Tensor::ones({2}).requires_grad_();
  Tensor y = mul(x, 2.0f);
  Tensor d = y.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.data() == y.data());
  Tensor z = sum(mul(d, x));  // only the x path is differentiated
  z.backward();
  CHECK(values(x.grad()) == std::vector<float>{2, 2});
}

TEST_CASE("grad returns gradients without touching .grad, and prunes unrelated parameters") {
  Tensor w = Tensor::from_vector({3.0f}, {1}).requires_grad_();
  Tensor x = Tensor::from_vector({2.0f}, {1}).requires_grad_();
  Tensor y = sum(mul(w, mul(x, x)));  // w x^2
  TensorList g = grad({y}, {x});
  CHECK(g[0].item() == doctest::Approx(12.0f));  // 2 w x
  CHECK_FALSE(w.grad().defined());
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("grad with respect to an intermediate tensor") {
  Tensor x = Tensor::from_vector({1.0f, 2.0f}, {2}).requires_grad_();
  Tensor h = mul(x, 3.0f);
  Tensor y = sum(mul(h, h));
  TensorList g = grad({y}, {h});
  CHECK(values(g[0]) == std::vector<float>{6, 12});
}

TEST_CASE("create_graph: a gradient penalty backpropagates into the parameters") {
  // D(x) = sum(tanh(x W^T)); penalty = ||dD/dx||^2. Its gradient w.r.t. W needs second derivatives.
  Generator gen(5);
  Tensor w = Tensor::uniform({3, 2}, -1, 1, gen).requires_grad_();
  auto penalty = [&](const Tensor& x) {
    Tensor d = sum(tanh(matmul(x, w, false, true)));
    Tensor gx = grad({d}, {x}, {.create_graph = true})[0];
    return sum(square(gx));
  };
  Tensor x = Tensor::uniform({4, 2}, -1, 1, gen).requires_grad_();
  Tensor p = penalty(x);
  CHECK(p.requires_grad());
  p.backward();
  REQUIRE(w.grad().defined());
  // Compare one element with a central difference of the penalty.
  float eps = 1e-3f, original = w.data()[1];
  auto value = [&] { return penalty(x).item(); };
  w.data()[1] = original + eps;
  float plus = value();
  w.data()[1] = original - eps;
  float minus = value();
  w.data()[1] = original;
  CHECK(w.grad().data()[1] == doctest::Approx((plus - minus) / (2 * eps)).epsilon(1e-2));
}

TEST_CASE("the README's first program runs") {
  Generator gen(0);
  Tensor w = Tensor::uniform({1, 2}, -1, 1, gen).requires_grad_();
  Tensor x = Tensor::uniform({8, 2}, -1, 1, gen).requires_grad_();
  Tensor d = sum(tanh(linear(x, w)));
  Tensor gx = grad({d}, {x}, {.create_graph = true})[0];
  Tensor penalty = mean(square(sqrt(sum(square(gx), {1})) - 1.0f));
  penalty.backward();
  REQUIRE(w.grad().defined());
  CHECK(w.grad().shape() == Shape{1, 2});
  CHECK(std::isfinite(w.grad().data()[0]));
}

TEST_CASE("create_graph=false records nothing in the backward") {
  Tensor x = Tensor::from_vector({1.0f}, {1}).requires_grad_();
  TensorList g = grad({sum(mul(x, x))}, {x});
  CHECK_FALSE(g[0].requires_grad());
}

// ---- errors ----

namespace {
// The message of the std::invalid_argument that f throws ("" if none).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}
bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}
}  // namespace

TEST_CASE("shape mismatches name the op and the shapes") {
  Tensor a = Tensor::ones({2, 3}), b = Tensor::ones({4, 3}), w = Tensor::ones({5, 4});
  std::string e = error_of([&] { add(a, b); });
  CHECK(contains(e, "add"));
  CHECK(contains(e, "[2, 3]"));
  CHECK(contains(e, "[4, 3]"));
  e = error_of([&] { matmul(a, b); });
  CHECK(contains(e, "matmul"));
  CHECK(contains(e, "[4, 3]"));
  e = error_of([&] { linear(a, w); });
  CHECK(contains(e, "linear"));
  CHECK(contains(e, "[5, 4]"));
  CHECK(contains(error_of([&] { reshape(a, {4, 2}); }), "reshape"));
  CHECK(contains(error_of([&] { concat({a, Tensor::ones({2, 2, 2})}, 0); }), "concat"));
  CHECK(contains(error_of([&] { maxout(a, 2); }), "maxout"));
  CHECK(contains(error_of([&] { sum(a, {2}); }), "out of range"));
  CHECK(contains(error_of([&] { slice(a, 1, 2, 5); }), "slice"));
  CHECK(contains(error_of([&] { mse_loss(a, b); }), "mse_loss"));
  CHECK(contains(error_of([&] { bmm(a, a); }), "bmm"));
}

TEST_CASE("backward of a tensor that does not require grad is an error") {
  Tensor x = Tensor::ones({1});
  std::string e = error_of([&] { sum(x).backward(); });
  CHECK(contains(e, "does not require grad"));
  e = error_of([&] { grad({sum(mul(Tensor::ones({1}).requires_grad_(), 2.0f))}, {x}); });
  CHECK(contains(e, "does not require grad"));
}

TEST_CASE("backward of a non-scalar needs an explicit gradient of the right shape") {
  Tensor x = Tensor::ones({3}).requires_grad_();
  Tensor y = mul(x, 2.0f);
  CHECK(contains(error_of([&] { y.backward(); }), "one-element"));
  CHECK(contains(error_of([&] { y.backward(Tensor::ones({2})); }), "[2]"));
  y.backward(Tensor::ones({3}));
  CHECK(values(x.grad()) == std::vector<float>{2, 2, 2});
}

TEST_CASE("grad of an input the outputs do not depend on is an error unless allowed") {
  Tensor x = Tensor::ones({1}).requires_grad_(), unused = Tensor::ones({1}).requires_grad_();
  Tensor y = sum(mul(x, 2.0f));
  CHECK(contains(error_of([&] {
                   grad({y}, {x, unused}, {.retain_graph = true});
                 }),
                 "not reachable"));
  TensorList g = grad({y}, {x, unused}, {.allow_unused = true});
  CHECK(g[0].item() == 2.0f);
  CHECK_FALSE(g[1].defined());
}

TEST_CASE("in-place updates are refused on tensors with history") {
  Tensor x = Tensor::ones({2}).requires_grad_();
  Tensor y = mul(x, 2.0f);
  CHECK(contains(error_of([&] { y.fill_(0.0f); }), "detach"));
  CHECK(contains(error_of([&] { y.clamp_(0.0f, 1.0f); }), "detach"));
  CHECK(contains(error_of([&] { x.copy_(Tensor::ones({3})); }), "[3]"));
}

TEST_CASE("clamp_ clamps each element in place, keeps a NaN, and refuses bounds out of order") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = Tensor::from_vector({-3.0f, -0.5f, 0.25f, 2.0f, nan}, {5});
  x.clamp_(-1.0f, 1.0f);
  const std::vector<float> expected{-1.0f, -0.5f, 0.25f, 1.0f};
  for (int64_t i = 0; i < 4; ++i) CHECK(x.data()[i] == expected[i]);
  CHECK(std::isnan(x.data()[4]));
  CHECK(x.version() == 1);
  CHECK(contains(error_of([&] { x.clamp_(1.0f, -1.0f); }), "low 1 is above high -1"));
  CHECK(contains(error_of([&] { x.clamp_(nan, 1.0f); }), "above"));
  CHECK(x.version() == 1);  // a refused call changes nothing
}

TEST_CASE("item of a multi-element tensor is an error") {
  CHECK(contains(error_of([] { Tensor::ones({2}).item(); }), "item"));
}

// ---- storage ----

TEST_CASE("storage is 64-byte aligned and recycled by the caching allocator") {
  auto& allocator = CachingAllocator::instance();
  { Tensor warm = Tensor::empty({1000}); }
  int64_t before = allocator.stats().system_allocations;
  for (int i = 0; i < 10; ++i) {
    Tensor t = Tensor::empty({1000});
    CHECK(reinterpret_cast<uintptr_t>(t.data()) % 64 == 0);
  }
  CHECK(allocator.stats().system_allocations == before);
}

TEST_CASE("autograd: backward with create_graph leaves gradients that differentiate again") {
  Tensor x = Tensor::from_vector({1.0f, -2.0f, 0.5f}, {3}).requires_grad_();
  sum(mul(mul(x, x), x)).backward(Tensor(), std::nullopt, /*create_graph=*/true);
  Tensor g = x.grad();  // 3 x^2, recorded
  REQUIRE(g.requires_grad());
  CHECK(g.to_vector() == std::vector<float>{3.0f, 12.0f, 0.75f});
  Tensor gg = grad({sum(g)}, {x})[0];  // 6 x
  CHECK(gg.to_vector() == std::vector<float>{6.0f, -12.0f, 3.0f});
  // Without create_graph the accumulated gradient is a plain value.
  Tensor z = Tensor::from_vector({2.0f}, {1}).requires_grad_();
  sum(mul(z, z)).backward();
  CHECK_FALSE(z.grad().requires_grad());
}

TEST_CASE("autograd: named options keep retain_graph and create_graph apart") {
  Tensor x = Tensor::from_vector({3.0f}, {1}).requires_grad_();
  Tensor y = sum(mul(x, x));
  // retain_graph alone: the graph survives for a second pass, but nothing was recorded.
  Tensor first = grad({y}, {x}, {.retain_graph = true})[0];
  CHECK_FALSE(first.requires_grad());
  CHECK(grad({y}, {x})[0].item() == 6.0f);  // the second pass frees it
  CHECK_THROWS_WITH_AS(grad({y}, {x}), doctest::Contains("already freed"), std::runtime_error);
  Tensor y2 = sum(mul(x, x));
  Tensor recorded = grad({y2}, {x}, {.create_graph = true})[0];
  CHECK(recorded.requires_grad());
  CHECK(grad({y2}, {x})[0].item() == 6.0f);  // create_graph retains the graph by default
}

// ---- in-place changes to what a backward reads (version counters) ----

namespace {
// The message backward() throws, or "" when it runs.
std::string backward_error(const Tensor& loss, bool retain_graph = false) {
  try {
    loss.backward(Tensor(), retain_graph);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("autograd: every in-place change adds one to the version its views and detach share") {
  Tensor w = Tensor::zeros({2, 3}).requires_grad_();
  CHECK(w.version() == 0);
  w.detach().fill_(1.0f);
  CHECK(w.version() == 1);
  reshape(w, {6}).detach().copy_(Tensor::ones({6}));
  CHECK(w.version() == 2);
  CHECK(w.detach().version() == 2);
  CHECK(w.clone().version() == 0);  // new data
}

TEST_CASE("autograd: backward refuses an input its backward reads once it changed in place") {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor w = Tensor::from_vector({1, -1, 0.5f, 2, 0, 1}, {2, 3}).requires_grad_();
  Tensor loss = sum(linear(x, w));
  w.detach().copy_(Tensor::zeros({2, 3}));  // a step before the backward
  const std::string e = backward_error(loss);
  CHECK(contains(e, "'linear'"));
  CHECK(contains(e, "input 1 (shape [2, 3])"));
  CHECK(contains(e, "changed in place"));
  CHECK(contains(e, "version is 1, 0 when recorded"));
  CHECK_FALSE(w.grad().defined());  // nothing was accumulated
}

TEST_CASE("autograd: a change through a view or to the other factor is seen too") {
  Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2}).requires_grad_();
  Tensor b = Tensor::from_vector({0.5f, 1, 1.5f, 2}, {4}).requires_grad_();
  Tensor loss = sum(mul(a, reshape(b, {2, 2})));
  b.detach().fill_(0.0f);  // a's gradient is b: it reads the changed values
  const std::string e = backward_error(loss);
  CHECK(contains(e, "'mul'"));
  CHECK(contains(e, "input 1"));
}

TEST_CASE("autograd: changing an input whose values the backward does not read is no error") {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3}).requires_grad_();
  Tensor b = Tensor::from_vector({4, 5, 6}, {3}).requires_grad_();
  Tensor loss = sum(mul(add(x, b), 2.0f));
  b.detach().fill_(0.0f);  // add's backward needs only b's shape, as in libtorch
  CHECK(backward_error(loss).empty());
  CHECK(values(b.grad()) == std::vector<float>{2, 2, 2});
}

TEST_CASE("autograd: an op's saved output changed through detach() is refused") {
  Tensor x = Tensor::from_vector({0.5f, -1}, {2}).requires_grad_();
  Tensor y = sigmoid(x);  // its backward reads y
  Tensor loss = sum(y);
  y.detach().fill_(0.5f);
  const std::string e = backward_error(loss);
  CHECK(contains(e, "'sigmoid'"));
  CHECK(contains(e, "its output (shape [2])"));
}

TEST_CASE("autograd: a retained graph is checked again at its second backward") {
  Tensor w = Tensor::from_vector({1, 2}, {2}).requires_grad_();
  Tensor x = Tensor::from_vector({3, 4}, {2});
  Tensor loss = sum(mul(x, w));
  CHECK(backward_error(loss, true).empty());
  CHECK(values(w.grad()) == std::vector<float>{3, 4});
  x.fill_(0.0f);  // w's gradient reads x
  CHECK(contains(backward_error(loss, true), "input 0"));
}

TEST_CASE("autograd: a gradient penalty's graph is checked at its second backward") {
  Tensor w = Tensor::from_vector({0.5f, -0.25f, 1, 2}, {2, 2}).requires_grad_();
  Tensor x = Tensor::from_vector({1, 2}, {1, 2}).requires_grad_();
  Tensor gx = grad({sum(tanh(linear(x, w)))}, {x}, {.create_graph = true})[0];
  Tensor penalty = sum(mul(gx, gx));
  w.detach().fill_(0.0f);
  CHECK(contains(backward_error(penalty), "changed in place"));
}

TEST_CASE("autograd: max's output changed through detach() is refused") {
  Tensor x = Tensor::from_vector({1, 5, 3, 2}, {2, 2}).requires_grad_();
  Tensor m = max(x, {1}, false);  // its backward finds the winners by comparing with m
  Tensor loss = sum(m);
  m.detach().fill_(0.0f);
  CHECK(contains(backward_error(loss), "'max'"));
}

TEST_CASE("autograd: max_pool2d's input changed after a first backward is refused by the second") {
  Tensor x = Tensor::from_vector({1, 4, 2, 3, 8, 5, 7, 6, 0}, {1, 1, 3, 3}).requires_grad_();
  Tensor gx = grad({sum(square(max_pool2d(x, 2, 1, 0)))}, {x}, {.create_graph = true})[0];
  x.detach().fill_(0.0f);  // the gradient's own backward finds the winners in x
  const std::string e = backward_error(sum(gx));
  CHECK(contains(e, "'max_pool2d_backward'"));
  CHECK(contains(e, "a tensor it reads (shape [1, 1, 3, 3])"));
}

TEST_CASE("autograd: a shape whose size overflows is refused before anything is allocated") {
  // 2^62 floats are 2^64 bytes, which wrapped to 0: a small block the op then overran.
  CHECK_THROWS_WITH_AS(Tensor::zeros({int64_t{1} << 62}),
                       doctest::Contains("more than memory can address"), std::length_error);
  CHECK_THROWS_WITH_AS(relu(expand(Tensor::ones({1}), {int64_t{1} << 62})),
                       doctest::Contains("[4611686018427387904]"), std::length_error);
  // 2^80 elements wrapped to 0 in the element count itself.
  CHECK_THROWS_WITH_AS(Tensor::zeros({int64_t{1} << 40, int64_t{1} << 40}),
                       doctest::Contains("more elements than an int64 counts"), std::length_error);
  CHECK_THROWS_AS(one_hot(Tensor::from_vector({3.0f}, {1}), int64_t{1} << 62), std::length_error);
}

TEST_CASE("autograd: a block larger than the memory the system has free is refused, naming both") {
  // Linux would hand out the address space and its OOM killer end the process once it was written.
  const std::optional<int64_t> free = available_memory_bytes();
  REQUIRE(free.has_value());
  const int64_t floats = (*free + *free / 8 + (int64_t{1} << 30)) / 4;
  const int64_t before = CachingAllocator::instance().stats().system_allocations;
  std::string message;
  try {
    Tensor::empty({floats});
  } catch (const OutOfMemory& e) {
    message = e.what();
  }
  CHECK(message.find("GiB does not fit in the ") != std::string::npos);
  CHECK(message.find(" GiB of memory the system has free") != std::string::npos);
  CHECK(CachingAllocator::instance().stats().system_allocations == before);
}

TEST_CASE("autograd: a new checked block is resident when handed out, so the next check sees it") {
  // Untouched, a fresh block is address space only (it comes from mmap at this size), and a
  // second block asked for before the first is written would be checked against the same free
  // memory. mincore tells which pages of the block the system has backed.
  CachingAllocator& allocator = CachingAllocator::instance();
  allocator.release_cached();  // a cached block of this size would be handed out again
  const size_t size = CachingAllocator::kCheckedBytes;
  void* block = allocator.allocate(size);
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(block) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(block) + size) / page * page;
  std::vector<unsigned char> resident((end - begin) / page);
  REQUIRE(::mincore(reinterpret_cast<void*>(begin), end - begin, resident.data()) == 0);
  const auto backed =
      std::count_if(resident.begin(), resident.end(), [](unsigned char r) { return (r & 1) != 0; });
  allocator.deallocate(block, size);
  allocator.release_cached();
  CHECK(backed == static_cast<std::ptrdiff_t>(resident.size()));
}

TEST_CASE("autograd: free memory is MemAvailable plus SwapFree, capped by the cgroup's limit") {
  minimax::testing::TempDir d;
  const auto write = [&](const std::string& name, const std::string& text) {
    std::filesystem::create_directories((d.path / name).parent_path());
    std::ofstream(d.path / name) << text;
  };
  write("meminfo", "MemTotal:    1000 kB\nMemAvailable:     600 kB\nSwapFree:  100 kB\n");
  const std::string meminfo = (d.path / "meminfo").string(), cgroup = (d.path / "cg").string();
  CHECK(available_memory_bytes(meminfo, cgroup) == 700 * 1024);  // no cgroup files
  write("cg/memory.max", "max\n");
  write("cg/memory.current", "1000\n");
  CHECK(available_memory_bytes(meminfo, cgroup) == 700 * 1024);  // v2 without a limit
  write("cg/memory.max", "500000\n");
  CHECK(available_memory_bytes(meminfo, cgroup) == 499000);
  write("cg/memory.current", "600000\n");
  CHECK(available_memory_bytes(meminfo, cgroup) == 0);  // over its limit
  std::filesystem::remove_all(d.path / "cg");
  write("cg/memory/memory.limit_in_bytes", "9223372036854771712\n");  // v1 without a limit
  write("cg/memory/memory.usage_in_bytes", "5000\n");
  CHECK(available_memory_bytes(meminfo, cgroup) == 700 * 1024);
  write("cg/memory/memory.limit_in_bytes", "300000\n");
  CHECK(available_memory_bytes(meminfo, cgroup) == 295000);
  write("meminfo", "MemTotal:    1000 kB\n");  // an old kernel without MemAvailable
  CHECK(available_memory_bytes(meminfo, cgroup) == std::nullopt);
  CHECK(available_memory_bytes((d.path / "none").string(), cgroup) == std::nullopt);
}

TEST_CASE("autograd: grad gives a tensor listed twice its gradient in both places") {
  Tensor w = Tensor::from_vector({1.0f, -2.0f, 3.0f}, {3}).requires_grad_();
  Tensor y = sum(mul(w, w));
  TensorList g = grad({y}, {w, w});
  REQUIRE(g.size() == 2);
  CHECK(g[0].to_vector() == std::vector<float>{2.0f, -4.0f, 6.0f});
  CHECK(g[1].to_vector() == std::vector<float>{2.0f, -4.0f, 6.0f});
  Tensor h = mul(w, 3.0f);  // a non-leaf input given twice, around another input
  TensorList gh = grad({sum(mul(h, w))}, {h, w, h});
  CHECK(gh[0].to_vector() == w.to_vector());
  CHECK(gh[2].to_vector() == w.to_vector());
}

TEST_CASE("autograd: random tensors refuse an empty range or a negative spread") {
  Generator gen(1);
  CHECK_THROWS_WITH_AS(Tensor::uniform({2}, 1.0f, -1.0f, gen),
                       doctest::Contains("low 1 above high -1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(Tensor::normal({2}, 0.0f, -1.0f, gen), doctest::Contains("negative stddev"),
                       std::invalid_argument);
}

TEST_CASE("ops: a product over an empty inner dimension is zeros, as in PyTorch") {
  Tensor a = Tensor::ones({2, 0}).requires_grad_(), b = Tensor::ones({0, 3}).requires_grad_();
  Tensor c = matmul(a, b);  // both GEMM libraries refuse K = 0's leading dimensions
  CHECK(c.shape() == Shape{2, 3});
  CHECK(c.to_vector() == std::vector<float>(6, 0.0f));
  sum(c).backward();
  CHECK(a.grad().shape() == Shape{2, 0});
  CHECK(b.grad().shape() == Shape{0, 3});
  Tensor w = Tensor::full({4, 0}, 1.0f);  // linear with no inputs: the bias alone
  CHECK(linear(Tensor::ones({2, 0}), w, Tensor::full({4}, 0.5f)).to_vector() ==
        std::vector<float>(8, 0.5f));
}

TEST_CASE("ops: flatten's dimensions out of order and logsumexp's bad dimensions name the op") {
  Tensor x = Tensor::ones({2, 3, 4});
  CHECK(
      contains(error_of([&] { flatten(x, 2, 1); }), "flatten: start_dim 2 comes after end_dim 1"));
  CHECK(flatten(x, 1, 1).shape() == Shape{2, 3, 4});
  CHECK(flatten(x, -2, -1).shape() == Shape{2, 12});
  CHECK(contains(error_of([&] { logsumexp(x, {7}, false); }), "logsumexp: dimension 7"));
  CHECK(contains(error_of([&] {
                   logsumexp(Tensor::ones({0, 3}), {0}, false);
                 }),
                 "logsumexp: cannot reduce over an empty dimension"));
}

// ---- a gradient added into the sum already collected (Node::running_sums) ----

namespace {

// The weight-gradient GEMMs (the TN products) that `run` makes, as shape strings.
template <class Run>
std::vector<std::string> weight_grad_calls(Run run) {
  kernels::KernelCallRecorder recorder;
  run();
  std::vector<std::string> found;
  for (const kernels::KernelCall& c : recorder.calls())
    if (c.shape.rfind("TN", 0) == 0) found.push_back(c.shape);
  return found;
}

float max_difference(const Tensor& a, const Tensor& b) {
  const std::vector<float> u = a.to_vector(), v = b.to_vector();
  REQUIRE(u.size() == v.size());
  float worst = 0.0f;
  for (size_t i = 0; i < u.size(); ++i) worst = std::max(worst, std::abs(u[i] - v[i]));
  return worst;
}

// sum(linear(x, w) * u): its gradient in w is u^T x.
Tensor weighted_linear(const Tensor& x, const Tensor& w, const Tensor& u) {
  return sum(mul(linear(x, w), u));
}

}  // namespace

// D's weights in a GAN step: one forward on the real batch, one on the fake. The second gradient's
// GEMM adds into the first (beta 1) instead of an addition of its own, on one thread and split by
// the weight's rows.
TEST_CASE("autograd: a weight used twice gets its second gradient added by the GEMM") {
  struct Case {
    int threads;
    int64_t m, o, i;
    std::string first, second;
  };
  for (const Case& c : {Case{1, 8, 6, 5, "TN M=6 N=5 K=8 beta 0", "TN M=6 N=5 K=8 beta 1"},
                        Case{2, 8, 64, 128, "TN M=64 N=128 K=8 beta 0 by weight rows",
                             "TN M=64 N=128 K=8 beta 1 by weight rows"}}) {
    CAPTURE(c.threads);
    const ScopedThreads count(c.threads);
    Generator gen(31);
    Tensor w = Tensor::uniform({c.o, c.i}, -1, 1, gen).requires_grad_();
    Tensor x1 = Tensor::uniform({c.m, c.i}, -1, 1, gen),
           x2 = Tensor::uniform({c.m, c.i}, -1, 1, gen);
    Tensor u1 = Tensor::uniform({c.m, c.o}, -1, 1, gen),
           u2 = Tensor::uniform({c.m, c.o}, -1, 1, gen);
    const Tensor expected = add(matmul(u1, x1, true, false), matmul(u2, x2, true, false));
    Tensor loss = add(weighted_linear(x1, w, u1), weighted_linear(x2, w, u2));
    Tensor g;
    CHECK(weight_grad_calls([&] { g = grad({loss}, {w}, {.retain_graph = true})[0]; }) ==
          std::vector<std::string>{c.first, c.second});
    CHECK(max_difference(g, expected) <= 1e-5f);
    // backward() collects into .grad the same way.
    loss.backward();
    CHECK(max_difference(w.grad(), expected) <= 1e-5f);
  }
}

// A sum someone else holds must not change: a .grad the user kept, or one gradient tensor that add
// handed to two inputs. Each is then summed into a new tensor, as before.
TEST_CASE("autograd: a collected gradient that another handle shares is not changed in place") {
  Generator gen(32);
  Tensor w = Tensor::uniform({6, 5}, -1, 1, gen).requires_grad_();
  Tensor v = Tensor::uniform({6, 5}, -1, 1, gen).requires_grad_();
  Tensor x1 = Tensor::uniform({8, 5}, -1, 1, gen), x2 = Tensor::uniform({8, 5}, -1, 1, gen);
  Tensor u1 = Tensor::uniform({8, 6}, -1, 1, gen), u2 = Tensor::uniform({8, 6}, -1, 1, gen);
  const Tensor g1 = matmul(u1, x1, true, false), g2 = matmul(u2, x2, true, false);

  SUBCASE("the user's .grad") {
    weighted_linear(x1, w, u1).backward();
    const Tensor kept = w.grad();
    const std::vector<float> before = kept.to_vector();
    weighted_linear(x2, w, u2).backward();
    CHECK(kept.to_vector() == before);
    CHECK(max_difference(w.grad(), add(g1, g2)) <= 1e-5f);
  }
  SUBCASE("a .grad nobody else holds takes the next backward's GEMM in place") {
    weighted_linear(x1, w, u1).backward();
    CHECK(weight_grad_calls([&] { weighted_linear(x2, w, u2).backward(); }) ==
          std::vector<std::string>{"TN M=6 N=5 K=8 beta 1"});
    CHECK(max_difference(w.grad(), add(g1, g2)) <= 1e-5f);
  }
  SUBCASE("one gradient that add gave to two inputs") {
    // Newest first: add(w, v)'s backward hands w and v one tensor, g2; the older linear(x1, w)
    // then finds w's sum shared with v's. (Two statements fix the order of recording.)
    const Tensor older = weighted_linear(x1, w, u1);
    const Tensor newer = weighted_linear(x2, add(w, v), u2);
    Tensor loss = add(older, newer);
    TensorList g = grad({loss}, {w, v});
    CHECK(max_difference(g[1], g2) == 0.0f);
    CHECK(max_difference(g[0], add(g1, g2)) <= 1e-5f);
  }
}

// With create_graph the sum carries history, which an in-place change would corrupt: the
// gradients are summed by an op, and the sum differentiates again.
TEST_CASE("autograd: with create_graph a weight's gradients are summed by an op, not in place") {
  Generator gen(33);
  Tensor w = Tensor::uniform({6, 5}, -1, 1, gen).requires_grad_();
  Tensor x1 = Tensor::uniform({8, 5}, -1, 1, gen).requires_grad_();
  Tensor x2 = Tensor::uniform({8, 5}, -1, 1, gen).requires_grad_();
  Tensor u1 = Tensor::uniform({8, 6}, -1, 1, gen), u2 = Tensor::uniform({8, 6}, -1, 1, gen);
  Tensor loss = add(weighted_linear(x1, w, u1), weighted_linear(x2, w, u2));
  Tensor g;
  CHECK(weight_grad_calls([&] { g = grad({loss}, {w}, {.create_graph = true})[0]; }) ==
        std::vector<std::string>{"TN M=6 N=5 K=8 beta 0", "TN M=6 N=5 K=8 beta 0"});
  CHECK(g.requires_grad());  // u1^T x1 + u2^T x2, through x1 and x2
  CHECK(max_difference(g, add(matmul(u1, x1, true, false), matmul(u2, x2, true, false))) <= 1e-5f);
  const GradcheckResult r = gradgradcheck(
      [](const TensorList& in) { return add(linear(in[1], in[0]), linear(in[2], in[0])); },
      {w, x1, x2});
  CHECK_MESSAGE(r.ok, r.message);
}
