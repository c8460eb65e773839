// `train --ema DECAY`: a moving average of G's weights draws every sample; G trains as without it.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "cli_helpers.h"
#include "examples/cli/session.h"
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

// A DCGAN run (batch norm in G) on a small IDX file.
std::string dcgan_run(const fs::path& data, const fs::path& dir, int steps,
                      const std::string& extra) {
  return "train --data idx:" + data.string() + " --model dcgan --batch 8 --steps " +
         std::to_string(steps) + " --checkpoint-every 3 --log-every 1 " + "--threads 1 --out " +
         dir.string() + " " + extra;
}

float max_difference(const minimax::Tensor& a, const minimax::Tensor& b) {
  float most = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    most = std::max(most, std::abs(a.data()[i] - b.data()[i]));
  return most;
}

// The images of `g` on z in eval mode (DCGAN's [-1, 1] mapped to [0, 1]).
minimax::Tensor images_of(minimax::nn::Module& g, const minimax::Tensor& z) {
  minimax::NoGradGuard no_grad;
  g.eval();
  return minimax::mul(minimax::add(g(z), 1.0f), 0.5f);
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

TEST_CASE("cli: an --ema average with batch norm samples with statistics of its own activations") {
  using namespace minimax;
  TempDir s;
  write_idx_images(s.path / "images-idx3-ubyte", 40);
  cli::Session session(cli::resolve({{"data", "idx:" + (s.path / "images-idx3-ubyte").string()},
                                     {"model", "dcgan"},
                                     {"batch", 8},
                                     {"ema", 0.9}}));
  // G never ran in training mode: its running statistics, and so the average's, are still 0 and
  // 1, far from what its activations have.
  session.update_average();
  Checkpoint stored = session.to_checkpoint(1);
  Generator gen(4);
  Tensor z = session.model().prior.sample(6, gen);
  Tensor drawn = session.generate(z);

  // The average as stored, with its averaged statistics; then with standing statistics of its
  // own, computed here from other noise.
  gan::GanModel copy = gan::dcgan28();
  copy.generator->load(stored, "G_ema");
  Tensor averaged = images_of(*copy.generator, z);
  Generator other(99);
  TensorList noise;
  for (int b = 0; b < 20; ++b) noise.push_back(session.model().prior.sample(8, other));
  nn::recompute_batch_norm_statistics(*copy.generator, noise);
  Tensor standing = images_of(*copy.generator, z);
  INFO("off the averaged statistics' samples " << max_difference(drawn, averaged)
                                               << ", off the standing ones' "
                                               << max_difference(drawn, standing));
  CHECK(max_difference(drawn, standing) < 0.1f * max_difference(drawn, averaged));
  CHECK(max_difference(session.generate(z), drawn) == 0.0f);
  // Sampling changed neither the average nor G.
  Checkpoint after = session.to_checkpoint(1);
  CHECK(same_tensors(stored, "G_ema/", after, "G_ema/"));
  CHECK(same_tensors(stored, "G/", after, "G/"));

  // The average moves: the next samples have the statistics of the new average, not the old.
  Generator shake(7);
  for (Tensor& p : session.model().generator->parameters())
    p.detach().copy_(add(p.detach(), Tensor::normal(p.shape(), 0.0f, 0.05f, shake)));
  session.update_average();
  Tensor moved = session.generate(z);
  TensorList old_statistics;
  for (const auto& [name, buffer] : copy.generator->named_buffers())
    old_statistics.push_back(mul(buffer, 1.0f));
  copy.generator->load(session.to_checkpoint(2), "G_ema");
  nn::NamedTensors buffers = copy.generator->named_buffers();
  for (size_t i = 0; i < buffers.size(); ++i) buffers[i].second.copy_(old_statistics[i]);
  Tensor stale = images_of(*copy.generator, z);
  nn::recompute_batch_norm_statistics(*copy.generator, noise);
  Tensor fresh = images_of(*copy.generator, z);
  INFO("off the stale statistics' samples " << max_difference(moved, stale) << ", off the fresh "
                                            << max_difference(moved, fresh));
  CHECK(max_difference(moved, fresh) < 0.2f * max_difference(moved, stale));
}

TEST_CASE("cli: a DCGAN run with --ema resumes bit for bit, its samples included") {
  TempDir s;
  fs::path data = s.path / "images-idx3-ubyte";
  write_idx_images(data, 40);
  const std::string flags = "--ema 0.9 --lr-decay-start 1";
  REQUIRE(run_cli(dcgan_run(data, s.path / "straight", 6, flags + " --sample-every 2"), s).status ==
          0);
  REQUIRE(run_cli(dcgan_run(data, s.path / "halves", 3, flags + " --sample-every 2"), s).status ==
          0);
  REQUIRE(run_cli(dcgan_run(data, s.path / "halves", 6, "--resume"), s).status == 0);
  minimax::Checkpoint straight = minimax::load_checkpoint(s.path / "straight" / "model.ckpt");
  minimax::Checkpoint halves = minimax::load_checkpoint(s.path / "halves" / "model.ckpt");
  for (const char* prefix : {"G/", "D/", "G_ema/"})
    CHECK(same_tensors(straight, prefix, halves, prefix));
  CHECK(slurp(s.path / "straight" / "samples" / "step_000006.png") ==
        slurp(s.path / "halves" / "samples" / "step_000006.png"));
  CHECK(samples_of(s.path / "straight", s) == samples_of(s.path / "halves", s));
  // Samples drawn every step leave the average as it was.
  REQUIRE(run_cli(dcgan_run(data, s.path / "often", 6, flags + " --sample-every 1"), s).status ==
          0);
  minimax::Checkpoint often = minimax::load_checkpoint(s.path / "often" / "model.ckpt");
  CHECK(same_tensors(straight, "G_ema/", often, "G_ema/"));
}
