// `mpirun -np 2 minimax train`: data-parallel training as a user launches it, two ranks on this
// machine. Built only with MINIMAX_MPI. Every launch runs under `timeout`, so a job that hangs
// fails the test (status 124) instead of stalling the suite.
#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_helpers.h"
#include "minimax.h"
#include "models/dist/data_parallel.h"
#include "models/gan/models.h"

namespace fs = std::filesystem;
using minimax::Checkpoint;
using namespace minimax::testing;

namespace {

constexpr int kTimeoutStatus = 124;  // timeout(1)'s status when the time ran out

// mpirun as root (CI runs tests as root), more ranks than cores allowed, one OpenMP thread each;
// in a sanitizer build, with Open MPI's own leaks suppressed (tests/lsan-openmpi.supp).
std::string mpirun(int seconds) {
  std::string cmd = "timeout -k 5 " + std::to_string(seconds) + " " + MINIMAX_MPIRUN +
                    " --allow-run-as-root --oversubscribe -x OMP_NUM_THREADS=1";
#ifdef MINIMAX_RANK_LSAN_OPTIONS
  cmd += " -x 'LSAN_OPTIONS=" MINIMAX_RANK_LSAN_OPTIONS "'";
#endif
  return cmd;
}

// `minimax ARGS` on `ranks` processes.
CliResult launch(int ranks, const std::string& args, const TempDir& scratch, int seconds = 120) {
  return run_shell(
      mpirun(seconds) + " -np " + std::to_string(ranks) + " " + MINIMAX_CLI + " " + args, scratch);
}

// The largest difference between the G and D tensors of two checkpoints.
float max_parameter_difference(const Checkpoint& a, const Checkpoint& b) {
  float worst = 0;
  for (const auto& [name, t] : a.tensors) {
    if (name.rfind("G/", 0) != 0 && name.rfind("D/", 0) != 0) continue;
    std::vector<float> x = t.to_vector(), y = b.tensor(name).to_vector();
    REQUIRE(x.size() == y.size());
    for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  }
  return worst;
}

}  // namespace

TEST_CASE("mpi: two ranks train ring8 as identical replicas, rank 0 alone writing the run") {
  TempDir s;
  fs::path dir = s.path / "run";
  CliResult r = launch(2, ring_run(dir, 200, "--batch 64"), s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("data-parallel on 2 processes: 2 x batch 64 = 128 rows per step") !=
        std::string::npos);
  // A plain line per log step: rank 0 alone prints, and never redraws a line through mpirun.
  int progress_lines = 0;
  std::istringstream out(r.out);
  for (std::string line; std::getline(out, line);) progress_lines += line.rfind("step ", 0) == 0;
  CHECK(progress_lines == 8);
  CHECK(r.out.find('\r') == std::string::npos);
  CHECK(count_lines(slurp(dir / "metrics.jsonl")) == 8);  // written once, not once per rank
  CHECK(fs::exists(dir / "samples" / "step_000200.png"));

  // At each checkpoint every rank hashed its G and D; rank 0 stored the hashes. They agree, and
  // they are the hash of the networks the checkpoint holds.
  Checkpoint c = minimax::load_checkpoint(dir / "model.ckpt");
  CHECK(c.word("dist/world_size") == 2);
  const auto& hashes = c.word_list("dist/state_hashes");
  REQUIRE(hashes.size() == 2);
  CHECK(hashes[0] == hashes[1]);
  minimax::gan::GanModel m = minimax::gan::mixture_mlp();
  m.generator->load(c, "G");
  m.discriminator->load(c, "D");
  CHECK(minimax::dist::state_hash({m.generator.get(), m.discriminator.get()}) == hashes[0]);
  // Each rank drew from its own streams.
  const auto& streams = c.word_list("dist/rank_streams");
  REQUIRE(streams.size() % 2 == 0);
  CHECK(!std::equal(streams.begin(), streams.begin() + streams.size() / 2,
                    streams.begin() + streams.size() / 2));
}

TEST_CASE("mpi: two ranks with batch b match one process with batch 2b when sharding by slices") {
  TempDir s;
  REQUIRE(run_cli(ring_run(s.path / "one", 40, "--batch 64"), s).status == 0);
  CliResult r = launch(2, ring_run(s.path / "two", 40, "--batch 32 --sharding slices"), s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  REQUIRE(launch(2, ring_run(s.path / "streams", 40, "--batch 32"), s).status == 0);

  Checkpoint one = minimax::load_checkpoint(s.path / "one" / "model.ckpt");
  Checkpoint two = minimax::load_checkpoint(s.path / "two" / "model.ckpt");
  Checkpoint streams = minimax::load_checkpoint(s.path / "streams" / "model.ckpt");
  // The same rows of data and noise, a gradient mean taken in two halves: rounding differs only.
  float same_rows = max_parameter_difference(one, two);
  float other_rows = max_parameter_difference(one, streams);
  MESSAGE("largest parameter difference: slices ", same_rows, ", streams ", other_rows);
  CHECK(same_rows < 1e-4f);
  CHECK(other_rows > 100 * same_rows);  // the comparison can tell other rows apart

  // The logged losses are averaged over the ranks: one process's losses on the global batch.
  std::string a = slurp(s.path / "one" / "metrics.jsonl"),
              b = slurp(s.path / "two" / "metrics.jsonl");
  auto last = [](const std::string& m) {
    return nlohmann::json::parse(m.substr(m.rfind('\n', m.size() - 2) + 1));
  };
  CHECK(last(a)["d_loss"].get<double>() ==
        doctest::Approx(last(b)["d_loss"].get<double>()).epsilon(1e-4));
  CHECK(last(a)["g_loss"].get<double>() ==
        doctest::Approx(last(b)["g_loss"].get<double>()).epsilon(1e-4));
}

TEST_CASE("mpi: a resumed two-rank run ends where an uninterrupted one does") {
  // The lr decay is laid over --steps, which a resume extends: constant-lr runs compare.
  TempDir s;
  const std::string constant_lr = "--lr-decay-start 1";
  REQUIRE(launch(2, ring_run(s.path / "straight", 100, "--batch 64 " + constant_lr), s).status ==
          0);
  REQUIRE(launch(2, ring_run(s.path / "halves", 50, "--batch 64 " + constant_lr), s).status == 0);
  CliResult r = launch(2, ring_run(s.path / "halves", 100, "--batch 64 --resume"), s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  Checkpoint straight = minimax::load_checkpoint(s.path / "straight" / "model.ckpt");
  Checkpoint halves = minimax::load_checkpoint(s.path / "halves" / "model.ckpt");
  CHECK(max_parameter_difference(straight, halves) == 0.0f);
  CHECK(straight.word_list("dist/rank_streams") == halves.word_list("dist/rank_streams"));
  CHECK(count_lines(slurp(s.path / "halves" / "metrics.jsonl")) == 4);

  // Another number of processes cannot continue it: the data order and streams depend on it.
  r = run_cli(ring_run(s.path / "halves", 150, "--batch 64 --resume"), s);
  CHECK(r.status == 2);
  CHECK(r.err.find("written by a run on 2 process(es)") != std::string::npos);
}

TEST_CASE("mpi: Ctrl-C on mpirun stops every rank at the same step, with a checkpoint") {
  TempDir s;
  fs::path dir = s.path / "stopped";
  // Not under timeout(1): the signal goes to mpirun itself, which passes SIGTERM to the ranks.
  pid_t mpirun =
      start_shell(std::string(MINIMAX_MPIRUN) +
                      " --allow-run-as-root --oversubscribe -x OMP_NUM_THREADS=1 -np 2 " +
                      MINIMAX_CLI + " " + ring_run(dir, 100000, "--batch 64"),
                  s);
  wait_for_step(dir / "metrics.jsonl", 25);
  ::kill(mpirun, SIGINT);
  CHECK(exit_status(mpirun) != 0);
  std::string out = slurp(s.path / "stdout");
  INFO(out, slurp(s.path / "stderr"));
  // Rank 0 gathered both ranks' state at one step: a checkpoint is written only when their G and
  // D hashes agree, which they do only at the same step.
  Checkpoint c = minimax::load_checkpoint(dir / "model.ckpt");
  uint64_t step = c.word("step");
  CHECK(step >= 25);
  // Not checked: rank 0's closing "stopped by SIGTERM at step N" line. It reaches us only through
  // mpirun's output forwarding, which a terminating mpirun may shut before forwarding it (seen on
  // a loaded CI machine); the checkpoint above is the run's own record of where it stopped.
  auto hashes = c.word_list("dist/state_hashes");
  REQUIRE(hashes.size() == 2);
  CHECK(hashes[0] == hashes[1]);
  CliResult r = launch(2, ring_run(dir, static_cast<int>(step) + 10, "--batch 64 --resume"), s);
  INFO(r.err);
  CHECK(r.status == 0);
}

TEST_CASE("mpi: a rank that cannot read its data ends the whole job with its error") {
  // Launched from two directories, the ranks find different files at the same relative path, as
  // nodes with their own disks would: rank 1's is not IDX.
  TempDir s;
  fs::create_directories(s.path / "node0");
  fs::create_directories(s.path / "node1");
  write_idx_images(s.path / "node0" / "images.idx", 40);
  std::ofstream(s.path / "node1" / "images.idx") << "this is not an IDX file";
  std::string train = std::string(MINIMAX_CLI) +
                      " train --data idx:images.idx --model dcgan --batch 4 --steps 50 "
                      "--threads 1 --out " +
                      (s.path / "run").string();
  CliResult r = run_shell(mpirun(60) + " -np 1 -wdir " + (s.path / "node0").string() + " " + train +
                              " : -np 1 -wdir " + (s.path / "node1").string() + " " + train,
                          s);
  CHECK(r.status != 0);
  CHECK(r.status != kTimeoutStatus);
  CHECK(r.err.find("minimax: error (rank 1 of 2): IDX file images.idx: not an IDX file") !=
        std::string::npos);
}

TEST_CASE("mpi: ranks given different runs stop with a message naming both") {
  TempDir s;
  fs::path dir = s.path / "run";
  std::string train = std::string(MINIMAX_CLI) + " " + ring_run(dir, 100, "--batch 64");
  CliResult r = run_shell(mpirun(60) + " -np 1 " + train + " : -np 1 " + train + " --seed 2", s);
  CHECK(r.status == 2);
  CHECK(r.err.find("rank 1 was given another run than rank 0") != std::string::npos);
  CHECK(r.err.find("\"seed\":2") != std::string::npos);
}
