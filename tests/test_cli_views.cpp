// What a user looks at, through the built binary: nearest training images, interpolations in z,
// CIFAR-10-format runs, and the training report's page.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "cli_helpers.h"
#include "minimax.h"
#include "models/data/idx.h"
#include "models/io/npy.h"
#include "models/io/png.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

using namespace minimax::testing;

namespace {

// Trains DCGAN 28 for 2 steps on a 40-image IDX file; returns the checkpoint. (DCGAN rather than
// the paper's MLP: its checkpoint is 18 MB, not 45, and every command here reads it.)
std::string tiny_image_run(const TempDir& s) {
  fs::path images = s.path / "images.idx";
  minimax::testing::write_idx_images(images, 40);
  fs::path dir = s.path / "dcgan";
  auto r = run_cli("train --data idx:" + images.string() +
                       " --model dcgan --batch 8 --steps 2 --log-every 1 --out " + dir.string(),
                   s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  return (dir / "model.ckpt").string();
}

// The image in grid cell (row, col) of a PNG written with the CLI's grid settings (border 2,
// scale 2), as channel-planar floats [C, h, w] in [0, 1] (C = 1: the red channel of a gray image).
std::vector<float> cell(const RgbImage& png, int row, int col, int channels, int h, int w) {
  std::vector<float> out;
  for (int c = 0; c < channels; ++c)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        uint32_t top = 2 + row * (2 * h + 2), left = 2 + col * (2 * w + 2);
        out.push_back(png.at(top + 2 * y, left + 2 * x)[c] / 255.0f);
      }
  return out;
}

double distance(const std::vector<float>& a, const float* b) {
  double d2 = 0;
  for (size_t i = 0; i < a.size(); ++i) d2 += (a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(d2);
}

// "row R: nearest training image K, ..." lines of `sample --nearest`.
std::vector<int64_t> reported_neighbours(const std::string& out) {
  std::vector<int64_t> ks;
  std::regex line("row \\d+: nearest training image (\\d+)");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator();
       ++it)
    ks.push_back(std::stoll((*it)[1]));
  return ks;
}

}  // namespace

TEST_CASE("cli: sample --nearest puts each row's closest training image in the last column") {
  TempDir s;
  std::string ckpt = tiny_image_run(s);
  fs::path png = s.path / "near.png";
  auto r = run_cli(
      "sample --checkpoint " + ckpt + " --n 12 --seed 4 --nearest --out " + png.string(), s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  // 12 samples, 10 to a row: 2 rows of 10 cells and the neighbour's, the second row padded.
  RgbImage d = decode_rgb(png);
  CHECK(d.file_format == PNG_FORMAT_RGB);  // gray images, framed in color
  CHECK(d.width == 11 * 56 + 12 * 2);
  CHECK(d.height == 2 * 56 + 3 * 2);
  std::vector<int64_t> neighbours = reported_neighbours(r.out);
  REQUIRE(neighbours.size() == 2);

  minimax::Tensor training = minimax::data::load_idx_images(s.path / "images.idx");
  const int64_t n = training.size(0), pixels = 28 * 28;
  for (int row = 0; row < 2; ++row) {
    CAPTURE(row);
    // The last column is exactly the reported training image ...
    std::vector<float> shown = cell(d, row, 10, 1, 28, 28);
    CHECK(distance(shown, training.data() + neighbours[row] * pixels) == 0.0);
    // ... and it is the closest one to the row's last sample (the sample as drawn is rounded to
    // 8 bits: up to 0.5/255 a pixel, so distances compare within 28 * 0.5/255 * 2).
    std::vector<float> last = cell(d, row, row == 0 ? 9 : 1, 1, 28, 28);
    double best = INFINITY;
    for (int64_t k = 0; k < n; ++k)
      best = std::min(best, distance(last, training.data() + k * pixels));
    CHECK(distance(last, training.data() + neighbours[row] * pixels) <= best + 0.11);
    // Framed: the border left of the neighbour and above it.
    const uint8_t* frame = d.at(2 + row * 58 + 10, 2 + 10 * 58 - 1);
    CHECK(std::vector<uint8_t>(frame, frame + 3) ==
          std::vector<uint8_t>(minimax::io::kFrameColor.begin(), minimax::io::kFrameColor.end()));
  }
  // The second row's cells between its 2 samples and the neighbour are empty: border gray.
  const uint8_t* empty = d.at(60 + 20, 2 + 5 * 58 + 20);
  CHECK(empty[0] == 128);
  CHECK(empty[2] == 128);
}

TEST_CASE("cli: interpolate draws rows of images along lines in z, the same for the same seed") {
  TempDir s;
  std::string ckpt = tiny_image_run(s);
  auto draw = [&](const std::string& name, int seed) {
    fs::path png = s.path / name;
    auto r = run_cli("interpolate --checkpoint " + ckpt + " --rows 3 --steps 5 --seed " +
                         std::to_string(seed) + " --out " + png.string(),
                     s);
    INFO(r.err);
    REQUIRE(r.status == 0);
    return png;
  };
  fs::path a = draw("a.png", 1), b = draw("b.png", 1), c = draw("c.png", 2);
  RgbImage d = decode_rgb(a);
  CHECK(d.file_format == PNG_FORMAT_GRAY);
  CHECK(d.width == 5 * 56 + 6 * 2);
  CHECK(d.height == 3 * 56 + 4 * 2);
  CHECK(slurp(a) == slurp(b));
  CHECK(slurp(a) != slurp(c));
  // Each row changes from one end to the other.
  for (int row = 0; row < 3; ++row) CHECK(cell(d, row, 0, 1, 28, 28) != cell(d, row, 4, 1, 28, 28));
}

TEST_CASE("cli: nearest and interpolate refuse what they cannot draw, with one-line errors") {
  TempDir s;
  REQUIRE(run_cli(ring_run(s.path / "ring", 100), s).status == 0);
  std::string ring = (s.path / "ring" / "model.ckpt").string();
  auto r =
      run_cli("sample --checkpoint " + ring + " --nearest --out " + (s.path / "n.png").string(), s);
  CHECK(r.status == 2);
  CHECK(count_lines(r.err) == 1);
  CHECK(contains(r.err, "--nearest needs an image run"));
  CHECK(contains(r.err, "ring8"));
  r = run_cli("interpolate --checkpoint " + ring + " --out " + (s.path / "i.png").string(), s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "interpolate needs an image run"));

  std::string ckpt = tiny_image_run(s);
  std::string out = " --out " + (s.path / "x.png").string();
  r = run_cli("sample --checkpoint " + ckpt + " --nearest --out " + (s.path / "x.npy").string(), s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "--nearest draws a grid"));
  for (const char* bad : {"--rows 0", "--rows 101", "--steps 1", "--steps 500", "--rows many"}) {
    CAPTURE(bad);
    r = run_cli("interpolate --checkpoint " + ckpt + " " + bad + out, s);
    CHECK(r.status == 2);
    CHECK(count_lines(r.err) == 1);
  }
  r = run_cli("interpolate --checkpoint " + ckpt + " --out " + (s.path / "x.jpg").string(), s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "must end in .png"));
  r = run_cli("interpolate --checkpoint " + (s.path / "none.ckpt").string() + out, s);
  CHECK(r.status == 1);
  CHECK(contains(r.err, "none.ckpt"));
  r = run_cli("interpolate" + out, s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "--checkpoint"));

  // The training data is read again for --nearest: gone, it is named.
  fs::remove(s.path / "images.idx");
  r = run_cli("sample --checkpoint " + ckpt + " --nearest" + out, s);
  CHECK(r.status == 1);
  CHECK(count_lines(r.err) == 1);
  CHECK(contains(r.err, "images.idx"));
}

TEST_CASE("cli: a DCGAN trains on CIFAR-10-format files and draws 32x32 RGB samples") {
  TempDir s;
  fs::path data = s.path / "cifar";
  fs::create_directories(data);
  for (int k = 1; k <= 5; ++k) {
    std::ofstream out(data / ("data_batch_" + std::to_string(k) + ".bin"), std::ios::binary);
    for (int r = 0; r < 4; ++r) {
      out.put(static_cast<char>(r));
      for (int i = 0; i < 3072; ++i)
        out.put(static_cast<char>((i / 1024) * 100 + (k * 7 + r) % 50));
    }
  }
  fs::path dir = s.path / "c10";
  auto r = run_cli("train --data cifar10:" + data.string() +
                       " --batch 8 --steps 2 --log-every 1 --out " + dir.string(),
                   s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto config = nlohmann::json::parse(slurp(dir / "config.json"));
  CHECK(config["model"] == "dcgan");  // CIFAR-10's default
  RgbImage grid = decode_rgb(dir / "samples" / "step_000002.png");
  CHECK(grid.file_format == PNG_FORMAT_RGB);
  CHECK(grid.width == 8 * 64 + 9 * 2);

  std::string ckpt = (dir / "model.ckpt").string();
  r = run_cli("sample --checkpoint " + ckpt + " --n 3 --out " + (s.path / "x.npy").string(), s);
  REQUIRE(r.status == 0);
  minimax::Tensor x = minimax::io::load_npy(s.path / "x.npy");
  CHECK(x.shape() == minimax::Shape{3, 3, 32, 32});
  for (float v : x.to_vector()) CHECK((v >= 0.0f && v <= 1.0f));

  // The nearest image is a training image, all three channels of it: plane c of record (k, r) is
  // 100 c + (7 k + r) mod 50.
  r = run_cli(
      "sample --checkpoint " + ckpt + " --n 2 --nearest --out " + (s.path / "n.png").string(), s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  RgbImage near = decode_rgb(s.path / "n.png");
  std::vector<float> shown = cell(near, 0, 2, 3, 32, 32);
  int64_t k = reported_neighbours(r.out).at(0);
  int file = static_cast<int>(k / 4) + 1, record = static_cast<int>(k % 4);
  for (int c = 0; c < 3; ++c)
    CHECK(std::lround(shown[c * 1024 + 500] * 255) == 100 * c + (file * 7 + record) % 50);

  r = run_cli("interpolate --checkpoint " + ckpt + " --rows 2 --steps 3 --out " +
                  (s.path / "i.png").string(),
              s);
  CHECK(r.status == 0);
  CHECK(decode_rgb(s.path / "i.png").width == 3 * 64 + 4 * 2);

  // Parzen scores against the test batch: its absence is named, then 2,000 records are enough.
  std::string parzen = "eval --checkpoint " + ckpt + " --metric parzen --n 50";
  r = run_cli(parzen, s);
  CHECK(r.status == 1);
  CHECK(count_lines(r.err) == 1);
  CHECK(contains(r.err, "test_batch.bin"));
  {
    std::ofstream out(data / "test_batch.bin", std::ios::binary);
    for (int k = 0; k < 2000; ++k) {
      out.put(static_cast<char>(k % 10));
      for (int i = 0; i < 3072; ++i) out.put(static_cast<char>((i * 13 + k * 7) % 256));
    }
  }
  r = run_cli(parzen, s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto score = last_json_line(r.out);
  CHECK(score["samples"] == 50);
  CHECK(score["test_images"] == 1000);
  CHECK(std::isfinite(score["mean"].get<double>()));

  r = run_cli("train --data cifar10: --out " + (s.path / "a").string(), s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "needs a directory"));
  r = run_cli(
      "train --data cifar10:" + data.string() + " --model mlp --out " + (s.path / "b").string(), s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "does not fit"));
  r = run_cli(
      "train --data cifar10:" + (s.path / "nowhere").string() + " --out " + (s.path / "c").string(),
      s);
  CHECK(r.status == 1);
  CHECK(count_lines(r.err) == 1);
  CHECK(contains(r.err, "nowhere: does not exist"));
  fs::resize_file(data / "data_batch_3.bin", 3073 * 4 - 1);
  r = run_cli("train --data cifar10:" + data.string() + " --out " + (s.path / "d").string(), s);
  CHECK(r.status == 1);
  CHECK(count_lines(r.err) == 1);
  CHECK(contains(r.err, "data_batch_3.bin"));
  CHECK(contains(r.err, "not a whole number of 3073-byte records"));
}
