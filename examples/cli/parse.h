// The `minimax` command line's parser: every subcommand's flags, bound to its options.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "examples/cli/commands.h"
#include "examples/gaussian_1d.h"

namespace minimax::cli {

class CommandLine {
 public:
  CommandLine();
  CommandLine(const CommandLine&) = delete;  // the options are bound by reference
  CommandLine& operator=(const CommandLine&) = delete;

  // Throws CLI::ParseError for a bad command line, an unknown command included (CLI::App::exit
  // turns it into the message and status).
  void parse(int argc, char** argv);
  CLI::App& app() { return app_; }
  // The subcommand given: "train", "sample", ...
  std::string command() const;

  TrainOptions train;
  SampleOptions sample;
  EvalOptions eval;
  InterpolateOptions interpolate;
  ReportOptions report;
  ClassifyOptions classify;
  BenchOptions bench;
  examples::Gaussian1dOptions demo;

 private:
  CLI::App app_;
};

}  // namespace minimax::cli
