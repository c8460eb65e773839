// Data-parallel training without MPI: the Communicator helpers against a simulated second rank, the
// trainer's hooks, per-rank random streams, and how a Session shards data and noise.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "examples/cli/session.h"
#include "minimax.h"
#include "models/data/idx.h"
#include "models/dist/data_parallel.h"
#include "models/gan/trainer.h"
#include "temp_dir.h"

using namespace minimax;
using minimax::testing::TempDir;

namespace {

// Plays one rank of two. allreduce_mean averages with `peer`, the other rank's values; broadcast
// copies in `root_bytes` unless this is rank 0. Counts the calls.
class TwoRanks final : public dist::Communicator {
 public:
  explicit TwoRanks(int rank) : rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return 2; }
  void allreduce_mean(std::span<float> values) override {
    ++allreduces;
    REQUIRE(peer.size() == values.size());
    for (size_t i = 0; i < values.size(); ++i) values[i] = (values[i] + peer[i]) / 2;
  }
  void broadcast_bytes(std::span<std::byte> bytes) override {
    ++broadcasts;
    if (rank_ == 0) return;
    REQUIRE(root_bytes.size() == bytes.size());
    std::copy(root_bytes.begin(), root_bytes.end(), bytes.begin());
  }
  std::vector<uint64_t> gather(std::span<const uint64_t> words) override {
    return {words.begin(), words.end()};
  }

  std::vector<float> peer;
  std::vector<std::byte> root_bytes;
  int allreduces = 0, broadcasts = 0;

 protected:
  void end_job(int) override { throw std::logic_error("end_job"); }

 private:
  int rank_;
};

std::vector<float> floats_of(const TensorList& tensors) {
  std::vector<float> out;
  for (const Tensor& t : tensors) {
    auto v = t.to_vector();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

std::vector<std::byte> bytes_of(const std::vector<float>& v) {
  std::vector<std::byte> out(v.size() * sizeof(float));
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

std::shared_ptr<nn::Sequential> small_net() {
  return nn::sequential({std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::BatchNorm1d>(4),
                         std::make_shared<nn::Linear>(4, 1)});
}

// An IDX file of `n` 28x28 images, image i filled with the byte i: a batch row tells its image.
std::filesystem::path numbered_images(const std::filesystem::path& dir, int n) {
  std::filesystem::path file = dir / "numbered-idx3-ubyte";
  std::ofstream out(file, std::ios::binary);
  const unsigned char header[] = {0, 0, 8, 3,  0, 0, 0, static_cast<unsigned char>(n),
                                  0, 0, 0, 28, 0, 0, 0, 28};
  out.write(reinterpret_cast<const char*>(header), sizeof(header));
  for (int i = 0; i < n; ++i) out << std::string(28 * 28, static_cast<char>(i));
  return file;
}

// The image number of every image of a batch in [0, 1], whatever its layout.
std::vector<int> image_numbers(const Tensor& batch) {
  std::vector<int> out;
  const int64_t row = batch.numel() / batch.size(0);  // [N, 784] for the MLP, [N, 1, 28, 28] else
  for (int64_t r = 0; r < batch.size(0); ++r)
    out.push_back(static_cast<int>(std::lround(batch.data()[r * row] * 255)));
  return out;
}

cli::RunConfig config_for(const std::string& data, int64_t batch) {
  return cli::resolve({{"data", data}, {"batch", batch}});
}

}  // namespace

TEST_CASE("dist: a jumped Generator draws another stream, and jumping commutes with drawing") {
  Generator a(7), b(7);
  b.jump();
  CHECK(a.next_u64() != b.next_u64());
  Generator twice(7);
  twice.jump();
  twice.jump();
  Generator once(7);
  once.jump();
  CHECK(twice.next_u64() != once.next_u64());

  Generator draw_then_jump(11), jump_then_draw(11);
  for (int i = 0; i < 5; ++i) draw_then_jump.next_u64();
  draw_then_jump.jump();
  jump_then_draw.jump();
  for (int i = 0; i < 5; ++i) jump_then_draw.next_u64();
  CHECK(draw_then_jump.state() == jump_then_draw.state());

  Generator cached(3);
  cached.normal();  // leaves the pair's second value cached
  CHECK(cached.state()[4] != 0);
  cached.jump();
  CHECK(cached.state()[4] == 0);
}

TEST_CASE("dist: SingleProcess is rank 0 of 1 and leaves every value as it is") {
  dist::SingleProcess world;
  CHECK(world.rank() == 0);
  CHECK(world.size() == 1);
  CHECK(world.is_root());
  std::vector<float> v{1.5f, -2.0f};
  world.allreduce_mean(v);
  CHECK(v == std::vector<float>{1.5f, -2.0f});
  std::string text = "unchanged";
  world.broadcast(text);
  CHECK(text == "unchanged");
  std::vector<uint64_t> words{4, 5};
  CHECK(world.gather(words) == words);
}

TEST_CASE("dist: GradientAverager averages every gradient in one call over one buffer") {
  Tensor a = Tensor::zeros({2, 3}).requires_grad_();
  Tensor unused = Tensor::zeros({4}).requires_grad_();
  Tensor b = Tensor::zeros({5}).requires_grad_();
  a.set_grad(Tensor::full({2, 3}, 1.0f));
  b.set_grad(Tensor::from_vector({0, 1, 2, 3, 4}, {5}));
  TwoRanks world(1);
  dist::GradientAverager averager(world, {a, unused, b});
  CHECK(averager.floats() == 15);
  world.peer.assign(15, 3.0f);
  averager.average();
  CHECK(world.allreduces == 1);
  CHECK(a.grad().to_vector() == std::vector<float>(6, 2.0f));
  CHECK(b.grad().to_vector() == std::vector<float>{1.5f, 2.0f, 2.5f, 3.0f, 3.5f});
  CHECK_FALSE(unused.grad().defined());  // still skipped by the optimizer

  // The unused parameter's slot carried zeros: a peer's value there is averaged with 0.
  world.peer.assign(15, 0.0f);
  averager.average();
  CHECK(world.allreduces == 2);
  CHECK(a.grad().to_vector() == std::vector<float>(6, 1.0f));
}

TEST_CASE("dist: gradient_sync averages the stepping optimizer's gradients, refuses others") {
  Tensor p = Tensor::zeros({2}).requires_grad_();
  Tensor q = Tensor::zeros({3}).requires_grad_();
  Tensor r = Tensor::zeros({1}).requires_grad_();
  optim::SGD g_opt({p}, optim::SGDOptions(0.1)), d_opt({q}, optim::SGDOptions(0.1));
  optim::SGD other({r}, optim::SGDOptions(0.1));
  TwoRanks world(1);
  auto sync = dist::gradient_sync(world, {&g_opt, &d_opt});
  q.set_grad(Tensor::full({3}, 4.0f));
  world.peer.assign(3, 2.0f);  // D's buffer: 3 floats
  sync(d_opt);
  CHECK(q.grad().to_vector() == std::vector<float>(3, 3.0f));
  CHECK_THROWS_AS(sync(other), std::logic_error);
}

TEST_CASE("dist: broadcast_state copies rank 0's parameters and buffers over this rank's") {
  manual_seed(1);
  auto root_net = small_net();
  manual_seed(2);
  auto net = small_net();
  TensorList root_tensors = root_net->parameters();
  for (auto& [name, t] : root_net->named_buffers()) root_tensors.push_back(t);
  std::vector<float> root_values = floats_of(root_tensors);
  root_values.back() = 42.0f;  // the last buffer (running_var), to see that buffers come too

  TwoRanks world(1);
  world.root_bytes = bytes_of(root_values);
  CHECK(dist::state_hash({net.get()}) != dist::state_hash({root_net.get()}));
  dist::broadcast_state(world, {net.get()});
  CHECK(world.broadcasts == 1);
  TensorList tensors = net->parameters();
  for (auto& [name, t] : net->named_buffers()) tensors.push_back(t);
  CHECK(floats_of(tensors) == root_values);
}

TEST_CASE("dist: average_buffers averages batch-norm statistics, and skips nets without any") {
  auto net = small_net();
  TwoRanks world(1);
  world.peer = {1, 1, 1, 1, 3, 3, 3, 3};  // running_mean, running_var of the peer
  dist::average_buffers(world, {net.get()});
  CHECK(world.allreduces == 1);
  auto buffers = net->named_buffers();
  CHECK(buffers[0].second.to_vector() == std::vector<float>(4, 0.5f));  // (0 + 1) / 2
  CHECK(buffers[1].second.to_vector() == std::vector<float>(4, 2.0f));  // (1 + 3) / 2

  auto plain = nn::sequential({std::make_shared<nn::Linear>(2, 2)});
  dist::average_buffers(world, {plain.get()});
  CHECK(world.allreduces == 1);
}

TEST_CASE("dist: state_hash is equal for equal networks and changes with any one float") {
  manual_seed(5);
  auto a = small_net();
  manual_seed(5);
  auto b = small_net();
  CHECK(dist::state_hash({a.get(), b.get()}) == dist::state_hash({b.get(), a.get()}));
  uint64_t before = dist::state_hash({a.get()});
  CHECK(before == dist::state_hash({b.get()}));
  float* w = a->parameters()[0].data();
  w[3] = std::nextafter(w[3], 1.0f);
  CHECK(dist::state_hash({a.get()}) != before);
  w[3] = std::nextafter(w[3], -1.0f);
  CHECK(dist::state_hash({a.get()}) == before);
  a->named_buffers()[1].second.data()[0] = 2.0f;
  CHECK(dist::state_hash({a.get()}) != before);
}

TEST_CASE("dist: the trainer calls sync_gradients between backward and step, and its noise hook") {
  manual_seed(3);
  auto g = nn::sequential({std::make_shared<nn::Linear>(2, 2)});
  auto d = nn::sequential({std::make_shared<nn::Linear>(2, 1)});
  optim::SGD g_opt(g->parameters(), optim::SGDOptions(0.5));
  optim::SGD d_opt(d->parameters(), optim::SGDOptions(0.5));
  Generator gen(1);
  gan::TrainerOptions options;
  options.batch = 4;
  std::vector<const optim::Optimizer*> synced;
  std::vector<float> before_step;
  options.sync_gradients = [&](optim::Optimizer& opt) {
    synced.push_back(&opt);
    for (const Tensor& p : opt.parameters()) CHECK(p.grad().defined());
    before_step = floats_of(opt.parameters());
    for (const Tensor& p : opt.parameters()) p.grad().data()[0] = 0;  // this entry: no update
  };
  std::vector<int64_t> noise_rows;
  options.noise = [&](int64_t n) {
    noise_rows.push_back(n);
    return Tensor::full({n, 2}, 0.25f);
  };
  gan::Trainer trainer([&](const Tensor& z) { return g->forward(z); },
                       [&](const Tensor& x) { return d->forward(x); }, g_opt, d_opt,
                       gan::NoisePrior::gaussian(2),
                       [&](int64_t n) {
                         return Tensor::uniform({n, 2}, -1, 1, gen);
                       },
                       gen, options);
  std::vector<float> d_before = floats_of(d_opt.parameters());
  trainer.step();
  REQUIRE(synced.size() == 2);
  CHECK(synced[0] == &d_opt);
  CHECK(synced[1] == &g_opt);
  CHECK(noise_rows == std::vector<int64_t>{4, 4});
  // The hook ran before the update: it saw the old parameters, and what it zeroed stayed put.
  std::vector<float> d_after = floats_of(d_opt.parameters());
  CHECK(d_after[0] == d_before[0]);
  CHECK(d_after[1] != d_before[1]);
  CHECK(floats_of(g_opt.parameters())[0] == before_step[0]);
}

TEST_CASE("dist: Session gives each rank disjoint image rows that make one global batch") {
  TempDir s;
  std::string data = "idx:" + numbered_images(s.path, 20).string();
  cli::Session single(config_for(data, 8), true, {0, 1});
  cli::Session rank0(config_for(data, 4), true, {0, 2});
  cli::Session rank1(config_for(data, 4), true, {1, 2});
  // Three global batches of 8 out of 20 images: the third comes from the second epoch.
  for (int step = 0; step < 3; ++step) {
    std::vector<int> whole = image_numbers(single.real_batch(8).x);
    std::vector<int> mine = image_numbers(rank0.real_batch(4).x);
    std::vector<int> theirs = image_numbers(rank1.real_batch(4).x);
    mine.insert(mine.end(), theirs.begin(), theirs.end());
    CHECK(mine == whole);
    std::sort(mine.begin(), mine.end());
    CHECK(std::adjacent_find(mine.begin(), mine.end()) == mine.end());
  }
  // 20 images cannot make a global batch of 3 x 8.
  CHECK_THROWS_WITH_AS(cli::Session(config_for(data, 8), true, {0, 3}),
                       doctest::Contains("3 processes x 8"), data::DataError);
}

TEST_CASE("dist: Session by slices gives rank r its rows of the global noise, by streams its own") {
  using Sharding = cli::Shard::Sharding;
  cli::Session single(config_for("ring8", 6), true, {0, 1});
  Tensor noise = single.noise(6), points = single.real_batch(6).x;
  cli::Session slice1(config_for("ring8", 3), true, {1, 2, Sharding::kSlices});
  CHECK(slice1.noise(3).to_vector() == slice(noise, 0, 3, 6).to_vector());
  CHECK(slice1.real_batch(3).x.to_vector() == slice(points, 0, 3, 6).to_vector());

  cli::Session stream0(config_for("ring8", 3), true, {0, 2, Sharding::kStreams});
  cli::Session stream1(config_for("ring8", 3), true, {1, 2, Sharding::kStreams});
  Tensor own0 = stream0.noise(3), own1 = stream1.noise(3);
  CHECK(own0.to_vector() == slice(noise, 0, 0, 3).to_vector());  // rank 0 draws what one process
  CHECK(own1.to_vector() != own0.to_vector());
  CHECK(stream1.real_batch(3).x.to_vector() != stream0.real_batch(3).x.to_vector());

  CHECK(cli::parse_sharding("slices") == Sharding::kSlices);
  CHECK_THROWS_AS(cli::parse_sharding("halves"), cli::UsageError);
  CHECK_THROWS_AS(cli::Session(config_for("ring8", 3), true, {2, 2}), std::invalid_argument);
}

TEST_CASE("dist: a Session's per-rank stream state round-trips and refuses a wrong length") {
  cli::Session a(config_for("ring8", 4), true, {1, 2});
  std::vector<uint64_t> saved = a.stream_state();
  CHECK(saved.size() == cli::Session::kStreamWords);
  Tensor next = a.noise(4);
  a.set_stream_state(saved);
  CHECK(a.noise(4).to_vector() == next.to_vector());
  saved.pop_back();
  CHECK_THROWS_AS(a.set_stream_state(saved), std::invalid_argument);
}
