// The communication cost of one data-parallel training iteration: for each bundled model, the time
// to average the gradients of one D update and one G update (k = 1) over the ranks mpirun started,
// as `minimax train` does it (dist::GradientAverager: pack into one buffer per network, one
// MPI_Allreduce each, unpack). Also the bare MPI_Allreduce of the same buffers, without packing.
//
//   mpirun -np 2 build/bin/allreduce_bench [repetitions]
//
// Rank 0 prints a table, then one JSON line per model. Times are medians over the repetitions.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/dist/data_parallel.h"
#include "models/dist/mpi_communicator.h"
#include "models/gan/models.h"

using namespace minimax;

namespace {

// Every rank starts the timed call together: a one-float allreduce returns on each rank only once
// all have entered it.
void line_up(dist::Communicator& world) {
  float token = 0;
  world.allreduce_mean(std::span(&token, 1));
}

// The median time of `repetitions` calls of `call`, in seconds, after a few untimed ones.
double median_seconds(dist::Communicator& world, int repetitions,
                      const std::function<void()>& call) {
  for (int i = 0; i < 5; ++i) call();
  std::vector<double> times;
  for (int i = 0; i < repetitions; ++i) {
    line_up(world);
    auto start = std::chrono::steady_clock::now();
    call();
    times.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

TensorList with_gradients(const nn::Module& network) {
  TensorList parameters = network.parameters();
  for (Tensor& p : parameters) p.set_grad(Tensor::ones(p.shape()));
  return parameters;
}

nlohmann::json measure(dist::Communicator& world, const std::string& name, gan::GanModel model,
                       int repetitions) {
  dist::GradientAverager g(world, with_gradients(*model.generator));
  dist::GradientAverager d(world, with_gradients(*model.discriminator));
  double fused = median_seconds(world, repetitions, [&] {
    d.average();
    g.average();
  });
  std::vector<float> g_buffer(g.floats()), d_buffer(d.floats());
  double bare = median_seconds(world, repetitions, [&] {
    world.allreduce_mean(d_buffer);
    world.allreduce_mean(g_buffer);
  });
  double bytes = 4.0 * static_cast<double>(g.floats() + d.floats());
  // A ring allreduce sends and receives 2 (N - 1) / N times the buffer per rank: the "bus
  // bandwidth" below is what the links carried, comparable across world sizes.
  double ranks = world.size();
  double bus_gb_per_s = 2 * (ranks - 1) / ranks * bytes / fused * 1e-9;
  return {{"model", name},
          {"ranks", world.size()},
          {"g_floats", g.floats()},
          {"d_floats", d.floats()},
          {"bytes_per_iteration", bytes},
          {"averaging_ms", fused * 1e3},
          {"bare_allreduce_ms", bare * 1e3},
          {"bus_gb_per_s", bus_gb_per_s}};
}

}  // namespace

int main(int argc, char** argv) {
  int repetitions = argc > 1 ? std::atoi(argv[1]) : 200;
  if (repetitions < 1) {
    fmt::print(stderr, "allreduce_bench: repetitions must be a positive number, not '{}'\n",
               argv[1]);
    return 2;
  }
  dist::MpiCommunicator world;
  std::vector<nlohmann::json> rows;
  rows.push_back(measure(world, "mixture-mlp", gan::mixture_mlp(), repetitions));
  rows.push_back(measure(world, "mlp", gan::paper_mnist_mlp(), repetitions));
  rows.push_back(measure(world, "dcgan", gan::dcgan28(), repetitions));
  if (!world.is_root()) return 0;
  fmt::print("{} ranks, median of {} iterations (one D and one G average each)\n", world.size(),
             repetitions);
  fmt::print("{:<12} {:>10} {:>10} {:>12} {:>13} {:>11} {:>10}\n", "model", "G floats", "D floats",
             "MB/iter", "averaging ms", "bare ms", "bus GB/s");
  for (const auto& r : rows)
    fmt::print("{:<12} {:>10} {:>10} {:>12.2f} {:>13.3f} {:>11.3f} {:>10.2f}\n",
               r["model"].get<std::string>(), r["g_floats"].get<int64_t>(),
               r["d_floats"].get<int64_t>(), r["bytes_per_iteration"].get<double>() / 1e6,
               r["averaging_ms"].get<double>(), r["bare_allreduce_ms"].get<double>(),
               r["bus_gb_per_s"].get<double>());
  for (const auto& r : rows) fmt::print("{}\n", r.dump());
  return 0;
}
