// The minimax command line: train, sample, interpolate, eval, report, classify, bench (and the 1-D
// demo). Exit status: 0 on success, 2 for usage errors, 1 for any other error; every error is one
// line on stderr. The parser and the commands live in examples/cli.
#include <fmt/format.h>

#include <exception>
#include <new>

#include "autograd/allocator.h"
#include "examples/cli/distributed.h"
#include "examples/cli/launch.h"
#include "examples/cli/parse.h"
#include "examples/cli/stop_signal.h"
#include "ops/denormals.h"
#include "ops/runtime.h"

namespace {

using namespace minimax;

int demo(const examples::Gaussian1dOptions& options) {
  auto r = examples::train_gaussian_1d(options, true);
  fmt::print("generator samples: mean {:.3f}, std {:.3f}; data: mean {}, std {}\n", r.sample_mean,
             r.sample_std, options.data_mean, options.data_std);
  return 0;
}

int run(cli::CommandLine& cl) {
  const std::string command = cl.command();
  cli::EndOnSignals end_on_signals(command.c_str());  // train's loop installs its own
  if (command == "train") {
    // Under mpirun every rank trains its share; an error on one rank ends them all.
    std::unique_ptr<dist::Communicator> world = cli::join_launched_processes();
    return cli::run_or_abort(*world, [&] { return cli::train(cl.train, *world); });
  }
  if (command == "sample") return cli::sample(cl.sample);
  if (command == "eval") return cli::eval(cl.eval);
  if (command == "interpolate") return cli::interpolate(cl.interpolate);
  if (command == "report") return cli::report(cl.report);
  if (command == "classify") return cli::classify(cl.classify);
  if (command == "bench") return cli::bench(cl.bench);
  return demo(cl.demo);
}

}  // namespace

int main(int argc, char** argv) {
  // Idle OpenMP threads spin only briefly, then sleep: runs minimax again with the setting libgomp
  // reads at its start (ops/runtime.h). The user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
  restart_with_openmp_wait_policy(argv);
  set_flush_denormals(true);  // denormals as zero: a slow path saved (ops/denormals.h)
  cli::CommandLine cl;
  try {
    cl.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return cl.app().exit(e);  // --help, --version
    fmt::print(stderr, "minimax: error: {}\n", e.what());
    return 2;
  }
  try {
    return run(cl);
  } catch (const cli::UsageError& e) {
    fmt::print(stderr, "minimax: error: {}\n", e.what());
    return 2;
  } catch (const OutOfMemory& e) {
    fmt::print(stderr,
               "minimax: error: out of memory: {} (a smaller --batch or --n asks for less)\n",
               e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "minimax: error: out of memory (a smaller --batch or --n asks for less)\n");
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "minimax: error: {}\n", e.what());
    return 1;
  }
}
