// overhead: what parmap costs per task, next to what a user would otherwise reach for.
//
//   build-release/benchmarks/overhead                 # everything; markdown on stdout (~3 min)
//   build-release/benchmarks/overhead --quick         # smoke test: small sizes, one run
//   build-release/benchmarks/overhead --runs 9 --only tiny --json tiny.json
//
// Sections (--only NAME, repeatable or comma-separated):
//   tiny         1,000,000 tasks of `i * i` on an int64
//   1us, 50us    tasks of about 1 us and 50 us of arithmetic (a calibrated spin loop)
//   allocations  heap allocations per task, counted by replacing the global operator new
//   latency      task finished -> consumer has its result, 50 us tasks, batch_size = 1
//   streaming    peak RSS while 10,000,000 tiny tasks stream through a generator
//   scaling      1 ms tasks, parallel efficiency for n_jobs = 1..hardware threads
//
// How to read it: within a section every contestant runs in the same process, interleaved
// round by round (round k runs each contestant once), so noise on a shared machine hits them
// alike; a row is the median of --runs rounds. Every run's checksum is compared with a
// sequential loop's, so a contestant that skips or loses work fails the program instead of
// looking fast. "parmap vs this" is this row's time divided by the matching parmap row's: the
// factor by which parmap's throughput exceeds (>1) or trails (<1) this contestant's.
// The peers (oneTBB, OpenMP) are compiled in only when the build found them
// (PARMAP_HAVE_TBB, PARMAP_HAVE_OPENMP); the header says which were present. A --quick run's
// sizes are too small for conclusions: its targets say "indicative", not met or not met.
//
// This file runs the sections and writes the report; each section is a file of its own in
// benchmarks/overhead/ (throughput.cpp, allocations.cpp, latency.cpp, streaming.cpp,
// scaling.cpp), the contestants' code is in benchmarks/support/.

#include "overhead/overhead.hpp"  // the sections

#include <algorithm>    // std::max
#include <array>        // std::array: the section names
#include <cstdint>      // std::uint64_t: step counts
#include <cstdio>       // std::printf, std::fprintf: the report
#include <exception>    // std::exception: reported by main
#include <limits>       // std::numeric_limits: "no value" in the report
#include <optional>     // std::optional: results of sections that did not run
#include <string>       // std::string
#include <string_view>  // std::string_view: section names
#include <thread>       // std::thread::hardware_concurrency
#include <utility>      // std::pair
#include <vector>       // std::vector

#include "support/harness.hpp"  // parmap_bench: command line, calibration, targets, JSON

#if PARMAP_HAVE_TBB
#include <oneapi/tbb/global_control.h>  // tbb::global_control: TBB's thread count = n_jobs
#include <oneapi/tbb/version.h>         // TBB_VERSION_STRING
#endif
#if PARMAP_HAVE_OPENMP
#include <omp.h>  // _OPENMP
#endif

namespace {

using namespace parmap_bench;  // support/harness.hpp: workloads, statistics, targets, text
using namespace overhead;      // overhead/overhead.hpp: the sections

// --- Configuration ----------------------------------------------------------------------------

constexpr std::array<std::string_view, 7> section_names = {
    "tiny", "1us", "50us", "allocations", "latency", "streaming", "scaling"};

// Task counts; --quick divides them so the whole program runs in seconds.
struct Sizes {
  std::size_t tiny = 1'000'000;
  std::size_t tiny_slow = 50'000;  // rows that pay microseconds per task (batch_size = 1, futures)
  std::size_t us1 = 300'000;
  std::size_t us1_slow = 30'000;
  std::size_t us50 = 10'000;
  std::size_t latency = 5'000;
  std::size_t streaming = 10'000'000;
  std::size_t scaling_per_core = 200;  // 1 ms tasks per hardware thread
  // The allocations section runs each mode at two sizes; the difference is the steady state.
  std::size_t alloc_tiny = 1'000'000, alloc_us1 = 200'000, alloc_us50 = 4'000;

  static Sizes quick() {
    Sizes s;
    s.tiny = 100'000;
    s.tiny_slow = 5'000;
    s.us1 = 20'000;
    s.us1_slow = 3'000;
    s.us50 = 400;
    s.latency = 400;
    s.streaming = 1'000'000;
    s.scaling_per_core = 20;
    s.alloc_tiny = 100'000;
    s.alloc_us1 = 20'000;
    s.alloc_us50 = 400;
    return s;
  }
};

// What usage() prints after "usage: overhead".
constexpr const char* help =
    "[--quick] [--runs K] [--only SECTION[,SECTION...]] [--json FILE]\n"
    "  --quick       small sizes and one run: a smoke test that takes seconds\n"
    "  --runs K      rounds per measurement, K >= 1 (default 5); rows are medians\n"
    "  --only NAMES  run only these sections: tiny, 1us, 50us, allocations, latency,\n"
    "                streaming, scaling (repeatable)\n"
    "  --json FILE   also write the results as JSON to FILE\n";

// --- Report -----------------------------------------------------------------------------------

struct Machine {
  std::size_t hardware = 0;
  std::size_t n_jobs = 0;
  std::string tbb = "absent";
  std::string openmp = "absent";
  bool asserts = false;
  double load_before = 0, load_after = 0;  // 1-minute load average at start and end
  double ns_per_step = 0;
  std::uint64_t steps_1us = 0, steps_50us = 0, steps_1ms = 0;
  double measured_1us = 0, measured_50us = 0, measured_1ms = 0;  // ns
};

}  // namespace

int main(int argc, char** argv) try {
  const Config config = parse_command_line(argc, argv, section_names, help);
  const Sizes sizes = config.quick ? Sizes::quick() : Sizes{};

  Machine machine;
  machine.hardware = std::max(1U, std::thread::hardware_concurrency());
  machine.n_jobs = machine.hardware;
#if PARMAP_HAVE_TBB
  machine.tbb = std::string("oneTBB ") + TBB_VERSION_STRING;
  // oneTBB's workers, like parmap's and OpenMP's, number n_jobs (it counts the calling thread).
  const tbb::global_control tbb_threads(tbb::global_control::max_allowed_parallelism,
                                        machine.n_jobs);
#endif
#if PARMAP_HAVE_OPENMP
  machine.openmp = "OpenMP " + std::to_string(_OPENMP);
#endif
#ifndef NDEBUG
  machine.asserts = true;
#endif

  machine.load_before = load_average();
  std::fprintf(stderr, "[overhead] calibrating...\n");
  machine.ns_per_step = calibrate_ns_per_step();
  machine.steps_1us = steps_for(1'000, machine.ns_per_step);
  machine.steps_50us = steps_for(50'000, machine.ns_per_step);
  machine.steps_1ms = steps_for(1'000'000, machine.ns_per_step);
  machine.measured_1us = measure_task_ns(Spin{machine.steps_1us}, 2'000);
  machine.measured_50us = measure_task_ns(Spin{machine.steps_50us}, 200);
  machine.measured_1ms = measure_task_ns(Spin{machine.steps_1ms}, 20);

  std::optional<ThroughputSection> tiny, us1, us50;
  if (config.wants("tiny")) {
    tiny = run_throughput("tiny", "Tiny tasks: i * i on an int64", Square{}, 0, sizes.tiny,
                          sizes.tiny_slow, machine.n_jobs, config);
  }
  if (config.wants("1us")) {
    us1 = run_throughput(
        "1us", "1 us tasks (" + fmt("%.2f", machine.measured_1us / 1000) + " us measured)",
        Spin{machine.steps_1us}, machine.measured_1us, sizes.us1, sizes.us1_slow, machine.n_jobs,
        config);
  }
  if (config.wants("50us")) {
    us50 = run_throughput(
        "50us", "50 us tasks (" + fmt("%.1f", machine.measured_50us / 1000) + " us measured)",
        Spin{machine.steps_50us}, machine.measured_50us, sizes.us50, sizes.us50, machine.n_jobs,
        config);
  }
  std::vector<AllocationRow> allocations;
  if (config.wants("allocations")) {
    std::fprintf(stderr, "[overhead] allocations...\n");
    count_allocations(allocations, "tiny", Square{}, sizes.alloc_tiny, machine.n_jobs);
    count_allocations(allocations, "1us", Spin{machine.steps_1us}, sizes.alloc_us1, machine.n_jobs);
    count_allocations(allocations, "50us", Spin{machine.steps_50us}, sizes.alloc_us50,
                      machine.n_jobs);
  }
  std::vector<LatencyRow> latency;
  if (config.wants("latency"))
    latency = run_latency(machine.steps_50us, sizes.latency, machine.n_jobs, config);
  std::optional<StreamingResult> streaming;
  if (config.wants("streaming")) streaming = run_streaming(sizes.streaming, machine.n_jobs);
  std::optional<ScalingResult> scaling;
  if (config.wants("scaling")) {
    scaling = run_scaling(machine.steps_1ms, machine.measured_1ms / 1e6, sizes.scaling_per_core,
                          machine.hardware, config);
  }

  machine.load_after = load_average();

  // Targets, for the sections that ran.
  std::vector<Target> targets;
#if PARMAP_HAVE_TBB
  if (tiny) {
    // parmap's throughput relative to the peer's: the peer's time over parmap's.
    auto ratio = [&](const char* parmap_row, const char* peer) {
      const Row* p = tiny->find(parmap_row);
      const Row* q = tiny->find(peer);
      return p && q ? q->median_ns() / p->median_ns() : std::numeric_limits<double>::quiet_NaN();
    };
    targets.push_back({"tiny: parmap list throughput / oneTBB parallel_for",
                       ratio("parmap list", "oneTBB parallel_for"), 0.8, true, "x"});
    targets.push_back({"tiny: parmap generator / oneTBB pipeline in-order, 4 tokens",
                       ratio("parmap generator", "oneTBB pipeline, in-order sink, 4 tokens"), 1.0,
                       true, "x"});
    targets.push_back(
        {"tiny: parmap generator_unordered / oneTBB pipeline out-of-order, 4 tokens",
         ratio("parmap generator_unordered", "oneTBB pipeline, out-of-order sink, 4 tokens"), 1.0,
         true, "x"});
  }
#endif
  for (const auto* s : {&us1, &us50}) {
    if (!*s) continue;
    const Row* seq = (*s)->find("sequential loop");
    auto efficiency = [&](const Row& r) {
      return seq->median_ns() / (static_cast<double>(machine.n_jobs) * r.median_ns());
    };
    // A loaded machine caps every contestant alike; the best peer shows where that cap was.
    const Row* best_peer = nullptr;
    for (const Row& r : (*s)->rows) {
      if (r.compared_with.empty() || &r == seq) continue;  // parmap rows, the sequential loop
      if (best_peer == nullptr || r.median_ns() < best_peer->median_ns()) best_peer = &r;
    }
    const std::string context = best_peer
                                    ? "best peer: " + fmt("%.1f%%", 100 * efficiency(*best_peer)) +
                                          " (" + best_peer->name + ")"
                                    : "";
    const double goal = s == &us1 ? 0.90 : 0.97;
    for (const char* mode : {"parmap list", "parmap generator", "parmap generator_unordered"}) {
      targets.push_back({(*s)->key + ": " + mode + " parallel efficiency",
                         efficiency(*(*s)->find(mode)), goal, true, "", context});
    }
  }
  for (const LatencyRow& r : latency) {
    if (r.name.find("batch_size=1") != std::string::npos &&
        r.name.find("n_jobs=") == std::string::npos) {
      targets.push_back(
          {"wake-up latency median, " + r.name.substr(7), r.median_us, 20, false, "us"});
    }
  }
  for (const AllocationRow& r : allocations) {
    if (r.mode.find("batch_size") == std::string::npos) {
      targets.push_back(
          {"allocations per task, steady state, " + r.workload + ", " + r.mode.substr(7),
           r.steady_per_task(), 0.1, false, ""});
    }
  }

  // --- Markdown ---
  std::printf("# parmap overhead benchmark%s\n\n",
              config.quick ? " (--quick: sizes too small for conclusions)" : "");
  std::printf(
      "- machine: %zu hardware threads; every parallel contestant uses n_jobs = %zu threads\n",
      machine.hardware, machine.n_jobs);
  std::printf("- peers: %s; %s; textbook mutex+condvar pool (built in)\n",
              machine.tbb == "absent" ? "oneTBB absent (rows omitted)" : machine.tbb.c_str(),
              machine.openmp == "absent" ? "OpenMP absent (rows omitted)" : machine.openmp.c_str());
  std::printf(
      "- load average (1 min) at start / end: %s / %s (a busy machine inflates every row)\n",
      fmt("%.2f", machine.load_before).c_str(), fmt("%.2f", machine.load_after).c_str());
  std::printf("- build: %s\n", machine.asserts
                                   ? "asserts ON (not a Release build: numbers not representative)"
                                   : "NDEBUG (Release)");
  std::printf("- rows: median of %d run(s), interleaved; ns per task = run time / tasks\n",
              config.runs);
  std::printf(
      "- calibration: %.3f ns per spin step; 1 us = %llu steps (%.2f us measured), 50 us = %llu "
      "(%.1f us), 1 ms = %llu (%.3f ms)\n",
      machine.ns_per_step, static_cast<unsigned long long>(machine.steps_1us),
      machine.measured_1us / 1e3, static_cast<unsigned long long>(machine.steps_50us),
      machine.measured_50us / 1e3, static_cast<unsigned long long>(machine.steps_1ms),
      machine.measured_1ms / 1e6);
  std::printf(
      "- \"parmap vs this\": this row's time / the named parmap row's time (>1: parmap is "
      "faster)\n");

  for (const auto* s : {&tiny, &us1, &us50}) {
    if (*s) print_throughput(**s, machine.n_jobs);
  }
  if (!allocations.empty()) print_allocations(allocations);
  if (!latency.empty()) print_latency(latency, machine.measured_50us);
  if (streaming) print_streaming(*streaming);
  if (scaling) print_scaling(*scaling);
  if (!targets.empty()) {
    std::printf(
        "\n## Targets%s\n\n| target | measured | goal | verdict | context "
        "|\n|---|---:|---:|---|---|\n",
        config.quick ? " (--quick: indicative only)" : "");
    for (const Target& t : targets) {
      std::printf("| %s | %s%s | %s | %s | %s |\n", t.what.c_str(), fmt("%.3g", t.value).c_str(),
                  t.unit.c_str(), t.goal_text().c_str(), t.verdict(config.quick).c_str(),
                  t.context.c_str());
    }
  }
  std::fflush(stdout);

  // --- JSON ---
  if (!config.json_path.empty()) {
    std::vector<std::pair<std::string, std::string>> doc;
    doc.emplace_back(
        "machine",
        json_object({
            {"hardware_threads", std::to_string(machine.hardware)},
            {"n_jobs", std::to_string(machine.n_jobs)},
            {"tbb", machine.tbb == "absent" ? "null" : json_string(machine.tbb)},
            {"openmp", machine.openmp == "absent" ? "null" : json_string(machine.openmp)},
            {"asserts", machine.asserts ? "true" : "false"},
            {"load_average_start", json_number(machine.load_before)},
            {"load_average_end", json_number(machine.load_after)},
            {"quick", config.quick ? "true" : "false"},
            {"runs", std::to_string(config.runs)},
            {"ns_per_spin_step", json_number(machine.ns_per_step)},
            {"task_1us_ns", json_number(machine.measured_1us)},
            {"task_50us_ns", json_number(machine.measured_50us)},
            {"task_1ms_ns", json_number(machine.measured_1ms)},
        }));
    for (const auto* s : {&tiny, &us1, &us50}) {
      if (*s) doc.emplace_back((*s)->key, throughput_json(**s, machine.n_jobs));
    }
    if (!allocations.empty()) doc.emplace_back("allocations", allocations_json(allocations));
    if (!latency.empty()) doc.emplace_back("latency", latency_json(latency));
    if (streaming) doc.emplace_back("streaming", streaming_json(*streaming));
    if (scaling) doc.emplace_back("scaling", scaling_json(*scaling));
    if (!targets.empty()) {
      std::vector<std::string> rows;
      for (const Target& t : targets) rows.push_back(t.json());
      doc.emplace_back("targets", json_array(rows));
    }
    if (!write_json("overhead", config.json_path, doc)) return 1;
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "overhead: %s\n", e.what());
  return 1;
}
