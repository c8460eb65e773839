// `minimax train`: the run directory, the training loop, progress, samples and checkpoints.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "examples/cli/commands.h"
#include "examples/cli/distributed.h"
#include "examples/cli/report.h"
#include "examples/cli/session.h"
#include "models/gan/trainer.h"
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

void write_text_atomically(const fs::path& path, const std::string& text) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error(fmt::format("cannot write {}", tmp.string()));
  }
  fs::rename(tmp, path);
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
  write_text_atomically(path, kept);
}

void write_samples(Session& s, const fs::path& dir, int64_t step) {
  fs::create_directories(dir);
  Generator gen(s.config().seed + 7);  // the same z at every step: the grid shows G's progress
  fs::path file = dir / fmt::format("step_{:06d}.png", step);
  s.write_png(s.sample(s.images() ? 64 : 2500, gen), file, 8);
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

 private:
  int64_t total_, start_step_;
  bool tty_;
  std::chrono::steady_clock::time_point t0_, last_;
};

RunConfig config_for(const TrainOptions& o, const RunPaths& paths, Checkpoint* resumed) {
  if (!o.resume) return resolve(o.flags);
  if (!fs::exists(paths.checkpoint))
    throw UsageError(fmt::format("--resume: {} holds no checkpoint to resume", paths.dir.string()));
  *resumed = load_checkpoint(paths.checkpoint);
  RunConfig c;
  try {
    c = from_json(nlohmann::json::parse(resumed->string("config")));
  } catch (const nlohmann::json::exception& e) {
    throw CheckpointError(fmt::format("checkpoint {}: unreadable configuration: {}",
                                      paths.checkpoint.string(), e.what()));
  }
  if (o.flags.steps) c.steps = *o.flags.steps;  // a resumed run may be extended
  if (o.flags.threads) c.threads = *o.flags.threads;
  return c;
}

void check_counts(const RunConfig& c) {
  if (c.steps < 1) throw UsageError(fmt::format("--steps {} must be positive", c.steps));
  if (c.batch < 1) throw UsageError(fmt::format("--batch {} must be positive", c.batch));
  if (c.k < 1) throw UsageError(fmt::format("--k {} must be positive", c.k));
  if (c.threads < 1) throw UsageError(fmt::format("--threads {} must be positive", c.threads));
  if (c.checkpoint_every < 1 || c.sample_every < 1 || c.log_every < 1)
    throw UsageError("--checkpoint-every, --sample-every and --log-every must be positive");
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

// Refuses a directory that holds a run unless --resume or --force; --force empties it. Only rank 0
// touches the run directory.
void prepare_run_directory(const TrainOptions& o, const RunPaths& paths) {
  if (o.resume || !paths.holds_run()) return;
  if (!o.force)
    throw UsageError(
        fmt::format("{} already holds a run; pass --resume to continue it or --force to start over",
                    paths.dir.string()));
  for (const fs::path& p : {paths.checkpoint, paths.metrics, paths.config}) fs::remove(p);
  fs::remove_all(paths.samples);
}

// What every rank of a data-parallel run must agree on before the first collective call.
std::string run_description(const RunConfig& config, const std::string& sharding, int64_t step) {
  return fmt::format("{} sharding {} from step {}", to_json(config).dump(), sharding, step);
}

}  // namespace

int train(const TrainOptions& o, dist::Communicator& world) {
  if (o.resume && o.force)
    throw UsageError("--resume and --force contradict each other: choose one");
  Shard shard{world.rank(), world.size(), parse_sharding(o.sharding)};
  // The default directory is named after the dataset: runs/fashion-mnist, runs/idx, runs/ring8.
  RunPaths paths(o.out.empty() ? fs::path("runs") / o.flags.data.substr(0, o.flags.data.find(':'))
                               : fs::path(o.out));
  const bool root = world.is_root();
  if (root) prepare_run_directory(o, paths);
  // Every rank reads the checkpoint it resumes: the run directory must be visible to all of them.
  Checkpoint resumed;
  RunConfig config = config_for(o, paths, &resumed);
  check_counts(config);
  set_num_threads(config.threads);

  Session session(config, true, shard);
  Replicas replicas(world, session);
  int64_t step = 0;
  if (o.resume) {
    step = session.restore(resumed);
    replicas.restore_streams(resumed);
  }
  replicas.start(run_description(config, o.sharding, step));
  if (step >= config.steps) {
    if (root)
      fmt::print("{}: already at step {} of {}; nothing to do\n", paths.dir.string(), step,
                 config.steps);
    return 0;
  }
  std::ofstream metrics;
  if (root) {
    fs::create_directories(paths.dir);
    write_text_atomically(paths.config, to_json(config).dump(2) + "\n");
    if (o.resume) truncate_metrics(paths.metrics, step);
    metrics.open(paths.metrics, std::ios::app);
    fmt::print(
        "minimax train: {} on {} ({} loss{}, {}, batch {}, k {}), steps {} to {}, {} thread(s), "
        "into {}\n",
        config.model, config.data, config.loss,
        config.r1 > 0 ? fmt::format(" + R1 {:g}", config.r1) : "", config.optimizer, config.batch,
        config.k, step + 1, config.steps, config.threads, paths.dir.string());
    if (!replicas.alone()) fmt::print("{}\n", replicas.describe(config.batch, o.sharding));
  }

  gan::GanModel& m = session.model();
  gan::TrainerOptions topts;
  topts.k = config.k;
  topts.batch = config.batch;
  topts.loss = gan::parse_loss(config.loss);
  topts.r1_gamma = static_cast<float>(config.r1);
  replicas.install_hooks(topts);
  gan::Trainer trainer([&](const Tensor& z) { return m.generator->forward(z); },
                       [&](const Tensor& x) { return m.discriminator->forward(x); },
                       session.g_optimizer(), session.d_optimizer(), m.prior,
                       [&](int64_t n) { return session.real_batch(n); }, session.noise_generator(),
                       topts);
  trainer.set_steps_done(step);

  // Under mpirun, rank 0's output reaches the terminal through the launcher (often a pseudo-tty
  // even when mpirun's own output is a file): plain lines then.
  Progress progress(config.steps, step, ::isatty(1) && replicas.alone());
  int64_t last_logged = step;
  // Every rank takes the same branches below: they hold the collective calls (averaged,
  // sync_buffers, add_to_checkpoint), and rank 0 alone writes.
  while (trainer.steps_done() < config.steps) {
    session.apply_schedules(trainer.steps_done());
    gan::StepStats s = trainer.step();
    bool last = s.step == config.steps;
    if (s.step % config.log_every == 0 || last) {
      s = replicas.averaged(s);
      if (root) {
        double its = progress.rate(s.step - last_logged);
        last_logged = s.step;
        metrics << nlohmann::json{{"step", s.step},
                                  {"d_loss", s.d_loss},
                                  {"g_loss", s.g_loss},
                                  {"d_real", s.d_real},
                                  {"d_fake", s.d_fake},
                                  {"iters_per_s", its},
                                  {"lr", session.g_optimizer().lr()}}
                       .dump()
                << "\n"
                << std::flush;
        progress.show(s, its);
      }
    }
    bool sample = s.step % config.sample_every == 0 || last;
    bool checkpoint = s.step % config.checkpoint_every == 0 || last;
    if (sample || checkpoint) replicas.sync_buffers();
    if (sample && root) write_samples(session, paths.samples, s.step);
    if (checkpoint) {
      Checkpoint c;
      if (root) c = session.to_checkpoint(s.step);
      replicas.add_to_checkpoint(c);
      if (root) save_checkpoint(c, paths.checkpoint);
    }
  }
  if (!root) return 0;
  progress.finish();
  fmt::print("done: {} steps; checkpoint {}, samples in {}\n", config.steps,
             paths.checkpoint.string(), paths.samples.string());
  write_report_after_training(paths.dir);
  return 0;
}

}  // namespace minimax::cli
