// The communication cost of one data-parallel training iteration: for each bundled model, the time
// to average the gradients of one D update and one G update (k = 1) over the ranks mpirun started,
// as `minimax train` does it (dist::GradientAverager: pack into one buffer per network, one
// MPI_Allreduce each, unpack). Also the bare MPI_Allreduce of the same buffers, without packing.
//
//   mpirun -np 2 build/bin/allreduce_bench [repetitions]
//
// Rank 0 prints a table, then one JSON line per model: median and best times over the repetitions,
// and the bus bandwidth of the best bare allreduce.
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

struct Timing {
  double median, best;  // seconds
};

// Times `repetitions` rounds of calling each of `calls` once (after a few untimed rounds):
// alternating them, every call sees the same load on a shared machine. The median is the typical
// time here; the best is what the transport does when nothing else runs.
std::vector<Timing> time_rounds(dist::Communicator& world, int repetitions,
                                const std::vector<std::function<void()>>& calls) {
  std::vector<std::vector<double>> times(calls.size());
  for (int round = -5; round < repetitions; ++round) {
    for (size_t c = 0; c < calls.size(); ++c) {
      line_up(world);
      auto start = std::chrono::steady_clock::now();
      calls[c]();
      double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (round >= 0) times[c].push_back(t);
    }
  }
  std::vector<Timing> out;
  for (auto& t : times) {
    std::sort(t.begin(), t.end());
    out.push_back({t[t.size() / 2], t.front()});
  }
  return out;
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
  std::vector<float> g_buffer(g.floats()), d_buffer(d.floats());
  std::vector<Timing> t = time_rounds(world, repetitions,
                                      {[&] {
                                         d.average();
                                         g.average();
                                       },
                                       [&] {
                                         world.allreduce_mean(d_buffer);
                                         world.allreduce_mean(g_buffer);
                                       }});
  double bytes = 4.0 * static_cast<double>(g.floats() + d.floats());
  // A ring allreduce sends and receives 2 (N - 1) / N times the buffer per rank: the "bus
  // bandwidth" is what the links carried, comparable across world sizes.
  double ranks = world.size();
  double bus_gb_per_s = 2 * (ranks - 1) / ranks * bytes / t[1].best * 1e-9;
  return {{"model", name},
          {"ranks", world.size()},
          {"g_floats", g.floats()},
          {"d_floats", d.floats()},
          {"bytes_per_iteration", bytes},
          {"averaging_ms", t[0].median * 1e3},
          {"averaging_best_ms", t[0].best * 1e3},
          {"bare_allreduce_ms", t[1].median * 1e3},
          {"bare_allreduce_best_ms", t[1].best * 1e3},
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
  fmt::print("{} ranks, {} iterations (one D and one G average each): median / best ms\n",
             world.size(), repetitions);
  fmt::print("{:<12} {:>10} {:>10} {:>8} {:>18} {:>18} {:>9}\n", "model", "G floats", "D floats",
             "MB/iter", "averaging", "bare allreduce", "bus GB/s");
  auto ms = [](const nlohmann::json& r, const char* median, const char* best) {
    return fmt::format("{:.3f} / {:.3f}", r[median].get<double>(), r[best].get<double>());
  };
  for (const auto& r : rows)
    fmt::print(
        "{:<12} {:>10} {:>10} {:>8.2f} {:>18} {:>18} {:>9.2f}\n", r["model"].get<std::string>(),
        r["g_floats"].get<int64_t>(), r["d_floats"].get<int64_t>(),
        r["bytes_per_iteration"].get<double>() / 1e6, ms(r, "averaging_ms", "averaging_best_ms"),
        ms(r, "bare_allreduce_ms", "bare_allreduce_best_ms"), r["bus_gb_per_s"].get<double>());
  for (const auto& r : rows) fmt::print("{}\n", r.dump());
  return 0;
}
