// `minimax train` on several processes (mpirun -np N): which processes a launcher started, and what
// a run does with the other ranks. Every rank trains the same G and D on its own rows of each
// global batch of N x --batch rows; gradients are averaged before every update (models/dist), so
// the replicas stay identical and rank 0 alone writes the run directory.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "examples/cli/session.h"
#include "models/dist/communicator.h"
#include "models/gan/trainer.h"
#include "models/io/checkpoint.h"

namespace minimax::cli {

// Runs `body` and returns its status. With several ranks, an exception on any rank ends the whole
// job (Communicator::abort, with the status main would return) after printing "minimax: error
// (rank R of N): ...": a rank that failed alone would leave the others waiting in their next
// collective call forever. With one process, exceptions propagate as usual.
int run_or_abort(dist::Communicator& world, const std::function<int()>& body);

// Checkpoint entries of a data-parallel run, written by rank 0 (a single process writes none):
//   words  dist/world_size    the number of processes
//          dist/rank_streams  every rank's Session::stream_state(), in rank order
//          dist/state_hashes  every rank's dist::state_hash of G and D at the checkpoint's step
class Replicas {
 public:
  Replicas(dist::Communicator& world, Session& session);

  bool alone() const { return world_.size() == 1; }
  bool is_root() const { return world_.is_root(); }

  // After the session is built (and restored): every rank must have been given the same run,
  // `description`, else UsageError naming both. Then rank 0's parameters and buffers replace every
  // other rank's.
  void start(const std::string& description);
  // This rank's random streams from a checkpoint written by a run on as many processes; throws
  // UsageError when it was written by another number of processes.
  void restore_streams(const Checkpoint& checkpoint);
  // The trainer's hooks: gradients averaged before each update; each rank's rows of the noise.
  void install_hooks(gan::TrainerOptions& options);
  // Losses and mean outputs averaged over the ranks (what one process with the global batch would
  // report), for the metrics.
  gan::StepStats averaged(gan::StepStats stats);
  // The largest of the ranks' `signal` values (0: none): one rank's stop request stops them all at
  // the same step. With one process, no collective call.
  int agreed_signal(int signal);
  // Before rank 0 samples or checkpoints: batch-norm running statistics averaged over the ranks.
  void sync_buffers();
  // Adds the entries above to rank 0's checkpoint. Throws std::runtime_error when the ranks' G and
  // D are not identical (a broken invariant: the run must stop rather than continue silently).
  void add_to_checkpoint(Checkpoint& checkpoint);

  // "2 processes x batch 100 = 200 per step, sharding by streams, ..." for the run's header.
  std::string describe(int64_t batch, const std::string& sharding) const;

 private:
  std::vector<nn::Module*> networks() const;

  dist::Communicator& world_;
  Session& session_;
};

}  // namespace minimax::cli
