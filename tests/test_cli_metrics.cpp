// `minimax classify` and eval's feature-space metrics (fid, pr, classes), run as a user runs
// them; and the bundled Fashion-MNIST feature network's accuracy.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_helpers.h"
#include "examples/cli/feature_nets.h"
#include "models/data/idx.h"
#include "models/gan/feature_metrics.h"
#include "models/gan/feature_net.h"
#include "models/io/checkpoint.h"
#include "ops/ops.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

using namespace minimax::testing;

TEST_CASE("cli: the bundled Fashion-MNIST feature network classifies 90% of the test images") {
  REQUIRE(have_fashion_mnist());
  minimax::Checkpoint c =
      minimax::parse_checkpoint(minimax::cli::bundled_file("fashion-mnist.ckpt"), "bundled");
  auto net = minimax::gan::load_feature_net(c);
  CHECK(net->shape() == minimax::gan::FeatureNetShape{1, 28, 28, 10});
  minimax::data::LabelledImages test = minimax::data::load_idx_dataset(
      kFashion / "t10k-images-idx3-ubyte.gz", kFashion / "t10k-labels-idx1-ubyte.gz");
  const int64_t n = 2000;  // the first 2,000, to keep the test short
  std::vector<uint8_t> labels(test.labels.begin(), test.labels.begin() + n);
  const double accuracy =
      minimax::gan::accuracy(*net, minimax::slice(test.images, 0, 0, n), labels);
  MESSAGE("accuracy on the first 2,000 test images: ", accuracy);
  CHECK(accuracy >= 0.90);
}

// The whole pipeline on two samples of one distribution: Fashion-MNIST's training images stand in
// for a perfect generator, scored against the test images.
TEST_CASE("cli: training images score as a perfect generator against the test images") {
  REQUIRE(have_fashion_mnist());
  auto net = minimax::gan::load_feature_net(
      minimax::parse_checkpoint(minimax::cli::bundled_file("fashion-mnist.ckpt"), "bundled"));
  auto images = [](const char* file) {
    return minimax::slice(minimax::data::load_idx_images(kFashion / file), 0, 0, 2000);
  };
  minimax::Tensor train = minimax::gan::embed(*net, images("train-images-idx3-ubyte.gz")).features;
  minimax::Tensor test = minimax::gan::embed(*net, images("t10k-images-idx3-ubyte.gz")).features;
  const double fid = minimax::gan::frechet_distance(minimax::gan::gaussian_stats(train),
                                                    minimax::gan::gaussian_stats(test));
  minimax::gan::PrecisionRecall pr = minimax::gan::precision_recall(test, train);
  MESSAGE("train against test: FID ", fid, ", precision ", pr.precision, ", recall ", pr.recall);
  CHECK(fid < 1.0);
  CHECK(pr.precision > 0.6);
  CHECK(pr.recall > 0.6);
}

TEST_CASE(
    "cli: eval scores a Fashion-MNIST run by fid, pr and classes, and the report shows them") {
  REQUIRE(have_fashion_mnist());
  TempDir s;
  fs::path run = s.path / "fm";
  REQUIRE(run_cli("train --model mlp --steps 2 --log-every 1 --out " + run.string(), s).status ==
          0);
  const std::string eval = "eval --checkpoint " + (run / "model.ckpt").string() + " --n 600 ";
  CliResult r = run_cli(eval + "--metric fid --json " + (run / "eval-fid.json").string(), s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto j = last_json_line(r.out);
  CHECK(j["samples"] == 600);
  CHECK(j["test_images"] == 10000);
  CHECK(j["features"] == "fashion-mnist.ckpt (bundled)");
  CHECK(j["fid"].get<double>() > 1.0);  // two steps of training are far from the data
  r = run_cli(eval + "--metric pr", s);
  REQUIRE(r.status == 0);
  j = last_json_line(r.out);
  CHECK(j["k"] == 3);
  CHECK((j["precision"] >= 0.0 && j["precision"] <= 1.0 && j["recall"] >= 0.0));
  r = run_cli(eval + "--metric classes --json " + (run / "eval-classes.json").string(), s);
  REQUIRE(r.status == 0);
  j = last_json_line(r.out);
  CHECK(j["total_classes"] == 10);
  CHECK(j["histogram"].size() == 10);
  int64_t total = 0;
  for (const auto& count : j["histogram"]) total += count.get<int64_t>();
  CHECK(total == 600);
  REQUIRE(run_cli("report " + run.string(), s).status == 0);
  std::string html = slurp(run / "report.html");
  CHECK(contains(html, "eval-fid.json"));
  CHECK(contains(html, "kl_to_uniform"));
}

TEST_CASE("cli: classify trains on IDX images with --labels, and eval uses it with --features") {
  TempDir s;
  fs::path images = s.path / "images-idx3-ubyte", labels = s.path / "labels-idx1-ubyte";
  write_idx_images(images, 40);
  write_idx_labels(labels, 40, 4);
  fs::path net = s.path / "net.ckpt";
  CliResult r = run_cli("classify --data idx:" + images.string() + " --labels " + labels.string() +
                            " --epochs 1 --batch 8 --out " + net.string(),
                        s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  // An IDX file has no test split: the accuracy is measured on its last tenth, not trained on.
  CHECK(contains(r.out, "36 training images, 4 held-out images"));
  CHECK(contains(r.out, "held-out accuracy"));
  CHECK(contains(r.out, "(4 images)"));
  CHECK_FALSE(contains(r.out, "test accuracy"));
  CHECK(
      contains(minimax::load_checkpoint(net).strings.at("feature_net/about"), "held-out accuracy"));
  fs::path run = s.path / "run";
  REQUIRE(
      run_cli("train --data idx:" + images.string() + " --steps 1 --batch 8 --out " + run.string(),
              s)
          .status == 0);
  const std::string eval = "eval --checkpoint " + (run / "model.ckpt").string() + " --n 50 ";
  r = run_cli(eval + "--metric classes --features " + net.string(), s);
  REQUIRE(r.status == 0);
  CHECK(last_json_line(r.out)["total_classes"] == 4);
  // Without --features an idx run has no network to use: the message says how to make one.
  r = run_cli(eval + "--metric fid", s);
  CHECK(r.status == 2);
  CHECK(count_lines(r.err) == 1);
  CHECK(contains(r.err, "minimax classify"));
}

TEST_CASE("cli: classify and the feature metrics refuse what cannot work, in one line") {
  TempDir s;
  fs::path images = s.path / "images-idx3-ubyte", labels = s.path / "labels-idx1-ubyte";
  write_idx_images(images, 40);
  write_idx_labels(labels, 30, 4);
  const std::string out = " --out " + (s.path / "net.ckpt").string();
  CliResult r = run_cli("classify --data idx:" + images.string() + out, s);  // no labels
  CHECK(r.status == 2);
  CHECK(contains(r.err, "has no labels"));
  r = run_cli("classify --data idx:" + images.string() + " --labels " + labels.string() + out, s);
  CHECK(r.status == 1);  // a data error, naming the file and both counts
  CHECK(contains(r.err, "30 labels for 40 images"));
  fs::path nine = s.path / "nine-idx3-ubyte", nine_labels = s.path / "nine-idx1-ubyte";
  write_idx_images(nine, 9);  // too few to hold out a tenth
  write_idx_labels(nine_labels, 9, 4);
  r = run_cli("classify --data idx:" + nine.string() + " --labels " + nine_labels.string() + out,
              s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "9 images; classify holds out a tenth"));
  r = run_cli("classify --data ring8" + out, s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "points"));
  fs::path forty_labels = s.path / "forty-idx1-ubyte";
  write_idx_labels(forty_labels, 40, 4);
  const std::string images_before = slurp(images);
  r = run_cli("classify --data idx:" + images.string() + " --labels " + forty_labels.string() +
                  " --out " + images.string(),
              s);  // its own training images as the output
  CHECK(r.status == 2);
  CHECK(contains(r.err, "is the file --data reads"));
  CHECK(slurp(images) == images_before);
  CHECK(!fs::exists(s.path / "net.ckpt"));

  fs::path ring = s.path / "ring";
  REQUIRE(run_cli("train --data ring8 --steps 1 --out " + ring.string(), s).status == 0);
  const std::string eval = "eval --checkpoint " + (ring / "model.ckpt").string();
  r = run_cli(eval + " --metric fid", s);  // a points run
  CHECK(r.status == 2);
  CHECK(contains(r.err, "does not apply to a run on ring8"));

  fs::path run = s.path / "run";
  REQUIRE(
      run_cli("train --data idx:" + images.string() + " --steps 1 --batch 8 --out " + run.string(),
              s)
          .status == 0);
  const std::string idx_eval = "eval --checkpoint " + (run / "model.ckpt").string() + " --n 20 ";
  r = run_cli(idx_eval + "--metric fid", s);  // idx data has no bundled feature network
  CHECK(r.status == 2);
  CHECK(contains(r.err, "`minimax classify --data idx:FILE --labels LABELS --out FILE`"));
  // CIFAR-10's labels are its own: the advice leaves --labels out.
  const std::string cifar = "cifar10:" + s.path.string();
  CHECK_THROWS_WITH_AS(minimax::cli::open_feature_net(minimax::cli::find_dataset(cifar), ""),
                       doctest::Contains("`minimax classify --data cifar10:DIR --out FILE`"),
                       minimax::cli::UsageError);
  r = run_cli(idx_eval + "--metric fid --features " + (s.path / "absent.ckpt").string(), s);
  CHECK(r.status == 1);
  CHECK(contains(r.err, "absent.ckpt"));
  {
    std::ofstream garbage(s.path / "garbage.ckpt");
    garbage << "not a checkpoint";
  }
  r = run_cli(idx_eval + "--metric pr --features " + (s.path / "garbage.ckpt").string(), s);
  CHECK(r.status == 1);
  CHECK(contains(r.err, "garbage.ckpt"));
  // A GAN checkpoint is a checkpoint, but holds no feature network.
  r = run_cli(idx_eval + "--metric classes --features " + (run / "model.ckpt").string(), s);
  CHECK(r.status == 1);
  CHECK(count_lines(r.err) == 1);
  CHECK(contains(r.err, "feature_net/shape"));
}

TEST_CASE("cli: train --eval-every logs the FID of 2,000 samples and the report draws it") {
  REQUIRE(have_fashion_mnist());
  TempDir s;
  fs::path run = s.path / "fm";
  CliResult r =
      run_cli("train --model mlp --steps 4 --log-every 3 --eval-every 2 --out " + run.string(), s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "step 2: FID"));
  std::map<int, nlohmann::json> lines;
  std::istringstream metrics(slurp(run / "metrics.jsonl"));
  for (std::string line; std::getline(metrics, line);) {
    auto j = nlohmann::json::parse(line);
    lines[j["step"].get<int>()] = j;
  }
  REQUIRE(lines.size() == 3);  // steps 2 (an evaluation), 3 (a log line) and 4 (both, the last)
  CHECK(lines[2]["fid"].get<double>() > 0);
  CHECK(!lines[3].contains("fid"));
  CHECK(lines[4]["fid"].get<double>() > 0);
  CHECK(contains(slurp(run / "report.html"), "FID (2,000 samples"));
  CHECK(nlohmann::json::parse(slurp(run / "config.json"))["eval_every"] == 2);

  r = run_cli("train --data ring8 --steps 2 --eval-every 1 --out " + (s.path / "r").string(), s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "--eval-every 1: --data ring8 has no bundled feature network"));
}
