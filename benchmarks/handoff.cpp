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

#include <algorithm>   // std::min, std::max, std::ranges::minmax
#include <array>       // std::array: the section names
#include <chrono>      // std::chrono::steady_clock: every timing and stamp
#include <cstdint>     // std::int64_t, std::uint64_t: task inputs, results, checksums
#include <cstdio>      // std::printf, std::fprintf: the report
#include <exception>   // std::exception: reported by main
#include <functional>  // std::function: contestants' bodies
#include <limits>      // std::numeric_limits: NaN for "not measured"
#include <memory>      // std::make_shared: the latency section's Parallel objects
#include <parmap/parmap.hpp>
#include <stdexcept>    // std::runtime_error: wrong results
#include <string>       // std::string
#include <string_view>  // std::string_view: option parsing, names
#include <thread>       // std::this_thread::sleep_for: the hostage; hardware_concurrency
#include <utility>      // std::move, std::pair
#include <vector>       // std::vector

#include "support/harness.hpp"  // parmap_bench: the harness shared with benchmarks/overhead
#include "support/tbb.hpp"      // the oneTBB contestants

#if PARMAP_HAVE_TBB
#include <oneapi/tbb/global_control.h>     // tbb::global_control: two threads, like n_jobs
#include <oneapi/tbb/parallel_pipeline.h>  // tbb::filter_mode
#include <oneapi/tbb/version.h>            // TBB_VERSION_STRING
#endif

namespace {

namespace ra = parmap::return_as;
using namespace parmap_bench;  // support/harness.hpp: workloads, checksums, statistics, text

// Threads of every parallel contestant, parmap's and oneTBB's (oneTBB counts the caller).
constexpr int n_jobs = 2;
constexpr double nan = std::numeric_limits<double>::quiet_NaN();

// ===== This program's harness ==================================================================

// --- Configuration ----------------------------------------------------------------------------

constexpr std::array<std::string_view, 5> section_names = {"strict", "latency", "hostage", "tiny",
                                                           "efficiency"};

using Config = CommandLine;

// The hostage section sleeps seconds per round: 3 rounds unless --runs asks for more.
int hostage_runs(const Config& config) {
  return config.runs_given ? config.runs : std::min(config.runs, 3);
}

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

// What usage() prints after "usage: handoff".
constexpr const char* help =
    "[--quick] [--runs N] [--only SECTION[,SECTION...]] [--json FILE]\n"
    "  --quick       small counts, one round: a smoke test of seconds (indicative)\n"
    "  --runs N      rounds, N >= 1 (default 5; the hostage section: 3)\n"
    "  --only NAMES  strict, latency, hostage, tiny, efficiency (repeatable)\n"
    "  --json FILE   also write the results as JSON to FILE\n";

// --- Calibration ------------------------------------------------------------------------------

struct Calibration {
  double ns_per_step = 0;
  std::uint64_t steps_1us = 0, steps_10us = 0, steps_50us = 0;
  double measured_1us = 0, measured_10us = 0, measured_50us = 0;  // ns, median of many calls
};

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

// --- Statistics -------------------------------------------------------------------------------

// A figure measured once per round: its median and range across rounds.
struct Spread {
  double median = nan, min = nan, max = nan;
};
Spread spread(const std::vector<double>& per_round) {
  if (per_round.empty()) return {};
  const auto [lo, hi] = std::ranges::minmax(per_round);
  return {median(per_round), lo, hi};
}

// --- Contestants and rounds -------------------------------------------------------------------

// The sequential loop: each result summed as it is computed.
template <class F>
Contestant sequential_contestant(F f) {
  return {"sequential loop", true,
          [f](std::size_t count) { return expected_checksum(f, count, true); }};
}

// --- Report -----------------------------------------------------------------------------------

std::string range_text(const std::string& lo, const std::string& hi) { return lo + "-" + hi; }

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

std::string json_spread(const Spread& s) {
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

// --- Throughput sections ----------------------------------------------------------------------

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

// ===== Sections ================================================================================

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

// latency: consumer wake-up latency. Each task stamps steady_clock::now() just before it
// returns; the consumer, doing nothing else, stamps its receipt. The difference is the
// hand-off as the consumer sees it: for the ordered generator it includes waiting behind an
// earlier task, and with automatic batches waiting for the rest of the result's batch.
void section_latency(const Calibration& calibration, const Sizes& sizes, const Config& config,
                     Report& report) {
  std::fprintf(stderr, "[handoff] latency...\n");
  const Spin work{calibration.steps_50us};
  auto task = [work](std::int64_t i) { return Stamped{work(i), Clock::now()}; };
  // A body runs `count` tasks, appends one latency (us) per result, returns the checksum.
  struct Body {
    std::string name;
    bool ordered;
    std::function<std::uint64_t(std::size_t, std::vector<double>&)> run;
  };
  auto parmap_body = [&](std::string name, auto mode, parmap::Options options) -> Body {
    constexpr bool ordered = !std::same_as<decltype(mode), ra::generator_unordered_t>;
    auto parallel = std::make_shared<parmap::Parallel<decltype(mode)>>(std::move(options), mode);
    return {std::move(name), ordered,
            [parallel, task](std::size_t count, std::vector<double>& out) {
              Checksum sum(ordered);
              for (auto&& s : (*parallel)(delayed_tasks(task, count))) {
                const auto received = Clock::now();
                out.push_back(micros(received - s.done));
                sum.add(s.value);
              }
              return sum.value();
            }};
  };
  std::vector<Body> bodies;
  bodies.push_back(parmap_body("parmap generator, batch_size=1", ra::generator,
                               {.n_jobs = n_jobs, .batch_size = 1}));
  bodies.push_back(parmap_body("parmap generator_unordered, batch_size=1", ra::generator_unordered,
                               {.n_jobs = n_jobs, .batch_size = 1}));
  bodies.push_back(
      parmap_body("parmap generator, automatic batches", ra::generator, {.n_jobs = n_jobs}));
  bodies.push_back(parmap_body("parmap generator_unordered, automatic batches",
                               ra::generator_unordered, {.n_jobs = n_jobs}));

  const std::size_t n = sizes.latency;
  Expected<Spin> expected(work);
  auto run_checked = [&](const Body& b, std::size_t count, std::vector<double>& out) {
    const std::size_t before = out.size();
    const std::uint64_t sum = b.run(count, out);
    if (sum != expected(count, b.ordered) || out.size() - before != count) {
      throw std::runtime_error("latency: " + b.name + ": wrong or misordered results");
    }
  };
  std::vector<double> scratch;
  for (const Body& b : bodies) {  // warm-up
    scratch.clear();
    run_checked(b, std::max<std::size_t>(n / 10, 1), scratch);
    settle();
  }
  std::vector<std::vector<double>> samples(bodies.size());        // every round's, pooled
  std::vector<std::vector<double>> round_medians(bodies.size());  // one per round
  for (auto& s : samples) s.reserve(n * static_cast<std::size_t>(config.runs));
  scratch.reserve(n);
  for (int round = 0; round < config.runs; ++round) {
    for (std::size_t k = 0; k < bodies.size(); ++k) {
      scratch.clear();
      run_checked(bodies[k], n, scratch);
      round_medians[k].push_back(median(scratch));
      samples[k].insert(samples[k].end(), scratch.begin(), scratch.end());
      settle();
    }
  }

  std::printf(
      "\n## latency: task stamped done -> consumer has the result, %.1f us tasks, %zu tasks\n\n",
      calibration.measured_50us / 1e3, n);
  std::printf(
      "Percentiles over every result of every round; the last column is the range of the "
      "per-round medians.\n\n");
  Table table(
      {"contestant", "samples", "median us", "p90 us", "p99 us", "max us", "round medians min-max"},
      "lrrrrrr");
  std::vector<std::string> rows;
  for (std::size_t k = 0; k < bodies.size(); ++k) {
    const auto& s = samples[k];
    const double p50 = percentile(s, 0.5), p90 = percentile(s, 0.9), p99 = percentile(s, 0.99),
                 max = percentile(s, 1.0);
    const Spread m = spread(round_medians[k]);
    table.add({bodies[k].name, std::to_string(s.size()), fmt("%.1f", p50), fmt("%.1f", p90),
               fmt("%.1f", p99), fmt("%.0f", max),
               range_text(fmt("%.1f", m.min), fmt("%.1f", m.max))});
    report.targets.push_back({"latency: " + bodies[k].name + ", median", p50, 5, false, " us"});
    report.targets.push_back({"latency: " + bodies[k].name + ", p90", p90, 20, false, " us"});
    rows.push_back(json_object({{"name", json_string(bodies[k].name)},
                                {"samples", std::to_string(s.size())},
                                {"median_us", json_number(p50)},
                                {"p90_us", json_number(p90)},
                                {"p99_us", json_number(p99)},
                                {"max_us", json_number(max)},
                                {"round_medians_us", json_numbers(round_medians[k])}}));
  }
  table.print();
  std::fflush(stdout);
  report.json.emplace_back("latency",
                           json_object({{"task_ns", json_number(calibration.measured_50us)},
                                        {"tasks", std::to_string(n)},
                                        {"rows", json_array(rows)}}));
}

// hostage: 10 tasks, n_jobs = 2, pre_dispatch = 10, automatic batches; task 1 (0-based) sleeps,
// the others return at once. A slow task must not hold finished results back:
//  (a) generator_unordered: the 9 fast results should all arrive long before the sleeper
//      returns. We take 9 results and break; leaving the loop destroys the range, which waits
//      for the sleeping task (threads cannot be killed), so that is reported separately.
//  (b) generator: results 2..9 come after task 1 in input order, but they finished long ago,
//      so they should follow task 1's return immediately.
void section_hostage(const Sizes& sizes, const Config& config, Report& report) {
  std::fprintf(stderr, "[handoff] hostage...\n");
  constexpr std::size_t n = 10;
  constexpr std::size_t hostage = 1;  // the sleeper's input index
  // The 9th-result threshold stays 100 ms in --quick, where the sleep is 200 ms.
  constexpr double ninth_goal_ms = 100;
  // "Immediately" for (b): a few wake-ups, far below the sleep.
  constexpr double gap_goal_us = 1'000;
  struct Task {
    Clock::duration sleep;
    Stamped operator()(std::int64_t i) const {
      if (i == static_cast<std::int64_t>(hostage)) std::this_thread::sleep_for(sleep);
      return {i, Clock::now()};
    }
  };
  const Task slow{sizes.hostage_sleep};
  const Task warm_up{Clock::duration::zero()};
  const parmap::Options options{.n_jobs = n_jobs, .pre_dispatch = 10};
  parmap::Parallel<ra::generator_unordered_t> unordered(options, ra::generator_unordered);
  parmap::Parallel<ra::generator_t> ordered(options, ra::generator);

  // (a) Returns {ms to the 9th result, hostage among the 9, ms to leave the loop}.
  struct Unordered {
    double ninth_ms = nan;
    bool hostage_among = false;
    double leave_ms = nan;
  };
  auto run_unordered = [&](const Task& task) {
    Unordered out;
    std::vector<bool> seen(n, false);
    std::size_t received = 0;
    const auto start = Clock::now();
    for (auto&& [at, item] : unordered(delayed_tasks(task, n)).indexed()) {
      if (at >= n || seen[at] || item.value != static_cast<std::int64_t>(at))
        throw std::runtime_error("hostage: generator_unordered: wrong or repeated result");
      seen[at] = true;
      if (at == hostage) out.hostage_among = true;
      if (++received == n - 1) {
        out.ninth_ms = millis(Clock::now() - start);
        break;  // the range's destruction waits for whatever still runs
      }
    }
    out.leave_ms = millis(Clock::now() - start);
    if (received != n - 1) throw std::runtime_error("hostage: generator_unordered: results lost");
    return out;
  };
  // (b) Returns {max us from task 1's return to receipt of results 2..9, us to receive task 1}.
  struct Ordered {
    double max_gap_us = nan;
    double hostage_receipt_us = nan;
  };
  auto run_ordered = [&](const Task& task) {
    std::vector<Clock::time_point> receipt(n);
    Clock::time_point hostage_done{};
    std::size_t position = 0;
    for (auto&& [at, item] : ordered(delayed_tasks(task, n)).indexed()) {
      const auto now = Clock::now();
      if (at != position || item.value != static_cast<std::int64_t>(position))
        throw std::runtime_error("hostage: generator: result out of order");
      receipt[position] = now;
      if (at == hostage) hostage_done = item.done;
      ++position;
    }
    if (position != n) throw std::runtime_error("hostage: generator: results lost");
    Ordered out;
    out.hostage_receipt_us = micros(receipt[hostage] - hostage_done);
    out.max_gap_us = 0;
    for (std::size_t k = hostage + 1; k < n; ++k)
      out.max_gap_us = std::max(out.max_gap_us, micros(receipt[k] - hostage_done));
    return out;
  };

  run_unordered(warm_up);
  run_ordered(warm_up);
  std::vector<double> ninth_ms, leave_ms, max_gap_us, hostage_receipt_us;
  int hostage_among = 0;
  const int runs = hostage_runs(config);
  for (int round = 0; round < runs; ++round) {
    const Unordered a = run_unordered(slow);
    ninth_ms.push_back(a.ninth_ms);
    leave_ms.push_back(a.leave_ms);
    hostage_among += a.hostage_among ? 1 : 0;
    settle();
    const Ordered b = run_ordered(slow);
    max_gap_us.push_back(b.max_gap_us);
    hostage_receipt_us.push_back(b.hostage_receipt_us);
    settle();
  }

  const double sleep_ms = millis(sizes.hostage_sleep);
  std::printf(
      "\n## hostage: 10 tasks, task 1 sleeps %.0f ms, the rest return at once; n_jobs = %d, "
      "pre_dispatch = 10, automatic batches; %d round(s)\n\n",
      sleep_ms, n_jobs, runs);
  Table table({"measure", "median", "min-max", "target"}, "lrrr");
  const Spread ninth = spread(ninth_ms), leave = spread(leave_ms), gap = spread(max_gap_us),
               receipt = spread(hostage_receipt_us);
  table.add({"(a) unordered: 9th result arrived, ms after the call", fmt("%.2f", ninth.median),
             range_text(fmt("%.2f", ninth.min), fmt("%.2f", ninth.max)),
             fmt("<= %.0f", ninth_goal_ms)});
  table.add({"(a) unordered: task 1 among the 9 (rounds)",
             std::to_string(hostage_among) + " of " + std::to_string(runs), "", "0"});
  table.add({"(a) unordered: loop left (range destroyed), ms after the call",
             fmt("%.1f", leave.median), range_text(fmt("%.1f", leave.min), fmt("%.1f", leave.max)),
             "(waits for the sleeper)"});
  table.add({"(b) ordered: task 1 received, us after it returned", fmt("%.1f", receipt.median),
             range_text(fmt("%.1f", receipt.min), fmt("%.1f", receipt.max)), ""});
  table.add({"(b) ordered: results 2..9 received, max us after task 1 returned",
             fmt("%.1f", gap.median), range_text(fmt("%.1f", gap.min), fmt("%.1f", gap.max)),
             fmt("<= %.0f", gap_goal_us)});
  table.print();
  std::fflush(stdout);
  // Targets on the worst round: a hostage in any round is a hostage.
  report.targets.push_back(
      {"hostage (a): 9th unordered result, worst round", ninth.max, ninth_goal_ms, false, " ms"});
  report.targets.push_back({"hostage (a): rounds with task 1 among the first 9 unordered results",
                            static_cast<double>(hostage_among), 0, false, ""});
  report.targets.push_back({"hostage (b): results 2..9 after task 1's return, max gap, worst round",
                            gap.max, gap_goal_us, false, " us"});
  report.json.emplace_back(
      "hostage", json_object({{"sleep_ms", json_number(sleep_ms)},
                              {"rounds", std::to_string(runs)},
                              {"unordered_ninth_ms", json_numbers(ninth_ms)},
                              {"unordered_hostage_among_rounds", std::to_string(hostage_among)},
                              {"unordered_leave_ms", json_numbers(leave_ms)},
                              {"ordered_hostage_receipt_us", json_numbers(hostage_receipt_us)},
                              {"ordered_max_gap_us", json_numbers(max_gap_us)}}));
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

}  // namespace

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
