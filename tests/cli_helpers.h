// Running the built `minimax` binary as a user does, and reading back what it wrote.
#pragma once

#include <doctest/doctest.h>
#include <png.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "temp_dir.h"

namespace minimax::testing {

struct CliResult {
  int status;
  std::string out, err;
};

// Debian's dataset-fashion-mnist, which the tests that train or score on real images need.
inline const std::filesystem::path kFashion = "/usr/share/datasets/fashion-mnist";

inline bool have_fashion_mnist() {
  if (std::filesystem::exists(kFashion / "t10k-images-idx3-ubyte.gz")) return true;
  MESSAGE("dataset-fashion-mnist is not installed; .ci/install-deps installs it");
  return false;
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs a shell command with stdout and stderr captured in files of `scratch`.
inline CliResult run_shell(const std::string& command, const TempDir& scratch) {
  std::filesystem::path out = scratch.path / "stdout", err = scratch.path / "stderr";
  std::string cmd = command + " > " + out.string() + " 2> " + err.string();
  int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

// The last line of a command's output that holds a JSON object (`eval --json` prints it after
// any progress lines).
inline nlohmann::json last_json_line(const std::string& out) {
  std::istringstream lines(out);
  std::string line, last;
  while (std::getline(lines, line))
    if (line.starts_with("{")) last = line;
  REQUIRE_MESSAGE(!last.empty(), "no JSON line in the output: ", out);
  return nlohmann::json::parse(last);
}

// Runs `minimax ARGS`, as run_shell.
inline CliResult run_cli(const std::string& args, const TempDir& scratch) {
  return run_shell(std::string(MINIMAX_CLI) + " " + args, scratch);
}

// `minimax train` arguments for a short ring8 run into `dir` on one thread (so it is the same
// run on any machine), with a checkpoint every 50 steps and at the end.
inline std::string ring_run(const std::filesystem::path& dir, int steps,
                            const std::string& extra = "") {
  return "train --data ring8 --steps " + std::to_string(steps) +
         " --checkpoint-every 50 --sample-every 100 --log-every 25 --threads 1 --out " +
         dir.string() + " " + extra;
}

// Starts a shell command in the background (exec'd, so the pid is the command's own), its output
// in files of `scratch`.
inline pid_t start_shell(const std::string& command, const TempDir& scratch) {
  std::string cmd = "exec " + command + " > " + (scratch.path / "stdout").string() + " 2> " +
                    (scratch.path / "stderr").string();
  pid_t child = ::fork();
  if (child == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
    ::_exit(127);
  }
  return child;
}

// Starts `minimax ARGS` in the background, as start_shell.
inline pid_t start_cli(const std::string& args, const TempDir& scratch) {
  return start_shell(std::string(MINIMAX_CLI) + " " + args, scratch);
}

// Waits until a run has logged a metrics line at or past `step`.
inline void wait_for_step(const std::filesystem::path& metrics, int step) {
  for (int i = 0; i < 4800; ++i) {  // 2 minutes, for a loaded machine
    std::string text = slurp(metrics);
    size_t at = text.rfind("\"step\":");
    if (at != std::string::npos && std::atoi(text.c_str() + at + 7) >= step) return;
    ::usleep(25000);
  }
  FAIL("the run never reached step ", step, "; it wrote: ", slurp(metrics));
}

// The child's exit status, or minus the signal that ended it.
inline int exit_status(pid_t child) {
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

inline int count_lines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A PNG decoded to 8-bit RGB whatever it holds, with the format the file stores.
struct RgbImage {
  uint32_t width = 0, height = 0;
  uint32_t file_format = 0;
  std::vector<uint8_t> pixels;  // rows top to bottom, RGB interleaved
  const uint8_t* at(uint32_t row, uint32_t col) const {
    return &pixels[(static_cast<size_t>(row) * width + col) * 3];
  }
};

inline RgbImage decode_rgb(const std::filesystem::path& p) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  REQUIRE_MESSAGE(png_image_begin_read_from_file(&image, p.c_str()) != 0, p.string());
  RgbImage d;
  d.width = image.width;
  d.height = image.height;
  d.file_format = image.format;
  image.format = PNG_FORMAT_RGB;
  d.pixels.resize(PNG_IMAGE_SIZE(image));
  REQUIRE(png_image_finish_read(&image, nullptr, d.pixels.data(), 0, nullptr) != 0);
  return d;
}

// An MNIST-format IDX image file of n 28x28 images, image k a distinct pattern.
inline void write_idx_images(const std::filesystem::path& p, int n) {
  std::ofstream out(p, std::ios::binary);
  const unsigned char header[] = {0, 0, 8, 3,  0, 0, 0, static_cast<unsigned char>(n),
                                  0, 0, 0, 28, 0, 0, 0, 28};
  out.write(reinterpret_cast<const char*>(header), sizeof(header));
  for (int k = 0; k < n; ++k)
    for (int i = 0; i < 28 * 28; ++i) out.put(static_cast<char>((i * (k + 3) + 17 * k) % 256));
}

// An IDX labels file of n labels, label k being k mod classes.
inline void write_idx_labels(const std::filesystem::path& p, int n, int classes) {
  std::ofstream out(p, std::ios::binary);
  const unsigned char header[] = {0, 0, 8, 1, 0, 0, 0, static_cast<unsigned char>(n)};
  out.write(reinterpret_cast<const char*>(header), sizeof(header));
  for (int k = 0; k < n; ++k) out.put(static_cast<char>(k % classes));
}

}  // namespace minimax::testing
