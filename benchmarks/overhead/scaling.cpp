// overhead's scaling section: parmap's list on CPU-bound 1 ms tasks for n_jobs = 1 up to the
// hardware threads, and the parallel efficiency of each.

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint64_t
#include <cstdio>   // std::printf, std::fprintf
#include <parmap/parmap.hpp>
#include <stdexcept>  // std::runtime_error: wrong results
#include <string>     // std::string
#include <vector>     // std::vector

#include "overhead/overhead.hpp"
#include "support/harness.hpp"  // parmap_bench: Spin, checksums, statistics, JSON

namespace overhead {

using namespace parmap_bench;

ScalingResult run_scaling(std::uint64_t steps_1ms, double task_ms, std::size_t per_core,
                          std::size_t hardware, const Config& config) {
  std::fprintf(stderr, "[overhead] scaling...\n");
  const Spin f{steps_1ms};
  ScalingResult result;
  result.tasks = per_core * hardware;
  result.task_ms = task_ms;
  const std::uint64_t expected = expected_checksum(f, result.tasks, true);
  std::vector<parmap::Parallel<>> parallels;
  for (std::size_t j = 1; j <= hardware; ++j) parallels.emplace_back(static_cast<int>(j));
  for (auto& p : parallels) consume(checksum(p(delayed_tasks(f, hardware)), true));  // warm-up
  std::vector<double> sequential;
  std::vector<std::vector<double>> times(hardware);
  for (int round = 0; round < config.runs; ++round) {
    auto start = Clock::now();
    if (expected_checksum(f, result.tasks, true) != expected)
      throw std::runtime_error("scaling: seq");
    sequential.push_back(seconds_since(start));
    for (std::size_t j = 0; j < hardware; ++j) {
      start = Clock::now();
      const std::uint64_t sum = checksum(parallels[j](delayed_tasks(f, result.tasks)), true);
      times[j].push_back(seconds_since(start));
      if (sum != expected) throw std::runtime_error("scaling: wrong checksum");
      settle();
    }
  }
  result.sequential_seconds = median(sequential);
  for (std::size_t j = 0; j < hardware; ++j) {
    const double t = median(times[j]);
    result.rows.push_back({j + 1, t, result.sequential_seconds / (static_cast<double>(j + 1) * t)});
  }
  return result;
}

void print_scaling(const ScalingResult& s) {
  std::printf("\n## Scaling: %zu CPU-bound tasks of %.2f ms, parmap list\n\n", s.tasks, s.task_ms);
  std::printf("sequential: %.3f s\n\n| n_jobs | time s | efficiency |\n|---:|---:|---:|\n",
              s.sequential_seconds);
  for (const ScalingRow& r : s.rows) {
    std::printf("| %zu | %.3f | %.1f%% |\n", r.n_jobs, r.seconds, 100 * r.efficiency);
  }
}

std::string scaling_json(const ScalingResult& s) {
  std::vector<std::string> rows;
  for (const ScalingRow& r : s.rows) {
    rows.push_back(json_object({{"n_jobs", std::to_string(r.n_jobs)},
                                {"seconds", json_number(r.seconds)},
                                {"efficiency", json_number(r.efficiency)}}));
  }
  return json_object({{"tasks", std::to_string(s.tasks)},
                      {"task_ms", json_number(s.task_ms)},
                      {"sequential_seconds", json_number(s.sequential_seconds)},
                      {"rows", json_array(rows)}});
}

}  // namespace overhead
