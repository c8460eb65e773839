// `minimax train`: the run directory, the training loop, progress, samples and checkpoints.
#include <fmt/format.h>
#include <unistd.h>

#include <csignal>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "examples/cli/commands.h"
#include "examples/cli/distributed.h"
#include "examples/cli/feature_eval.h"
#include "examples/cli/report.h"
#include "examples/cli/session.h"
#include "examples/cli/stop_signal.h"
#include "models/gan/conditional.h"
#include "models/gan/trainer.h"
#include "models/io/atomic_file.h"
#include "ops/runtime.h"

namespace minimax::cli {

namespace fs = std::filesystem;

namespace {

struct RunPaths {
  fs::path dir, checkpoint, metrics, config, samples;
  explicit RunPaths(const fs::path& d)
      : dir(d),
        checkpoint(d / "model.ckpt"),
        metrics(d / "metrics.jsonl"),
        config(d / "config.json"),
        samples(d / "samples") {}
  bool holds_run() const {
    return fs::exists(checkpoint) || fs::exists(config) || fs::exists(metrics);
  }
};

// --out, or runs/<data set> (runs/fashion-mnist, runs/idx, runs/ring8). A --data of the wrong
// type is a UsageError naming the flag, as resolve() says it.
fs::path run_directory(const TrainOptions& o) {
  if (!o.out.empty()) return o.out;
  return fs::path("runs") / find_dataset(defaults_with(o.flags).data).dataset.name;
}

// Keeps the metrics lines up to `step`: after a crash, lines logged past the last checkpoint
// belong to steps the resumed run will redo.
void truncate_metrics(const fs::path& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::string kept, line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("step") && j["step"].get<int64_t>() <= step)
      kept += line + "\n";
  }
  io::write_text_file_atomically(path, kept);
}

// 64 images in rows of 8 (a conditional run: a row of 8 per class, up to 16 classes), or 2,500
// points.
void write_samples(Session& s, const fs::path& dir, int64_t step) {
  fs::create_directories(dir);
  Generator gen(s.config().seed + 7);  // the same z at every step: the grid shows G's progress
  fs::path file = dir / fmt::format("step_{:06d}.png", step);
  constexpr int kColumns = 8;
  const int64_t n = !s.images()       ? 2500
                    : s.conditional() ? kColumns * std::min(s.config().classes, 16)
                                      : 64;
  Tensor labels = s.conditional() ? s.labels_by_row(n, kColumns) : Tensor();
  s.write_png(s.sample(n, gen, labels), file, kColumns);
}

class Progress {
 public:
  // `redraw`: rewrite one line in place (a terminal) rather than print a line per update.
  Progress(int64_t total, int64_t start, bool redraw)
      : total_(total), start_step_(start), tty_(redraw) {
    t0_ = last_ = std::chrono::steady_clock::now();
  }
  // Iterations per second since the last call.
  double rate(int64_t steps_since_last) {
    auto now = std::chrono::steady_clock::now();
    double dt = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    return dt > 0 ? steps_since_last / dt : 0.0;
  }
  void show(const gan::StepStats& s, double its) {
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    double overall = (s.step - start_step_) / std::max(elapsed, 1e-9);
    int64_t eta = overall > 0 ? static_cast<int64_t>((total_ - s.step) / overall) : 0;
    std::string line = fmt::format(
        "step {}/{}  ETA {}:{:02d}  {:.1f} it/s  loss D {:.4f} G {:.4f}  D(x) {:.3f} D(G(z)) "
        "{:.3f}",
        s.step, total_, eta / 60, eta % 60, its, s.d_loss, s.g_loss, s.d_real, s.d_fake);
    if (tty_)
      fmt::print("\r{}\033[K", line);
    else
      fmt::print("{}\n", line);
    std::fflush(stdout);
  }
  void finish() {
    if (tty_) fmt::print("\n");
  }
  // A line of its own between progress updates.
  void note(const std::string& line) {
    fmt::print("{}{}\n", tty_ ? "\r\033[K" : "", line);
    std::fflush(stdout);
  }
  void restart_rate() { last_ = std::chrono::steady_clock::now(); }

 private:
  int64_t total_, start_step_;
  bool tty_;
  std::chrono::steady_clock::time_point t0_, last_;
};

// Where a run starts: a new configuration, or a checkpoint and what --resume changed of it.
struct Start {
  RunConfig config;
  Checkpoint checkpoint;             // resumed runs only
  std::vector<std::string> changes;  // resumed runs: "--steps 3000 -> 5000", ...
};

Start starting_point(const TrainOptions& o, const RunPaths& paths) {
  if (!o.resume) return {resolve(o.flags), {}, {}};
  if (!fs::exists(paths.checkpoint))
    throw UsageError(fmt::format("--resume: {} holds no checkpoint to resume", paths.dir.string()));
  Start start;
  start.checkpoint = load_checkpoint(paths.checkpoint);
  const RunConfig saved = stored_config(start.checkpoint);
  start.config = resume(saved, o.flags, &start.changes);
  if (saved.steps != start.config.steps) {
    const OptimizerChoice& optimizer = find_optimizer(saved.optimizer);
    start.changes.push_back(fmt::format("schedule over {} steps: {} (was: {})", start.config.steps,
                                        optimizer.describe_schedule(start.config),
                                        optimizer.describe_schedule(saved)));
  }
  return start;
}

// The run is saved whatever happens here: a report that cannot be written is a warning, not a
// failed training.
void write_report_after_training(const fs::path& dir) {
  try {
    fmt::print("report: {}\n", write_report(dir).string());
  } catch (const std::exception& e) {
    fmt::print(stderr, "minimax: warning: no report: {}\n", e.what());
  }
}

// Refuses a directory that holds a run unless --resume or --force, before anything else runs.
void check_run_directory(const TrainOptions& o, const RunPaths& paths) {
  if (o.resume || o.force || !paths.holds_run()) return;
  throw UsageError(fmt::format(
      "{} already holds a run{}; pass --resume to continue it or --force to start over",
      paths.dir.string(),
      fs::exists(paths.checkpoint) ? "" : " that saved no checkpoint (so --resume cannot)"));
}

// --force empties the directory of the run it holds. Called as the new run writes its first file,
// so that a bad flag, unreadable data or a model that does not fit stop it with the old run intact.
void clear_previous_run(const RunPaths& paths) {
  for (const fs::path& p : {paths.checkpoint, paths.metrics, paths.config}) fs::remove(p);
  fs::remove_all(paths.samples);
}

// What every rank of a data-parallel run must agree on before the first collective call.
std::string run_description(const RunConfig& config, const std::string& sharding, int64_t step) {
  return fmt::format("{} sharding {} from step {}", to_json(config).dump(), sharding, step);
}

// `threads` is use_threads' phrase: how many and why.
std::string header(const RunConfig& c, int64_t first_step, const std::string& threads,
                   const fs::path& dir) {
  return fmt::format(
      "minimax train: {} on {} ({} loss{}, {}, batch {}, k {}{}), steps {} to {}, {}, into {}",
      c.model, c.data, c.loss, c.r1 > 0 ? fmt::format(" + R1 {:g}", c.r1) : "", c.optimizer,
      c.batch, c.k, d_input_dropout_phrase(c), first_step, c.steps, threads, dir.string());
}

// One rank's part of a run: the loop and, on rank 0, everything it writes. Every rank takes the
// same branches: they hold the collective calls (averaged, sync_buffers, add_to_checkpoint).
class TrainingRun {
 public:
  TrainingRun(const TrainOptions& o, dist::Communicator& world, Start start, std::string threads)
      : options_(o),
        threads_(std::move(threads)),
        paths_(run_directory(o)),
        root_(world.is_root()),
        config_(start.config),
        changes_(std::move(start.changes)),
        session_(config_, true, {world.rank(), world.size(), parse_sharding(o.sharding)}),
        replicas_(world, session_) {
    if (o.resume) {
      step_ = last_logged_ = session_.restore(start.checkpoint);
      replicas_.restore_streams(start.checkpoint);
    }
    replicas_.start(run_description(config_, o.sharding, step_));
  }

  int run() {
    if (step_ >= config_.steps) {
      if (root_)
        fmt::print("{}: already at step {} of {}; nothing to do\n", paths_.dir.string(), step_,
                   config_.steps);
      return 0;
    }
    if (root_) open_outputs();
    gan::Trainer trainer = make_trainer();
    // Under mpirun, rank 0's output reaches the terminal through the launcher (often a pseudo-tty
    // even when mpirun's own output is a file): plain lines then.
    Progress progress(config_.steps, step_, ::isatty(1) && replicas_.alone());
    StopSignals stop;
    while (trainer.steps_done() < config_.steps) {
      session_.apply_schedules(trainer.steps_done());
      gan::StepStats s = trainer.step();
      session_.update_average();
      bool last = s.step == config_.steps;
      bool evaluate = config_.eval_every > 0 && (s.step % config_.eval_every == 0 || last);
      if (evaluate) replicas_.sync_buffers();  // the FID of the networks a checkpoint would hold
      if (s.step % config_.log_every == 0 || last || evaluate)
        log(replicas_.averaged(s), progress, evaluate);
      bool checkpointed = write_outputs(s.step, last);
      if (int signal = replicas_.agreed_signal(stop.received())) {
        progress.finish();
        return stop_here(s.step, checkpointed, signal);
      }
    }
    if (!root_) return 0;
    progress.finish();
    fmt::print("done: {} steps; checkpoint {}, samples in {}\n", config_.steps,
               paths_.checkpoint.string(), paths_.samples.string());
    write_report_after_training(paths_.dir);
    return 0;
  }

 private:
  void open_outputs() {
    fmt::print("{}\n", header(config_, step_ + 1, threads_, paths_.dir));
    for (const std::string& change : changes_) fmt::print("resumed with {}\n", change);
    if (!replicas_.alone())
      fmt::print("{}\n", replicas_.describe(config_.batch, options_.sharding));
    // Reads and embeds the test split once, before the first step: a problem shows at once.
    if (config_.eval_every > 0) fid_ = std::make_unique<FidMonitor>(session_.data());
    if (options_.force) clear_previous_run(paths_);
    // Every directory the run writes to, now: one it cannot create stops it before its first step.
    fs::create_directories(paths_.samples);
    io::write_text_file_atomically(paths_.config, to_json(config_).dump(2) + "\n");
    if (options_.resume) truncate_metrics(paths_.metrics, step_);
    metrics_.open(paths_.metrics, std::ios::app);  // a log: appended a line at a time
    if (!metrics_)
      throw std::runtime_error(
          fmt::format("cannot open {} for appending", paths_.metrics.string()));
  }

  gan::Trainer make_trainer() {
    gan::GanModel& m = session_.model();
    gan::TrainerOptions options = session_.trainer_options();
    replicas_.install_hooks(options);
    gan::Trainer trainer =
        m.classes > 0 ? conditional_trainer(m, options)
                      : gan::Trainer([&m](const Tensor& z) { return (*m.generator)(z); },
                                     [&m](const Tensor& x) { return (*m.discriminator)(x); },
                                     session_.g_optimizer(), session_.d_optimizer(), m.prior,
                                     [this](int64_t n) { return session_.real_batch(n).x; },
                                     session_.noise_generator(), options);
    trainer.set_steps_done(step_);
    return trainer;
  }

  gan::Trainer conditional_trainer(gan::GanModel& m, const gan::TrainerOptions& options) {
    gan::ConditionalModule &g = gan::conditional_generator(m),
                           &d = gan::conditional_discriminator(m);
    return gan::Trainer([&g](const Tensor& z, const Tensor& y) { return g(z, y); },
                        [&d](const Tensor& x, const Tensor& y) { return d(x, y); },
                        session_.g_optimizer(), session_.d_optimizer(), m.prior,
                        [this](int64_t n) { return session_.real_batch(n); },
                        session_.noise_generator(), options);
  }

  // A metrics line; with `evaluate`, the FID of the samples too (computed after the rate, so
  // that the rate is the training's alone).
  void log(const gan::StepStats& s, Progress& progress, bool evaluate) {
    if (!root_) return;
    double its = progress.rate(s.step - last_logged_);
    last_logged_ = s.step;
    nlohmann::json line{{"step", s.step},
                        {"d_loss", s.d_loss},
                        {"g_loss", s.g_loss},
                        {"d_real", s.d_real},
                        {"d_fake", s.d_fake},
                        {"iters_per_s", its},
                        {"lr", session_.g_optimizer().lr()}};
    if (evaluate) line["fid"] = fid_->fid(session_);
    metrics_ << line.dump() << "\n" << std::flush;
    progress.show(s, its);
    if (!evaluate) return;
    progress.note(fmt::format("step {}: FID {:.3f} ({} samples)", s.step, line["fid"].get<double>(),
                              FidMonitor::kSamples));
    progress.restart_rate();  // the evaluation's time is not the training's
  }

  // Sample grids and checkpoints due after `step`; whether it wrote a checkpoint.
  bool write_outputs(int64_t step, bool last) {
    bool sample = step % config_.sample_every == 0 || last;
    bool checkpoint = step % config_.checkpoint_every == 0 || last;
    if (sample || checkpoint) replicas_.sync_buffers();
    // The checkpoint first: a grid that cannot be written must not cost the step's checkpoint.
    if (checkpoint) write_checkpoint(step);
    if (sample && root_) write_samples(session_, paths_.samples, step);
    return checkpoint;
  }

  void write_checkpoint(int64_t step) {
    Checkpoint c;
    if (root_) c = session_.to_checkpoint(step);
    replicas_.add_to_checkpoint(c);
    if (root_) save_checkpoint(c, paths_.checkpoint);
  }

  // A stop signal arrived: every rank is at `step`, which the checkpoint keeps. Returns the exit
  // status a shell gives a process that signal ended, 128 + its number.
  int stop_here(int64_t step, bool checkpointed, int signal) {
    if (!checkpointed) {
      replicas_.sync_buffers();
      write_checkpoint(step);
    }
    if (root_)
      fmt::print(
          "stopped by {} at step {} of {}; checkpoint {} (continue with --resume --out {})\n",
          signal == SIGTERM ? "SIGTERM" : "SIGINT", step, config_.steps, paths_.checkpoint.string(),
          paths_.dir.string());
    return 128 + signal;
  }

  const TrainOptions& options_;
  std::string threads_;  // use_threads' phrase, for the header
  RunPaths paths_;
  bool root_;
  RunConfig config_;
  std::vector<std::string> changes_;
  Session session_;
  Replicas replicas_;
  int64_t step_ = 0, last_logged_ = 0;
  std::ofstream metrics_;
  std::unique_ptr<FidMonitor> fid_;  // rank 0 of a run with --eval-every
};

}  // namespace

int train(const TrainOptions& o, dist::Communicator& world) {
  if (o.resume && o.force)
    throw UsageError("--resume and --force contradict each other: choose one");
  RunPaths paths(run_directory(o));
  if (world.is_root()) check_run_directory(o, paths);
  // Every rank reads the checkpoint it resumes: the run directory must be visible to all of them.
  Start start = starting_point(o, paths);
  std::string threads = use_threads(start.config.threads);
  TrainingRun run(o, world, std::move(start), std::move(threads));
  return run.run();
}

}  // namespace minimax::cli
