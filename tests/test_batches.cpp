// Shuffled minibatches: every epoch a permutation fixed by the seed, rows copied into a batch,
// and the state resumed from a checkpoint file.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "minimax.h"
#include "models/data/batches.h"
#include "temp_dir.h"

using namespace minimax;
namespace fs = std::filesystem;

using minimax::testing::TempDir;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("uniform_below is unbiased and in range") {
  Generator gen(11);
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 30000; ++i) counts[data::uniform_below(gen, 3)]++;
  for (int c : counts) CHECK(c == doctest::Approx(10000).epsilon(0.05));
  CHECK(data::uniform_below(gen, 1) == 0);
  // A bound just above 2^63 rejects almost half the draws; the results must still be below it.
  uint64_t big = (uint64_t{1} << 63) + 5;
  for (int i = 0; i < 100; ++i) CHECK(data::uniform_below(gen, big) < big);
}

TEST_CASE("BatchSampler covers each epoch once, in an order fixed by the seed") {
  data::BatchSampler sampler(10, 3, Generator(7));
  CHECK(sampler.batches_per_epoch() == 3);
  CHECK(sampler.epoch() == 0);
  std::vector<std::vector<int64_t>> epochs(2);
  for (int e = 0; e < 2; ++e)
    for (int b = 0; b < 3; ++b) {
      auto idx = sampler.next_indices();
      REQUIRE(idx.size() == 3);
      CHECK(sampler.epoch() == e + 1);
      CHECK(sampler.position() == 3 * (b + 1));
      epochs[e].insert(epochs[e].end(), idx.begin(), idx.end());
    }
  for (const auto& order : epochs) {
    std::set<int64_t> distinct(order.begin(), order.end());
    CHECK(distinct.size() == 9);  // nine different examples; one of ten left out
    CHECK(*distinct.begin() >= 0);
    CHECK(*distinct.rbegin() <= 9);
  }
  CHECK(epochs[0] != epochs[1]);  // a new permutation each epoch

  data::BatchSampler same(10, 3, Generator(7)), other(10, 3, Generator(8));
  std::vector<int64_t> a, b;
  for (int i = 0; i < 3; ++i) {
    auto x = same.next_indices();
    a.insert(a.end(), x.begin(), x.end());
    auto y = other.next_indices();
    b.insert(b.end(), y.begin(), y.end());
  }
  CHECK(a == epochs[0]);
  CHECK(a != b);

  // Over many epochs every position of the permutation is equally likely to hold example 0.
  data::BatchSampler one(4, 4, Generator(1));
  std::vector<int> where(4, 0);
  for (int e = 0; e < 8000; ++e) {
    auto idx = one.next_indices();
    where[std::find(idx.begin(), idx.end(), 0) - idx.begin()]++;
  }
  for (int c : where) CHECK(c == doctest::Approx(2000).epsilon(0.08));

  CHECK_THROWS_AS(data::BatchSampler(3, 4, Generator(0)), std::invalid_argument);
  CHECK_THROWS_AS(data::BatchSampler(3, 0, Generator(0)), std::invalid_argument);
}

TEST_CASE("BatchSampler fills a batch with the chosen rows") {
  Tensor dataset = Tensor::empty({5, 2, 3});
  for (int64_t i = 0; i < dataset.numel(); ++i) dataset.data()[i] = static_cast<float>(i);
  data::BatchSampler sampler(5, 2, Generator(3));
  Tensor batch = Tensor::empty({2, 2, 3});
  for (int step = 0; step < 4; ++step) {
    sampler.next(dataset, batch);
    // Recover which rows were taken from the first element of each row (6 floats per row).
    data::BatchSampler replay(5, 2, Generator(3));
    for (int k = 0; k < step; ++k) replay.next_indices();
    auto idx = replay.next_indices();
    for (int r = 0; r < 2; ++r)
      for (int k = 0; k < 6; ++k)
        CHECK(batch.data()[r * 6 + k] == static_cast<float>(idx[r] * 6 + k));
  }
  CHECK(sampler.next(dataset).shape() == Shape{2, 2, 3});

  Tensor wrong_rows = Tensor::empty({4, 2, 3});
  CHECK_THROWS_AS(sampler.next(wrong_rows, batch), std::invalid_argument);
  Tensor wrong_batch = Tensor::empty({2, 3, 2});
  CHECK_THROWS_AS(sampler.next(dataset, wrong_batch), std::invalid_argument);
  std::vector<int64_t> out_of_range{0, 5};
  CHECK_THROWS_AS(data::gather_rows(dataset, out_of_range, batch), std::invalid_argument);
}

TEST_CASE("BatchSampler state survives a checkpoint file: a resumed run sees the same batches") {
  TempDir dir;
  auto run = [](data::BatchSampler& s, int steps) {
    std::vector<int64_t> seen;
    for (int i = 0; i < steps; ++i) {
      auto idx = s.next_indices();
      seen.insert(seen.end(), idx.begin(), idx.end());
    }
    return seen;
  };
  // Stop mid-epoch (epoch 2, after 1 of 3 batches) and at a fresh sampler.
  for (int before : {0, 4}) {
    CAPTURE(before);
    data::BatchSampler straight(10, 3, Generator(42)), first(10, 3, Generator(42));
    std::vector<int64_t> expected = run(straight, before + 7);
    std::vector<int64_t> seen = run(first, before);

    Checkpoint c;
    first.save_state(c, "data/");
    save_checkpoint(c, dir.path / "ckpt");
    data::BatchSampler resumed(10, 3, Generator(999));  // the seed is overwritten by the state
    resumed.load_state(load_checkpoint(dir.path / "ckpt"), "data/");
    CHECK(resumed.epoch() == first.epoch());
    CHECK(resumed.position() == first.position());
    std::vector<int64_t> rest = run(resumed, 7);
    seen.insert(seen.end(), rest.begin(), rest.end());
    CHECK(seen == expected);
  }
}

TEST_CASE("BatchSampler refuses a state saved for another data set or a corrupt order") {
  data::BatchSampler sampler(10, 3, Generator(1));
  sampler.next_indices();
  Checkpoint c;
  c.source = "run.ckpt";
  sampler.save_state(c, "data/");
  auto error = [&](data::BatchSampler& into, const Checkpoint& from) -> std::string {
    try {
      into.load_state(from, "data/");
    } catch (const CheckpointError& e) {
      return e.what();
    }
    return "(no CheckpointError)";
  };
  data::BatchSampler bigger(12, 3, Generator(1));
  std::string e = error(bigger, c);
  CHECK(contains(e, "checkpoint run.ckpt: batch sampler 'data/'"));
  CHECK(contains(e, "saved for other sizes (10, 3), this sampler has 12 examples in batches of 3"));

  Checkpoint repeated = c;
  repeated.words["data/permutation"][0] = repeated.words["data/permutation"][1];
  data::BatchSampler target(10, 3, Generator(5));
  CHECK(contains(error(target, repeated), "not a permutation"));
  Checkpoint off_boundary = c;
  off_boundary.words["data/position"] = {4};
  CHECK(contains(error(target, off_boundary), "position 4 is not a batch boundary"));
  Checkpoint missing = c;
  missing.words.erase("data/generator");
  CHECK(contains(error(target, missing), "no entry named 'data/generator'"));
  // A failed load changed nothing.
  CHECK(target.epoch() == 0);
  CHECK(target.position() == 0);
}
