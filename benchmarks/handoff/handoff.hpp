#pragma once

// The sections of benchmarks/handoff and what they share: the fixed thread count, the task
// counts (Sizes), the calibration, the per-round spread of a figure, the markdown table and
// the Report the sections fill for main. throughput.cpp holds the strict, tiny and efficiency
// sections, latency.cpp and hostage.cpp one section each; handoff.cpp runs them in turn.

#include <algorithm>  // std::ranges::minmax
#include <chrono>     // std::chrono::milliseconds: the hostage's sleep
#include <cstddef>    // std::size_t
#include <cstdint>    // std::uint64_t: step counts
#include <cstdio>     // std::printf: tables
#include <limits>     // std::numeric_limits: NaN for "not measured"
#include <string>     // std::string
#include <utility>    // std::move, std::pair
#include <vector>     // std::vector

#include "support/harness.hpp"  // parmap_bench: command line, statistics, targets, JSON

namespace handoff {

using Config = parmap_bench::CommandLine;
using parmap_bench::json_number;
using parmap_bench::json_object;
using parmap_bench::median;
using parmap_bench::Target;

// Threads of every parallel contestant, parmap's and oneTBB's (oneTBB counts the caller).
constexpr int n_jobs = 2;
constexpr double nan = std::numeric_limits<double>::quiet_NaN();

// Task counts; --quick shrinks them so the whole program runs in seconds.
struct Sizes {
  std::size_t strict = 20'000;
  std::size_t latency = 2'000;
  std::chrono::milliseconds hostage_sleep{2'000};
  std::size_t tiny = 1'000'000;
  std::size_t efficiency_1us = 200'000;
  std::size_t efficiency_50us = 4'000;

  static Sizes quick() {
    Sizes s;
    s.strict = 2'000;
    s.latency = 200;
    s.hostage_sleep = std::chrono::milliseconds(200);
    s.tiny = 100'000;
    s.efficiency_1us = 20'000;
    s.efficiency_50us = 400;
    return s;
  }
};

// Spin steps for tasks of about 1, 10 and 50 us, and what such tasks measured.
struct Calibration {
  double ns_per_step = 0;
  std::uint64_t steps_1us = 0, steps_10us = 0, steps_50us = 0;
  double measured_1us = 0, measured_10us = 0, measured_50us = 0;  // ns, median of many calls
};

// A figure measured once per round: its median and range across rounds.
struct Spread {
  double median = nan, min = nan, max = nan;
};
inline Spread spread(const std::vector<double>& per_round) {
  if (per_round.empty()) return {};
  const auto [lo, hi] = std::ranges::minmax(per_round);
  return {median(per_round), lo, hi};
}

inline std::string range_text(const std::string& lo, const std::string& hi) {
  return lo + "-" + hi;
}

// A markdown table; `align` has one 'l' or 'r' per column.
class Table {
 public:
  Table(std::vector<std::string> header, std::string align)
      : header_(std::move(header)), align_(std::move(align)) {}
  void add(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  void print() const {
    print_row(header_);
    std::string rule = "|";
    for (const char a : align_) rule += a == 'r' ? "---:|" : "---|";
    std::printf("%s\n", rule.c_str());
    for (const auto& r : rows_) print_row(r);
  }

 private:
  static void print_row(const std::vector<std::string>& cells) {
    std::string line = "|";
    for (const auto& c : cells) line += " " + c + " |";
    std::printf("%s\n", line.c_str());
  }
  std::vector<std::string> header_;
  std::string align_;
  std::vector<std::vector<std::string>> rows_;
};

inline std::string json_spread(const Spread& s) {
  return json_object({{"median", json_number(s.median)},
                      {"min", json_number(s.min)},
                      {"max", json_number(s.max)}});
}

// What the sections hand to main: targets for the final list, JSON for --json.
struct Report {
  bool quick = false;
  std::vector<Target> targets;
  std::vector<std::pair<std::string, std::string>> json;  // section key -> JSON value
};

// handoff.cpp: how many rounds the hostage section runs.
int hostage_runs(const Config& config);

// The sections; each prints its tables and adds its targets and JSON to `report`.
void section_strict(const Calibration& calibration, const Sizes& sizes, const Config& config,
                    Report& report);
void section_latency(const Calibration& calibration, const Sizes& sizes, const Config& config,
                     Report& report);
void section_hostage(const Sizes& sizes, const Config& config, Report& report);
void section_tiny(const Sizes& sizes, const Config& config, Report& report);
void section_efficiency(const Calibration& calibration, const Sizes& sizes, const Config& config,
                        Report& report);

}  // namespace handoff
