// handoff's throughput sections: strict (every result a hand-off through a four-task
// window), tiny (where batching must amortise the hand-off) and efficiency (1 us and 50 us
// tasks), each against oneTBB where the build has it, with the tables and ratios they print.

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint64_t
#include <cstdio>   // std::printf, std::fprintf
#include <parmap/parmap.hpp>
#include <string>       // std::string
#include <string_view>  // std::string_view: row names
#include <utility>      // std::move
#include <vector>       // std::vector

#include "handoff/handoff.hpp"
#include "support/harness.hpp"  // parmap_bench: contestants, rounds, text, JSON
#include "support/tbb.hpp"      // the oneTBB contestants

namespace handoff {

namespace {

namespace ra = parmap::return_as;
using namespace parmap_bench;

// The sequential loop: each result summed as it is computed.
template <class F>
Contestant sequential_contestant(F f) {
  return {"sequential loop", true,
          [f](std::size_t count) { return expected_checksum(f, count, true); }};
}

// "parmap / peer throughput": the peer's time over parmap's, within this run. goal 0: none.
struct Comparison {
  std::string parmap, peer;
  double goal;
};

struct Throughput {
  std::string key, title;
  std::size_t tasks = 0;
  bool efficiency = false;  // show sequential / (n_jobs x time)
  std::vector<Row> rows;
  std::vector<Comparison> comparisons;

  [[nodiscard]] const Row* find(std::string_view name) const {
    for (const Row& r : rows) {
      if (r.name == name) return &r;
    }
    return nullptr;
  }
  // Median of the medians' ratio, and the range of the per-round ratios.
  [[nodiscard]] Spread ratio(const Comparison& c) const {
    const Row* p = find(c.parmap);
    const Row* q = find(c.peer);
    if (p == nullptr || q == nullptr) return {};
    std::vector<double> per_round;
    for (std::size_t k = 0; k < p->ns_per_task.size(); ++k)
      per_round.push_back(q->ns_per_task[k] / p->ns_per_task[k]);
    const Spread s = spread(per_round);
    return {q->median_ns() / p->median_ns(), s.min, s.max};
  }
  [[nodiscard]] double efficiency_of(const Row& r) const {
    const Row* sequential = find("sequential loop");
    return sequential ? sequential->median_ns() / (n_jobs * r.median_ns()) : nan;
  }
};

// Prints a throughput section's tables, adds its ratio targets and its JSON.
void report_throughput(const Throughput& s, Report& report) {
  std::printf("\n## %s\n\n", s.title.c_str());
  const Row* sequential = s.find("sequential loop");
  std::vector<std::string> header = {"contestant", "tasks", "ns/task (median)", "min-max",
                                     "time / sequential"};
  std::string align = "lrrrr";
  if (s.efficiency) {
    header.emplace_back("parallel efficiency");
    align += 'r';
  }
  Table table(header, align);
  for (const Row& r : s.rows) {
    const Spread t = spread(r.ns_per_task);
    std::vector<std::string> cells = {
        r.name, std::to_string(s.tasks), ns_text(t.median),
        range_text(ns_text(t.min), ns_text(t.max)),
        sequential ? fmt("%.2fx", t.median / sequential->median_ns()) : "n/a"};
    if (s.efficiency)
      cells.push_back(&r == sequential ? "" : fmt("%.1f%%", 100 * s.efficiency_of(r)));
    table.add(std::move(cells));
  }
  table.print();
  if (!s.comparisons.empty()) {
    std::printf("\n");
    Table ratios({"parmap / peer throughput", "ratio of medians", "per-round min-max", "target"},
                 "lrrr");
    for (const Comparison& c : s.comparisons) {
      const Spread r = s.ratio(c);
      ratios.add({c.parmap + " / " + c.peer, fmt("%.2fx", r.median),
                  range_text(fmt("%.2f", r.min), fmt("%.2f", r.max)),
                  c.goal > 0 ? fmt(">= %.1f", c.goal) : ""});
      if (c.goal > 0) {
        report.targets.push_back({s.key + ": " + c.parmap + " / " + c.peer + " throughput",
                                  r.median, c.goal, true, "x"});
      }
    }
    ratios.print();
  }
  std::fflush(stdout);

  std::vector<std::string> rows;
  for (const Row& r : s.rows) {
    rows.push_back(json_object({
        {"name", json_string(r.name)},
        {"ns_per_task", json_spread(spread(r.ns_per_task))},
        {"ns_per_task_runs", json_numbers(r.ns_per_task)},
        {"efficiency", s.efficiency && &r != sequential ? json_number(s.efficiency_of(r)) : "null"},
    }));
  }
  std::vector<std::string> ratios;
  for (const Comparison& c : s.comparisons) {
    ratios.push_back(json_object({{"parmap", json_string(c.parmap)},
                                  {"peer", json_string(c.peer)},
                                  {"ratio", json_spread(s.ratio(c))},
                                  {"goal", c.goal > 0 ? json_number(c.goal) : "null"}}));
  }
  report.json.emplace_back(s.key, json_object({{"title", json_string(s.title)},
                                               {"tasks", std::to_string(s.tasks)},
                                               {"rows", json_array(rows)},
                                               {"ratios", json_array(ratios)}}));
}

// The contestants every throughput section has: the sequential loop and parmap's modes (the
// list when `list` says so, the two generators always), all with the same options.
template <class F>
std::vector<Contestant> parmap_contestants(F f, const parmap::Options& options, bool list) {
  std::vector<Contestant> contestants;
  contestants.push_back(sequential_contestant(f));
  if (list) contestants.push_back(parmap_contestant("parmap list", ra::list, options, f));
  contestants.push_back(parmap_contestant("parmap generator", ra::generator, options, f));
  contestants.push_back(
      parmap_contestant("parmap generator_unordered", ra::generator_unordered, options, f));
  return contestants;
}

#if PARMAP_HAVE_TBB
// oneTBB's pipelines with 4 tokens, in-order and out-of-order sink, as contestants of `s`, and
// parmap's two generators compared with them (goal: at least as fast).
template <class F>
void add_tbb_pipelines(F f, std::vector<Contestant>& contestants, Throughput& s) {
  contestants.push_back(tbb_pipeline_contestant(f, 4, tbb::filter_mode::serial_in_order));
  contestants.push_back(tbb_pipeline_contestant(f, 4, tbb::filter_mode::serial_out_of_order));
  s.comparisons.push_back({"parmap generator", "oneTBB pipeline, in-order sink, 4 tokens", 1.0});
  s.comparisons.push_back(
      {"parmap generator_unordered", "oneTBB pipeline, out-of-order sink, 4 tokens", 1.0});
}
#endif

// Runs the rounds of a throughput section and reports them.
template <class F>
void measure(Throughput& s, F f, const std::vector<Contestant>& contestants, const Config& config,
             Report& report) {
  s.rows = run_rounds(s.key, f, s.tasks, contestants, config.runs);
  report_throughput(s, report);
}

}  // namespace

// strict: the strict window. batch_size = 1 and pre_dispatch = 4 make every result its own
// hand-off through a window of four tasks, as oneTBB's pipeline with four live tokens does;
// 10 us of spin per task is short enough that the hand-offs dominate.
void section_strict(const Calibration& calibration, const Sizes& sizes, const Config& config,
                    Report& report) {
  std::fprintf(stderr, "[handoff] strict...\n");
  const Spin f{calibration.steps_10us};
  const parmap::Options strict{.n_jobs = n_jobs, .pre_dispatch = 4, .batch_size = 1};
  std::vector<Contestant> contestants = parmap_contestants(f, strict, false);
  Throughput s{"strict",
               "strict: batch_size = 1, pre_dispatch = 4, " +
                   fmt("%.1f", calibration.measured_10us / 1e3) + " us tasks",
               sizes.strict,
               false,
               {},
               {}};
#if PARMAP_HAVE_TBB
  add_tbb_pipelines(f, contestants, s);
#endif
  measure(s, f, contestants, config, report);
}

// tiny: 1,000,000 tasks of i * i. A hand-off per result would cost a hundred times the task;
// this shows how far parmap's batching amortises it, next to oneTBB's parallel_for (which
// splits an index range and writes in place) and its pipeline (one hand-off per item).
void section_tiny(const Sizes& sizes, const Config& config, Report& report) {
  std::fprintf(stderr, "[handoff] tiny...\n");
  const Square f;
  std::vector<Contestant> contestants = parmap_contestants(f, {.n_jobs = n_jobs}, true);
  Throughput s{"tiny", "tiny: i * i on an int64, automatic batches", sizes.tiny, false, {}, {}};
#if PARMAP_HAVE_TBB
  contestants.push_back(tbb_parallel_for_contestant(f));
  s.comparisons = {{"parmap list", "oneTBB parallel_for", 0.8}};
  add_tbb_pipelines(f, contestants, s);
#endif
  measure(s, f, contestants, config, report);
}

// efficiency: 1 us and 50 us tasks with automatic batches; parallel efficiency = sequential
// time / (2 x time): what is left of two cores once hand-offs and idling are paid.
void section_efficiency(const Calibration& calibration, const Sizes& sizes, const Config& config,
                        Report& report) {
  struct Workload {
    std::string key;
    std::uint64_t steps;
    double measured_ns;
    std::size_t tasks;
  };
  const Workload workloads[] = {
      {"efficiency_1us", calibration.steps_1us, calibration.measured_1us, sizes.efficiency_1us},
      {"efficiency_50us", calibration.steps_50us, calibration.measured_50us,
       sizes.efficiency_50us}};
  constexpr double goal = 0.97;
  for (const Workload& w : workloads) {
    std::fprintf(stderr, "[handoff] %s...\n", w.key.c_str());
    const Spin f{w.steps};
    std::vector<Contestant> contestants = parmap_contestants(f, {.n_jobs = n_jobs}, true);
#if PARMAP_HAVE_TBB
    contestants.push_back(tbb_parallel_for_contestant(f));
#endif
    Throughput s{w.key,
                 "efficiency: " + fmt(w.measured_ns < 1e4 ? "%.2f" : "%.1f", w.measured_ns / 1e3) +
                     " us tasks, automatic batches",
                 w.tasks,
                 true,
                 {},
                 {}};
    measure(s, f, contestants, config, report);
    for (const char* mode : {"parmap list", "parmap generator", "parmap generator_unordered"}) {
      report.targets.push_back({w.key + ": " + mode + " parallel efficiency",
                                100 * s.efficiency_of(*s.find(mode)), 100 * goal, true, "%"});
    }
  }
}

}  // namespace handoff
