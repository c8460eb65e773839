// Communicator: what data-parallel training needs from the processes it runs on. Which one am I,
// how many are we, average these floats, copy rank 0's bytes to everyone, collect words on rank 0,
// end the whole job.
//
// The core library knows only this interface and SingleProcess. The MPI implementation
// (models/dist/mpi_communicator.h) is built only with the CMake option MINIMAX_MPI, into its own
// library, so nothing else in minimax depends on MPI.
//
// Every call except rank(), size() and abort() is collective: every rank makes it, in the same
// order, with the same lengths, or the job deadlocks. Callers keep that promise by running the same
// code on every rank and checking at start that all ranks were given the same configuration.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace minimax::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  bool is_root() const { return rank() == 0; }

  // Replaces `values` with their elementwise mean over all ranks. Every rank receives the same
  // bits, so replicas that apply the same update to the same parameters stay identical.
  virtual void allreduce_mean(std::span<float> values) = 0;
  // Copies rank 0's bytes over every other rank's (the same length on every rank).
  virtual void broadcast_bytes(std::span<std::byte> bytes) = 0;
  // Every rank's `words` (the same count on every rank), concatenated in rank order, on rank 0;
  // an empty vector on the others.
  virtual std::vector<uint64_t> gather(std::span<const uint64_t> words) = 0;
  // Prints `message` on stderr and ends every process of the job with exit status `status`: a
  // failing rank must not leave the others waiting forever in a collective.
  [[noreturn]] void abort(const std::string& message, int status);

  void broadcast(std::span<float> values) { broadcast_bytes(std::as_writable_bytes(values)); }
  // Rank 0's string, whatever its length, on every rank.
  void broadcast(std::string& text);

 protected:
  // Ends every process of the job; abort() exits this one should it return.
  virtual void end_job(int status) = 0;
};

// One process alone: the mean of one value is itself and rank 0 is this process.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_mean(std::span<float>) override {}
  void broadcast_bytes(std::span<std::byte>) override {}
  std::vector<uint64_t> gather(std::span<const uint64_t> words) override {
    return {words.begin(), words.end()};
  }

 protected:
  void end_job(int status) override;
};

}  // namespace minimax::dist
