// `train --ema DECAY`: a moving average of G's weights draws every sample; G trains as without it.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "cli_helpers.h"
#include "minimax.h"
#include "models/io/checkpoint.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

using namespace minimax::testing;

namespace {

// The run's samples for seed 1, as the bytes of a .npy file.
std::string samples_of(const fs::path& run, const TempDir& s) {
  fs::path out = run / "samples.npy";
  CliResult r = run_cli(
      "sample --checkpoint " + (run / "model.ckpt").string() + " --n 64 --out " + out.string(), s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  return slurp(out);
}

bool same_tensors(const minimax::Checkpoint& a, const std::string& a_prefix,
                  const minimax::Checkpoint& b, const std::string& b_prefix) {
  int compared = 0;
  for (const auto& [name, tensor] : a.tensors) {
    if (name.rfind(a_prefix, 0) != 0) continue;
    const minimax::Tensor& other = b.tensor(b_prefix + name.substr(a_prefix.size()));
    if (other.shape() != tensor.shape()) return false;
    for (int64_t i = 0; i < tensor.numel(); ++i)
      if (tensor.data()[i] != other.data()[i]) return false;
    ++compared;
  }
  REQUIRE(compared > 0);
  return true;
}

}  // namespace

TEST_CASE("cli: the --ema average draws the samples, and G trains exactly as without it") {
  TempDir s;
  REQUIRE(run_cli(ring_run(s.path / "plain", 30), s).status == 0);
  REQUIRE(run_cli(ring_run(s.path / "ema", 30, "--ema 0.9"), s).status == 0);
  // A decay so small that the average is G after every update: the samples are G's, bit for bit.
  REQUIRE(run_cli(ring_run(s.path / "tiny", 30, "--ema 1e-30"), s).status == 0);

  minimax::Checkpoint plain = minimax::load_checkpoint(s.path / "plain" / "model.ckpt");
  minimax::Checkpoint ema = minimax::load_checkpoint(s.path / "ema" / "model.ckpt");
  // Building the average draws no number the training draws: G and D end as without --ema.
  CHECK(same_tensors(plain, "G/", ema, "G/"));
  CHECK(same_tensors(plain, "D/", ema, "D/"));
  CHECK(ema.word("G_ema#updates") == 30);
  CHECK_FALSE(same_tensors(ema, "G/", ema, "G_ema/"));
  CHECK(plain.words.count("G_ema#updates") == 0);

  std::string plain_samples = samples_of(s.path / "plain", s);
  CHECK(samples_of(s.path / "tiny", s) == plain_samples);
  CHECK(samples_of(s.path / "ema", s) != plain_samples);
}

TEST_CASE("cli: a run with --ema resumes bit for bit, average included") {
  TempDir s;
  const std::string flags = "--ema 0.95 --lr-decay-start 1";
  REQUIRE(run_cli(ring_run(s.path / "straight", 40, flags), s).status == 0);
  REQUIRE(run_cli(ring_run(s.path / "halves", 20, flags), s).status == 0);
  REQUIRE(run_cli(ring_run(s.path / "halves", 40, "--resume"), s).status == 0);
  CHECK(samples_of(s.path / "straight", s) == samples_of(s.path / "halves", s));
}

TEST_CASE("cli: --ema refuses a decay outside 0 to 1 and a change on --resume") {
  TempDir s;
  for (const char* decay : {"1", "-0.5", "1.5"}) {
    CliResult r = run_cli(ring_run(s.path / "bad", 10, std::string("--ema ") + decay), s);
    CHECK(r.status == 2);
    CHECK(contains(r.err, "--ema"));
    CHECK(count_lines(r.err) == 1);
  }
  REQUIRE(run_cli(ring_run(s.path / "run", 10, "--ema 0.9"), s).status == 0);
  CliResult r = run_cli(ring_run(s.path / "run", 20, "--resume --ema 0.99"), s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "--ema 0.99: the run was started with --ema 0.9"));
}
