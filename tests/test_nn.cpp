// Modules: registration, traversal, modes, summaries, initializers, checkpoints, custom graphs.
#include <doctest/doctest.h>

#include <cmath>

#include "minimax.h"
#include "models/nn/init.h"
#include "models/nn/layers.h"

using namespace minimax;
using namespace minimax::nn;

namespace {

// A user-defined generator with two inputs (noise and a one-hot label), a concatenation and a skip
// connection: the kind of graph Sequential cannot express.
class ConditionalBlock : public Module {
 public:
  ConditionalBlock() : Module("ConditionalBlock") {
    embed = register_module("embed", std::make_shared<Linear>(3, 4, false));
    hidden = register_module("hidden", std::make_shared<Linear>(6, 6));
    out = register_module("out", std::make_shared<Linear>(6, 2));
  }
  using Module::forward;  // the one-input forward stays visible beside this one
  Tensor forward(const Tensor& z, const Tensor& label) {
    Tensor h = concat({z, embed->forward(label)}, 1);  // [N, 2 + 4]
    h = add(h, relu(hidden->forward(h)));              // skip connection
    return out->forward(h);
  }
  std::shared_ptr<Linear> embed, hidden, out;
};

// A parameter "w" [2] and buffers of the given names and sizes: modules that differ only in their
// buffers.
class WithBuffers : public Module {
 public:
  explicit WithBuffers(const std::vector<std::pair<std::string, int64_t>>& buffers)
      : Module("WithBuffers") {
    w = register_parameter("w", Tensor::zeros({2}));
    for (const auto& [name, size] : buffers) register_buffer(name, Tensor::zeros({size}));
  }
  Tensor w;
};

std::vector<std::vector<float>> state_values(const Module& m) {
  std::vector<std::vector<float>> out;
  for (const auto& [name, t] : m.named_state_tensors()) out.push_back(t.to_vector());
  return out;
}

}  // namespace

TEST_CASE("named_parameters walks submodules in registration order with dotted names") {
  ConditionalBlock block;
  std::vector<std::string> names;
  for (auto& [name, t] : block.named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"embed.weight", "hidden.weight", "hidden.bias",
                                          "out.weight", "out.bias"});
  CHECK(block.parameter_count() == 12 + 36 + 6 + 12 + 2);
  for (const Tensor& p : block.parameters()) CHECK(p.requires_grad());
}

TEST_CASE("a user-defined module with several inputs, concat and a skip connection trains") {
  ConditionalBlock block;
  Generator gen(2);
  Tensor z = Tensor::normal({5, 2}, 0, 1, gen);
  Tensor label = Tensor::zeros({5, 3});
  for (int i = 0; i < 5; ++i) label.data()[i * 3 + i % 3] = 1.0f;
  Tensor y = block.forward(z, label);
  CHECK(y.shape() == Shape{5, 2});
  sum(square(y)).backward();
  for (auto& [name, p] : block.named_parameters()) {
    INFO(name);
    CHECK(p.grad().defined());
  }
  block.zero_grad();
  for (const Tensor& p : block.parameters()) CHECK_FALSE(p.grad().defined());
  CHECK_THROWS_AS(block(z), std::logic_error);  // it has no one-input forward
}

TEST_CASE("Sequential applies its modules in order") {
  auto l1 = std::make_shared<Linear>(4, 3);
  auto l2 = std::make_shared<Linear>(3, 2);
  Sequential seq{l1, std::make_shared<Tanh>(), l2};
  CHECK(seq.size() == 3);
  Generator gen(1);
  Tensor x = Tensor::uniform({2, 4}, -1, 1, gen);
  CHECK(seq(x).to_vector() == l2->forward(tanh(l1->forward(x))).to_vector());
  CHECK(seq.named_parameters()[0].first == "0.weight");
  CHECK_THROWS_AS(seq.push_back(nullptr), std::invalid_argument);
}

// A ReLU that doubles: a subclass with a forward of its own, which Sequential must run as written.
class DoublingReLU : public ReLU {
 public:
  Tensor forward(const Tensor& x) override { return mul(relu(x), 2.0f); }
};

// Sequential runs BatchNorm + ReLU / LeakyReLU as batch_norm_leaky_relu (its node says so) with
// the values of the modules run one by one, in training and in eval, and leaves any other pair,
// and a subclass, to its own forward.
TEST_CASE("Sequential fuses a BatchNorm with the ReLU or LeakyReLU after it") {
  Generator gen(3);
  Tensor x = Tensor::uniform({4, 3, 2, 2}, -1, 1, gen);
  for (bool training : {true, false})
    for (float slope : {0.0f, 0.2f}) {
      CAPTURE(training);
      CAPTURE(slope);
      auto norm = std::make_shared<BatchNorm2d>(3);
      std::shared_ptr<Module> act = slope == 0.0f
                                        ? std::shared_ptr<Module>(std::make_shared<ReLU>())
                                        : std::make_shared<LeakyReLU>(slope);
      auto seq = sequential({norm, act});
      auto twin = std::make_shared<BatchNorm2d>(3);
      twin->copy_state_from(*norm);
      if (!training) {
        seq->eval();
        twin->eval();
      }
      Tensor y = (*seq)(x);
      REQUIRE(y.grad_fn() != nullptr);
      CHECK(std::string(y.grad_fn()->name) == "batch_norm_leaky_relu");
      CHECK(y.to_vector() == leaky_relu(twin->forward(x), slope).to_vector());
      CHECK(norm->running_mean.to_vector() == twin->running_mean.to_vector());
    }
  auto doubled = sequential({std::make_shared<BatchNorm2d>(3), std::make_shared<DoublingReLU>()});
  Tensor y = (*doubled)(x);
  CHECK(std::string(y.grad_fn()->name) != "batch_norm_leaky_relu");
  BatchNormState fresh;
  CHECK(y.to_vector() ==
        mul(relu(batch_norm(x, Tensor::ones({3}), Tensor::zeros({3}), fresh, true)), 2.0f)
            .to_vector());
  // An error from inside the fused pair is named as the modules run one by one name it.
  auto named = sequential({std::make_shared<BatchNorm2d>(3), std::make_shared<ReLU>()});
  named->set_name("D");
  CHECK_THROWS_WITH_AS((*named)(Tensor::ones({4, 3})),
                       doctest::Contains("D.0: BatchNorm2d: expects a rank-4 input, got [4, 3]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS((*named)(Tensor::ones({4, 5, 2, 2})),
                       doctest::Contains("D.0: batch_norm: weight [3] does not match the 5"),
                       std::invalid_argument);
  // A batch norm last, or followed by something else, runs alone.
  auto last = sequential({std::make_shared<ReLU>(), std::make_shared<BatchNorm2d>(3)});
  CHECK(std::string((*last)(x).grad_fn()->name) == "batch_norm");
}

// A residual stack whose forward connects its blocks itself: what ModuleList is for.
class ResidualStack : public Module {
 public:
  explicit ResidualStack(int depth) : Module("ResidualStack") {
    blocks = register_module("blocks", std::make_shared<ModuleList>());
    for (int i = 0; i < depth; ++i)
      blocks->push_back(std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
          std::make_shared<Linear>(3, 3), std::make_shared<Functional>(leaky_relu, 0.2f)}));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = x;
    for (size_t i = 0; i < blocks->size(); ++i) h = add(h, (*(*blocks)[i])(h));
    return h;
  }
  std::shared_ptr<ModuleList> blocks;
};

TEST_CASE("ModuleList registers its modules as 0, 1, ... and leaves the wiring to its owner") {
  ResidualStack net(2);
  std::vector<std::string> names;
  for (auto& [name, t] : net.named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"blocks.0.0.weight", "blocks.0.0.bias",
                                          "blocks.1.0.weight", "blocks.1.0.bias"});
  REQUIRE(net.blocks->size() == 2);
  auto lin0 = net.blocks->at<Sequential>(0)->at<Linear>(0);
  auto lin1 = net.blocks->at<Sequential>(1)->at<Linear>(0);
  Generator gen(3);
  Tensor x = Tensor::uniform({4, 3}, -1, 1, gen);
  Tensor h = add(x, leaky_relu(lin0->forward(x), 0.2f));
  Tensor expected = add(h, leaky_relu(lin1->forward(h), 0.2f));
  CHECK(net(x).to_vector() == expected.to_vector());
  // Every block's parameters get their gradient through the owner's forward.
  sum(square(net(x))).backward();
  for (auto& [name, p] : net.named_parameters()) {
    INFO(name);
    CHECK(p.grad().defined());
  }
  // eval reaches the modules in the list.
  net.eval();
  CHECK_FALSE(net.blocks->at<Sequential>(1)->is_training());
  // A list holds modules; it does not call them.
  CHECK_THROWS_AS((*net.blocks)(x), std::logic_error);
  CHECK_THROWS_WITH_AS(net.blocks->at<Linear>(1),
                       "ModuleList: module 1 is a Sequential, not a minimax::nn::Linear",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS((*net.blocks)[2], "ModuleList: index 2 is past its 2 modules",
                       std::out_of_range);
  CHECK_THROWS_AS(net.blocks->push_back(nullptr), std::invalid_argument);
  ModuleList empty;
  CHECK(empty.empty());
  // Sequential is a ModuleList that calls its modules in order.
  Sequential seq{std::make_shared<Identity>(), std::make_shared<Tanh>()};
  CHECK(seq.at<Identity>(0)->type_name() == "Identity");
  CHECK(seq(x).to_vector() == tanh(x).to_vector());
}

TEST_CASE("Functional calls its function, with any arguments after the input bound") {
  Generator gen(5);
  Tensor x = Tensor::uniform({3, 4}, -2, 2, gen).requires_grad_();
  Functional plain(relu);
  Functional bound(leaky_relu, 0.1f);
  Functional lambda([](const Tensor& t) { return mul(t, 3.0f); });
  CHECK(plain(x).to_vector() == relu(x).to_vector());
  CHECK(bound(x).to_vector() == leaky_relu(x, 0.1f).to_vector());
  CHECK(lambda(x).to_vector() == mul(x, 3.0f).to_vector());
  // The gradient goes through the function: d/dx sum(leaky_relu(x, 0.1)) is 1 or 0.1.
  Tensor g = grad({sum(bound(x))}, {x})[0];
  const std::vector<float> xs = x.to_vector(), gs = g.to_vector();
  for (size_t i = 0; i < xs.size(); ++i) CHECK(gs[i] == (xs[i] > 0 ? 1.0f : 0.1f));
  CHECK(plain.parameters().empty());
  CHECK(plain.type_name() == "Functional");
  CHECK_THROWS_AS(Functional(std::function<Tensor(const Tensor&)>()), std::invalid_argument);
  CHECK(SiLU()(x).to_vector() == silu(x).to_vector());
  CHECK(GELU()(x).to_vector() == gelu(x).to_vector());
  CHECK(GELU("tanh")(x).to_vector() == gelu(x, "tanh").to_vector());
  CHECK(GELU("tanh").describe() == "GELU(approximate=tanh)");
  CHECK_THROWS_AS(GELU("erf"), std::invalid_argument);
  // Identity passes its input and its gradient through unchanged.
  Identity id;
  CHECK(id(x).to_vector() == xs);
  Tensor gi = grad({sum(mul(id(x), 2.0f))}, {x})[0];
  for (float v : gi.to_vector()) CHECK(v == 2.0f);
}

TEST_CASE("train and eval switch dropout and batch norm recursively") {
  auto drop = std::make_shared<Dropout>(0.5f);
  auto bn = std::make_shared<BatchNorm1d>(3);
  Sequential seq{bn, drop};
  Generator gen(4);
  Tensor x = Tensor::uniform({8, 3}, 1, 2, gen);
  seq.eval();
  CHECK_FALSE(drop->is_training());
  // eval: running stats are (0, 1), so batch norm is ~identity and dropout is identity.
  std::vector<float> y = seq(x).to_vector(), xs = x.to_vector();
  for (size_t i = 0; i < y.size(); ++i)
    CHECK(y[i] == doctest::Approx(xs[i] / std::sqrt(1 + 1e-5f)));
  seq.train();
  CHECK(bn->is_training());
  Tensor t = seq(x);
  int zeros = 0;
  for (float v : t.to_vector()) zeros += v == 0.0f;
  CHECK(zeros > 0);                           // dropout active
  CHECK(bn->running_mean.data()[0] != 0.0f);  // the running mean moved toward the batch mean
}

TEST_CASE("module errors: bad sizes, duplicate names, wrong input rank") {
  CHECK_THROWS_AS(Linear(0, 3), std::invalid_argument);
  CHECK_THROWS_AS(Conv2d(3, 4, 0), std::invalid_argument);
  CHECK_THROWS_AS(Dropout(1.0f), std::invalid_argument);
  CHECK_THROWS_AS(Maxout(4, 3, 0), std::invalid_argument);
  // Options were checked only at the first forward; a rank of 5 built a "BatchNorm2d".
  CHECK_THROWS_WITH_AS(BatchNorm(3, 5), doctest::Contains("BatchNorm: rank 5"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(BatchNorm2d(3, {.eps = -1.0f}),
                       doctest::Contains("BatchNorm2d: eps -1 must be finite"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(BatchNorm1d(3, {.momentum = 2.0f}),
                       doctest::Contains("BatchNorm1d: momentum 2 must be in [0, 1]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(Maxout(3, 0, 2), doctest::Contains("Maxout: units must be positive"),
                       std::invalid_argument);  // it named Linear's out_features
  BatchNorm2d bn(3);
  CHECK_THROWS_WITH_AS(bn(Tensor::ones({2, 3})), doctest::Contains("rank-4"),
                       std::invalid_argument);
  Linear lin(4, 3);
  CHECK_THROWS_WITH_AS(lin(Tensor::ones({2, 5})), doctest::Contains("linear"),
                       std::invalid_argument);
  struct Dup : Module {
    Dup() {
      register_parameter("w", Tensor::ones({1}));
      register_parameter("w", Tensor::ones({1}));
    }
  };
  CHECK_THROWS_WITH_AS(Dup(), doctest::Contains("already registered"), std::invalid_argument);
}

TEST_CASE("module errors: a null child, a cycle and an empty batch are refused, not crashed on") {
  struct Holder : Module {
    explicit Holder(std::shared_ptr<Module> child) { register_module("child", std::move(child)); }
  };
  CHECK_THROWS_WITH_AS(Holder(nullptr), doctest::Contains("child module 'child' is null"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS((Sequential{std::make_shared<ReLU>(), nullptr}),
                       doctest::Contains("child module '1' is null"), std::invalid_argument);
  // A module that held itself made parameters() recurse until the stack ran out.
  auto outer = std::make_shared<Sequential>(), inner = std::make_shared<Sequential>();
  outer->push_back(inner);
  CHECK_THROWS_WITH_AS(outer->push_back(outer), doctest::Contains("would make a cycle"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(inner->push_back(outer), doctest::Contains("would make a cycle"),
                       std::invalid_argument);
  CHECK(outer->size() == 1);
  inner->push_back(std::make_shared<Linear>(2, 2));  // the same module twice is no cycle
  outer->push_back(inner->named_children()[0].second);
  CHECK(outer->size() == 2);
  // MinibatchStdDev divided by its group's size, min(group, batch), which is 0 for no batch.
  MinibatchStdDev stddev(4);
  CHECK_THROWS_WITH_AS(stddev(Tensor::ones({0, 3, 2, 2})), doctest::Contains("the batch is empty"),
                       std::invalid_argument);
}

TEST_CASE("layers produce PyTorch's shapes") {
  Generator gen(3);
  Tensor img = Tensor::uniform({2, 1, 28, 28}, -1, 1, gen);
  Conv2d conv(1, 64, 4, {.stride = 2, .padding = 1});
  CHECK(conv(img).shape() == Shape{2, 64, 14, 14});
  ConvTranspose2d up(64, 1, 4, {.stride = 2, .padding = 1});
  CHECK(up(conv(img)).shape() == Shape{2, 1, 28, 28});
  Maxout mo(784, 240, 5);
  CHECK(mo(flatten(img)).shape() == Shape{2, 240});
  Reshape back({-1, 1, 28, 28});
  CHECK(back(flatten(img)).shape() == Shape{2, 1, 28, 28});
  CHECK(BatchNorm2d(64)(conv(img)).shape() == Shape{2, 64, 14, 14});
}

TEST_CASE("summary lists each layer, its parameter shapes and counts") {
  Sequential seq{std::make_shared<Linear>(100, 1200), std::make_shared<ReLU>(),
                 std::make_shared<Maxout>(1200, 240, 5)};
  std::string s = seq.summary();
  CHECK(s.find("Sequential") != std::string::npos);
  CHECK(s.find("0: Linear(100 -> 1200) weight [1200, 100] bias [1200]  (121200 parameters)") !=
        std::string::npos);
  CHECK(s.find("2: Maxout(1200 -> 240 units x 5 pieces)") != std::string::npos);
  CHECK(s.find(std::to_string(seq.parameter_count()) + " parameters") != std::string::npos);
}

TEST_CASE("default initialization follows PyTorch's bounds") {
  manual_seed(0);
  Linear lin(400, 300);
  float bound = 1.0f / 20.0f;
  float lo = 1, hi = -1;
  for (float v : lin.weight.to_vector()) lo = std::min(lo, v), hi = std::max(hi, v);
  CHECK(lo >= -bound);
  CHECK(hi <= bound);
  CHECK(hi > 0.9f * bound);  // the whole range is used
  ConvTranspose2d up(64, 8, 4);
  CHECK(init::fan_in(up.weight) == 8 * 16);
}

TEST_CASE("initializers and a checkpoint refuse to write under autograd history, and count") {
  Generator gen(3);
  Tensor leaf = Tensor::zeros({4}).requires_grad_();
  Tensor derived = mul(leaf, 2.0f);  // a value a recorded op computed, which its backward may use
  CHECK_THROWS_WITH_AS(init::uniform_(derived, -1, 1, gen), doctest::Contains("autograd history"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(init::normal_(derived, 0, 1, gen), doctest::Contains("autograd history"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(init::constant_(derived, 1), doctest::Contains("autograd history"),
                       std::invalid_argument);
  Checkpoint c;
  c.tensors["x"] = Tensor::ones({4});
  CHECK_THROWS_WITH_AS(c.restore("x", derived), doctest::Contains("carries autograd history"),
                       std::invalid_argument);
  const uint64_t version = leaf.version();
  init::uniform_(leaf, -1, 1, gen);
  CHECK(leaf.version() == version + 1);
  // The same draws as Tensor::uniform from the same generator state.
  Generator a(7), b(7);
  Tensor w = Tensor::empty({5});
  init::uniform_(w, -2, 3, a);
  CHECK(w.to_vector() == Tensor::uniform({5}, -2, 3, b).to_vector());
}

TEST_CASE("initializers: fans, gains and the spread they promise") {
  Tensor w = Tensor::empty({300, 200});
  CHECK(init::fan_in(w) == 200);
  CHECK(init::fan_out(w) == 300);
  CHECK(init::fan_in(Tensor::empty({8, 3, 5, 5})) == 75);
  CHECK(init::gain(init::Nonlinearity::kRelu) == doctest::Approx(std::sqrt(2.0f)));
  CHECK(init::gain(init::Nonlinearity::kTanh) == doctest::Approx(5.0f / 3.0f));
  auto stddev = [](const Tensor& t) {
    double s = 0, s2 = 0;
    for (float v : t.to_vector()) s += v, s2 += double(v) * v;
    double m = s / t.numel();
    return std::sqrt(s2 / t.numel() - m * m);
  };
  Generator gen(9);
  init::xavier_uniform_(w, 1.0f, gen);  // U(-a, a): std a / sqrt(3), a = sqrt(6 / 500)
  CHECK(stddev(w) == doctest::Approx(std::sqrt(6.0 / 500) / std::sqrt(3.0)).epsilon(0.03));
  init::xavier_normal_(w, 1.0f, gen);
  CHECK(stddev(w) == doctest::Approx(std::sqrt(2.0 / 500)).epsilon(0.03));
  init::kaiming_normal_(w, 0.0f, init::FanMode::kFanIn, init::Nonlinearity::kRelu, gen);
  CHECK(stddev(w) == doctest::Approx(std::sqrt(2.0 / 200)).epsilon(0.03));
  init::kaiming_uniform_(w, 0.0f, init::FanMode::kFanOut, init::Nonlinearity::kRelu, gen);
  CHECK(stddev(w) == doctest::Approx(std::sqrt(2.0 / 300)).epsilon(0.03));
  init::normal_(w, 0.0f, 0.02f, gen);
  CHECK(stddev(w) == doctest::Approx(0.02).epsilon(0.03));
  init::uniform_(w, -0.05f, 0.05f, gen);
  CHECK(stddev(w) == doctest::Approx(0.1 / std::sqrt(12.0)).epsilon(0.03));
  init::constant_(w, 0.25f);
  CHECK(w.data()[123] == 0.25f);
  CHECK_THROWS_AS(init::fan_in(Tensor::empty({5})), std::invalid_argument);
  CHECK_THROWS_AS(init::normal_(w, 0.0f, -1.0f, gen), std::invalid_argument);
}

TEST_CASE("a module saves to and loads from a checkpoint, buffers included") {
  manual_seed(1);
  Sequential a{std::make_shared<Linear>(4, 3), std::make_shared<BatchNorm1d>(3)};
  a.train();
  Generator gen(2);
  a(Tensor::uniform({6, 4}, -1, 1, gen));  // moves the running statistics
  Checkpoint c;
  a.save(c, "D");
  CHECK(c.tensors.count("D/1.running_mean") == 1);
  manual_seed(99);
  Sequential b{std::make_shared<Linear>(4, 3), std::make_shared<BatchNorm1d>(3)};
  b.load(c, "D");
  auto pa = a.named_parameters(), pb = b.named_parameters();
  for (size_t i = 0; i < pa.size(); ++i)
    CHECK(pa[i].second.to_vector() == pb[i].second.to_vector());
  CHECK(a.named_buffers()[0].second.to_vector() == b.named_buffers()[0].second.to_vector());
  Sequential other{std::make_shared<Linear>(4, 5)};
  CHECK_THROWS_WITH_AS(other.load(c, "D"), doctest::Contains("0.weight"), CheckpointError);
  // A checkpoint that fits only in part changes nothing: its first entries fit, the last does not.
  Sequential part{std::make_shared<Linear>(4, 3), std::make_shared<BatchNorm1d>(5)};
  const std::vector<float> before = part.named_parameters()[0].second.to_vector();
  CHECK_THROWS_WITH_AS(part.load(c, "D"), doctest::Contains("1.weight"), CheckpointError);
  CHECK(part.named_parameters()[0].second.to_vector() == before);
  // A shallower network than the one saved: the saved layer 1 has no place in it.
  Sequential shallow{std::make_shared<Linear>(4, 3)};
  CHECK_THROWS_WITH_AS(shallow.load(c, "D"),
                       doctest::Contains("'D/1.bias' has no place in the Sequential"),
                       CheckpointError);
}

TEST_CASE("EvalModeGuard gives every module its own mode back, also when the scope throws") {
  Sequential net{std::make_shared<Dropout>(0.5f), std::make_shared<BatchNorm1d>(3)};
  net.train();
  net.named_children()[1].second->eval();  // a mixed state: only the batch norm in eval mode
  try {
    EvalModeGuard eval(net);
    CHECK_FALSE(net.is_training());
    CHECK_FALSE(net.named_children()[0].second->is_training());
    throw std::runtime_error("inside");
  } catch (const std::runtime_error&) {
  }
  CHECK(net.is_training());
  CHECK(net.named_children()[0].second->is_training());
  CHECK_FALSE(net.named_children()[1].second->is_training());
}

TEST_CASE("named_state_tensors lists every parameter, then every buffer, in registration order") {
  Sequential m{std::make_shared<Linear>(4, 3), std::make_shared<BatchNorm1d>(3),
               std::make_shared<Linear>(3, 2)};
  std::vector<std::string> names;
  for (const auto& [name, t] : m.named_state_tensors()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "2.weight",
                                          "2.bias", "1.running_mean", "1.running_var"});
  // The same handles as the module's own.
  CHECK(m.named_state_tensors()[6].second.data() == m.named_buffers()[0].second.data());
}

TEST_CASE("copy_state_from copies every parameter and buffer into an independent module") {
  manual_seed(1);
  Sequential a{std::make_shared<Linear>(4, 3), std::make_shared<BatchNorm1d>(3)};
  Generator gen(2);
  a(Tensor::uniform({6, 4}, -1, 1, gen));  // moves the running statistics off their start
  manual_seed(99);
  Sequential b{std::make_shared<Linear>(4, 3), std::make_shared<BatchNorm1d>(3)};
  REQUIRE(state_values(a) != state_values(b));
  b.copy_state_from(a);
  CHECK(state_values(b) == state_values(a));
  // Values, not handles: changing either module leaves the other as it was.
  const auto copied = state_values(b);
  for (auto& [name, t] : a.named_state_tensors()) t.detach().fill_(7.0f);
  CHECK(state_values(b) == copied);
  for (auto& [name, t] : b.named_state_tensors()) t.detach().fill_(-1.0f);
  for (const auto& values : state_values(a))
    for (float v : values) CHECK(v == 7.0f);
  // The copy recorded nothing: b's parameters are still leaves that train.
  for (const Tensor& p : b.parameters()) {
    CHECK(p.is_leaf());
    CHECK(p.requires_grad());
  }
}

TEST_CASE("copy_state_from refuses another architecture, naming what differs, and copies nothing") {
  using doctest::Contains;
  Sequential one{std::make_shared<Linear>(4, 3)};
  Sequential two{std::make_shared<Linear>(4, 3), std::make_shared<Linear>(3, 2)};
  CHECK_THROWS_WITH_AS(one.copy_state_from(two),
                       Contains("the source has 4 parameters, this one 2"), std::invalid_argument);
  // Same shapes, other names.
  Linear bare(4, 3);
  CHECK_THROWS_WITH_AS(one.copy_state_from(bare),
                       Contains("the source's parameter weight [3, 4] differs from this one's "
                                "0.weight [3, 4]"),
                       std::invalid_argument);
  Linear wider(4, 5);
  CHECK_THROWS_WITH_AS(bare.copy_state_from(wider),
                       Contains("the source's parameter weight [5, 4] differs from this one's "
                                "weight [3, 4]"),
                       std::invalid_argument);
  // Buffers are checked as parameters are, before anything is copied.
  WithBuffers target({{"b", 3}}), shorter({{"b", 2}}), renamed({{"c", 3}}),
      more({{"b", 3}, {"c", 1}});
  for (WithBuffers* m : {&shorter, &renamed, &more}) m->w.detach().fill_(5.0f);
  CHECK_THROWS_WITH_AS(target.copy_state_from(shorter),
                       Contains("the source's buffer b [2] differs from this one's b [3]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(target.copy_state_from(renamed),
                       Contains("the source's buffer c [3] differs from this one's b [3]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(target.copy_state_from(more),
                       Contains("the source has 2 buffers, this one 1"), std::invalid_argument);
  CHECK(target.w.to_vector() == std::vector<float>{0.0f, 0.0f});
}

TEST_CASE("named_modules and apply walk the whole module depth first; requires_grad_ freezes") {
  auto body = sequential({std::make_shared<Linear>(2, 3), std::make_shared<ReLU>()});
  Sequential net({body, std::make_shared<Linear>(3, 1)});
  std::vector<std::string> names;
  for (auto& [name, m] : net.named_modules()) names.push_back(name + "=" + m->type_name());
  CHECK(names == std::vector<std::string>{"=Sequential", "0=Sequential", "0.0=Linear", "0.1=ReLU",
                                          "1=Linear"});
  int linears = 0;
  net.apply([&](Module& m) { linears += m.type_name() == "Linear"; });
  CHECK(linears == 2);

  // A frozen part gets no gradient; the rest still does. An optimizer built before the freeze
  // skips the frozen parameters: they keep their values.
  optim::SGD sgd(net.parameters(), optim::SGDOptions(0.1));
  body->requires_grad_(false);
  Tensor x = Tensor::ones({4, 2});
  sum(net(x)).backward();
  for (auto& [name, p] : net.named_parameters()) {
    CAPTURE(name);
    CHECK(p.requires_grad() == !name.starts_with("0."));
    CHECK(p.grad().defined() == !name.starts_with("0."));
  }
  Tensor frozen = body->parameters()[0].detach().clone();
  sgd.step();
  CHECK(body->parameters()[0].to_vector() == frozen.to_vector());
  body->requires_grad_(true);
  CHECK(body->parameters()[0].requires_grad());
}

TEST_CASE("an error inside a module names the path of modules it happened in") {
  auto d = sequential({std::make_shared<Linear>(4, 8),
                       sequential({std::make_shared<ReLU>(), std::make_shared<Linear>(5, 1)})});
  d->set_name("D");
  try {
    (*d)(Tensor::ones({2, 4}));
    FAIL("a [2, 8] input reached a Linear(5 -> 1)");
  } catch (const ModuleError& e) {
    CHECK(e.path() == "D.1.1");
    CHECK(std::string(e.what()).starts_with("D.1.1: linear: "));
  }
  // Still an invalid_argument, as the op's own error; unnamed top-level modules add nothing.
  Linear lone(4, 3);
  try {
    lone(Tensor::ones({2, 5}));
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).starts_with("linear"));
  }
  // The bundled GANs name their networks G and D.
  gan::GanModel m = gan::mixture_mlp();
  try {
    (*m.discriminator)(Tensor::ones({3, 5}));
    FAIL("a [3, 5] input reached the mixture MLP's D");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).starts_with("D.0: "));
  }
}
