#include "examples/cli/distributed.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <vector>

#include "examples/cli/config.h"
#include "models/dist/data_parallel.h"

namespace minimax::cli {

namespace {

constexpr const char* kWorldSize = "dist/world_size";
constexpr const char* kRankStreams = "dist/rank_streams";
constexpr const char* kStateHashes = "dist/state_hashes";

}  // namespace

int run_or_abort(dist::Communicator& world, const std::function<int()>& body) {
  if (world.size() == 1) return body();
  auto message = [&](const std::exception& e) {
    return fmt::format("minimax: error (rank {} of {}): {}", world.rank(), world.size(), e.what());
  };
  int status = 1;
  std::string failure;
  try {
    return body();
  } catch (const UsageError& e) {
    status = 2;
    failure = message(e);
  } catch (const std::exception& e) {
    failure = message(e);
  }
  world.abort(failure, status);
}

Replicas::Replicas(dist::Communicator& world, Session& session)
    : world_(world), session_(session) {}

std::vector<nn::Module*> Replicas::networks() const {
  return {session_.model().generator.get(), session_.model().discriminator.get()};
}

void Replicas::start(const std::string& description) {
  if (alone()) return;
  std::string on_root = description;
  world_.broadcast(on_root);
  if (on_root != description)
    throw UsageError(fmt::format(
        "rank {} was given another run than rank 0 (every rank needs the same flags and "
        "checkpoint): here {}; on rank 0 {}",
        world_.rank(), description, on_root));
  dist::broadcast_state(world_, networks());
}

void Replicas::restore_streams(const Checkpoint& checkpoint) {
  uint64_t saved = checkpoint.words.count(kWorldSize) ? checkpoint.word(kWorldSize) : 1;
  if (saved != static_cast<uint64_t>(world_.size()))
    throw UsageError(fmt::format(
        "--resume: {} was written by a run on {} process(es), this one has {}; resume it on as "
        "many (each process's data and random streams depend on the number)",
        checkpoint.source, saved, world_.size()));
  if (alone()) return;
  const std::vector<uint64_t>& all = checkpoint.word_list(kRankStreams);
  if (all.size() != Session::kStreamWords * world_.size())
    throw CheckpointError(fmt::format("checkpoint {}: '{}' holds {} words, not {} per process",
                                      checkpoint.source, kRankStreams, all.size(),
                                      Session::kStreamWords));
  session_.set_stream_state(
      std::span(all).subspan(Session::kStreamWords * world_.rank(), Session::kStreamWords));
}

void Replicas::install_hooks(gan::TrainerOptions& options) {
  if (alone()) return;
  options.sync_gradients =
      dist::gradient_sync(world_, {&session_.g_optimizer(), &session_.d_optimizer()});
  options.noise = [this](int64_t n) { return session_.noise(n); };
}

gan::StepStats Replicas::averaged(gan::StepStats stats) {
  if (alone()) return stats;
  float values[] = {stats.d_loss, stats.g_loss, stats.d_real, stats.d_fake};
  world_.allreduce_mean(values);
  stats.d_loss = values[0];
  stats.g_loss = values[1];
  stats.d_real = values[2];
  stats.d_fake = values[3];
  return stats;
}

int Replicas::agreed_signal(int signal) {
  if (alone()) return signal;
  // Slot r holds rank r's signal and 0 elsewhere, so the mean of slot r times the number of ranks
  // is rank r's signal, on every rank.
  std::vector<float> mine(static_cast<size_t>(world_.size()), 0.0f);
  mine[static_cast<size_t>(world_.rank())] = static_cast<float>(signal);
  world_.allreduce_mean(mine);
  int agreed = 0;
  for (float v : mine) agreed = std::max(agreed, static_cast<int>(std::lround(v * world_.size())));
  return agreed;
}

void Replicas::sync_buffers() {
  if (!alone()) dist::average_buffers(world_, networks());
}

void Replicas::add_to_checkpoint(Checkpoint& checkpoint) {
  if (alone()) return;
  std::vector<uint64_t> mine = session_.stream_state();
  mine.push_back(dist::state_hash(networks()));
  std::vector<uint64_t> all = world_.gather(mine);
  if (!world_.is_root()) return;
  std::vector<uint64_t> streams, hashes;
  for (int r = 0; r < world_.size(); ++r) {
    auto rank_words = std::span(all).subspan(r * mine.size(), mine.size());
    streams.insert(streams.end(), rank_words.begin(), rank_words.end() - 1);
    hashes.push_back(rank_words.back());
  }
  for (int r = 1; r < world_.size(); ++r) {
    if (hashes[r] != hashes[0])
      throw std::runtime_error(fmt::format(
          "the replicas diverged: at step {} rank {}'s G and D differ from rank 0's (state hash "
          "{:016x}, rank 0 {:016x})",
          checkpoint.word("step"), r, hashes[r], hashes[0]));
  }
  checkpoint.words[kWorldSize] = {static_cast<uint64_t>(world_.size())};
  checkpoint.words[kRankStreams] = std::move(streams);
  checkpoint.words[kStateHashes] = std::move(hashes);
}

std::string Replicas::describe(int64_t batch, const std::string& sharding) const {
  return fmt::format(
      "data-parallel on {} processes: {} x batch {} = {} rows per step, sharding by {}; gradients "
      "averaged in one buffer per network (G {} floats, D {})",
      world_.size(), world_.size(), batch, world_.size() * batch, sharding,
      session_.model().generator->parameter_count(),
      session_.model().discriminator->parameter_count());
}

}  // namespace minimax::cli
