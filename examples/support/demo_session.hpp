#pragma once

// What the memory demo wraps around each of its runs: the line that introduces the run, the
// console (dots and progress), the memory monitor, the wall clock and the count of results
// alive at once, then the run's report; and, once every run is done, the summary, the targets,
// the checks that must hold on any machine, and the figures and CSV files.
// examples/memory_demo.cpp supplies what a run does; this header measures and reports it.

#include <chrono>        // std::chrono::steady_clock: wall times
#include <cstdint>       // std::int64_t: the bound in bytes
#include <cstdio>        // std::printf, std::fprintf, std::fflush
#include <filesystem>    // std::filesystem::file_size: the written files
#include <string>        // std::string: failure lines
#include <system_error>  // std::error_code: file_size must not throw
#include <vector>        // std::vector: the runs, the failures

#include "demo_config.hpp"
#include "demo_figures.hpp"
#include "demo_report.hpp"
#include "live_count.hpp"
#include "memory_monitor.hpp"
#include "progress_console.hpp"

namespace memory_demo {

using demo_console::Console;

// What a run's consumer found: whether every task was summed exactly once, and how many
// results arrived out of input order.
struct Summed {
  bool sum_ok = false;
  std::size_t out_of_order = 0;
};

// Runs the demo's runs one after the other, each under the memory monitor.
//
// Thread safety: run() is called by one thread (main's). The console it hands to a run may be
// used from any thread (parmap's progress callback runs on its workers).
class Session {
 public:
  explicit Session(const Config& config) : c_(config), monitor_(sample_period) {
    console_.set_memory_probe(
        [this] { return static_cast<double>(monitor_.current_growth()) / mb_bytes; });
  }
  Session(const Session&) = delete;  // the monitor and the console's probe hold `this`
  Session& operator=(const Session&) = delete;

  // Runs `body(console)`, which runs the tasks and sums their results (a Summed), measures
  // it and prints its report. Blocks until the run is over.
  template <class Body>
  RunResult run(const RunSpec& spec, Body&& body) {
    std::printf("\n(%s) %s\n", spec.id.c_str(), spec.intro.c_str());
    std::fflush(stdout);
    console_.begin_run(spec.tag, c_.tasks);
    live_count::LiveCount::reset_peak();
    RunResult r;
    r.spec = spec;

    monitor_.begin_run();
    const auto t0 = std::chrono::steady_clock::now();
    const Summed summed = body(console_);
    r.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.trace = monitor_.end_run();
    console_.end_run();

    r.sum_ok = summed.sum_ok;
    r.out_of_order = summed.out_of_order;
    r.max_live = live_count::LiveCount::peak();
    if (r.windowed()) r.bound = static_cast<std::int64_t>(spec.window + 2) * c_.result_bytes();
    print_run(c_, r);
    return r;
  }

 private:
  const Config c_;
  Console console_;
  demo_memory::MemoryMonitor monitor_;  // after console_: its thread may be probed by it
};

// Prints the summary and the targets, checks what must hold on any machine and writes the
// figures and CSV files. Returns main's exit code: 0, or 1 when a check failed.
inline int finish(const Config& config, const std::vector<RunResult>& runs) {
  print_summary(config, runs);
  print_targets(runs);

  // Invariants: failing one is a bug (in parmap or in the demo), whatever the machine.
  std::vector<std::string> failures;
  for (const auto& r : runs) {
    if (!r.sum_ok)
      failures.push_back("run " + r.spec.id + ": wrong sum (a result lost or doubled)");
    if (r.ordered() && r.out_of_order != 0) {
      failures.push_back("run " + r.spec.id + ": " + std::to_string(r.out_of_order) +
                         " results out of input order");
    }
    if (r.windowed() && r.max_live > static_cast<long>(r.spec.window)) {
      failures.push_back("run " + r.spec.id + ": " + std::to_string(r.max_live) +
                         " results alive at once, window " + std::to_string(r.spec.window));
    }
    if (!r.trace.available || r.trace.samples.size() < 2) {
      failures.push_back("run " + r.spec.id + ": no memory samples");
    }
  }
  const auto written = write_outputs(config, runs);
  if (written.empty()) {
    failures.push_back("could not write the figures and CSV files into " + config.out.string());
  } else {
    std::printf("\nWrote:\n");
    for (const auto& p : written) {
      std::error_code ec;
      const auto size = std::filesystem::file_size(p, ec);
      if (ec || size == 0) failures.push_back(p.string() + " is missing or empty");
      std::printf("  %s\n", p.string().c_str());
    }
  }

  if (!failures.empty()) {
    std::fprintf(stderr, "\nmemory_demo: FAILED\n");
    for (const auto& f : failures) std::fprintf(stderr, "  %s\n", f.c_str());
    return 1;
  }
  return 0;
}

}  // namespace memory_demo
