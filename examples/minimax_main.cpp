// The minimax command line. Subcommands grow with the project: today `demo`.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "examples/gaussian_1d.h"
#include "ops/runtime.h"

namespace {

int run_demo(const minimax::examples::Gaussian1dOptions& options, int threads) {
  minimax::set_num_threads(threads);
  fmt::print("minimax demo: a GAN learns N({}, {}^2) in 1-D ({} steps, batch {}, seed {})\n",
             options.data_mean, options.data_std, options.steps, options.batch, options.seed);
  auto result = minimax::examples::train_gaussian_1d(options, true);
  fmt::print("generator samples: mean {:.3f}, std {:.3f}; data: mean {}, std {}\n",
             result.sample_mean, result.sample_std, options.data_mean, options.data_std);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"minimax: generative adversarial nets on a C++ autodiff engine"};
  app.set_version_flag("--version", std::string("minimax ") + MINIMAX_VERSION);
  app.require_subcommand(1);

  minimax::examples::Gaussian1dOptions demo;
  int threads = 1;
  CLI::App* demo_cmd =
      app.add_subcommand("demo", "train a GAN on a 1-D Gaussian and report its samples");
  demo_cmd->add_option("--steps", demo.steps, "training iterations")->check(CLI::Range(1, 1 << 30));
  demo_cmd->add_option("--batch", demo.batch, "minibatch size")->check(CLI::Range(1, 1 << 30));
  demo_cmd->add_option("--seed", demo.seed, "random seed");
  demo_cmd->add_option("--threads", threads, "compute threads")->check(CLI::Range(1, 1 << 30));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // usage errors exit 2
  }
  try {
    if (demo_cmd->parsed()) return run_demo(demo, threads);
  } catch (const std::exception& e) {
    fmt::print(stderr, "minimax: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
