#pragma once

// The memory demo's report: what each run is (RunSpec) and what it measured (RunResult), the
// header that explains the measurement, each run's lines after it ends, the summary table and
// the two targets. Plain printf to stdout; the figures and CSV files are in demo_figures.hpp.

#include <algorithm>  // std::max
#include <cstddef>    // std::size_t
#include <cstdint>    // std::int64_t: byte counts
#include <cstdio>     // std::printf, std::snprintf, std::fflush
#include <optional>   // std::optional: the bound, generator runs only
#include <string>     // std::string
#include <vector>     // std::vector: the runs

#include "demo_config.hpp"
#include "memory_monitor.hpp"

namespace memory_demo {

// How a run's tasks run: one of parmap's three modes, or the floor's plain std::threads.
enum class Kind { list, generator, unordered, threads };

// One run: its names, the line that introduces it, and how its tasks run.
struct RunSpec {
  std::string id;     // "1".."5", "F"
  std::string name;   // for the table and the legends
  std::string tag;    // for progress lines
  std::string intro;  // joblib's "Running tasks with ..." line
  Kind kind = Kind::list;
  bool delayed = false;
  std::size_t window = 0;  // pre_dispatch; 0 for the plain threads
};

// What one run measured.
struct RunResult {
  RunSpec spec;
  double wall = 0;
  demo_memory::Trace trace;
  long max_live = 0;
  bool sum_ok = false;
  std::size_t out_of_order = 0;
  std::optional<std::int64_t> bound;  // (window + 2) x result size, generator runs only

  // The larger of the sampled peak and the kernel's high-water mark: a peak shorter than
  // the sampling period still counts.
  [[nodiscard]] std::int64_t peak() const {
    return std::max(trace.peak_sampled, trace.peak_hwm.value_or(0));
  }
  [[nodiscard]] bool windowed() const {
    return spec.kind == Kind::generator || spec.kind == Kind::unordered;
  }
  [[nodiscard]] bool ordered() const {
    return spec.kind == Kind::list || spec.kind == Kind::generator;
  }
};

// Decimal megabytes (gigabytes from 1 GB), as joblib's example prints them.
inline std::string format_bytes(std::int64_t bytes) {
  char buf[32];
  const double b = static_cast<double>(bytes);
  if (b >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.2f GB", b / 1e9);
  } else if (b >= 99.95e6 || b <= -99.95e6) {
    std::snprintf(buf, sizeof buf, "%.0f MB", b / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MB", b / 1e6);
  }
  return buf;
}

// The lines that close a run: its sum, peak memory, bound, results alive and wall time.
inline void print_run(const Config& c, const RunResult& r) {
  std::printf("All tasks completed and reduced%s\n",
              r.sum_ok ? " successfully." : ": ** WRONG SUM **");
  if (!r.trace.available) {
    std::printf("Peak memory growth: unavailable (no /proc/self/statm)\n");
  } else {
    std::printf("Peak memory growth: %s (RSS sampled every %lld ms",
                format_bytes(r.trace.peak_sampled).c_str(),
                static_cast<long long>(sample_period.count()));
    if (r.trace.peak_hwm)
      std::printf("; kernel VmHWM: %s", format_bytes(*r.trace.peak_hwm).c_str());
    std::printf("; RSS at the start: %s)\n", format_bytes(r.trace.baseline).c_str());
  }
  if (r.spec.kind == Kind::list) {
    std::printf("Bound: none; the list holds all %zu results (%s) before the accumulator starts\n",
                c.tasks,
                format_bytes(static_cast<std::int64_t>(c.tasks) * c.result_bytes()).c_str());
  } else if (r.bound) {
    // The promise counts results (window x size); the RSS target adds the accumulator's
    // running matrix and one result of headroom (see the header's "Bound" paragraph).
    std::printf(
        "Bound parmap promises: window %zu x %s = %s of results alive; RSS target (window + 2) "
        "x %s = %s -> %s\n",
        r.spec.window, format_bytes(c.result_bytes()).c_str(),
        format_bytes(static_cast<std::int64_t>(r.spec.window) * c.result_bytes()).c_str(),
        format_bytes(c.result_bytes()).c_str(), format_bytes(*r.bound).c_str(),
        !r.trace.available     ? "not measured"
        : r.peak() <= *r.bound ? "within"
                               : "EXCEEDED");
  }
  std::printf("Results alive at once, at most: %ld", r.max_live);
  if (r.windowed()) std::printf(" (window %zu)", r.spec.window);
  if (r.spec.kind == Kind::unordered) {
    std::printf("; %zu of %zu yielded out of input order", r.out_of_order, c.tasks);
  }
  std::printf("\nWall time: %.2f s\n", r.wall);
  std::fflush(stdout);
}

// What the demo runs and how it measures; `pinned`: whether the mmap threshold was pinned.
inline void print_header(const Config& c, bool pinned) {
  std::printf(
      "parmap memory demo: joblib's \"Returning a generator in joblib.Parallel\" in C++%s\n",
      c.quick ? " (quick mode)" : "");
  const std::size_t elements = c.elements();
  std::string shape = std::to_string(elements) + " doubles";
  if (elements % 200 == 0) shape = std::to_string(elements / 200) + " x 200 matrix of doubles";
  std::printf("Tasks: %zu; each sleeps %d ms and returns a %s (%s, every page written)\n", c.tasks,
              c.sleep_ms, shape.c_str(), format_bytes(c.result_bytes()).c_str());
  std::string slow;
  for (std::size_t i = 0; i < c.tasks; ++i) {
    if (c.is_slow(i)) slow += (slow.empty() ? "" : ", ") + std::to_string(i);
  }
  std::printf("Delayed runs: task i sleeps %d ms instead when (i + %zu) %% %zu == 0: tasks %s\n",
              c.slow_sleep_ms, c.slow_every / 3, c.slow_every,
              slow.empty() ? "none" : slow.c_str());
  std::printf(
      "n_jobs = %d; window (pre_dispatch) = %zu tasks for runs 1-4, %zu for run 5; batch_size = "
      "1\n",
      c.n_jobs, c.window, c.big_window);
  std::printf(
      "Memory: process RSS from /proc/self/statm every %lld ms (a thread, as joblib's\n"
      "  MemoryMonitor), minus its value when the run starts; the kernel's VmHWM as a check\n",
      static_cast<long long>(sample_period.count()));
  if (pinned) {
    std::printf(
        "Allocator: glibc malloc with M_MMAP_THRESHOLD pinned at 1 MiB (mallopt): each result\n"
        "  is its own mmap and goes back to the kernel when freed, so RSS follows the live\n"
        "  results. Unpinned (--no-pin-mmap), glibc raises the threshold to 16 MB after the\n"
        "  first free and keeps freed results in its heaps.\n");
  } else if (c.pin_mmap) {
    std::printf(
        "Allocator: could not pin M_MMAP_THRESHOLD (not glibc?); figures show the default\n");
  } else {
    std::printf(
        "Allocator: glibc malloc with its default, dynamic mmap threshold (--no-pin-mmap):\n"
        "  after the first 16 MB block is freed, results come from malloc's heaps, and freed\n"
        "  ones may stay resident there. RSS then shows the allocator, not the live results.\n");
  }
  std::printf(
      "Bound: parmap keeps at most `window` results alive (one task a batch; the result being\n"
      "  summed holds its place until the loop steps past it). The target allows (window + 2)\n"
      "  results of growth: +1 for the accumulator's running matrix, +1 of headroom for what is\n"
      "  not a result (thread stacks, malloc arenas, page tables, the monitor's samples).\n");
  std::fflush(stdout);
}

// The table of every run, as the README shows it.
inline void print_summary(const Config& c, const std::vector<RunResult>& runs) {
  std::printf("\n## Summary (%zu tasks, %s results, n_jobs = %d)\n\n", c.tasks,
              format_bytes(c.result_bytes()).c_str(), c.n_jobs);
  std::printf(
      "| run | mode | window | peak RSS growth | VmHWM growth | RSS target (window + 2) x result | "
      "results alive, max | wall | RSS at start |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& r : runs) {
    const std::string window = r.spec.kind == Kind::threads ? "-" : std::to_string(r.spec.window);
    std::string bound = "-";
    if (r.bound) {
      bound = format_bytes(*r.bound) + (r.peak() <= *r.bound ? " (within)" : " (EXCEEDED)");
    } else if (r.spec.kind == Kind::list) {
      bound = "none";
    }
    std::printf("| %s | %s | %s | %s | %s | %s | %ld | %.2f s | %s |\n", r.spec.id.c_str(),
                r.spec.name.c_str(), window.c_str(),
                r.trace.available ? format_bytes(r.trace.peak_sampled).c_str() : "n/a",
                r.trace.peak_hwm ? format_bytes(*r.trace.peak_hwm).c_str() : "n/a", bound.c_str(),
                r.max_live, r.wall,
                r.trace.available ? format_bytes(r.trace.baseline).c_str() : "n/a");
  }
}

// Prints the demo's two targets; returns nothing: they are measurements, not invariants.
inline void print_targets(const std::vector<RunResult>& runs) {
  std::printf("\nTargets:\n");
  bool all_within = true;
  std::string which;
  for (const auto& r : runs) {
    if (!r.bound) continue;
    which += (which.empty() ? "" : ", ") + r.spec.id;
    if (!r.trace.available || r.peak() > *r.bound) all_within = false;
  }
  std::printf(
      "  - peak RSS growth <= (window + 2) x result size for every generator run (%s): %s\n",
      which.c_str(), all_within ? "met" : "NOT met");
  const RunResult* unordered = nullptr;
  const RunResult* floor = nullptr;
  for (const auto& r : runs) {
    if (r.spec.id == "4") unordered = &r;
    if (r.spec.id == "F") floor = &r;
  }
  if (unordered != nullptr && floor != nullptr && floor->wall > 0) {
    const double over = (unordered->wall / floor->wall - 1) * 100;
    std::printf(
        "  - generator_unordered on delayed tasks within 10%% of %s: %.2f s vs %.2f s "
        "(%+.1f%%): %s\n",
        floor->spec.name.c_str(), unordered->wall, floor->wall, over,
        over <= 10 ? "met" : "NOT met");
  }
}

}  // namespace memory_demo
