// The training report (DIR/report.html): its content, its errors, and that a browser renders it
// (headless Chromium, Debian's chromium package; .ci/install-deps installs it).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "cli_helpers.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

using namespace minimax::testing;

namespace {

// A ring8 run of 200 steps: 8 metrics lines, sample plots at steps 100 and 200, and the report.
fs::path ring_report_run(const TempDir& s) {
  fs::path dir = s.path / "ring";
  auto r = run_cli(ring_run(dir, 200), s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "report: " + (dir / "report.html").string()));
  return dir;
}

int count(const std::string& s, const std::string& part) {
  int n = 0;
  for (size_t at = s.find(part); at != std::string::npos; at = s.find(part, at + 1)) ++n;
  return n;
}

std::string base64_decode(const std::string& text) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t bits = 0;
  int have = 0;
  for (char c : text) {
    if (c == '=') break;
    bits = bits << 6 | static_cast<uint32_t>(kAlphabet.find(c));
    have += 6;
    if (have >= 8) {
      have -= 8;
      out += static_cast<char>((bits >> have) & 0xff);
    }
  }
  return out;
}

// The polylines' point lists, in page order.
std::vector<std::string> polylines(const std::string& html) {
  std::vector<std::string> out;
  std::regex polyline("<polyline class=\"series\"[^>]* points=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), polyline);
       it != std::sregex_iterator(); ++it)
    out.push_back((*it)[1]);
  return out;
}

// The executable `name` on PATH, or empty.
fs::path find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (size_t start = 0; start <= dirs.size();) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
    if (!candidate.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

// Pixels within a small distance of the color (anti-aliased line edges are blends).
int64_t pixels_near(const RgbImage& img, int r, int g, int b, int tolerance = 40) {
  int64_t n = 0;
  for (size_t i = 0; i < img.pixels.size(); i += 3) {
    int dr = img.pixels[i] - r, dg = img.pixels[i + 1] - g, db = img.pixels[i + 2] - b;
    if (dr * dr + dg * dg + db * db <= tolerance * tolerance) ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("report: train writes one self-contained page with config, curves, samples, metrics") {
  TempDir s;
  fs::path dir = ring_report_run(s);
  std::string html = slurp(dir / "report.html");
  CHECK(html.starts_with("<!DOCTYPE html>"));
  // Nothing to fetch and nothing to run.
  CHECK_FALSE(contains(html, "<script"));
  CHECK_FALSE(contains(html, "http://"));
  CHECK_FALSE(contains(html, "https://"));
  CHECK_FALSE(contains(html, "<link"));
  // The configuration.
  CHECK(contains(html, "<dt>data</dt><dd>ring8</dd>"));
  CHECK(contains(html, "<dt>steps</dt><dd>200</dd>"));
  // Four curves (D loss, G loss, D(x), D(G(z))) of one point per metrics line.
  std::vector<std::string> lines = polylines(html);
  REQUIRE(lines.size() == 4);
  for (const std::string& points : lines) CHECK(count(points, ",") == 8);
  // The sample plots, embedded byte for byte.
  CHECK(count(html, "data:image/png;base64,") == 2);
  // Found by plain search: std::regex recurses once per character of a long match, which
  // overflows the stack of a sanitizer build on a page of base64.
  const size_t alt = html.find("\" alt=\"samples at step 100\"");
  REQUIRE(alt != std::string::npos);
  const size_t start = html.rfind("base64,", alt);
  REQUIRE(start != std::string::npos);
  CHECK(base64_decode(html.substr(start + 7, alt - start - 7)) ==
        slurp(dir / "samples" / "step_000100.png"));
  // The last logged values.
  CHECK(contains(html, "Last logged step (200)"));
  CHECK(contains(html, "<th>mean D(G(z))</th>"));

  // An evaluation written into the run directory joins the final metrics; a torn metrics line is
  // skipped and said.
  auto r = run_cli("eval --checkpoint " + (dir / "model.ckpt").string() +
                       " --metric modes --n 300 --json " + (dir / "eval-modes.json").string(),
                   s);
  REQUIRE(r.status == 0);
  std::ofstream(dir / "metrics.jsonl", std::ios::app) << "{\"step\": 225, \"d_lo";
  r = run_cli("report " + dir.string(), s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "report.html"));
  html = slurp(dir / "report.html");
  CHECK(contains(html, "<h3>eval-modes.json</h3>"));
  CHECK(contains(html, "<th>modes_captured</th>"));
  CHECK(contains(html, "1 unreadable line(s) of metrics.jsonl skipped"));
  CHECK(polylines(html).size() == 4);
}

TEST_CASE(
    "report: a partial run still reports, escaped, and a directory without a run is refused") {
  TempDir s;
  fs::path dir = s.path / "partial";
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({"data": "idx:/data/<b>&c", "steps": 10})";
  // A NaN loss is logged as null: that point is left out, the others drawn.
  std::ofstream(dir / "metrics.jsonl")
      << "{\"step\":1,\"d_loss\":1.5,\"g_loss\":0.7,\"d_real\":0.5,\"d_fake\":0.5}\n"
      << "{\"step\":2,\"d_loss\":null,\"g_loss\":0.8,\"d_real\":0.6,\"d_fake\":0.4}\n";
  auto r = run_cli("report " + dir.string(), s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  std::string html = slurp(dir / "report.html");
  CHECK(contains(html, "idx:/data/&lt;b&gt;&amp;c"));
  CHECK_FALSE(contains(html, "<b>&c"));
  std::vector<std::string> lines = polylines(html);
  REQUIRE(lines.size() == 4);
  CHECK(count(lines[0], ",") == 1);  // D loss: step 2 was NaN
  CHECK(count(lines[1], ",") == 2);
  CHECK(contains(html, "No sample grids yet"));

  r = run_cli("report " + (s.path / "nowhere").string(), s);
  CHECK(r.status == 2);
  CHECK(count_lines(r.err) == 1);
  CHECK(contains(r.err, "nowhere is not a directory"));
  fs::create_directories(s.path / "empty");
  r = run_cli("report " + (s.path / "empty").string(), s);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "holds no run"));
  r = run_cli("report", s);
  CHECK(r.status == 2);
  CHECK(count_lines(r.err) == 1);
}

TEST_CASE("report: JSON nested 200,000 deep is shown as written or skipped, not a stack overflow") {
  TempDir s;
  fs::path dir = s.path / "deep";
  fs::create_directories(dir);
  const int depth = 200000;
  std::string deep = std::string(depth, '[') + std::string(depth, ']');
  std::ofstream(dir / "config.json") << "{\"data\": " << deep << "}";
  std::ofstream(dir / "metrics.jsonl") << "{\"step\":1,\"d_loss\":1.5}\n"
                                       << "{\"step\":2,\"d_loss\":" << deep << "}\n";
  std::ofstream(dir / "eval.json") << "{\"parzen\": " << deep << "}";
  auto r = run_cli("report " + dir.string(), s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  std::string html = slurp(dir / "report.html");
  CHECK(contains(html, "config.json is not a JSON object (or nests too deeply to show)"));
  CHECK(contains(html, "1 unreadable line(s) of metrics.jsonl skipped"));
  CHECK(contains(html, "not a JSON object"));
}

TEST_CASE("report: headless Chromium renders the page, its curves and its sample plots") {
  fs::path chromium = find_on_path("chromium");
  if (chromium.empty()) {
    FAIL(
        "chromium is not installed (Debian package chromium; .ci/install-deps installs it): the "
        "report cannot be rendered");
    return;
  }
  TempDir s;
  fs::path dir = ring_report_run(s);
  fs::path shot = s.path / "report.png", profile = s.path / "chromium-profile";
  std::string cmd = "timeout 120 " + chromium.string() +
                    " --headless --no-sandbox --disable-gpu --disable-background-networking"
                    " --hide-scrollbars --user-data-dir=" +
                    profile.string() + " --window-size=1280,1600 --screenshot=" + shot.string() +
                    " file://" + fs::absolute(dir / "report.html").string() + " > " +
                    (s.path / "chromium.log").string() + " 2>&1";
  int status = std::system(cmd.c_str());
  INFO("chromium log: " << slurp(s.path / "chromium.log"));
  REQUIRE(status == 0);
  REQUIRE(fs::exists(shot));
  RgbImage img = decode_rgb(shot);
  CHECK(img.width == 1280);
  CHECK(img.height == 1600);
  // Not blank: text, axes, curves and plots cover a good part of the page.
  int64_t total = static_cast<int64_t>(img.width) * img.height;
  int64_t non_white = total - pixels_near(img, 255, 255, 255, 8);
  CHECK(non_white > total / 100);
  // Each curve is drawn in its own color (report.cpp's kOrange, kGreen, kPurple, kTeal), over far
  // more pixels than its legend swatch (18 x 3) holds.
  CHECK(pixels_near(img, 0xff, 0x7f, 0x0e) > 300);
  CHECK(pixels_near(img, 0x2c, 0xa0, 0x2c) > 300);
  CHECK(pixels_near(img, 0x94, 0x67, 0xbd) > 300);
  CHECK(pixels_near(img, 0x17, 0xbe, 0xcf) > 300);
  // The embedded sample plots are shown: their points' blue (models/io/png.cpp) is on the page.
  CHECK(pixels_near(img, 31, 119, 180, 10) > 200);
}
