#pragma once

// What the parts of benchmarks/peak_rss share: the sweep's parameters (Base), one
// configuration of it (Config), what a child process measures (Measurement) and the command
// line. peak_rss.cpp is the parent (the sweep and its table), child.cpp runs one
// configuration, options.cpp reads the command line, tbb_pipeline.cpp is the oneTBB rows.

#include <algorithm>  // std::max
#include <cstddef>    // std::size_t
#include <cstdint>    // std::int64_t, std::uint64_t
#include <cstdio>     // std::FILE: where usage() prints
#include <optional>   // std::optional: --json
#include <string>     // std::string
#include <vector>     // std::vector

namespace peak_rss {

// What every configuration shares (the command line's --tasks, --size-mb, ...).
struct Base {
  std::size_t tasks = 40;
  double size_mb = 4;
  double task_ms = 20;
  double head_ms = 500;
  double consumer_ms = 30;
  int n_jobs = 2;
  std::uint64_t seed = 42;
  bool pin_mmap = true;

  [[nodiscard]] std::size_t elements() const {
    return std::max<std::size_t>(1, static_cast<std::size_t>(size_mb * 1e6 / sizeof(double)));
  }
  [[nodiscard]] std::int64_t result_bytes() const {
    return static_cast<std::int64_t>(elements() * sizeof(double));
  }
};

// The sweep's axes. The oneTBB modes exist only in a build that found oneTBB.
inline const std::vector<std::string> modes = {"ordered", "unordered", "list"
#ifdef PARMAP_HAVE_TBB
                                               ,
                                               "tbb_in_order", "tbb_out_of_order"
#endif
};
inline const std::vector<std::string> patterns = {"uniform", "slow_head", "heavy_tail"};
inline const std::vector<std::string> consumers = {"fast", "slow"};

// One configuration of the sweep: one value on each axis.
struct Config {
  std::string mode;
  std::size_t window = 0;  // 0: all
  std::string pattern;
  std::string consumer;
};

// What a child measured for its configuration.
struct Measurement {
  std::int64_t peak_growth = 0;
  std::int64_t baseline = 0;
  double wall = 0;
  long max_live = 0;
  bool ok = false;
  bool hwm_reset = false;
};

// Thrown for a bad command line; main prints it with the usage and exits with 2.
struct UsageError {
  std::string message;
};
// Thrown for --help; main prints the usage and exits with 0.
struct HelpRequested {};

// The command line, read by parse().
struct Cli {
  Base base;
  bool child = false;
  Config config;  // the child's
  std::optional<std::string> json;
  bool quick = false;
  std::vector<std::string> passthrough;  // base options, for the children
};

// options.cpp: prints the usage text to `to`.
void usage(std::FILE* to);
// options.cpp: reads the command line; throws UsageError or HelpRequested.
Cli parse(int argc, char** argv);

// child.cpp: task i's duration in microseconds; the same in the parent (for the header) and
// the child.
std::vector<std::int64_t> durations(const Base& b, const std::string& pattern);
// child.cpp: runs one configuration in this process and measures it; throws UsageError for
// an unknown mode.
Measurement run_child(const Base& b, const Config& c);

}  // namespace peak_rss
