// Steady state: a repeated training step builds no new oneDNN primitive and asks the system for no
// new tensor memory (counts, not times).
#include <doctest/doctest.h>

#include "examples/cli/bench_iteration.h"
#include "minimax.h"
#include "ops/dnnl/context.h"

using namespace minimax;

namespace {

// One D step and one G step of a small MLP GAN, with plain SGD.
struct TinyGan {
  Generator gen{11};
  Tensor gw1 = Tensor::uniform({32, 8}, -0.3f, 0.3f, gen).requires_grad_();
  Tensor gw2 = Tensor::uniform({16, 32}, -0.3f, 0.3f, gen).requires_grad_();
  Tensor dw1 = Tensor::uniform({40, 16}, -0.3f, 0.3f, gen).requires_grad_();
  Tensor db1 = Tensor::zeros({40}).requires_grad_();
  Tensor dw2 = Tensor::uniform({1, 10}, -0.3f, 0.3f, gen).requires_grad_();

  Tensor g(const Tensor& z) { return sigmoid(linear(relu(linear(z, gw1)), gw2)); }
  Tensor d(const Tensor& x) {
    Generator drop(3);
    return linear(maxout(dropout(linear(x, dw1, db1), 0.5f, true, drop), 4), dw2);
  }
  void sgd(TensorList params) {
    NoGradGuard no_grad;
    for (Tensor& p : params) {
      p.copy_(sub(p, mul(p.grad(), 0.01f)));
      p.zero_grad();
    }
  }
  void step() {
    Tensor real = Tensor::uniform({20, 16}, 0, 1, gen);
    Tensor fake;
    {
      NoGradGuard no_grad;
      fake = g(Tensor::uniform({20, 8}, -1, 1, gen));
    }
    Tensor d_loss = neg(add(mean(log_sigmoid(d(real))), mean(log_sigmoid(neg(d(fake))))));
    d_loss.backward();
    sgd({dw1, db1, dw2});
    Tensor g_loss = neg(mean(log_sigmoid(d(g(Tensor::uniform({20, 8}, -1, 1, gen))))));
    g_loss.backward();
    for (Tensor p : {dw1, db1, dw2}) p.zero_grad();
    sgd({gw1, gw2});
  }
};

}  // namespace

TEST_CASE("a repeated training step builds no primitive and allocates no tensor memory") {
  TinyGan gan;
  gan.step();
  gan.step();
  int64_t primitives = dnnl_ctx::primitives_created();
  int64_t allocations = CachingAllocator::instance().stats().system_allocations;
  for (int i = 0; i < 5; ++i) gan.step();
  CHECK(dnnl_ctx::primitives_created() == primitives);
  CHECK(CachingAllocator::instance().stats().system_allocations == allocations);
}

// The ops GANs since DCGAN use (issue 13): a step through each of them, with a gradient penalty so
// that the recorded backwards run too, reaches the same steady state.
TEST_CASE("a repeated step through the newer GAN ops builds no primitive and allocates nothing") {
  Generator gen(5);
  Tensor embed = Tensor::uniform({10, 4}, -1, 1, gen).requires_grad_();
  Tensor conv_w = Tensor::uniform({8, 2, 3, 3}, -0.3f, 0.3f, gen).requires_grad_();  // groups 2
  Tensor gn_w = Tensor::ones({8}).requires_grad_(), gn_b = Tensor::zeros({8}).requires_grad_();
  Tensor head = Tensor::uniform({10, 32}, -0.3f, 0.3f, gen).requires_grad_();
  Tensor labels = Tensor::from_vector({3, 1, 4, 1, 5, 9}, {6});
  auto step = [&] {
    Tensor x = Tensor::uniform({6, 4, 2, 2}, -1, 1, gen).requires_grad_();
    Tensor h = add(x, reshape(embedding(embed, labels), {6, 4, 1, 1}));
    h = conv2d(upsample_nearest2d(h, 2), conv_w, Tensor(), {.padding = 1, .groups = 2});
    h = pixel_shuffle(leaky_relu(group_norm(h, 4, gn_w, gn_b), 0.2f), 2);  // [6, 2, 8, 8]
    h = upsample_bilinear2d(avg_pool2d(h, 4), 2);                          // [6, 2, 4, 4]
    Tensor logits = linear(layer_norm(flatten(h), {32}), head);
    Tensor loss = add(cross_entropy(logits, labels), mean(softmax(logits, 1)));
    Tensor gx = grad({loss}, {x}, {.create_graph = true})[0];
    add(loss, mean(square(gx))).backward();
    for (Tensor p : {embed, conv_w, gn_w, gn_b, head}) p.zero_grad();
  };
  step();
  step();
  int64_t primitives = dnnl_ctx::primitives_created();
  int64_t allocations = CachingAllocator::instance().stats().system_allocations;
  for (int i = 0; i < 3; ++i) step();
  CHECK(dnnl_ctx::primitives_created() == primitives);
  CHECK(CachingAllocator::instance().stats().system_allocations == allocations);
}

TEST_CASE("set_num_threads rejects a non-positive count and is honoured") {
  CHECK_THROWS_AS(set_num_threads(0), std::invalid_argument);
  int before = num_threads();
  set_num_threads(1);
  CHECK(num_threads() == 1);
  set_num_threads(before);
}

// `minimax bench`'s iteration at a small batch: the same ops, layouts and optimizers.
TEST_CASE("a steady-state training step of the paper MLP and of DCGAN allocates nothing new") {
  for (std::string model : {"mlp", "dcgan"}) {
    CAPTURE(model);
    cli::BenchIteration iteration(model, 6, 4);
    iteration.step();
    iteration.step();
    int64_t primitives = dnnl_ctx::primitives_created();
    int64_t allocations = CachingAllocator::instance().stats().system_allocations;
    for (int i = 0; i < 3; ++i) iteration.step();
    CHECK(dnnl_ctx::primitives_created() == primitives);
    CHECK(CachingAllocator::instance().stats().system_allocations == allocations);
  }
}

TEST_CASE("the bench iteration names a model it does not have") {
  CHECK_THROWS_WITH_AS(cli::BenchIteration("resnet", 6, 1),
                       "BenchIteration: model 'resnet' (mlp or dcgan)", std::invalid_argument);
}
