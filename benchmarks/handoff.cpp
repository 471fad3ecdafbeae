// handoff: what one worker-to-consumer hand-off costs, next to oneTBB doing the same job.
//
//   build-release/benchmarks/handoff                # every section; markdown on stdout (~1 min)
//   build-release/benchmarks/handoff --quick        # smoke test: seconds, figures indicative
//   build-release/benchmarks/handoff --only strict,latency --runs 9 --json handoff.json
//
// Sections (--only NAME, repeatable or comma-separated). Every parallel contestant uses two
// threads: parmap n_jobs = 2, oneTBB global_control(max_allowed_parallelism, 2).
//   strict      batch_size = 1, pre_dispatch = 4, 20,000 tasks of 10 us: every result is a
//               hand-off through a 4-task window; against oneTBB parallel_pipeline, 4 tokens
//   latency     the task stamps its end, the consumer its receipt: the wake-up, 50 us tasks
//   hostage     one task of 10 sleeps 2 s: are the other nine held back with it?
//   tiny        1,000,000 tasks of i * i: where batching must amortise the hand-off
//   efficiency  1 us and 50 us tasks: sequential time / (2 x parallel time)
//
// How to read it: within a section every contestant runs in this one process, interleaved
// round by round (round k runs each contestant once), so noise on a shared machine hits them
// alike; a figure is the median of --runs rounds, with the min-max across rounds beside it.
// Every run's results are checked against a sequential loop (weighted by position where the
// contestant claims input order), and a mismatch ends the program with exit code 1.
// "parmap / peer" is the peer's time over parmap's: parmap's throughput as a multiple of the
// peer's (>1: parmap is faster). oneTBB rows, and the ratios that need them, are compiled in
// only when the build found oneTBB (PARMAP_HAVE_TBB).
//
// This file runs the sections and writes the report; the sections are in benchmarks/handoff/
// (throughput.cpp: strict, tiny, efficiency; latency.cpp; hostage.cpp).

#include "handoff/handoff.hpp"  // the sections, Sizes, Calibration, Report

#include <algorithm>    // std::min
#include <array>        // std::array: the section names
#include <cstdio>       // std::printf, std::fprintf: the report
#include <exception>    // std::exception: reported by main
#include <string>       // std::string
#include <string_view>  // std::string_view: section names
#include <thread>       // std::thread::hardware_concurrency
#include <utility>      // std::move, std::pair
#include <vector>       // std::vector

#include "support/harness.hpp"  // parmap_bench: command line, calibration, targets, JSON

#if PARMAP_HAVE_TBB
#include <oneapi/tbb/global_control.h>  // tbb::global_control: two threads, like n_jobs
#include <oneapi/tbb/version.h>         // TBB_VERSION_STRING
#endif

namespace {

using namespace parmap_bench;  // support/harness.hpp: calibration, statistics, targets, text
using namespace handoff;       // handoff/handoff.hpp: the sections

constexpr std::array<std::string_view, 5> section_names = {"strict", "latency", "hostage", "tiny",
                                                           "efficiency"};

// What usage() prints after "usage: handoff".
constexpr const char* help =
    "[--quick] [--runs N] [--only SECTION[,SECTION...]] [--json FILE]\n"
    "  --quick       small counts, one round: a smoke test of seconds (indicative)\n"
    "  --runs N      rounds, N >= 1 (default 5; the hostage section: 3)\n"
    "  --only NAMES  strict, latency, hostage, tiny, efficiency (repeatable)\n"
    "  --json FILE   also write the results as JSON to FILE\n";

// Spin steps for 1, 10 and 50 us tasks on this machine.
Calibration calibrate() {
  Calibration c;
  c.ns_per_step = calibrate_ns_per_step();
  c.steps_1us = steps_for(1'000, c.ns_per_step);
  c.steps_10us = steps_for(10'000, c.ns_per_step);
  c.steps_50us = steps_for(50'000, c.ns_per_step);
  c.measured_1us = measure_task_ns(Spin{c.steps_1us}, 2'000);
  c.measured_10us = measure_task_ns(Spin{c.steps_10us}, 500);
  c.measured_50us = measure_task_ns(Spin{c.steps_50us}, 200);
  return c;
}

}  // namespace

// The hostage section sleeps seconds per round: 3 rounds unless --runs asks for more.
int handoff::hostage_runs(const Config& config) {
  return config.runs_given ? config.runs : std::min(config.runs, 3);
}

int main(int argc, char** argv) try {
  const Config config = parse_command_line(argc, argv, section_names, help);
  const Sizes sizes = config.quick ? Sizes::quick() : Sizes{};
  Report report;
  report.quick = config.quick;

#if PARMAP_HAVE_TBB
  const std::string tbb = std::string("oneTBB ") + TBB_VERSION_STRING;
  const tbb::global_control tbb_threads(tbb::global_control::max_allowed_parallelism, n_jobs);
#else
  const std::string tbb = "absent: its rows and the ratios against it are omitted";
#endif
#ifdef NDEBUG
  const bool asserts = false;
#else
  const bool asserts = true;
#endif

  const double load_before = load_average();
  std::fprintf(stderr, "[handoff] calibrating...\n");
  const Calibration calibration = calibrate();

  std::printf(
      "# parmap hand-off benchmark%s\n\n",
      config.quick ? " (--quick: counts too small for conclusions, figures indicative)" : "");
  std::printf("`%s`\n\n", config.text.c_str());
  std::printf("- machine: %u hardware threads, load average (1 min) at start %s\n",
              std::thread::hardware_concurrency(), fmt("%.2f", load_before).c_str());
  std::printf("- parallel contestants: n_jobs = %d; peer: %s\n", n_jobs, tbb.c_str());
  std::printf("- build: %s\n", asserts
                                   ? "asserts ON (not a Release build: numbers not representative)"
                                   : "NDEBUG (Release)");
  std::printf("- rounds: %d, interleaved; figures are medians, min-max across rounds beside them\n",
              config.runs);
  std::printf(
      "- calibration: %.3f ns per spin step; 1 us = %llu steps (%.2f us measured), 10 us = %llu "
      "(%.2f us), 50 us = %llu (%.1f us)\n",
      calibration.ns_per_step, static_cast<unsigned long long>(calibration.steps_1us),
      calibration.measured_1us / 1e3, static_cast<unsigned long long>(calibration.steps_10us),
      calibration.measured_10us / 1e3, static_cast<unsigned long long>(calibration.steps_50us),
      calibration.measured_50us / 1e3);
  std::fflush(stdout);

  if (config.wants("strict")) section_strict(calibration, sizes, config, report);
  if (config.wants("latency")) section_latency(calibration, sizes, config, report);
  if (config.wants("hostage")) section_hostage(sizes, config, report);
  if (config.wants("tiny")) section_tiny(sizes, config, report);
  if (config.wants("efficiency")) section_efficiency(calibration, sizes, config, report);

  const double load_after = load_average();
  std::printf("\n## Targets\n\n");
  std::printf("load average (1 min) at end: %s\n\n", fmt("%.2f", load_after).c_str());
  for (const Target& t : report.targets) {
    std::printf("- %s: %s%s (goal %s): %s\n", t.what.c_str(), fmt("%.3g", t.value).c_str(),
                t.unit.c_str(), t.goal_text().c_str(), t.verdict(config.quick).c_str());
  }
  std::fflush(stdout);

  if (!config.json_path.empty()) {
    std::vector<std::string> targets;
    for (const Target& t : report.targets) targets.push_back(t.json());
    std::vector<std::pair<std::string, std::string>> doc = {
        {"command", json_string(config.text)},
        {"quick", json_bool(config.quick)},
        {"runs", std::to_string(config.runs)},
        {"n_jobs", std::to_string(n_jobs)},
        {"tbb", json_string(tbb)},
        {"asserts", json_bool(asserts)},
        {"load_average_start", json_number(load_before)},
        {"load_average_end", json_number(load_after)},
        {"ns_per_spin_step", json_number(calibration.ns_per_step)},
        {"task_1us_ns", json_number(calibration.measured_1us)},
        {"task_10us_ns", json_number(calibration.measured_10us)},
        {"task_50us_ns", json_number(calibration.measured_50us)}};
    for (auto& section : report.json) doc.push_back(std::move(section));
    doc.emplace_back("targets", json_array(targets));
    if (!write_json("handoff", config.json_path, doc)) return 1;
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "handoff: %s\n", e.what());
  return 1;
}
