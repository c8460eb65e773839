// The training report: DIR/report.html, one page a browser shows without network or JavaScript.
//
// It holds the run's configuration (config.json), the curves of D's and G's losses and of mean D(x)
// and D(G(z)) over the steps (inline SVG drawn from metrics.jsonl), the last logged values and any
// DIR/eval*.json written by `minimax eval --json`, and the sample grids of samples/ over time,
// embedded as base64 data: URIs so that the file alone is the whole report.
#pragma once

#include <filesystem>

namespace minimax::cli {

// Writes DIR/report.html atomically and returns its path. A run in progress or a partial run is
// fine: what is missing is said on the page, and unreadable metrics lines are skipped and counted.
// Throws UsageError when DIR does not exist or holds neither config.json nor metrics.jsonl, and
// std::runtime_error when the page cannot be written.
std::filesystem::path write_report(const std::filesystem::path& run_dir);

}  // namespace minimax::cli
