// The minimax command line: train, sample, interpolate, eval, report (and the 1-D demo). Exit
// status: 0 on success, 2 for usage errors, 1 for any other error; every error is one line on
// stderr.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "examples/cli/commands.h"
#include "examples/cli/distributed.h"
#include "examples/cli/launch.h"
#include "examples/gaussian_1d.h"
#include "ops/runtime.h"

namespace {

using minimax::cli::RunFlags;

template <class T, class Field>
void optional_flag(CLI::App* cmd, const std::string& name, Field& field, const std::string& help) {
  cmd->add_option_function<T>(
      name, [&field](const T& v) { field = v; }, help);
}

void add_train(CLI::App& app, minimax::cli::TrainOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "train",
      "train a GAN; writes DIR/model.ckpt, metrics.jsonl, config.json, samples/, report.html");
  RunFlags& f = o.flags;
  cmd->add_option(
      "--data", f.data,
      "fashion-mnist (default), idx:FILE (MNIST-format images), cifar10:DIR (CIFAR-10 binary), "
      "ring8 or grid25");
  optional_flag<std::string>(cmd, "--model", f.model,
                             "mlp (the paper's), dcgan, or mixture-mlp (ring8/grid25)");
  optional_flag<std::string>(cmd, "--loss", f.loss,
                             "nonsaturating (default), minimax, wgan-gp, hinge or lsgan");
  optional_flag<std::string>(cmd, "--optimizer", f.optimizer,
                             "adam or sgd (the paper's SGD and schedules)");
  optional_flag<double>(cmd, "--lr", f.lr, "learning rate");
  optional_flag<double>(cmd, "--lr-decay-start", f.lr_decay_start,
                        "adam: fraction of the run after which lr falls linearly to 1% (1: off)");
  optional_flag<int64_t>(cmd, "--steps", f.steps, "the run's total number of iterations");
  optional_flag<int64_t>(cmd, "--batch", f.batch, "minibatch size m");
  optional_flag<int>(cmd, "--k", f.k, "discriminator steps per generator step");
  optional_flag<double>(cmd, "--r1", f.r1,
                        "R1 penalty weight gamma on real data, added to D's loss (0: off)");
  optional_flag<uint64_t>(cmd, "--seed", f.seed, "random seed");
  optional_flag<int>(cmd, "--threads", f.threads, "compute threads");
  optional_flag<int64_t>(cmd, "--checkpoint-every", f.checkpoint_every,
                         "steps between checkpoints");
  optional_flag<int64_t>(cmd, "--sample-every", f.sample_every, "steps between sample images");
  optional_flag<int64_t>(cmd, "--log-every", f.log_every, "steps between metrics lines");
  cmd->add_option("--out", o.out, "run directory (default runs/<data>)");
  cmd->add_flag("--resume", o.resume, "continue DIR/model.ckpt up to --steps");
  cmd->add_flag("--force", o.force, "start over in a DIR that holds a run");
  cmd->add_option("--sharding", o.sharding,
                  "under mpirun -np N: streams (each process its own random streams; the "
                  "default) or slices (all draw the global batch alike, each keeps its rows: "
                  "matches one process with N x --batch)");
}

void add_sample(CLI::App& app, minimax::cli::SampleOptions& o) {
  CLI::App* cmd = app.add_subcommand("sample", "draw samples from a trained generator");
  cmd->add_option("--checkpoint", o.checkpoint, "a model.ckpt written by train")->required();
  cmd->add_option("--n", o.n, "number of samples");
  cmd->add_option("--seed", o.seed, "random seed");
  cmd->add_option("--out", o.out,
                  "FILE.npy (float32: [N, 2] or [N, C, H, W] in [0, 1]) or FILE.png")
      ->required();
  cmd->add_flag("--nearest", o.nearest,
                "PNG grid whose last column shows the training image closest to each row's last "
                "sample (image runs)");
}

void add_interpolate(CLI::App& app, minimax::cli::InterpolateOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "interpolate", "PNG grid: each row walks a straight line in z between two random z");
  cmd->add_option("--checkpoint", o.checkpoint, "a model.ckpt written by train (an image run)")
      ->required();
  cmd->add_option("--rows", o.rows, "lines, one per row (1 to 100)");
  cmd->add_option("--steps", o.steps, "images per line, both ends included (2 to 100)");
  cmd->add_option("--seed", o.seed, "random seed for the lines' ends");
  cmd->add_option("--out", o.out, "FILE.png")->required();
}

void add_report(CLI::App& app, minimax::cli::ReportOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "report", "write DIR/report.html: configuration, training curves, samples, final metrics");
  cmd->add_option("dir", o.dir, "a run directory written by train")->required();
}

void add_eval(CLI::App& app, minimax::cli::EvalOptions& o) {
  CLI::App* cmd =
      app.add_subcommand("eval", "score a trained generator; prints a summary and a JSON line");
  cmd->add_option("--checkpoint", o.checkpoint, "a model.ckpt written by train")->required();
  cmd->add_option("--metric", o.metric, "parzen (images) or modes (ring8, grid25)")->required();
  optional_flag<int64_t>(cmd, "--n", o.n, "samples (default 10000 for parzen, 2500 for modes)");
  cmd->add_option("--seed", o.seed, "random seed");
  cmd->add_option("--json", o.json_out, "also write the JSON result to this file");
}

void add_bench(CLI::App& app, minimax::cli::BenchOptions& o) {
  CLI::App* cmd =
      app.add_subcommand("bench", "time training iterations of the paper's MLP or DCGAN");
  cmd->add_option("--model", o.model, "mlp (batch 100, SGD) or dcgan (batch 64, Adam)");
  cmd->add_option("--threads", o.threads, "compute threads");
  cmd->add_option("--seconds", o.seconds, "how long to time, after a warm-up");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"minimax: generative adversarial nets on a C++ autodiff engine"};
  app.set_version_flag("--version", std::string("minimax ") + MINIMAX_VERSION);
  app.require_subcommand(1);
  minimax::cli::TrainOptions train;
  minimax::cli::SampleOptions sample;
  minimax::cli::EvalOptions eval;
  add_train(app, train);
  add_sample(app, sample);
  add_eval(app, eval);
  minimax::cli::InterpolateOptions interpolate;
  add_interpolate(app, interpolate);
  minimax::cli::ReportOptions report;
  add_report(app, report);
  minimax::cli::BenchOptions bench;
  add_bench(app, bench);
  minimax::examples::Gaussian1dOptions demo;
  CLI::App* demo_cmd =
      app.add_subcommand("demo", "the smallest GAN: two tiny MLPs learn a 1-D Gaussian");
  demo_cmd->add_option("--steps", demo.steps, "training iterations")->check(CLI::Range(1, 1 << 30));
  demo_cmd->add_option("--seed", demo.seed, "random seed");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    fmt::print(stderr, "minimax: error: {}\n", e.what());
    return 2;
  }
  try {
    if (app.got_subcommand("train")) {
      // Under mpirun every rank trains its share; an error on one rank ends them all.
      std::unique_ptr<minimax::dist::Communicator> world = minimax::cli::join_launched_processes();
      return minimax::cli::run_or_abort(*world, [&] { return minimax::cli::train(train, *world); });
    }
    if (app.got_subcommand("sample")) return minimax::cli::sample(sample);
    if (app.got_subcommand("eval")) return minimax::cli::eval(eval);
    if (app.got_subcommand("interpolate")) return minimax::cli::interpolate(interpolate);
    if (app.got_subcommand("report")) return minimax::cli::report(report);
    if (app.got_subcommand("bench")) return minimax::cli::bench(bench);
    auto r = minimax::examples::train_gaussian_1d(demo, true);
    fmt::print("generator samples: mean {:.3f}, std {:.3f}; data: mean {}, std {}\n", r.sample_mean,
               r.sample_std, demo.data_mean, demo.data_std);
    return 0;
  } catch (const minimax::cli::UsageError& e) {
    fmt::print(stderr, "minimax: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "minimax: error: {}\n", e.what());
    return 1;
  }
}
