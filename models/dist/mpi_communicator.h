// The Communicator of an MPI job (`mpirun -np N ...`): MPI_COMM_WORLD. Built only with the CMake
// option MINIMAX_MPI, into the library minimax_mpi; this header does not include mpi.h.
#pragma once

#include "models/dist/communicator.h"

namespace minimax::dist {

class MpiCommunicator final : public Communicator {
 public:
  // Initializes MPI: at most one per process, for the whole process's life (MPI cannot be
  // initialized twice). Only the calling thread makes MPI calls (MPI_THREAD_FUNNELED); OpenMP
  // threads only compute. Throws std::runtime_error if MPI cannot start.
  MpiCommunicator();
  ~MpiCommunicator() override;  // MPI_Finalize
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  // MPI_Allreduce (sum, in place), then a division by size() on every rank.
  void allreduce_mean(std::span<float> values) override;
  void broadcast_bytes(std::span<std::byte> bytes) override;
  std::vector<uint64_t> gather(std::span<const uint64_t> words) override;

 protected:
  // MPI_Abort on MPI_COMM_WORLD: the launcher ends every rank.
  void end_job(int status) override;

 private:
  int rank_ = 0, size_ = 1;
};

}  // namespace minimax::dist
