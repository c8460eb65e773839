// The `minimax` command line, run as a user runs it: the built binary, its files and exit codes.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>

#include "cli_helpers.h"
#include "examples/cli/config.h"
#include "examples/cli/datasets.h"
#include "examples/cli/models.h"
#include "minimax.h"
#include "models/gan/losses.h"
#include "models/io/checkpoint.h"
#include "models/io/npy.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

using namespace minimax::testing;

TEST_CASE("cli: --help and --version exit 0, and a bad flag exits 2 with one line on stderr") {
  TempDir s;
  CliResult r = run_cli("--help", s);
  CHECK(r.status == 0);
  CHECK(r.out.find("train") != std::string::npos);
  CHECK(run_cli("train --help", s).out.find("--checkpoint-every") != std::string::npos);
  r = run_cli("--version", s);
  CHECK(r.status == 0);
  CHECK(r.out.find("minimax") != std::string::npos);
  r = run_cli("train --bogus", s);
  CHECK(r.status == 2);
  CHECK(count_lines(r.err) == 1);
  r = run_cli("train --data ring8 --model dcgan", s);
  CHECK(r.status == 2);
  CHECK(r.err.find("does not fit") != std::string::npos);
  r = run_cli("train --data nowhere", s);
  CHECK(r.status == 2);
  CHECK(r.err.find("unknown dataset") != std::string::npos);
  r = run_cli("train --data ring8 --steps 0 --out " + (s.path / "zero").string(), s);
  CHECK(r.status == 2);
  CHECK(count_lines(r.err) == 1);
}

// Integers are read whole (CLI11 alone wraps -1 into an unsigned flag and clamps a number beyond
// the type), a float flag's NaN is named as such, and a misspelt command is called unknown.
TEST_CASE("cli: flags out of their type's range, NaN and an unknown command are named") {
  TempDir s;
  const std::string out = " --out " + (s.path / "run").string();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"trian", "trian: not a command; choose train, sample"},
      {"train --data ring8 --seed -1" + out, "--seed: '-1' is not an integer from 0 to"},
      {"train --data ring8 --steps 99999999999999999999" + out,
       "--steps: '99999999999999999999' is not an integer"},
      {"train --data ring8 --k 1.5" + out, "--k: '1.5' is not an integer"},
      {"train --data ring8 --lr nan" + out, "'lr' is nan, not a finite number"},
      {"sample --checkpoint x.ckpt --out x.npy --seed -1", "--seed: '-1' is not an integer"},
      {"sample --checkpoint x.ckpt --out x.npy --threads -2",
       "--threads: Value -2 not in range 0 to 1024"},
      {"eval --checkpoint x.ckpt --metric fid --n 99999999999999999999",
       "--n: '99999999999999999999'"},
      {"bench --seconds inf", "--seconds inf must be positive, a day at most"},
      {"bench --rounds 0", "--rounds 0 must be in 1..100"},
      {"bench --rounds 2.5", "--rounds: '2.5' is not an integer"},
  };
  for (const auto& [args, message] : cases) {
    CAPTURE(args);
    CliResult r = run_cli(args, s);
    CHECK(r.status == 2);
    CHECK(count_lines(r.err) == 1);
    CHECK(contains(r.err, message));
  }
  CHECK_FALSE(fs::exists(s.path / "run"));
}

TEST_CASE("cli: the README's copy of train --help is the program's, which lists every registry") {
  TempDir s;
  CliResult r = run_cli("train --help", s);
  REQUIRE(r.status == 0);
  for (const auto& d : minimax::cli::registered_datasets()) CHECK(contains(r.out, d.summary));
  for (const auto& m : minimax::cli::registered_models()) CHECK(contains(r.out, m.summary));
  for (const auto& l : minimax::gan::registered_losses()) CHECK(contains(r.out, l.summary));
  for (const auto& f : minimax::cli::config_fields())
    CHECK(contains(r.out, f.flag() + " ") != f.derived);  // derived fields have no flag
  std::string readme = slurp(fs::path(MINIMAX_SOURCE_DIR) / "README.md");
  const std::string open = "<!-- train-help -->\n```\n", close = "```\n<!-- /train-help -->";
  size_t begin = readme.find(open), end = readme.find(close);
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  std::string copy = readme.substr(begin + open.size(), end - begin - open.size());
  // Paste the program's output between the README's train-help markers to mend this.
  CHECK_MESSAGE(copy == r.out, "README.md's train --help differs from the program's:\n", r.out);
}

TEST_CASE(
    "cli: train writes a checkpoint, metrics, config and sample plots, and refuses to overwrite") {
  TempDir s;
  fs::path run_dir = s.path / "ring";
  CliResult r = run_cli(ring_run(run_dir, 200), s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(fs::exists(run_dir / "model.ckpt"));
  CHECK(fs::exists(run_dir / "samples" / "step_000100.png"));
  CHECK(fs::exists(run_dir / "samples" / "step_000200.png"));
  auto config = nlohmann::json::parse(slurp(run_dir / "config.json"));
  CHECK(config["data"] == "ring8");
  CHECK(config["steps"] == 200);
  std::string metrics = slurp(run_dir / "metrics.jsonl");
  CHECK(count_lines(metrics) == 8);
  auto last = nlohmann::json::parse(metrics.substr(metrics.rfind('\n', metrics.size() - 2) + 1));
  CHECK(last["step"] == 200);
  for (const char* key : {"d_loss", "g_loss", "d_real", "d_fake", "iters_per_s"})
    CHECK(last.contains(key));

  r = run_cli(ring_run(run_dir, 200), s);
  CHECK(r.status != 0);
  CHECK(r.err.find("already holds a run") != std::string::npos);
  r = run_cli(ring_run(run_dir, 200, "--resume"), s);
  CHECK(r.status == 0);
  CHECK(r.out.find("already at step 200") != std::string::npos);
  r = run_cli(ring_run(run_dir, 250, "--resume"), s);
  CHECK(r.status == 0);
  CHECK(count_lines(slurp(run_dir / "metrics.jsonl")) == 10);
  r = run_cli(ring_run(run_dir, 100, "--force"), s);
  CHECK(r.status == 0);
  CHECK(count_lines(slurp(run_dir / "metrics.jsonl")) == 4);
  CHECK_FALSE(fs::exists(run_dir / "samples" / "step_000200.png"));
}

// --force empties the directory only as the new run writes its first file, so a run that cannot
// start leaves the old one as it was; a run directory it cannot fill stops it before its first
// step, not after its last.
TEST_CASE(
    "cli: --force keeps the old run until the new one starts; unwritable outputs stop at once") {
  TempDir s;
  fs::path run_dir = s.path / "ring";
  REQUIRE(run_cli(ring_run(run_dir, 100), s).status == 0);
  const std::string checkpoint = slurp(run_dir / "model.ckpt"),
                    metrics = slurp(run_dir / "metrics.jsonl");
  for (const char* bad : {"--force --lr -1", "--force --data nosuch", "--force --model dcgan"}) {
    CAPTURE(bad);
    CliResult r = run_cli(ring_run(run_dir, 100, bad), s);
    CHECK(r.status == 2);
    CHECK(slurp(run_dir / "model.ckpt") == checkpoint);
    CHECK(slurp(run_dir / "metrics.jsonl") == metrics);
    CHECK(fs::exists(run_dir / "config.json"));
    CHECK(fs::exists(run_dir / "samples" / "step_000100.png"));
  }

  // samples/ as a file: refused before the first step, with nothing written.
  fs::path blocked = s.path / "blocked";
  fs::create_directories(blocked);
  std::ofstream(blocked / "samples") << "not a directory";
  CliResult r = run_cli(ring_run(blocked, 100), s);
  CHECK(r.status == 1);
  CHECK(contains(r.err, (blocked / "samples").string()));
  CHECK(count_lines(r.err) == 1);
  CHECK_FALSE(fs::exists(blocked / "config.json"));
  CHECK_FALSE(fs::exists(blocked / "model.ckpt"));

  // A run that stopped before its first checkpoint: the refusal says why --resume cannot help.
  fs::create_directories(s.path / "early");
  std::ofstream(s.path / "early" / "config.json") << "{}";
  r = run_cli(ring_run(s.path / "early", 100), s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "saved no checkpoint"));
}

// sample, interpolate, eval and classify check the file they will write before their work: a
// command never writes over a file it reads, and an output it cannot write costs nothing.
TEST_CASE("cli: an output file that is an input, a directory or in no directory is refused first") {
  TempDir s;
  REQUIRE(run_cli(ring_run(s.path / "ring", 50), s).status == 0);
  const fs::path checkpoint = s.path / "ring" / "model.ckpt";
  const std::string kept = slurp(checkpoint);
  const std::string eval =
      "eval --threads 1 --metric modes --n 50 --checkpoint " + checkpoint.string();
  CliResult r = run_cli(eval + " --json " + checkpoint.string(), s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "is the file --checkpoint reads"));
  CHECK(slurp(checkpoint) == kept);
  // The same file under another name.
  fs::copy_file(checkpoint, s.path / "c.npy");
  fs::create_symlink(s.path / "c.npy", s.path / "alias.npy");
  r = run_cli("sample --threads 1 --n 4 --checkpoint " + (s.path / "c.npy").string() + " --out " +
                  (s.path / "alias.npy").string(),
              s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "is the file --checkpoint reads"));
  CHECK(slurp(s.path / "c.npy") == kept);
  fs::copy_file(checkpoint, s.path / "c.png");
  r = run_cli("interpolate --threads 1 --checkpoint " + (s.path / "c.png").string() + " --out " +
                  (s.path / "c.png").string(),
              s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "is the file --checkpoint reads"));
  CHECK(slurp(s.path / "c.png") == kept);

  r = run_cli(eval + " --json " + s.path.string(), s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "is a directory"));
  r = run_cli(eval + " --json " + (s.path / "missing" / "modes.json").string(), s);
  CHECK(r.status == 1);
  CHECK(contains(r.err, "the directory " + (s.path / "missing").string() + " does not exist"));
  CHECK_FALSE(contains(r.out, "modes captured"));  // refused before the evaluation
  r = run_cli("classify --epochs 1 --out " + (s.path / "missing" / "net.ckpt").string(), s);
  CHECK(r.status == 1);
  CHECK(contains(r.err, "does not exist"));

  r = run_cli(eval + " --json " + (s.path / "modes.json").string(), s);
  CHECK(r.status == 0);
  CHECK(fs::exists(s.path / "modes.json"));
}

TEST_CASE("cli: a resumed run ends where an uninterrupted one does") {
  // Stopping at 100 of 200 steps means running with --steps 100 and extending it on resume. The
  // lr decay is laid over --steps, so extending a run reshapes it: this compares constant-lr runs.
  TempDir s;
  const std::string constant_lr = "--lr-decay-start 1";
  REQUIRE(run_cli(ring_run(s.path / "straight", 200, constant_lr), s).status == 0);
  REQUIRE(run_cli(ring_run(s.path / "halves", 100, constant_lr), s).status == 0);
  REQUIRE(run_cli(ring_run(s.path / "halves", 200, "--resume"), s).status == 0);
  for (const char* name : {"straight", "halves"}) {
    CliResult r = run_cli("sample --checkpoint " + (s.path / name / "model.ckpt").string() +
                              " --n 100 --out " + (s.path / (std::string(name) + ".npy")).string(),
                          s);
    REQUIRE(r.status == 0);
  }
  CHECK(slurp(s.path / "straight.npy") == slurp(s.path / "halves.npy"));
}

TEST_CASE("cli: the original WGAN (RMSprop, a clipped critic) trains and resumes bit for bit") {
  TempDir s;
  const std::string wgan = "--loss wgan --optimizer rmsprop --lr 5e-5 --k 5 --lr-decay-start 1";
  CliResult r = run_cli(ring_run(s.path / "straight", 100, wgan), s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "rmsprop"));
  REQUIRE(run_cli(ring_run(s.path / "halves", 50, wgan), s).status == 0);
  REQUIRE(run_cli(ring_run(s.path / "halves", 100, "--resume"), s).status == 0);
  auto config = nlohmann::json::parse(slurp(s.path / "straight" / "config.json"));
  CHECK(config["loss"] == "wgan");
  CHECK(config["optimizer"] == "rmsprop");

  minimax::Checkpoint c = minimax::load_checkpoint(s.path / "straight" / "model.ckpt");
  CHECK(c.string("opt_D/type") == "RMSprop");
  float largest = 0;
  int d_tensors = 0;
  for (const auto& [name, t] : c.tensors) {
    if (name.rfind("D/", 0) != 0) continue;
    ++d_tensors;
    for (float v : t.to_vector()) largest = std::max(largest, std::abs(v));
  }
  CHECK(d_tensors > 0);
  CHECK(largest == 0.01f);  // every weight of the critic within the clip, some on it

  for (const char* name : {"straight", "halves"}) {
    r = run_cli("sample --checkpoint " + (s.path / name / "model.ckpt").string() +
                    " --n 100 --out " + (s.path / (std::string(name) + ".npy")).string(),
                s);
    REQUIRE(r.status == 0);
  }
  CHECK(slurp(s.path / "straight.npy") == slurp(s.path / "halves.npy"));
}

TEST_CASE("cli: --resume refuses a flag that would change the run and lists those it applies") {
  TempDir s;
  fs::path dir = s.path / "run";
  REQUIRE(run_cli(ring_run(dir, 50, "--batch 32"), s).status == 0);
  CliResult r = run_cli(ring_run(dir, 100, "--resume --batch 64"), s);
  CHECK(r.status == 2);
  CHECK(count_lines(r.err) == 1);
  CHECK(contains(r.err, "--batch 64: the run was started with --batch 32"));
  r = run_cli(ring_run(dir, 100, "--resume --lr 0.01"), s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "--lr 0.01"));
  // The same value as the run's is no change; --steps, --threads and the cadences may change.
  r = run_cli(
      "train --data ring8 --steps 100 --batch 32 --log-every 10 --resume --out " + dir.string(), s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "resumed with --steps 50 -> 100"));
  CHECK(contains(r.out, "resumed with --log-every 25 -> 10"));
  // Extending the run lays the Adam decay over the new length, and says so.
  CHECK(contains(r.out,
                 "schedule over 100 steps: lr 0.001, falling linearly to 1e-05 over steps 31 to "
                 "100 (was: lr 0.001, falling linearly to 1e-05 over steps 16 to 50)"));
  auto config = nlohmann::json::parse(slurp(dir / "config.json"));
  CHECK(config["steps"] == 100);
  CHECK(config["log_every"] == 10);
}

TEST_CASE("cli: adam's learning rate decays linearly from --lr-decay-start to 1% at the end") {
  TempDir s;
  fs::path dir = s.path / "decay";
  CliResult r = run_cli(
      "train --data ring8 --steps 100 --log-every 1 --lr 0.002 --lr-decay-start 0.5 "
      "--batch 16 --out " +
          dir.string(),
      s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  std::map<int, double> lr;
  std::istringstream lines(slurp(dir / "metrics.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line);
    lr[j["step"].get<int>()] = j["lr"].get<double>();
  }
  REQUIRE(lr.size() == 100);
  CHECK(lr[1] == doctest::Approx(0.002));
  CHECK(lr[51] == doctest::Approx(0.002));  // step 51 is iteration 50, where the decay starts
  CHECK(lr[76] == doctest::Approx(0.002 - 0.99 * 0.002 * 25 / 49));
  CHECK(lr[100] == doctest::Approx(0.00002));
  CHECK(run_cli("train --data ring8 --lr-decay-start 1.5 --out " + (s.path / "x").string(), s)
            .status == 2);
  CHECK(run_cli("train --data ring8 --optimizer sgd --lr-decay-start 0.5 --out " +
                    (s.path / "y").string(),
                s)
            .status == 2);
}

TEST_CASE("cli: --r1 adds the R1 penalty to D's loss and is stored with the run") {
  TempDir s;
  auto first_d_loss = [&](const std::string& extra, const fs::path& dir) {
    CliResult r = run_cli(
        "train --data ring8 --steps 3 --batch 16 --log-every 1 --out " + dir.string() + " " + extra,
        s);
    INFO(r.err);
    REQUIRE(r.status == 0);
    std::istringstream lines(slurp(dir / "metrics.jsonl"));
    std::string line;
    std::getline(lines, line);
    return nlohmann::json::parse(line)["d_loss"].get<double>();
  };
  double plain = first_d_loss("", s.path / "plain");
  double penalized = first_d_loss("--r1 10", s.path / "r1");
  // The same seed gives the same first batch: only the penalty, positive, tells the two apart.
  CHECK(penalized > plain + 1e-4);
  CHECK(nlohmann::json::parse(slurp(s.path / "r1" / "config.json"))["r1"].get<double>() == 10);
  CHECK(nlohmann::json::parse(slurp(s.path / "plain" / "config.json"))["r1"].get<double>() == 0);
  // grid25 trains with R1 by default (its 25 close modes need it), ring8 without; a flag wins.
  CHECK(minimax::cli::resolve({{"data", "ring8"}}).r1 == 0);
  CHECK(minimax::cli::resolve({{"data", "grid25"}}).r1 == doctest::Approx(0.1));
  CHECK(minimax::cli::resolve({{"data", "grid25"}, {"r1", 0.0}}).r1 == 0);
  // So does the paper's MLP on Fashion-MNIST (it collapsed less), not the default DCGAN.
  CHECK(minimax::cli::resolve({{"model", "mlp"}}).r1 == 10);
  CHECK(minimax::cli::resolve({}).r1 == 0);
  for (const char* bad : {"-1", "nan", "inf"}) {
    CAPTURE(bad);
    CliResult r = run_cli(
        std::string("train --data ring8 --r1 ") + bad + " --out " + (s.path / "bad").string(), s);
    CHECK(r.status == 2);
    CHECK(contains(r.err, "--r1"));
  }
}

TEST_CASE("cli: a run killed with SIGKILL resumes from its last checkpoint") {
  TempDir s;
  fs::path run_dir = s.path / "killed";
  std::string cmd =
      std::string(MINIMAX_CLI) + " " + ring_run(run_dir, 100000) + " > /dev/null 2>&1";
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), nullptr);
    ::_exit(127);
  }
  // Kill once at least one checkpoint exists (at step 50), at whatever moment that is.
  for (int i = 0; i < 600 && !fs::exists(run_dir / "model.ckpt"); ++i) ::usleep(50000);
  ::usleep(70000);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(WIFSIGNALED(status));
  CliResult r = run_cli(ring_run(run_dir, 150, "--resume"), s);
  INFO(r.err);
  CHECK(r.status == 0);
  auto metrics = slurp(run_dir / "metrics.jsonl");
  CHECK(metrics.find("\"step\":150") != std::string::npos);
}

TEST_CASE(
    "cli: SIGINT and SIGTERM stop training with a checkpoint, and the run resumes bit for bit") {
  TempDir s;
  // Constant lr (the decay is laid over --steps), a metrics line every step, no periodic
  // checkpoint; batch 64, not ring8's 512: the signal handling is the same at an eighth of the
  // work.
  auto run = [](const fs::path& dir) {
    return "train --data ring8 --steps 1000 --batch 64 --lr-decay-start 1 --log-every 1 "
           "--checkpoint-every 100000 --threads 1 --out " +
           dir.string();
  };
  REQUIRE(run_cli(run(s.path / "straight"), s).status == 0);
  for (int signal : {SIGINT, SIGTERM}) {
    CAPTURE(signal);
    fs::path dir = s.path / ("stopped" + std::to_string(signal));
    pid_t child = start_cli(run(dir), s);
    wait_for_step(dir / "metrics.jsonl", 20);
    ::kill(child, signal);
    CHECK(exit_status(child) == 128 + signal);
    std::string out = slurp(s.path / "stdout");
    INFO(out, slurp(s.path / "stderr"));
    CHECK(contains(out, signal == SIGINT ? "stopped by SIGINT at step " : "stopped by SIGTERM"));
    CHECK(contains(out, (dir / "model.ckpt").string()));
    // The checkpoint is the step the run stopped at, not the last periodic one (there was none).
    auto step = minimax::load_checkpoint(dir / "model.ckpt").word("step");
    CHECK(step >= 20);
    CHECK(step < 1000);
    CliResult r = run_cli(run(dir) + " --resume", s);
    REQUIRE(r.status == 0);
    for (const fs::path& run : {s.path / "straight", dir})
      REQUIRE(run_cli("sample --checkpoint " + (run / "model.ckpt").string() + " --n 50 --out " +
                          (run / "x.npy").string(),
                      s)
                  .status == 0);
    CHECK(slurp(dir / "x.npy") == slurp(s.path / "straight" / "x.npy"));
  }
}

TEST_CASE("cli: a second SIGINT stops training at once, leaving the last checkpoint") {
  TempDir s;
  fs::path images = s.path / "images.idx", dir = s.path / "slow";
  write_idx_images(images, 200);
  // DCGAN on 128-image batches: a step long enough for a second signal to land inside it.
  pid_t child = start_cli("train --data idx:" + images.string() +
                              " --model dcgan --batch 128 --steps 1000 --log-every 1 "
                              "--checkpoint-every 2 --threads 1 --out " +
                              dir.string(),
                          s);
  // Step 3 writes no checkpoint: the signals land in step 4, with the checkpoint of step 2 in
  // place.
  wait_for_step(dir / "metrics.jsonl", 3);
  ::kill(child, SIGINT);
  // As soon as the first is handled (its note is out), the second: a step takes a second or more,
  // so the run cannot have reached its stop in the few milliseconds between.
  for (int i = 0; i < 5000 && !contains(slurp(s.path / "stderr"), "again to stop at once"); ++i)
    ::usleep(2000);
  ::kill(child, SIGINT);
  CHECK(exit_status(child) == -SIGINT);  // ended by the signal itself
  CHECK(contains(slurp(s.path / "stderr"), "minimax train: stopped by SIGINT\n"));
  CHECK(minimax::load_checkpoint(dir / "model.ckpt").word("step") >= 2);
}

// Waits until process `pid` runs minimax and catches `signal` (its SigCgt mask in /proc): the
// handler is in place. Until it execs, the child is a copy of this process, which catches it too.
bool wait_for_handler(pid_t pid, int signal) {
  const fs::path proc = "/proc/" + std::to_string(pid);
  for (int i = 0; i < 2400; ++i) {  // a minute, for a loaded machine
    std::error_code error;
    if (fs::read_symlink(proc / "exe", error) != fs::canonical(MINIMAX_CLI)) {
      ::usleep(25000);
      continue;
    }
    std::ifstream status(proc / "status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("SigCgt:", 0) == 0 &&
          (std::stoull(line.substr(7), nullptr, 16) >> (signal - 1)) & 1)
        return true;
    ::usleep(25000);
  }
  return false;
}

TEST_CASE("cli: SIGINT and SIGTERM end any other command at once, with a line naming both") {
  for (int signal : {SIGINT, SIGTERM}) {
    CAPTURE(signal);
    TempDir s;
    pid_t child = start_cli("bench --model mlp --seconds 60 --threads 1", s);
    if (!wait_for_handler(child, signal)) {
      ::kill(child, SIGKILL);
      exit_status(child);
      FAIL("minimax bench never caught the signal");
    }
    ::kill(child, signal);
    CHECK(exit_status(child) == -signal);  // ended by the signal itself, as without a handler
    std::string err = slurp(s.path / "stderr");
    CHECK(contains(err, signal == SIGINT ? "minimax bench: stopped by SIGINT\n"
                                         : "minimax bench: stopped by SIGTERM\n"));
  }
}

// True when process `pid` ignores `signal` (its SigIgn mask in /proc).
bool ignores(pid_t pid, int signal) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("SigIgn:", 0) == 0)
      return (std::stoull(line.substr(7), nullptr, 16) >> (signal - 1)) & 1;
  return false;
}

TEST_CASE("cli: a SIGINT ignored when minimax starts stays ignored, in train's loop too") {
  TempDir s;
  fs::path dir = s.path / "run";
  // As a non-interactive shell starts a background job: SIGINT ignored, SIGTERM not.
  const std::string ignoring_int = "sh -c \"trap '' INT; exec " + std::string(MINIMAX_CLI) + " ";
  const std::vector<std::string> commands = {
      "bench --model mlp --seconds 60 --threads 1",
      "train --data ring8 --steps 100000 --batch 64 --log-every 1 --threads 1 --out " +
          dir.string()};
  for (const std::string& command : commands) {
    CAPTURE(command);
    pid_t child = start_shell(ignoring_int + command + "\"", s);
    const bool train = command.rfind("train", 0) == 0;
    if (train) wait_for_step(dir / "metrics.jsonl", 5);  // its loop's handlers are in place
    if (!wait_for_handler(child, SIGTERM)) {
      ::kill(child, SIGKILL);
      exit_status(child);
      FAIL("minimax never caught SIGTERM");
    }
    CHECK(ignores(child, SIGINT));
    ::kill(child, SIGINT);
    ::usleep(300000);
    int status = 0;
    CHECK(::waitpid(child, &status, WNOHANG) == 0);  // still running
    ::kill(child, SIGTERM);
    CHECK(exit_status(child) == (train ? 128 + SIGTERM : -SIGTERM));
    std::string err = slurp(s.path / "stderr");
    INFO(err);
    CHECK(!contains(err, "SIGINT"));
  }
}

TEST_CASE("cli: sample writes .npy and .png, and eval reports mode coverage as JSON") {
  TempDir s;
  REQUIRE(run_cli(ring_run(s.path / "r", 100), s).status == 0);
  std::string ckpt = (s.path / "r" / "model.ckpt").string();
  CliResult r = run_cli(
      "sample --checkpoint " + ckpt + " --n 300 --seed 3 --out " + (s.path / "x.npy").string(), s);
  REQUIRE(r.status == 0);
  minimax::Tensor x = minimax::io::load_npy(s.path / "x.npy");
  CHECK(x.shape() == minimax::Shape{300, 2});
  CHECK(run_cli("sample --checkpoint " + ckpt + " --n 300 --out " + (s.path / "x.png").string(), s)
            .status == 0);
  CHECK(fs::file_size(s.path / "x.png") > 100);
  r = run_cli("eval --checkpoint " + ckpt + " --metric modes --n 500", s);
  REQUIRE(r.status == 0);
  auto j = last_json_line(r.out);
  CHECK(j["total_modes"] == 8);
  CHECK(j.contains("high_quality_fraction"));
  r = run_cli("eval --checkpoint " + ckpt + " --metric parzen", s);
  CHECK(r.status == 2);
  CHECK(r.err.find("modes") != std::string::npos);
  r = run_cli("sample --checkpoint " + ckpt + " --n 5 --out " + (s.path / "x.txt").string(), s);
  CHECK(r.status == 2);
}

TEST_CASE("cli: missing, garbage and corrupted inputs give one-line errors, never a crash") {
  TempDir s;
  CliResult r = run_cli(
      "train --data idx:" + (s.path / "absent.idx").string() + " --out " + (s.path / "a").string(),
      s);
  CHECK(r.status == 1);
  CHECK(count_lines(r.err) == 1);
  CHECK(r.err.find("absent.idx") != std::string::npos);
  {
    std::ofstream garbage(s.path / "garbage.idx");
    garbage << "this is not an IDX file at all";
  }
  r = run_cli(
      "train --data idx:" + (s.path / "garbage.idx").string() + " --out " + (s.path / "b").string(),
      s);
  CHECK(r.status == 1);
  CHECK(count_lines(r.err) == 1);
  r = run_cli("sample --checkpoint " + (s.path / "garbage.idx").string() + " --out " +
                  (s.path / "x.npy").string(),
              s);
  CHECK(r.status == 1);
  CHECK(r.err.find("magic") != std::string::npos);
  r = run_cli("sample --checkpoint " + (s.path / "none.ckpt").string() + " --out " +
                  (s.path / "x.npy").string(),
              s);
  CHECK(r.status == 1);
  CHECK(r.err.find("none.ckpt") != std::string::npos);
  r = run_cli("train --data ring8 --resume --out " + (s.path / "empty").string(), s);
  CHECK(r.status == 2);
  CHECK(r.err.find("no checkpoint") != std::string::npos);
}

// Files whose checksums hold but whose contents are wrong for the command: each is a data error
// (exit 1) naming the file, not a usage error about flags the user never gave.
TEST_CASE("cli: a checkpoint of the wrong kind, configuration or step is named as such") {
  TempDir s;
  REQUIRE(run_cli(ring_run(s.path / "ring", 50), s).status == 0);
  const fs::path good = s.path / "ring" / "model.ckpt";
  auto rewritten = [&](const std::string& name, auto change) {
    minimax::Checkpoint c = minimax::load_checkpoint(good);
    change(c);
    fs::path file = s.path / name;
    minimax::save_checkpoint(c, file);
    return file;
  };
  const fs::path negative_batch = rewritten("batch.ckpt", [](minimax::Checkpoint& c) {
    auto config = nlohmann::json::parse(c.strings["config"]);
    config["batch"] = -1;
    c.strings["config"] = config.dump();
  });
  CliResult r = run_cli("sample --n 4 --checkpoint " + negative_batch.string() + " --out " +
                            (s.path / "x.npy").string(),
                        s);
  CHECK(r.status == 1);
  CHECK(count_lines(r.err) == 1);
  CHECK(contains(r.err, "checkpoint " + negative_batch.string() + ": the run's configuration"));
  CHECK(contains(r.err, "'batch' is -1"));

  const fs::path classifier = rewritten("net.ckpt", [](minimax::Checkpoint& c) {
    c.strings.erase("config");
    c.words["feature_net/shape"] = {1, 28, 28, 10};
  });
  r = run_cli(
      "sample --n 4 --checkpoint " + classifier.string() + " --out " + (s.path / "x.npy").string(),
      s);
  CHECK(r.status == 1);
  CHECK(contains(r.err, "not a training run's"));
  CHECK(contains(r.err, "feature network, which eval takes as --features"));

  fs::create_directories(s.path / "far");
  rewritten("far/model.ckpt", [](minimax::Checkpoint& c) { c.words["step"] = {(1ull << 63) + 5}; });
  r = run_cli(ring_run(s.path / "far", 60, "--resume"), s);
  CHECK(r.status == 1);
  CHECK(contains(r.err, "'step' holds 9223372036854775813, too large a count"));
}

TEST_CASE("cli: sample refuses a checkpoint whose header promises 2^64 - 4 bytes in one line") {
  TempDir s;
  // Found by fuzzing: header + length + checksum wrapped around to the file's 20 bytes, and the
  // checksum then ran past the end of the file (a segmentation fault).
  const unsigned char bytes[] = {0x4d, 0x4d, 0x58, 0x43, 0x4b, 0x50, 0x54, 0x31, 0x01, 0x00,
                                 0x00, 0x00, 0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  fs::path file = s.path / "wrapped.ckpt";
  std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(bytes), sizeof(bytes));
  CliResult r =
      run_cli("sample --checkpoint " + file.string() + " --out " + (s.path / "x.npy").string(), s);
  CHECK(r.status == 1);
  CHECK(count_lines(r.err) == 1);
  CHECK(contains(r.err, "minimax: error: checkpoint " + file.string() +
                            ": 20 bytes, but the header promises a payload of "
                            "18446744073709551612 bytes"));
  CHECK(!fs::exists(s.path / "x.npy"));
}

TEST_CASE("cli: a stored configuration is read back only with every field of its type and range") {
  using minimax::cli::from_json;
  const nlohmann::json good = minimax::cli::to_json(minimax::cli::resolve({{"data", "ring8"}}));
  CHECK(minimax::cli::to_json(from_json(good)) == good);
  nlohmann::json old = good;  // a run from before --r1 and --lr-decay-start
  old.erase("r1");
  old.erase("lr_decay_start");
  CHECK(from_json(old).r1 == 0);
  CHECK(from_json(old).lr_decay_start == 1);

  auto error = [](const nlohmann::json& j) {
    try {
      from_json(j);
    } catch (const minimax::cli::UsageError& e) {
      return std::string(e.what());
    }
    return std::string("(no UsageError)");
  };
  struct Bad {
    const char* key;
    nlohmann::json value;
    const char* error;
  };
  for (const Bad& bad : std::initializer_list<Bad>{
           // Found by fuzzing: nlohmann converted 1e300 to int by an undefined cast, and wrapped
           // 5000000000 to 705032704.
           {"k", 1e300, "'k' is 1e+300, not an integer from 1 to 2147483647"},
           {"k", 5000000000u, "'k' is 5000000000, not an integer from 1 to 2147483647"},
           {"seed", -5, "'seed' is -5, not an integer from 0 to 18446744073709551615"},
           {"batch", 0, "'batch' is 0, not an integer from 1 to 9223372036854775807"},
           {"threads", "2", "'threads' is a string, not an integer from 0"},
           {"lr", nullptr, "'lr' is null, not a finite number"},
           {"model", 3, "'model' is 3, not a string"},
           {"model", "gpt", "--model: unknown model 'gpt'"},
           {"lr_decay_start", 2.0, "--lr-decay-start 2 must be a fraction of the run in [0, 1]"},
       }) {
    nlohmann::json j = good;
    j[bad.key] = bad.value;
    CAPTURE(j.dump());
    std::string e = error(j);
    CHECK(contains(e, "the run's configuration"));
    CHECK(contains(e, bad.error));
  }
  nlohmann::json incomplete = good;
  incomplete.erase("steps");
  CHECK(contains(error(incomplete), "incomplete or malformed"));
  CHECK(contains(error(incomplete), "no 'steps'"));
  CHECK(contains(error(nlohmann::json::array()), "is a JSON array, not an object"));
}

TEST_CASE("cli: trains on Fashion-MNIST and scores it with the Parzen protocol") {
  REQUIRE(have_fashion_mnist());
  TempDir s;
  fs::path run_dir = s.path / "fm";
  const std::string flags = "--model mlp --steps 4 --log-every 2 --sample-every 4 ";
  CliResult r = run_cli("train " + flags + "--checkpoint-every 4 --out " + run_dir.string(), s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(fs::exists(run_dir / "samples" / "step_000004.png"));
  r = run_cli("eval --checkpoint " + (run_dir / "model.ckpt").string() + " --metric parzen --n 200",
              s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto j = last_json_line(r.out);
  CHECK(j["test_images"] == 9000);
  CHECK(std::isfinite(j["mean"].get<double>()));
  r = run_cli("sample --checkpoint " + (run_dir / "model.ckpt").string() + " --n 6 --out " +
                  (s.path / "img.npy").string(),
              s);
  REQUIRE(r.status == 0);
  minimax::Tensor x = minimax::io::load_npy(s.path / "img.npy");
  CHECK(x.shape() == minimax::Shape{6, 1, 28, 28});
  for (float v : x.to_vector()) CHECK((v >= 0.0f && v <= 1.0f));
}

TEST_CASE("cli: every training flag reaches the run's configuration") {
  TempDir s;
  fs::path run_dir = s.path / "flags";
  CliResult r = run_cli(
      "train --data ring8 --model mixture-mlp --loss hinge --optimizer sgd --lr 0.01 --k 2 --batch "
      "16 "
      "--seed 3 --threads 2 --steps 3 --checkpoint-every 2 --sample-every 2 --log-every 1 --out " +
          run_dir.string(),
      s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto c = nlohmann::json::parse(slurp(run_dir / "config.json"));
  CHECK(c["loss"] == "hinge");
  CHECK(c["optimizer"] == "sgd");
  CHECK(c["lr"] == 0.01);
  CHECK(c["k"] == 2);
  CHECK(c["batch"] == 16);
  CHECK(c["seed"] == 3);
  CHECK(c["threads"] == 2);
  CHECK(count_lines(slurp(run_dir / "metrics.jsonl")) == 3);
  CHECK(fs::exists(run_dir / "samples" / "step_000002.png"));
  CHECK(fs::exists(run_dir / "samples" / "step_000003.png"));
  r = run_cli(
      "train --data ring8 --loss wgan-gp --steps 2 --log-every 1 --out " + (s.path / "gp").string(),
      s);
  CHECK(r.status == 0);
  r = run_cli("train --data ring8 --loss nosuch --out " + (s.path / "bad").string(), s);
  CHECK(r.status == 2);
  CHECK(r.err.find("nosuch") != std::string::npos);
}

TEST_CASE("cli: DCGAN trains on any MNIST-format IDX file") {
  TempDir s;
  fs::path file = s.path / "tiny-images-idx3-ubyte";
  {
    std::ofstream out(file, std::ios::binary);
    const unsigned char header[] = {0, 0, 8, 3, 0, 0, 0, 40, 0, 0, 0, 28, 0, 0, 0, 28};
    out.write(reinterpret_cast<const char*>(header), sizeof(header));
    for (int i = 0; i < 40 * 28 * 28; ++i) out.put(static_cast<char>((i * 37) % 256));
  }
  fs::path run_dir = s.path / "dc";
  CliResult r =
      run_cli("train --data idx:" + file.string() +
                  " --model dcgan --batch 8 --steps 2 --log-every 1 --out " + run_dir.string(),
              s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(fs::exists(run_dir / "samples" / "step_000002.png"));
  r = run_cli("sample --checkpoint " + (run_dir / "model.ckpt").string() + " --n 3 --out " +
                  (s.path / "d.npy").string(),
              s);
  REQUIRE(r.status == 0);
  minimax::Tensor x = minimax::io::load_npy(s.path / "d.npy");
  CHECK(x.shape() == minimax::Shape{3, 1, 28, 28});
  for (float v : x.to_vector()) CHECK((v >= 0.0f && v <= 1.0f));  // tanh output mapped to [0, 1]
}

TEST_CASE("cli: ring8 with the default settings covers all 8 modes") {
  // The whole default run (15000 steps, about two minutes). A shorter run is a different recipe,
  // not an early look at this one: its learning rate decays sooner. 3000 steps at seed 1 covered 8
  // modes on one CPU and 7 on another (an AVX-512 EPYC, 2 threads).
  TempDir s;
  fs::path run_dir = s.path / "ring8";
  CliResult r = run_cli("train --data ring8 --out " + run_dir.string(), s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  r = run_cli("eval --checkpoint " + (run_dir / "model.ckpt").string() + " --metric modes", s);
  REQUIRE(r.status == 0);
  auto j = last_json_line(r.out);
  INFO(r.out);
  CHECK(j["modes_captured"] == 8);
}

TEST_CASE("cli: bench times iterations and ends with one JSON line") {
  TempDir s;
  CliResult r = run_cli("bench --model mlp --seconds 0.5 --rounds 3", s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "each timed alone after each of 3 rounds"));
  auto j = last_json_line(r.out);
  // The fraction is the median of the rounds' own: between the least and the most of them.
  CHECK(j["rounds"] == 3);
  CHECK(j["floor_ms_per_iter"].get<double>() > 0);
  CHECK(j["fraction_of_floor_min"].get<double>() > 0);
  CHECK(j["fraction_of_floor_min"].get<double>() <= j["fraction_of_floor"].get<double>());
  CHECK(j["fraction_of_floor"].get<double>() <= j["fraction_of_floor_max"].get<double>());
  CHECK(j["floor_calls_in_work_ms_per_iter"].get<double>() > 0);
  CHECK(contains(r.out, "inside the iterations, the same calls took"));
  CHECK_FALSE(contains(r.out, "the middle round's calls"));  // only with --calls
  CHECK(j["model"] == "mlp");
  CHECK(j["loss"] == "nonsaturating");
  CHECK(j["batch"] == 100);
  CHECK(j["threads"].get<int>() >= 1);
  CHECK(j["peak_rss_mib"].get<double>() > 0);
  CHECK(j["iters_per_s"].get<double>() > 0);
  CHECK(j["ms_per_iter"].get<double>() == doctest::Approx(1000 / j["iters_per_s"].get<double>()));
  CHECK(j["gflops_per_s"].get<double>() > 0);
  CHECK(j["sgemm_peak_gflops_per_s"].get<double>() > 0);
  CHECK(j["fraction_of_peak"].get<double>() ==
        doctest::Approx(j["gflops_per_s"].get<double>() /
                        j["sgemm_peak_gflops_per_s"].get<double>()));
  CHECK(run_cli("bench --model nope", s).status == 2);
}

// --calls lists each distinct call of the middle round: its time alone, inside the iteration and
// the difference, then how many and what.
TEST_CASE("cli: bench --calls lists the calls' times alone and inside the iteration") {
  TempDir s;
  CliResult r = run_cli("bench --model mlp --seconds 0.3 --rounds 1 --calls", s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  INFO(r.out);
  CHECK(contains(r.out, "the middle round's calls, in ms per iteration"));
  const std::regex row(
      R"(\n +[0-9.]+ +[0-9.]+ +[+-][0-9.]+ +[0-9]+ x gemm NT M=100 N=1200 K=100 )");
  CHECK(std::regex_search(r.out, row));
}

// libgomp reads its waiting policy before main; minimax sets it by running itself again
// (restart_with_openmp_wait_policy). OMP_DISPLAY_ENV makes libgomp print what it read at its start
// (each start: the first run's default, then the setting's), GOMP_SPINCOUNT being the waiting.
TEST_CASE("cli: idle OpenMP threads spin briefly, then sleep, unless the user chose otherwise") {
  TempDir s;
  const std::string env = "env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose ";
  const auto [name, value] = minimax::openmp_wait_setting();
  CHECK(std::string(name) == "GOMP_SPINCOUNT");
  CHECK(std::string(value) == "1000");
  const std::string chosen = "GOMP_SPINCOUNT = '1000'";
  CliResult r = run_shell(env + MINIMAX_CLI + " --version", s);
  REQUIRE(r.status == 0);
  INFO(r.err);
  // The last environment libgomp displayed is the one the program ran with.
  CHECK(r.err.rfind(chosen) != std::string::npos);
  CHECK(r.err.rfind(chosen) > r.err.rfind("GOMP_SPINCOUNT = '300000'"));
  r = run_shell(env + "OMP_WAIT_POLICY=active " + MINIMAX_CLI + " --version", s);
  CHECK(contains(r.err, "OMP_WAIT_POLICY = 'ACTIVE'"));
  CHECK_FALSE(contains(r.err, chosen));
  r = run_shell(env + "GOMP_SPINCOUNT=1234 " + MINIMAX_CLI + " --version", s);
  CHECK(contains(r.err, "GOMP_SPINCOUNT = '1234'"));
  CHECK_FALSE(contains(r.err, chosen));
}

// Binding OpenMP's threads (OMP_PROC_BIND, or OMP_PLACES alone) makes libgomp narrow the main
// thread's affinity to the first place before main. The default thread count still counts every
// CPU, in the program libgomp started and in the one minimax runs again (which would otherwise
// inherit the narrowed mask): both ran on one core.
TEST_CASE("cli: bound OpenMP threads still default to every core the process may use") {
  TempDir s;
  const minimax::CoreBudget budget = minimax::available_cores();
  const std::string header =
      fmt::format("{} thread{} ({})", budget.cores, budget.cores == 1 ? "" : "s", budget.why());
  const std::string train = fmt::format(" {} train --data ring8 --steps 1 --out {}", MINIMAX_CLI,
                                        (s.path / "run").string());
  // The last runs nothing again: the user chose the waiting.
  for (std::string setting : {"OMP_PROC_BIND=true", "OMP_PROC_BIND=spread", "OMP_PLACES=cores",
                              "OMP_PROC_BIND=close GOMP_SPINCOUNT=1000"}) {
    CAPTURE(setting);
    CliResult r =
        run_shell("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT " + setting + train + " --force", s);
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(contains(r.out, header));
  }
}
