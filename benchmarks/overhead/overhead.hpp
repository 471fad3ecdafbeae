#pragma once

// The sections of benchmarks/overhead, one file each in benchmarks/overhead/: what each
// measures, returns, prints (markdown) and writes (JSON). overhead.cpp runs them in turn and
// adds the header, the targets and the JSON file.

#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint64_t: step counts, allocation counts
#include <string>       // std::string
#include <string_view>  // std::string_view: row names
#include <vector>       // std::vector

#include "support/harness.hpp"  // parmap_bench: CommandLine, Row, Spin, Square

namespace overhead {

using Config = parmap_bench::CommandLine;
using parmap_bench::Row;
using parmap_bench::Spin;
using parmap_bench::Square;

// --- throughput.cpp: tiny, 1us, 50us ------------------------------------------------------------

// One throughput section: every contestant's time per task on one workload.
struct ThroughputSection {
  std::string key;
  std::string title;
  double task_ns = 0;       // what one task costs alone (0 for the tiny tasks)
  bool efficiency = false;  // show parallel efficiency (1us, 50us)
  std::vector<Row> rows;

  [[nodiscard]] const Row* find(std::string_view name) const {
    for (const Row& r : rows) {
      if (r.name == name) return &r;
    }
    return nullptr;
  }
};

// Every contestant on n tasks of the workload (slow_n for the rows that pay microseconds per
// task), `config.runs` interleaved rounds, `jobs` threads each.
ThroughputSection run_throughput(std::string key, std::string title, Square f, double task_ns,
                                 std::size_t n, std::size_t slow_n, std::size_t jobs,
                                 const Config& config);
ThroughputSection run_throughput(std::string key, std::string title, Spin f, double task_ns,
                                 std::size_t n, std::size_t slow_n, std::size_t jobs,
                                 const Config& config);
void print_throughput(const ThroughputSection& s, std::size_t n_jobs);
std::string throughput_json(const ThroughputSection& s, std::size_t n_jobs);

// --- allocations.cpp -------------------------------------------------------------------------

// Heap allocations of one parmap mode on one workload, at two task counts.
struct AllocationRow {
  std::string workload;
  std::string mode;
  std::size_t small_n = 0, large_n = 0;
  std::uint64_t small_allocs = 0, large_allocs = 0;
  // (large - small) / (large_n - small_n): what each extra task costs once a run is going.
  [[nodiscard]] double steady_per_task() const {
    return (static_cast<double>(large_allocs) - static_cast<double>(small_allocs)) /
           static_cast<double>(large_n - small_n);
  }
  [[nodiscard]] double per_task_overall() const {
    return static_cast<double>(large_allocs) / static_cast<double>(large_n);
  }
};

// Appends a row per parmap mode (automatic batches and batch_size = 1) to `rows`.
void count_allocations(std::vector<AllocationRow>& rows, const std::string& workload, Square f,
                       std::size_t large_n, std::size_t jobs);
void count_allocations(std::vector<AllocationRow>& rows, const std::string& workload, Spin f,
                       std::size_t large_n, std::size_t jobs);
void print_allocations(const std::vector<AllocationRow>& rows);
std::string allocations_json(const std::vector<AllocationRow>& rows);

// --- latency.cpp -----------------------------------------------------------------------------

// Consumer wake-up latency of one contestant, in microseconds.
struct LatencyRow {
  std::string name;
  std::size_t samples = 0;
  double median_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
};

std::vector<LatencyRow> run_latency(std::uint64_t steps_50us, std::size_t n, std::size_t jobs,
                                    const Config& config);
void print_latency(const std::vector<LatencyRow>& rows, double task_ns);
std::string latency_json(const std::vector<LatencyRow>& rows);

// --- streaming.cpp ---------------------------------------------------------------------------

// The process's memory while n tiny tasks stream through a generator.
struct StreamingResult {
  std::size_t tasks = 0;
  double seconds = 0;
  bool peak_reset = false;  // VmHWM was reset before the stream (else: peak since start)
  long rss_start_kib = 0, peak_kib = 0;
  std::vector<long> rss_kib;  // VmRSS after each tenth of the stream
  [[nodiscard]] long growth_kib() const { return peak_kib - rss_start_kib; }
};

StreamingResult run_streaming(std::size_t n, std::size_t jobs);
void print_streaming(const StreamingResult& s);
std::string streaming_json(const StreamingResult& s);

// --- scaling.cpp -----------------------------------------------------------------------------

struct ScalingRow {
  std::size_t n_jobs = 0;
  double seconds = 0;     // median
  double efficiency = 0;  // sequential / (n_jobs * seconds)
};

// parmap's list on 1 ms tasks for n_jobs = 1 .. hardware threads.
struct ScalingResult {
  std::size_t tasks = 0;
  double task_ms = 0;
  double sequential_seconds = 0;
  std::vector<ScalingRow> rows;
};

ScalingResult run_scaling(std::uint64_t steps_1ms, double task_ms, std::size_t per_core,
                          std::size_t hardware, const Config& config);
void print_scaling(const ScalingResult& s);
std::string scaling_json(const ScalingResult& s);

}  // namespace overhead
