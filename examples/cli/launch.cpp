#include "examples/cli/launch.h"

#include <fmt/format.h>

#include <cstdlib>
#include <string>

#include "examples/cli/config.h"
#ifdef MINIMAX_WITH_MPI
#include "models/dist/mpi_communicator.h"
#endif

namespace minimax::cli {

namespace {

// How many processes the launcher says it started: 0 when no launcher started this one, -1 when
// one did without saying how many.
int launched_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    if (const char* value = std::getenv(name)) return std::atoi(value);
  }
  return std::getenv("PMIX_RANK") ? -1 : 0;
}

}  // namespace

std::unique_ptr<dist::Communicator> join_launched_processes() {
  int launched = launched_world_size();
  if (launched == 0) return std::make_unique<dist::SingleProcess>();
#ifdef MINIMAX_WITH_MPI
  return std::make_unique<dist::MpiCommunicator>();
#else
  if (launched == 1) return std::make_unique<dist::SingleProcess>();
  throw UsageError(fmt::format(
      "started as one of {} processes by an MPI launcher, but this minimax was built without MPI "
      "(install libopenmpi-dev and configure with -DMINIMAX_MPI=ON); each process would train "
      "alone and write the same run directory",
      launched > 0 ? std::to_string(launched) : "several"));
#endif
}

}  // namespace minimax::cli
