// `minimax report`: DIR/report.html, built as text: HTML, inline SVG and base64 PNGs.
#include "examples/cli/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "examples/cli/commands.h"
#include "examples/cli/config.h"
#include "models/io/atomic_file.h"

namespace minimax::cli {

namespace fs = std::filesystem;

namespace {

// ---- text helpers ----

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string escape_html(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string base64(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t chunk = uint32_t{static_cast<uint8_t>(bytes[i])} << 16;
    if (i + 1 < bytes.size()) chunk |= uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8;
    if (i + 2 < bytes.size()) chunk |= static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(chunk >> 18) & 63];
    out += kAlphabet[(chunk >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(chunk >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[chunk & 63] : '=';
  }
  return out;
}

// A run's JSON file or line parsed for display: discarded when it is not JSON or nests deeper than
// kMaxJsonDepth. show() and nlohmann's dump() recurse once per level, so a config.json of 200,000
// nested brackets (400 KB) overflowed the stack; nothing minimax writes nests more than twice.
constexpr int kMaxJsonDepth = 32;

nlohmann::json parse_for_display(const std::string& text) {
  bool too_deep = false;
  auto j = nlohmann::json::parse(
      text,
      [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
        too_deep = too_deep || depth > kMaxJsonDepth;
        return true;
      },
      false);
  return too_deep ? nlohmann::json(nlohmann::json::value_t::discarded) : j;
}

// A JSON value as a short human-readable string: numbers with 6 significant digits, also inside
// arrays (Parzen's per-sigma log-likelihoods).
std::string show(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return fmt::format("{:.6g}", v.get<double>());
  if (v.is_array()) {
    std::vector<std::string> items;
    for (const auto& item : v) items.push_back(show(item));
    return fmt::format("[{}]", fmt::join(items, ", "));
  }
  return v.dump();
}

// ---- metrics.jsonl ----

struct Point {
  double x, y;
};

struct Metrics {
  std::vector<nlohmann::json> lines;  // the readable ones, in file order
  int skipped = 0;                    // lines that are not a JSON object with a numeric step

  // The (step, value) points of one key; non-numeric values (a NaN is logged as null) are left out.
  std::vector<Point> series(const char* key) const {
    std::vector<Point> out;
    for (const auto& j : lines)
      if (j.contains(key) && j[key].is_number())
        out.push_back({j["step"].get<double>(), j[key].get<double>()});
    return out;
  }
};

Metrics read_metrics(const fs::path& path) {
  Metrics m;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = parse_for_display(line);
    // A run killed while writing can leave a torn last line: it is skipped, and counted.
    if (j.is_discarded() || !j.is_object() || !j.contains("step") || !j["step"].is_number())
      ++m.skipped;
    else
      m.lines.push_back(std::move(j));
  }
  return m;
}

// ---- SVG line charts ----

struct Series {
  std::string label, color;
  std::vector<Point> points;
};

// An axis from lo to hi in steps of 1, 2 or 5 times a power of ten, about `ticks` of them,
// covering the data.
struct Axis {
  double lo, hi, step;
  int intervals() const { return static_cast<int>(std::lround((hi - lo) / step)); }
  double tick(int i) const { return lo + i * step; }
};

Axis nice_axis(double lo, double hi, int ticks = 5) {
  // One value, or values too close for doubles to step between: a range around them.
  if (!(hi - lo > 1e-9 * std::max(std::abs(lo), std::abs(hi)))) {
    double pad = std::max(1e-3, std::abs(lo) * 0.1);
    lo -= pad;
    hi += pad;
  }
  double raw = (hi - lo) / ticks;
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double f = raw / magnitude;
  double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * magnitude;
  return {std::floor(lo / step) * step, std::ceil(hi / step) * step, step};
}

// At most kMaxPoints points per line: every k-th, and always the last.
constexpr size_t kMaxPoints = 1500;
std::vector<Point> thin(const std::vector<Point>& points) {
  if (points.size() <= kMaxPoints) return points;
  size_t stride = (points.size() + kMaxPoints - 1) / kMaxPoints;
  std::vector<Point> out;
  for (size_t i = 0; i < points.size(); i += stride) out.push_back(points[i]);
  if (out.back().x != points.back().x) out.push_back(points.back());
  return out;
}

struct ChartFrame {
  static constexpr double kWidth = 580, kHeight = 280;  // two side by side on a laptop screen
  static constexpr double kLeft = 64, kRight = 16, kTop = 40, kBottom = 44;
  Axis x, y;
  double px(double v) const {
    return kLeft + (v - x.lo) / (x.hi - x.lo) * (kWidth - kLeft - kRight);
  }
  double py(double v) const {
    return kHeight - kBottom - (v - y.lo) / (y.hi - y.lo) * (kHeight - kTop - kBottom);
  }
};

void draw_grid(std::string& svg, const ChartFrame& f, const std::string& x_label) {
  auto out = std::back_inserter(svg);
  for (int i = 0; i <= f.y.intervals(); ++i) {
    double v = f.y.tick(i);
    fmt::format_to(out,
                   "<line class=\"grid\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>"
                   "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{:.6g}</text>\n",
                   f.px(f.x.lo), f.py(v), f.px(f.x.hi), f.py(v), f.px(f.x.lo) - 6, f.py(v) + 4,
                   std::abs(v) < f.y.step * 1e-9 ? 0.0 : v);
  }
  for (int i = 0; i <= f.x.intervals(); ++i) {
    double v = f.x.tick(i);
    fmt::format_to(out,
                   "<line class=\"grid\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>"
                   "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{:.6g}</text>\n",
                   f.px(v), f.py(f.y.lo), f.px(v), f.py(f.y.hi), f.px(v), f.py(f.y.lo) + 18, v);
  }
  fmt::format_to(out, "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
                 (f.px(f.x.lo) + f.px(f.x.hi)) / 2, ChartFrame::kHeight - 6, x_label);
}

// A line chart of the series against the step. `y_range` fixes the vertical axis when the data
// fit in it (probabilities in [0, 1]).
std::string line_chart(const std::string& title, const std::vector<Series>& series,
                       std::optional<Axis> y_range = std::nullopt) {
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const Series& s : series)
    for (const Point& p : s.points) {
      if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
      x_lo = std::min(x_lo, p.x), x_hi = std::max(x_hi, p.x);
      y_lo = std::min(y_lo, p.y), y_hi = std::max(y_hi, p.y);
    }
  std::string svg = fmt::format(
      "<svg class=\"chart\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" role=\"img\" "
      "aria-label=\"{2}\">\n<text class=\"title\" x=\"{3}\" y=\"22\">{2}</text>\n",
      ChartFrame::kWidth, ChartFrame::kHeight, escape_html(title), ChartFrame::kLeft);
  if (!(x_hi >= x_lo)) {
    svg += fmt::format("<text x=\"{}\" y=\"{}\">no metrics logged yet</text>\n</svg>\n",
                       ChartFrame::kLeft, ChartFrame::kHeight / 2);
    return svg;
  }
  bool fits = y_range && y_lo >= y_range->lo && y_hi <= y_range->hi;
  ChartFrame f{nice_axis(x_lo, x_hi), fits ? *y_range : nice_axis(y_lo, y_hi)};
  draw_grid(svg, f, "step");
  auto out = std::back_inserter(svg);
  double legend_x = ChartFrame::kWidth - ChartFrame::kRight;
  for (auto s = series.rbegin(); s != series.rend(); ++s) {  // right-aligned, last series first
    legend_x -= 30 + 7.5 * s->label.size();
    fmt::format_to(out,
                   "<line x1=\"{0:.1f}\" y1=\"17\" x2=\"{1:.1f}\" y2=\"17\" stroke=\"{2}\" "
                   "stroke-width=\"3\"/><text x=\"{3:.1f}\" y=\"22\">{4}</text>\n",
                   legend_x, legend_x + 18, s->color, legend_x + 23, escape_html(s->label));
  }
  for (const Series& s : series) {
    fmt::format_to(out, "<polyline class=\"series\" fill=\"none\" stroke=\"{}\" points=\"",
                   s.color);
    for (const Point& p : thin(s.points))
      if (std::isfinite(p.x) && std::isfinite(p.y))
        fmt::format_to(out, "{:.1f},{:.1f} ", f.px(p.x), f.py(p.y));
    svg += "\"/>\n";
  }
  svg += "</svg>\n";
  return svg;
}

// Colors far from each other and from the blue and red of the mixtures' sample plots.
constexpr const char* kOrange = "#ff7f0e";
constexpr const char* kGreen = "#2ca02c";
constexpr const char* kPurple = "#9467bd";
constexpr const char* kTeal = "#17becf";

// ---- sections ----

void add_configuration(std::string& html, const fs::path& config_path) {
  html += "<h2>Configuration</h2>\n";
  if (!fs::exists(config_path)) {
    html += "<p class=\"missing\">No config.json in this directory.</p>\n";
    return;
  }
  auto config = parse_for_display(read_bytes(config_path));
  if (config.is_discarded() || !config.is_object()) {
    html +=
        "<p class=\"missing\">config.json is not a JSON object (or nests too deeply to show); as "
        "written:</p>\n<pre>" +
        escape_html(read_bytes(config_path)) + "</pre>\n";
    return;
  }
  html += "<dl class=\"config\">\n";
  for (const auto& [key, value] : config.items())
    html += fmt::format("<dt>{}</dt><dd>{}</dd>\n", escape_html(key), escape_html(show(value)));
  html += "</dl>\n";
}

void add_curves(std::string& html, const Metrics& m) {
  html += "<h2>Training curves</h2>\n";
  if (m.skipped > 0)
    html += fmt::format(
        "<p class=\"missing\">{} unreadable line(s) of metrics.jsonl skipped.</p>\n", m.skipped);
  html += "<div class=\"charts\">\n";
  html += line_chart(
      "Losses", {{"D loss", kOrange, m.series("d_loss")}, {"G loss", kGreen, m.series("g_loss")}});
  // Probabilities for the paper's game and the non-saturating one; raw critic values otherwise.
  html +=
      line_chart("Mean D output",
                 {{"D(x)", kPurple, m.series("d_real")}, {"D(G(z))", kTeal, m.series("d_fake")}},
                 Axis{0, 1, 0.2});
  // Runs with --eval-every: the FID of 2,000 samples, on a scale of its own.
  if (std::vector<Point> fid = m.series("fid"); !fid.empty())
    html += line_chart("FID (2,000 samples, lower is better)", {{"FID", kOrange, fid}});
  html += "</div>\n";
}

using Rows = std::vector<std::pair<std::string, nlohmann::json>>;

void add_key_values(std::string& html, const Rows& rows) {
  html += "<table class=\"values\">\n";
  for (const auto& [key, value] : rows)
    html += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", escape_html(key),
                        escape_html(show(value)));
  html += "</table>\n";
}

Rows rows_of(const nlohmann::json& object) {
  Rows rows;
  for (const auto& [key, value] : object.items()) rows.emplace_back(key, value);
  return rows;
}

// A metrics line in the order and words of the progress line; keys it does not know follow.
Rows labelled(const nlohmann::json& line) {
  static const std::pair<std::string, std::string> kLabels[] = {
      {"step", "step"},        {"d_loss", "D loss"},       {"g_loss", "G loss"},
      {"d_real", "mean D(x)"}, {"d_fake", "mean D(G(z))"}, {"iters_per_s", "iterations/s"},
      {"fid", "FID"}};
  Rows rows;
  for (const auto& [key, label] : kLabels)
    if (line.contains(key)) rows.emplace_back(label, line[key]);
  // Not a structured binding: a lambda may capture one only from clang 16 on.
  for (const auto& item : line.items())
    if (std::none_of(std::begin(kLabels), std::end(kLabels),
                     [&](const auto& l) { return item.key() == l.first; }))
      rows.emplace_back(item.key(), item.value());
  return rows;
}

// The last metrics line and every DIR/eval*.json, side by side.
void add_final_metrics(std::string& html, const Metrics& m, const fs::path& dir) {
  html += "<h2>Final metrics</h2>\n<div class=\"tables\">\n";
  if (m.lines.empty()) {
    html += "<p class=\"missing\">No metrics logged yet.</p>\n";
  } else {
    html += fmt::format("<section><h3>Last logged step ({})</h3>\n", show(m.lines.back()["step"]));
    add_key_values(html, labelled(m.lines.back()));
    html += "</section>\n";
  }
  std::vector<fs::path> evaluations;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with("eval") && name.ends_with(".json")) evaluations.push_back(entry.path());
  }
  std::sort(evaluations.begin(), evaluations.end());
  for (const fs::path& p : evaluations) {
    html += fmt::format("<section><h3>{}</h3>\n", escape_html(p.filename().string()));
    auto j = parse_for_display(read_bytes(p));
    if (j.is_object())
      add_key_values(html, rows_of(j));
    else
      html += "<p class=\"missing\">not a JSON object</p>\n";
    html += "</section>\n";
  }
  html += "</div>\n";
  if (evaluations.empty())
    html +=
        "<p class=\"hint\">Scores from <code>minimax eval --json DIR/eval-NAME.json</code> appear "
        "here.</p>\n";
}

struct SampleGrid {
  int64_t step;
  fs::path path;
};

// samples/step_NNNNNN.png, in step order.
std::vector<SampleGrid> sample_grids(const fs::path& dir) {
  std::vector<SampleGrid> grids;
  if (!fs::is_directory(dir)) return grids;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (!name.starts_with("step_") || !name.ends_with(".png")) continue;
    std::string digits = name.substr(5, name.size() - 9);
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) continue;
    grids.push_back({std::stoll(digits), entry.path()});
  }
  std::sort(grids.begin(), grids.end(),
            [](const SampleGrid& a, const SampleGrid& b) { return a.step < b.step; });
  return grids;
}

// At most kMaxGrids, evenly spaced over the run, the first and the last included: a long run
// with frequent samples would otherwise make a page of hundreds of megabytes.
constexpr size_t kMaxGrids = 12;
std::vector<SampleGrid> spread(const std::vector<SampleGrid>& grids) {
  if (grids.size() <= kMaxGrids) return grids;
  std::vector<SampleGrid> out;
  for (size_t i = 0; i < kMaxGrids; ++i)
    out.push_back(grids[i * (grids.size() - 1) / (kMaxGrids - 1)]);
  return out;
}

void add_samples(std::string& html, const fs::path& dir) {
  html += "<h2>Samples over training</h2>\n";
  std::vector<SampleGrid> all = sample_grids(dir / "samples"), shown = spread(all);
  if (all.empty()) {
    html += "<p class=\"missing\">No sample grids yet (samples/step_NNNNNN.png).</p>\n";
    return;
  }
  if (shown.size() < all.size())
    html += fmt::format("<p class=\"hint\">{} of the {} grids, evenly spaced.</p>\n", shown.size(),
                        all.size());
  html += "<div class=\"grids\">\n";
  for (const SampleGrid& g : shown)
    html += fmt::format(
        "<figure><img src=\"data:image/png;base64,{}\" alt=\"samples at step {}\">"
        "<figcaption>step {}</figcaption></figure>\n",
        base64(read_bytes(g.path)), g.step, g.step);
  html += "</div>\n";
}

constexpr const char* kStyle = R"(
body { font: 15px/1.4 sans-serif; color: #222; margin: 24px 32px; max-width: 1500px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 14px 0 4px; }
.run { color: #666; margin: 0; }
.missing, .hint { color: #777; font-style: italic; }
dl.config { display: grid; grid-template-columns: repeat(4, max-content minmax(90px, max-content));
            gap: 2px 12px; margin: 0; }
dl.config dt { font-weight: bold; } dl.config dd { margin: 0 16px 0 0; font-family: monospace; }
table.values { border-collapse: collapse; }
table.values th { text-align: left; padding: 1px 16px 1px 0; }
table.values td { font-family: monospace; max-width: 420px; overflow-wrap: anywhere; }
.tables { display: flex; flex-wrap: wrap; gap: 8px 48px; align-items: flex-start; }
.charts { display: flex; flex-wrap: wrap; gap: 8px 24px; }
svg.chart { font: 12px sans-serif; fill: #333; }
svg.chart .title { font-size: 14px; font-weight: bold; }
svg.chart .grid { stroke: #e3e3e3; stroke-width: 1; }
svg.chart .series { stroke-width: 2; stroke-linejoin: round; }
.grids { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; } figcaption { text-align: center; color: #555; }
img { image-rendering: pixelated; display: block; border: 1px solid #ccc; }
)";

}  // namespace

fs::path write_report(const fs::path& dir) {
  if (!fs::is_directory(dir))
    throw UsageError(fmt::format("report: {} is not a directory", dir.string()));
  fs::path config = dir / "config.json", metrics_path = dir / "metrics.jsonl";
  if (!fs::exists(config) && !fs::exists(metrics_path))
    throw UsageError(
        fmt::format("report: {} holds no run (no config.json or metrics.jsonl)", dir.string()));
  Metrics metrics = read_metrics(metrics_path);
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>minimax report: {0}</title>\n<style>{1}</style>\n</head>\n<body>\n"
      "<h1>Training report</h1>\n<p class=\"run\">{0} &middot; written by minimax {2}</p>\n",
      escape_html(dir.string()), kStyle, MINIMAX_VERSION);
  add_configuration(html, config);
  add_curves(html, metrics);
  add_final_metrics(html, metrics, dir);
  add_samples(html, dir);
  html += "</body>\n</html>\n";

  fs::path out = dir / "report.html";
  io::write_text_file_atomically(out, html);
  return out;
}

int report(const ReportOptions& o) {
  if (o.dir.empty()) throw UsageError("report: give the run directory, e.g. minimax report runs/x");
  fs::path out = write_report(o.dir);
  fmt::print("wrote {}\n", out.string());
  return 0;
}

}  // namespace minimax::cli
