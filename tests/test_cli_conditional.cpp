// `minimax train --conditional`: class-conditional GANs on labelled data, run as a user runs them.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numbers>
#include <string>

#include "cli_helpers.h"
#include "examples/cli/session.h"
#include "minimax.h"
#include "models/io/npy.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

using namespace minimax::testing;

namespace {

// The ring8 mode nearest to a point: mode k sits at angle 2 pi k / 8.
int ring8_mode(float x, float y) {
  double turns = std::atan2(y, x) / (2 * std::numbers::pi);
  return static_cast<int>(std::lround(turns * 8 + 8)) % 8;
}

}  // namespace

TEST_CASE("cli: --conditional on ring8 puts each class's samples on its own mode") {
  TempDir s;
  fs::path run = s.path / "c";
  CliResult r = run_cli("train --data ring8 --conditional --steps 300 --out " + run.string(), s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto config = nlohmann::json::parse(slurp(run / "config.json"));
  CHECK(config["conditional"] == true);
  CHECK(config["classes"] == 8);
  std::string ckpt = (run / "model.ckpt").string();

  r = run_cli("eval --checkpoint " + ckpt + " --metric modes --n 800", s);
  REQUIRE(r.status == 0);
  INFO(r.out);
  CHECK(last_json_line(r.out)["on_label_mode"].get<double>() > 0.95);

  for (int k : {0, 3, 6}) {
    fs::path out = s.path / ("class" + std::to_string(k) + ".npy");
    r = run_cli("sample --checkpoint " + ckpt + " --class " + std::to_string(k) +
                    " --n 200 --out " + out.string(),
                s);
    REQUIRE(r.status == 0);
    minimax::Tensor x = minimax::io::load_npy(out);
    int on_mode = 0;
    for (int64_t i = 0; i < 200; ++i)
      on_mode += ring8_mode(x.data()[2 * i], x.data()[2 * i + 1]) == k;
    CAPTURE(k);
    CHECK(on_mode >= 190);
  }
}

TEST_CASE("cli: --conditional on IDX images takes --labels FILE and draws a class per row") {
  TempDir s;
  fs::path images = s.path / "images-idx3-ubyte", labels = s.path / "labels-idx1-ubyte";
  write_idx_images(images, 40);
  write_idx_labels(labels, 40, 4);
  fs::path run = s.path / "c";
  CliResult r = run_cli("train --data idx:" + images.string() + " --labels " + labels.string() +
                            " --conditional --model mlp --batch 8 --steps 2 --out " + run.string(),
                        s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto config = nlohmann::json::parse(slurp(run / "config.json"));
  CHECK(config["classes"] == 4);
  CHECK(config["labels"] == labels.string());
  // A row of 8 per class: 4 rows, so the grid is half as high as it is wide.
  RgbImage grid = decode_rgb(run / "samples" / "step_000002.png");
  CHECK(std::abs(2 * static_cast<int>(grid.height) - static_cast<int>(grid.width)) < 8);

  std::string ckpt = (run / "model.ckpt").string();
  r = run_cli(
      "sample --checkpoint " + ckpt + " --class 3 --n 5 --out " + (s.path / "x.npy").string(), s);
  CHECK(r.status == 0);
  r = run_cli("sample --checkpoint " + ckpt + " --class 4 --out " + (s.path / "x.png").string(), s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "--class 4: the run's classes are 0 to 3"));
  r = run_cli("interpolate --checkpoint " + ckpt + " --rows 4 --steps 3 --out " +
                  (s.path / "i.png").string(),
              s);
  CHECK(r.status == 0);
}

TEST_CASE("cli: --conditional and --labels refuse what cannot work, naming the flag") {
  TempDir s;
  fs::path images = s.path / "images-idx3-ubyte", labels = s.path / "labels-idx1-ubyte";
  write_idx_images(images, 40);
  write_idx_labels(labels, 30, 4);
  const std::string idx = " --data idx:" + images.string();
  auto train = [&](const std::string& flags) {
    return run_cli("train --steps 1 --out " + (s.path / "bad").string() + " " + flags, s);
  };
  CliResult r = train(idx + " --conditional");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "needs its labels, --labels FILE"));
  r = train("--labels " + labels.string() + " --conditional");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "--data fashion-mnist has labels of its own"));
  r = train(idx + " --labels " + labels.string());
  CHECK(r.status == 2);
  CHECK(contains(r.err, "gives the classes of --conditional training"));
  r = train(idx + " --labels " + (s.path / "missing").string() + " --conditional");
  CHECK(r.status == 1);
  CHECK(contains(r.err, "missing"));
  r = train(idx + " --labels " + labels.string() + " --conditional --model mlp --batch 8");
  CHECK(r.status == 1);
  CHECK(contains(r.err, "30 labels for 40 images"));
  CHECK(!fs::exists(s.path / "bad" / "model.ckpt"));

  // An unconditional run: no --class, and --resume keeps it unconditional.
  fs::path run = s.path / "plain";
  REQUIRE(run_cli("train --data ring8 --steps 2 --out " + run.string(), s).status == 0);
  r = run_cli("sample --checkpoint " + (run / "model.ckpt").string() + " --class 1 --out " +
                  (s.path / "x.npy").string(),
              s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "is not a conditional run"));
  r = run_cli("train --data ring8 --steps 4 --conditional --resume --out " + run.string(), s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "--conditional true: the run was started with --conditional false"));
}

TEST_CASE("cli: Session::generate takes labels only in a conditional run, and obeys them") {
  using minimax::Tensor;
  namespace cli = minimax::cli;
  Tensor labels = Tensor::from_vector({3, 3, 5}, {3});
  cli::Session plain(cli::resolve({{"data", "ring8"}}), false);
  Tensor z = plain.noise(3);
  CHECK_THROWS_WITH_AS(plain.generate(z, labels),
                       doctest::Contains("labels for a run that is not conditional"),
                       std::invalid_argument);
  CHECK(plain.generate(z).shape() == minimax::Shape{3, 2});

  cli::Session conditional(cli::resolve({{"data", "ring8"}, {"conditional", true}}), false);
  Tensor chosen = conditional.generate(z, labels);
  Tensor by_row = conditional.generate(z);  // rows of classes 0, 1, 2
  REQUIRE(chosen.shape() == minimax::Shape{3, 2});
  // The same noise with another class gives another point; the same class the same point.
  Tensor again = conditional.generate(z, labels);
  for (int64_t i = 0; i < 6; ++i) CHECK(chosen.data()[i] == again.data()[i]);
  CHECK(chosen.data()[0] != by_row.data()[0]);
}
