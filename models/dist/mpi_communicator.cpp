#include "models/dist/mpi_communicator.h"

#include <fmt/format.h>
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <stdexcept>

namespace minimax::dist {

namespace {

// MPI counts are ints: longer buffers go in pieces of at most this many elements.
constexpr size_t kMaxCount = size_t{1} << 30;

template <class T, class Call>
void in_pieces(std::span<T> values, Call call) {
  for (size_t done = 0; done < values.size(); done += kMaxCount) {
    size_t n = std::min(kMaxCount, values.size() - done);
    call(values.data() + done, static_cast<int>(n));
  }
}

}  // namespace

MpiCommunicator::MpiCommunicator() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) throw std::logic_error("MpiCommunicator: MPI is already initialized");
  int provided = MPI_THREAD_SINGLE;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    throw std::runtime_error("MPI_Init_thread failed");
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    throw std::runtime_error(
        "this MPI library cannot run alongside OpenMP threads (no MPI_THREAD_FUNNELED)");
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiCommunicator::~MpiCommunicator() {
  MPI_Finalize();
}

void MpiCommunicator::allreduce_mean(std::span<float> values) {
  in_pieces(values, [](float* data, int n) {
    MPI_Allreduce(MPI_IN_PLACE, data, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  });
  // Dividing (not multiplying by 1/size) rounds once; every rank divides the same sums alike.
  const auto ranks = static_cast<float>(size_);
  for (float& v : values) v /= ranks;
}

void MpiCommunicator::broadcast_bytes(std::span<std::byte> bytes) {
  in_pieces(bytes, [](std::byte* data, int n) { MPI_Bcast(data, n, MPI_BYTE, 0, MPI_COMM_WORLD); });
}

std::vector<uint64_t> MpiCommunicator::gather(std::span<const uint64_t> words) {
  if (words.size() > kMaxCount)
    throw std::invalid_argument(fmt::format("gather: {} words per rank is too many", words.size()));
  std::vector<uint64_t> all(rank_ == 0 ? words.size() * size_ : 0);
  int n = static_cast<int>(words.size());
  MPI_Gather(words.data(), n, MPI_UINT64_T, all.data(), n, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  return all;
}

void MpiCommunicator::end_job(int status) {
  MPI_Abort(MPI_COMM_WORLD, status);
}

}  // namespace minimax::dist
