// The whole programs of examples/programs: each runs for a few steps, and the README's "Write
// your own GAN" shows each exactly as it is compiled.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "cli_helpers.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

using namespace minimax::testing;

namespace {

// The code block after "<!-- program: NAME -->" in the README.
std::string readme_program(const std::string& name) {
  std::string readme = slurp(fs::path(MINIMAX_SOURCE_DIR) / "README.md");
  const std::string marker = "<!-- program: " + name + " -->\n```cpp\n";
  size_t begin = readme.find(marker);
  if (begin == std::string::npos) return "";
  begin += marker.size();
  return readme.substr(begin, readme.find("```\n", begin) - begin);
}

// Runs `NAME 3 GRID.png` (3 steps) and checks its last progress line and its grid of 8 columns.
void check_short_run(const std::string& name, const std::string& last_line, int rows) {
  if (!fs::exists(kFashion / "train-images-idx3-ubyte.gz")) {
    MESSAGE("dataset-fashion-mnist is not installed; .ci/install-deps installs it");
    return;
  }
  TempDir s;
  fs::path grid = s.path / "grid.png";
  CliResult r = run_shell(std::string(MINIMAX_PROGRAM_DIR) + "/" + name + " 3 " + grid.string(), s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, last_line));
  RgbImage image = decode_rgb(grid);
  CHECK(image.width == 8 * 28 + 9);  // 8 columns of 28 pixels and 1-pixel borders
  CHECK(image.height == rows * 28 + rows + 1);
}

}  // namespace

TEST_CASE("programs: the README shows each example program exactly as it is compiled") {
  for (const char* name : {"wgan_gp", "sagan"}) {
    CAPTURE(name);
    std::string source = slurp(fs::path(MINIMAX_SOURCE_DIR) / "examples" / "programs" /
                               (std::string(name) + ".cpp"));
    REQUIRE(!source.empty());
    // Paste examples/programs/NAME.cpp after the README's "<!-- program: NAME -->" to mend this.
    CHECK(readme_program(name) == source);
  }
}

TEST_CASE("programs: wgan_gp trains its convolutional critic with the penalty and draws a grid") {
  check_short_run("wgan_gp", "step 3  critic loss", 8);
}

TEST_CASE("programs: sagan trains a conditional SAGAN with its labels and draws a row per class") {
  check_short_run("sagan", "step 3  D loss", 10);  // a row for each of the 10 classes
}

TEST_CASE(
    "programs: a bad STEPS or a stray argument is named before any training, --help lists both") {
  for (const char* name : {"wgan_gp", "sagan", "conditional_gan"}) {
    CAPTURE(name);
    TempDir s;
    const std::string program = std::string(MINIMAX_PROGRAM_DIR) + "/" + name;
    for (const char* steps : {"10x", "0", "-3", "2.5"}) {
      CAPTURE(steps);
      CliResult r = run_shell(program + " " + steps, s);
      CHECK(r.status != 0);
      CHECK(contains(r.err, std::string("STEPS: Value ") + steps + " not in range 1 to"));
      CHECK(r.out.find("step") == std::string::npos);  // nothing trained
    }
    const fs::path grid = s.path / "grid.png";
    CliResult extra = run_shell(program + " 3 " + grid.string() + " extra", s);
    CHECK(extra.status != 0);
    CHECK(contains(extra.err, "not expected: extra"));
    CHECK(!fs::exists(grid));
    CliResult help = run_shell(program + " --help", s);
    CHECK(help.status == 0);
    CHECK(contains(help.out, "STEPS"));
  }
}
