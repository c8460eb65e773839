// Which processes a launcher started `minimax` as. Compiled into the executable only, so that MPI
// stays out of every library the tests link.
#pragma once

#include <memory>

#include "models/dist/communicator.h"

namespace minimax::cli {

// An MpiCommunicator when this process is one rank of an MPI job (the launcher set
// OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK), else SingleProcess: a process started by hand
// never initializes MPI. Throws UsageError when a launcher started several processes of a minimax
// built without MPI (each would train alone and write the same files).
std::unique_ptr<dist::Communicator> join_launched_processes();

}  // namespace minimax::cli
