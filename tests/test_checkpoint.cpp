// Checkpoint files: round trip, atomic replacement, and clear errors for every kind of bad file.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>

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

// ---- hand-made files: every length, count and extent is checked before it is used ----

namespace {

// A checkpoint file's bytes assembled by hand, so that a test can write what save_checkpoint never
// would.
struct RawFile {
  std::vector<char> payload;

  template <class T>
  RawFile& put(T v) {
    const auto* p = reinterpret_cast<const char*>(&v);
    payload.insert(payload.end(), p, p + sizeof(T));
    return *this;
  }
  RawFile& name(const std::string& s) {
    put(static_cast<uint32_t>(s.size()));
    payload.insert(payload.end(), s.begin(), s.end());
    return *this;
  }
  RawFile& zeros(size_t n) {
    payload.insert(payload.end(), n, '\0');
    return *this;
  }
  // Magic, version, the payload's true length, the payload and its true CRC-32.
  std::vector<char> file() const {
    RawFile f;
    for (char c : std::string("MMXCKPT1")) f.put(c);
    f.put(uint32_t{1}).put(static_cast<uint64_t>(payload.size()));
    f.payload.insert(f.payload.end(), payload.begin(), payload.end());
    uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(payload.data()),
                      static_cast<uInt>(payload.size()));
    return f.put(static_cast<uint32_t>(crc)).payload;
  }
};

// The error loading these bytes from a file gives, and checks that parsing them in memory gives
// the same (but for the name standing for the file).
std::string raw_error(const TempDir& dir, const std::vector<char>& bytes) {
  fs::path file = dir.path / "hand-made.ckpt";
  write_bytes(file, bytes);
  std::string from_file = load_error(file), in_memory;
  try {
    parse_checkpoint(bytes, file.string());
  } catch (const CheckpointError& e) {
    in_memory = e.what();
  }
  CHECK(in_memory == from_file);
  CHECK(contains(from_file, file.string()));
  return from_file;
}

constexpr uint64_t kNoTensors = 0, kNoWordLists = 0, kNoStrings = 0;

}  // namespace

TEST_CASE("a header that promises 2^64 - 4 payload bytes is refused without reading past the end") {
  TempDir dir;
  // Magic, version 1, payload length 2^64 - 4: header + length + checksum wraps around to 20,
  // the file's size, which a check that adds them up would accept.
  const unsigned char bytes[] = {0x4d, 0x4d, 0x58, 0x43, 0x4b, 0x50, 0x54, 0x31, 0x01, 0x00,
                                 0x00, 0x00, 0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  std::string e = raw_error(dir, std::vector<char>(std::begin(bytes), std::end(bytes)));
  CHECK(contains(e, "20 bytes, but the header promises a payload of 18446744073709551612 bytes"));
  CHECK(contains(e, "truncated or padded"));
}

TEST_CASE("a tensor's extents are checked for overflow and against the bytes that remain") {
  TempDir dir;
  auto tensor = [](std::vector<int64_t> extents, size_t data_bytes) {
    RawFile f;
    f.put(uint64_t{1}).name("G/w").put(static_cast<uint32_t>(extents.size()));
    for (int64_t d : extents) f.put(d);
    return f.zeros(data_bytes).put(kNoWordLists).put(kNoStrings).file();
  };
  write_bytes(dir.path / "good.ckpt", tensor({2, 8}, 64));
  REQUIRE(load_checkpoint(dir.path / "good.ckpt").tensor("G/w").shape() == Shape{2, 8});

  // 2^31 x 2^31 floats are 2^64 bytes, which wraps to 0: read as 2^62 floats over 64 bytes.
  std::string e = raw_error(dir, tensor({int64_t{1} << 31, int64_t{1} << 31}, 64));
  CHECK(contains(e, "tensor 'G/w' has extents starting [2147483648, 2147483648]: more than 2^56"));
  // Representable, but more than the file holds: refused before anything is allocated for it.
  e = raw_error(dir, tensor({100000, 100000}, 64));
  CHECK(contains(e,
                 "truncated in the data of tensor 'G/w', [100000, 100000]: it needs "
                 "40000000000 bytes, 80 remain"));
  // A zero extent makes the tensor empty, but the others still may not overflow.
  e = raw_error(dir, tensor({0, int64_t{1} << 40, int64_t{1} << 40}, 0));
  CHECK(contains(e, "more than 2^56 elements"));
  CHECK(contains(raw_error(dir, tensor({3, -2}, 64)), "tensor 'G/w' has a negative extent, -2"));
  CHECK(contains(raw_error(dir, tensor({1, 1, 1, 1, 1, 1, 1, 1, 1}, 4)),
                 "tensor 'G/w' has rank 9, more than 8"));
}

TEST_CASE("a word list's, a string's or a section's count is checked against the bytes left") {
  TempDir dir;
  auto word_list = [](uint64_t count) {
    return RawFile().put(kNoTensors).put(uint64_t{1}).name("").put(count).file();
  };
  // 52 bytes in all that ask for 6e18 words (48 exabytes), and 2^28 words (2 GiB) in 52 bytes.
  std::vector<char> bytes = word_list(6000000000000000000u);
  CHECK(bytes.size() == 52);
  CHECK(contains(raw_error(dir, bytes),
                 "word list '' claims 6000000000000000000 words, but only 0 bytes remain"));
  CHECK(contains(raw_error(dir, word_list(uint64_t{1} << 28)), "claims 268435456 words"));
  // 2^61 words are 2^64 bytes, which wraps to 0: a check of the byte count alone would pass it.
  CHECK(contains(raw_error(dir, word_list(uint64_t{1} << 61)), "claims 2305843009213693952 words"));

  bytes = RawFile()
              .put(kNoTensors)
              .put(kNoWordLists)
              .put(uint64_t{1})
              .name("config")
              .put(uint64_t{1} << 62)
              .zeros(10)
              .file();
  CHECK(contains(raw_error(dir, bytes),
                 "truncated in string 'config': it needs 4611686018427387904 bytes, 10 remain"));

  bytes = RawFile().put(uint64_t{1} << 60).zeros(16).file();
  CHECK(contains(raw_error(dir, bytes),
                 "the payload claims 1152921504606846976 tensors, but only 16 bytes follow"));
  // A scalar tensor (4 bytes of data), then 3 bytes where the second one's name length should be.
  bytes = RawFile().put(uint64_t{2}).name("x").put(uint32_t{0}).zeros(4 + 3).file();
  CHECK(contains(raw_error(dir, bytes),
                 "truncated in the name of tensor 2 of 2: it needs 4 bytes, 3 remain"));
}

TEST_CASE("a name stored twice and bytes after the contents are refused") {
  TempDir dir;
  auto step = [](RawFile& f) { f.name("step").put(uint64_t{1}).put(uint64_t{42}); };
  RawFile twice;
  twice.put(kNoTensors).put(uint64_t{2});
  step(twice);
  step(twice);
  twice.put(kNoStrings);
  CHECK(contains(raw_error(dir, twice.file()), "two word lists named 'step'"));

  RawFile trailing;
  trailing.put(kNoTensors).put(kNoWordLists).put(kNoStrings).zeros(3);
  CHECK(contains(raw_error(dir, trailing.file()), "3 trailing bytes after the contents"));
}

TEST_CASE("parse_checkpoint reads in memory what load_checkpoint reads from the file") {
  TempDir dir;
  fs::path file = dir.path / "model.ckpt";
  save_checkpoint(sample_checkpoint(0.75f), file);
  Checkpoint c = parse_checkpoint(read_bytes(file), "in memory");
  CHECK(c.source == "in memory");
  CHECK(c.tensor("G/fc1.weight").data()[99] == 0.75f);
  CHECK(c.word_list("rng") == std::vector<uint64_t>{1, 2, 3, 4, 5});
  CHECK(c.string("config") == R"({"model": "mlp"})");
  CHECK(contains(load_error(dir.path), "is a directory"));
}
