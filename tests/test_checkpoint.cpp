// Checkpoint files: round trip, atomic replacement, and clear errors for every kind of bad file.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "minimax.h"
#include "models/io/checkpoint.h"
#include "temp_dir.h"

using namespace minimax;
namespace fs = std::filesystem;

using minimax::testing::TempDir;

namespace {

Checkpoint sample_checkpoint(float fill, int64_t n = 1000) {
  Checkpoint c;
  Generator gen(1);
  c.tensors["G/fc1.weight"] = Tensor::full({n / 10, 10}, fill);
  c.tensors["D/bias"] = Tensor::uniform({7}, -1, 1, gen);
  c.tensors["scalar"] = Tensor::scalar(3.5f);
  c.words["step"] = {42};
  c.words["rng"] = {1, 2, 3, 4, 5};
  c.strings["config"] = R"({"model": "mlp"})";
  return c;
}

std::vector<char> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const std::vector<char>& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string load_error(const fs::path& p) {
  try {
    load_checkpoint(p);
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("checkpoint round trip keeps tensors, words and strings") {
  TempDir dir;
  fs::path file = dir.path / "model.ckpt";
  Checkpoint saved = sample_checkpoint(0.25f);
  save_checkpoint(saved, file);
  Checkpoint loaded = load_checkpoint(file);
  CHECK(loaded.tensors.size() == 3);
  CHECK(loaded.tensor("G/fc1.weight").shape() == Shape{100, 10});
  CHECK(loaded.tensor("D/bias").to_vector() == saved.tensor("D/bias").to_vector());
  CHECK(loaded.tensor("scalar").item() == 3.5f);
  CHECK(loaded.word("step") == 42);
  CHECK(loaded.word_list("rng") == std::vector<uint64_t>{1, 2, 3, 4, 5});
  CHECK(loaded.string("config") == R"({"model": "mlp"})");
  // No temporary file is left behind.
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}

TEST_CASE("empty word lists, strings and tensors survive a round trip") {
  TempDir dir;
  Checkpoint c;
  c.words["none"] = {};
  c.strings["blank"] = "";
  c.tensors["empty"] = Tensor::zeros({0, 3});
  save_checkpoint(c, dir.path / "empty.ckpt");
  Checkpoint back = load_checkpoint(dir.path / "empty.ckpt");
  CHECK(back.word_list("none").empty());
  CHECK(back.string("blank").empty());
  CHECK(back.tensor("empty").shape() == Shape{0, 3});
}

TEST_CASE("restore copies into a tensor of the same shape and names a mismatch") {
  Checkpoint c = sample_checkpoint(1.0f);
  c.source = "run/model.ckpt";
  Tensor w = Tensor::zeros({100, 10});
  c.restore("G/fc1.weight", w);
  CHECK(w.data()[5] == 1.0f);
  Tensor wrong = Tensor::zeros({10, 100});
  try {
    c.restore("G/fc1.weight", wrong);
    FAIL("no error");
  } catch (const CheckpointError& e) {
    CHECK(contains(e.what(), "run/model.ckpt"));
    CHECK(contains(e.what(), "G/fc1.weight"));
    CHECK(contains(e.what(), "[100, 10]"));
    CHECK(contains(e.what(), "[10, 100]"));
  }
  CHECK_THROWS_AS(c.tensor("missing"), CheckpointError);
  CHECK_THROWS_AS(c.word("missing"), CheckpointError);
  CHECK_THROWS_AS(c.word("rng"), CheckpointError);  // five values, not one
}

TEST_CASE(
    "loading a missing, truncated, corrupted, foreign or newer file names the file and problem") {
  TempDir dir;
  fs::path good = dir.path / "good.ckpt", bad = dir.path / "bad.ckpt";
  save_checkpoint(sample_checkpoint(0.5f), good);
  std::vector<char> bytes = read_bytes(good);

  CHECK(contains(load_error(dir.path / "absent.ckpt"), "cannot open"));
  CHECK(contains(load_error(dir.path / "absent.ckpt"), "absent.ckpt"));

  write_bytes(bad, std::vector<char>(bytes.begin(), bytes.begin() + bytes.size() / 2));
  CHECK(contains(load_error(bad), "truncated"));
  write_bytes(bad, std::vector<char>(bytes.begin(), bytes.begin() + 10));
  CHECK(contains(load_error(bad), "truncated"));
  write_bytes(bad, {});
  CHECK(contains(load_error(bad), "truncated"));

  std::vector<char> flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  write_bytes(bad, flipped);
  CHECK(contains(load_error(bad), "checksum"));

  std::vector<char> foreign = bytes;
  foreign[0] = 'X';
  write_bytes(bad, foreign);
  CHECK(contains(load_error(bad), "magic"));

  std::vector<char> newer = bytes;
  newer[8] = 2;  // the format version's low byte
  write_bytes(bad, newer);
  std::string e = load_error(bad);
  CHECK(contains(e, "version 2"));
  CHECK(contains(e, "bad.ckpt"));
}

TEST_CASE("a failed save leaves the previous checkpoint in place") {
  TempDir dir;
  fs::path file = dir.path / "model.ckpt";
  save_checkpoint(sample_checkpoint(1.0f), file);
  fs::path unwritable = dir.path / "no-such-dir" / "model.ckpt";
  CHECK_THROWS_AS(save_checkpoint(sample_checkpoint(2.0f), unwritable), CheckpointError);
  CHECK(load_checkpoint(file).tensor("G/fc1.weight").data()[0] == 1.0f);
}

TEST_CASE(
    "a process killed while writing leaves the previous or the new checkpoint, never a torn one") {
  TempDir dir;
  fs::path file = dir.path / "model.ckpt";
  save_checkpoint(sample_checkpoint(0.0f, 2000000), file);  // ~8 MB: writing takes a while
  for (int round = 0; round < 8; ++round) {
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      for (int i = 1;; ++i)
        save_checkpoint(sample_checkpoint(static_cast<float>(i), 2000000), file);
    }
    ::usleep(20000 + 15000 * round);  // kill at varying points of the write loop
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK(WIFSIGNALED(status));
    Checkpoint c = load_checkpoint(file);  // throws if torn
    const Tensor& w = c.tensor("G/fc1.weight");
    float v = w.data()[0];
    CHECK(w.data()[w.numel() - 1] == v);  // one whole version, not a mix
  }
  // Each kill interrupts a save. Written unnamed (O_TMPFILE), a save has a name beside the
  // checkpoint only between its linkat and its rename, microseconds of each ~10 ms save, so the
  // 8 kills leave no temporary file (at most 1, by a chance of about 1 in 1,000). Named from the
  // start, as on a file system without O_TMPFILE, each kill left one.
  // The writer names its unnamed file through /proc/self/fd, so it needs both.
  int probe = ::open(dir.path.c_str(), O_TMPFILE | O_WRONLY, 0600);
  bool unnamed = probe >= 0 && ::access("/proc/self/fd", F_OK) == 0;
  if (probe >= 0) ::close(probe);
  int leftovers = 0;
  for (const auto& entry : fs::directory_iterator(dir.path)) leftovers += entry.path() != file;
  CAPTURE(unnamed);
  CHECK(leftovers <= (unnamed ? 1 : 8));
}
