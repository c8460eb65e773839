// `minimax eval --samples FILE.npy`: samples another program wrote, scored as a run's own samples
// are, and the files it refuses.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "cli_helpers.h"
#include "models/data/idx.h"
#include "models/io/npy.h"
#include "ops/ops.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

using namespace minimax::testing;

namespace {

// Runs eval and returns its JSON line, failing the test with stderr if it fails.
nlohmann::json eval_json(const std::string& args, const TempDir& s) {
  CliResult r = run_cli("eval " + args, s);
  INFO("eval ", args, ": ", r.err);
  REQUIRE(r.status == 0);
  return last_json_line(r.out);
}

// eval's exit status and one-line error for args.
void check_refused(const std::string& args, int status, const std::string& message,
                   const TempDir& s) {
  CliResult r = run_cli("eval " + args, s);
  INFO("eval ", args, ": ", r.err);
  CHECK(r.status == status);
  CHECK(count_lines(r.err) == 1);
  CHECK(contains(r.err, message));
}

}  // namespace

TEST_CASE(
    "cli: samples written by sample score by eval --samples as the checkpoint scores by eval") {
  REQUIRE(have_fashion_mnist());
  TempDir s;
  fs::path run = s.path / "fm", npy = s.path / "x.npy", rows = s.path / "rows.npy";
  REQUIRE(run_cli("train --model mlp --steps 2 --log-every 1 --out " + run.string(), s).status ==
          0);
  // 600 samples: two of eval's chunks of 500, so the file is read across a chunk's end.
  REQUIRE(run_cli("sample --checkpoint " + (run / "model.ckpt").string() +
                      " --n 600 --seed 5 --out " + npy.string(),
                  s)
              .status == 0);
  minimax::io::save_npy(minimax::reshape(minimax::io::load_npy(npy), {600, 784}), rows);
  const std::string checkpoint =
      "--checkpoint " + (run / "model.ckpt").string() + " --n 600 --seed 5";
  for (const char* metric : {"fid", "classes"}) {
    CAPTURE(metric);
    const std::string m = std::string(" --metric ") + metric;
    nlohmann::json of_run = eval_json(checkpoint + m, s);
    nlohmann::json of_file =
        eval_json("--samples " + npy.string() + " --data fashion-mnist" + m, s);
    nlohmann::json of_rows = eval_json("--samples " + rows.string() + m, s);  // default data
    CHECK(of_file["samples"] == 600);
    CHECK(of_file["samples_file"] == npy.string());
    if (std::string(metric) == "fid") {
      CHECK(of_run["fid"].get<double>() > 1.0);  // two steps: far from the data
      CHECK(of_file["fid"].get<double>() ==
            doctest::Approx(of_run["fid"].get<double>()).epsilon(1e-6));
      CHECK(of_rows["fid"] == of_file["fid"]);
    } else {
      CHECK(of_file["histogram"] == of_run["histogram"]);
      CHECK(of_rows["histogram"] == of_file["histogram"]);
    }
  }
  // --n takes the first n of the file's samples, and no more than it holds.
  CHECK(eval_json("--samples " + npy.string() + " --n 100 --metric classes", s)["samples"] == 100);
  check_refused("--samples " + npy.string() + " --n 601 --metric fid", 2, "holds 600", s);
}

// A perfect generator: the test split itself, written as a file of samples, is at FID 0 from the
// test split and spreads over all ten classes.
TEST_CASE("cli: the test images written as samples score FID 0 against the test split") {
  REQUIRE(have_fashion_mnist());
  TempDir s;
  fs::path npy = s.path / "test.npy";
  minimax::io::save_npy(minimax::data::load_idx_images(kFashion / "t10k-images-idx3-ubyte.gz"),
                        npy);
  nlohmann::json fid = eval_json("--samples " + npy.string() + " --metric fid", s);
  CHECK(fid["samples"] == 10000);
  CHECK(fid["fid"].get<double>() < 1e-3);
  nlohmann::json classes = eval_json("--samples " + npy.string() + " --metric classes", s);
  CHECK(classes["classes_present"] == 10);
  CHECK(classes["kl_to_uniform"].get<double>() < 0.01);
}

TEST_CASE(
    "cli: eval --samples refuses a missing, mistyped, truncated, misshapen or out-of-range file") {
  TempDir s;
  auto path = [&](const char* name) { return (s.path / name).string(); };
  using minimax::Tensor;
  minimax::io::save_npy(Tensor::full({4, 1, 28, 28}, 0.5f), path("good.npy"));
  const std::string fid = " --metric fid";

  check_refused("--samples " + path("absent.npy") + fid, 1, "absent.npy: cannot open", s);
  {  // the same header, int32 elements
    std::string header = minimax::io::npy_header(minimax::Shape({4, 784}));
    header.replace(header.find("<f4"), 3, "<i4");
    std::ofstream out(path("ints.npy"), std::ios::binary);
    out << header << std::string(4 * 784 * 4, '\0');
  }
  check_refused("--samples " + path("ints.npy") + fid, 1, "element type '<i4'", s);
  fs::copy_file(path("good.npy"), path("short.npy"));
  fs::resize_file(path("short.npy"), fs::file_size(path("short.npy")) - 10);
  check_refused("--samples " + path("short.npy") + fid, 1, "truncated", s);
  minimax::io::save_npy(Tensor::full({4, 100}, 0.5f), path("narrow.npy"));
  check_refused("--samples " + path("narrow.npy") + fid, 2, "shape [4, 100], expected", s);
  minimax::io::save_npy(Tensor::full({4, 28, 28}, 0.5f), path("rank3.npy"));
  check_refused("--samples " + path("rank3.npy") + fid, 2, "expected [N, 1, 28, 28]", s);
  minimax::io::save_npy(Tensor::full({0, 784}, 0.5f), path("empty.npy"));
  check_refused("--samples " + path("empty.npy") + fid, 2, "(N >= 1)", s);
  Tensor tanh_range = Tensor::full({4, 784}, 0.5f);
  tanh_range.data()[785] = -0.25f;
  minimax::io::save_npy(tanh_range, path("tanh.npy"));
  check_refused("--samples " + path("tanh.npy") + fid, 2,
                "value -0.25 at index 785 is outside [0, 1]", s);

  const std::string good = "--samples " + path("good.npy");
  check_refused(good + " --metric parzen", 2, "--samples is scored by fid, pr or classes", s);
  check_refused(good + fid + " --data ring8", 2, "--data ring8 holds 2-D points", s);
  check_refused(good + fid + " --checkpoint " + path("x.ckpt"), 2, "exactly one of", s);
  check_refused("--metric fid", 2, "exactly one of", s);
  check_refused("--checkpoint " + path("x.ckpt") + " --data fashion-mnist" + fid, 2,
                "--data goes with --samples", s);
}
