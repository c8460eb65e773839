// A run resumed from a checkpoint continues bit for bit as if it had never stopped.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "minimax.h"
#include "models/optim/optimizer.h"

using namespace minimax;
using namespace minimax::nn;

namespace {

// A small GAN that exercises every kind of state a checkpoint must carry: parameters, batch-norm
// buffers, Adam moments and step counts, SGD momentum buffers, the data generator and the default
// generator (dropout masks).
struct Run {
  Generator data_gen;
  std::shared_ptr<Sequential> g, d;
  std::unique_ptr<optim::Adam> g_opt;
  std::unique_ptr<optim::SGD> d_opt;

  explicit Run(uint64_t seed) : data_gen(seed) {
    manual_seed(seed);
    g = sequential({std::make_shared<Linear>(4, 16), std::make_shared<BatchNorm1d>(16),
                    std::make_shared<ReLU>(), std::make_shared<Linear>(16, 2)});
    d = sequential({std::make_shared<Linear>(2, 16), std::make_shared<LeakyReLU>(0.2f),
                    std::make_shared<Dropout>(0.3f), std::make_shared<Linear>(16, 1)});
    g_opt = std::make_unique<optim::Adam>(g->parameters(),
                                          optim::AdamOptions(1e-3).betas({0.5, 0.999}));
    d_opt = std::make_unique<optim::SGD>(d->parameters(), optim::SGDOptions(0.05).momentum(0.5));
  }

  void step() {
    Tensor real = Tensor::normal({32, 2}, 1.0f, 0.5f, data_gen);
    Tensor fake;
    {
      NoGradGuard no_grad;
      fake = (*g)(Tensor::uniform({32, 4}, -1, 1, data_gen));
    }
    d_opt->zero_grad();
    neg(add(mean(log_sigmoid((*d)(real))), mean(log_sigmoid(neg((*d)(fake)))))).backward();
    d_opt->step();
    g_opt->zero_grad();
    neg(mean(log_sigmoid((*d)((*g)(Tensor::uniform({32, 4}, -1, 1, data_gen)))))).backward();
    g_opt->step();
  }

  Checkpoint save() const {
    Checkpoint c;
    g->save(c, "G");
    d->save(c, "D");
    g_opt->save_state(c, "opt_G");
    d_opt->save_state(c, "opt_D");
    save_generator(c, "rng/data", data_gen);
    save_generator(c, "rng/default", default_generator());
    return c;
  }

  void load(const Checkpoint& c) {
    g->load(c, "G");
    d->load(c, "D");
    g_opt->load_state(c, "opt_G");
    d_opt->load_state(c, "opt_D");
    load_generator(c, "rng/data", data_gen);
    load_generator(c, "rng/default", default_generator());
  }

  std::vector<float> all_state() const {
    std::vector<float> out;
    for (const auto& m : {g, d}) {
      for (auto& [name, t] : m->named_parameters())
        out.insert(out.end(), t.data(), t.data() + t.numel());
      for (auto& [name, t] : m->named_buffers())
        out.insert(out.end(), t.data(), t.data() + t.numel());
    }
    return out;
  }
};

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("a run resumed from a checkpoint file matches an uninterrupted run bit for bit") {
  const ScopedThreads two(2);
  Run straight(7);
  for (int i = 0; i < 10; ++i) straight.step();

  std::filesystem::path file = std::filesystem::temp_directory_path() /
                               ("minimax-resume-" + std::to_string(::getpid()) + ".ckpt");
  {
    Run first_half(7);
    for (int i = 0; i < 5; ++i) first_half.step();
    save_checkpoint(first_half.save(), file);
  }
  Run resumed(12345);  // different initial weights and generators: all must come from the file
  resumed.load(load_checkpoint(file));
  for (int i = 0; i < 5; ++i) resumed.step();
  std::filesystem::remove(file);

  CHECK(bitwise_equal(straight.all_state(), resumed.all_state()));
  // And the check has teeth: one more step differs.
  resumed.step();
  CHECK_FALSE(bitwise_equal(straight.all_state(), resumed.all_state()));
}
