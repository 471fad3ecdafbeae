#pragma once

// What the overhead and handoff benchmarks share: the command line, the calibrated spin
// workload, parmap's task views, the checksums every run is checked against, parmap as a
// contestant and the interleaved rounds every contestant runs in, the statistics, the
// /proc/loadavg reading, the text and JSON formatting of the report, and targets. The peers
// are in files of their own (tbb.hpp, openmp.hpp, textbook_pool.hpp); each program keeps
// what only it measures (its sections, tables and goals).

#include <algorithm>   // std::sort, std::min, std::max, std::ranges::find
#include <chrono>      // std::chrono::steady_clock: every timing and stamp
#include <concepts>    // std::same_as: which modes claim input order
#include <cstdint>     // std::int64_t, std::uint64_t: task inputs, results, checksums
#include <cstdio>      // std::snprintf, std::fprintf: formatting, usage
#include <cstdlib>     // std::strtol, std::exit: --runs, usage
#include <fstream>     // std::ifstream: /proc/loadavg; std::ofstream: --json
#include <functional>  // std::function: a contestant's run
#include <limits>      // std::numeric_limits: infinity in calibration, NaN for "no value"
#include <map>         // std::map: expected checksums per (task count, order)
#include <memory>      // std::make_shared: Parallel objects shared by std::function
#include <parmap/parmap.hpp>
#include <ranges>       // std::views::iota, std::views::transform: parmap's input
#include <span>         // std::span: a program's section names
#include <stdexcept>    // std::runtime_error: wrong results
#include <string>       // std::string
#include <string_view>  // std::string_view: option parsing, section names
#include <thread>       // std::this_thread::sleep_for: settling between runs
#include <utility>      // std::move, std::pair
#include <vector>       // std::vector

namespace parmap_bench {

using Clock = std::chrono::steady_clock;

// --- Time -------------------------------------------------------------------------------------

// Seconds from `start` to now.
inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}
// A duration in microseconds and in milliseconds, for the report.
inline double micros(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}
inline double millis(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// Keeps a value alive past the optimiser where no checksum consumes it (calibration).
inline volatile std::uint64_t g_sink = 0;
inline void consume(std::uint64_t v) { g_sink = v; }

// Lets threads that spin after their work (OpenMP's and oneTBB's workers wait actively for a
// while before sleeping) go to sleep before the next contestant starts, so that one
// contestant's idle spinning is not charged to the next one on a machine with few cores.
inline void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }

// --- Command line -----------------------------------------------------------------------------

// The options both programs take: --quick, --runs N, --only SECTION[,SECTION...], --json FILE.
struct CommandLine {
  bool quick = false;
  int runs = 5;                   // --quick alone makes it 1
  bool runs_given = false;        // --runs was on the command line
  std::vector<std::string> only;  // empty: every section
  std::string json_path;
  std::string text;  // the whole command line, for the report

  [[nodiscard]] bool wants(std::string_view section) const {
    return only.empty() || std::ranges::find(only, section) != only.end();
  }
};

// Prints `error` (if any) and "usage: PROGRAM " followed by `help`; exits 0 without an error,
// 2 with one.
[[noreturn]] inline void usage(const char* program, const std::string& error, const char* help) {
  if (!error.empty()) std::fprintf(stderr, "%s: %s\n", program, error.c_str());
  std::fprintf(stderr, "usage: %s %s", program, help);
  std::exit(error.empty() ? 0 : 2);
}

// Parses the command line; `sections` are the names --only accepts, `help` what usage prints
// after the program's name. Exits through usage() on --help and on any error.
inline CommandLine parse_command_line(int argc, char** argv,
                                      std::span<const std::string_view> sections,
                                      const char* help) {
  CommandLine config;
  config.text = argv[0];
  for (int i = 1; i < argc; ++i) config.text += std::string(" ") + argv[i];
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(argv[0], std::string(arg) + " needs a value", help);
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      usage(argv[0], "", help);
    } else if (arg == "--quick") {
      config.quick = true;
    } else if (arg == "--runs") {
      const std::string text = value();
      char* end = nullptr;
      const long runs = std::strtol(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || runs < 1 || runs > 1000) {
        usage(argv[0], "--runs needs a whole number from 1 to 1000, not '" + text + "'", help);
      }
      config.runs = static_cast<int>(runs);
      config.runs_given = true;
    } else if (arg == "--only") {
      const std::string list = value();
      std::size_t from = 0;
      while (from <= list.size()) {
        const std::size_t comma = std::min(list.find(',', from), list.size());
        const std::string name = list.substr(from, comma - from);
        if (std::ranges::find(sections, name) == sections.end()) {
          usage(argv[0], "unknown section '" + name + "'", help);
        }
        config.only.push_back(name);
        from = comma + 1;
      }
    } else if (arg == "--json") {
      config.json_path = value();
    } else {
      usage(argv[0], "unknown option '" + std::string(arg) + "'", help);
    }
  }
  if (config.quick && !config.runs_given) config.runs = 1;
  return config;
}

// --- Workloads --------------------------------------------------------------------------------

// A chain of xor-shift/multiply steps, each needing the last: the compiler can neither fold
// nor vectorise it, and the CPU cannot overlap steps, so its cost is `steps` times a fixed
// latency. `steps` is a run-time value from calibration. Real work: no sleeping, no clock.
inline std::int64_t spin(std::int64_t seed, std::uint64_t steps) noexcept {
  auto x = static_cast<std::uint64_t>(seed) | 1U;
  for (std::uint64_t k = 0; k < steps; ++k) {
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ULL;
  }
  return static_cast<std::int64_t>(x);
}

// A task of `steps` calibrated spin steps.
struct Spin {
  std::uint64_t steps;
  std::int64_t operator()(std::int64_t i) const noexcept { return spin(i, steps); }
};

// The tiny task: nothing to amortise a hand-off over.
struct Square {
  std::int64_t operator()(std::int64_t i) const noexcept { return i * i; }
};

// A result stamped by its task just before the task returns.
struct Stamped {
  std::int64_t value;
  Clock::time_point done;
};

// Nanoseconds per spin step on an idle core: the fastest of many short runs. Short (about
// 0.3 ms each) so that on a shared machine most of them run unpreempted: with long runs every
// trial was interrupted, the step looked slower than it is, and "1 us" tasks took 0.65 us.
inline double calibrate_ns_per_step() {
  constexpr std::uint64_t steps = std::uint64_t{1} << 18;
  double best = std::numeric_limits<double>::infinity();
  for (int trial = 0; trial < 51; ++trial) {
    const auto start = Clock::now();
    consume(static_cast<std::uint64_t>(spin(trial, steps)));
    best = std::min(best, seconds_since(start) * 1e9 / static_cast<double>(steps));
  }
  return best;
}

// Spin steps for a task of `ns` nanoseconds, at least one.
inline std::uint64_t steps_for(double ns, double ns_per_step) {
  return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(ns / ns_per_step + 0.5));
}

// The median duration of one call of f, in ns, over `count` calls.
template <class F>
double measure_task_ns(F f, std::size_t count) {
  std::vector<double> ns;
  ns.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto start = Clock::now();
    consume(static_cast<std::uint64_t>(f(static_cast<std::int64_t>(i))));
    ns.push_back(seconds_since(start) * 1e9);
  }
  std::sort(ns.begin(), ns.end());
  return ns[ns.size() / 2];
}

// parmap's input: n tasks delayed(f)(i) for i in [0, n), a lazy view.
template <class F>
auto delayed_tasks(F f, std::size_t n) {
  return std::views::iota(std::int64_t{0}, static_cast<std::int64_t>(n)) |
         std::views::transform([f](std::int64_t i) { return parmap::delayed(f)(i); });
}

// --- Checksums --------------------------------------------------------------------------------

// What every run's results are checked against. In input order it weights result k by k + 1,
// so a result delivered at the wrong position changes it; in completion order it is a plain
// sum. Either way one multiply-add per result and no dependency chain but the add, so the
// check costs the ordered and the unordered contestants alike.
class Checksum {
 public:
  explicit Checksum(bool ordered) noexcept : ordered_(ordered) {}
  void add(std::int64_t result) noexcept {
    ++position_;
    sum_ += static_cast<std::uint64_t>(result) * (ordered_ ? position_ : 1);
  }
  [[nodiscard]] std::uint64_t value() const noexcept { return sum_; }

 private:
  bool ordered_;
  std::uint64_t position_ = 0;
  std::uint64_t sum_ = 0;
};

// The checksum of results already collected.
inline std::uint64_t checksum(const std::vector<std::int64_t>& results, bool ordered) {
  Checksum sum(ordered);
  for (const std::int64_t r : results) sum.add(r);
  return sum.value();
}

// The sequential loop's checksum of f over [0, n), summed as each result is computed.
template <class F>
std::uint64_t expected_checksum(F f, std::size_t n, bool ordered) {
  Checksum sum(ordered);
  for (std::size_t i = 0; i < n; ++i) sum.add(f(static_cast<std::int64_t>(i)));
  return sum.value();
}

// expected_checksum, computed once per (count, order).
template <class F>
class Expected {
 public:
  explicit Expected(F f) : f_(f) {}
  std::uint64_t operator()(std::size_t count, bool ordered) {
    auto [it, fresh] = cache_.try_emplace({count, ordered}, 0);
    if (fresh) it->second = expected_checksum(f_, count, ordered);
    return it->second;
  }

 private:
  F f_;
  std::map<std::pair<std::size_t, bool>, std::uint64_t> cache_;
};

// --- Contestants' bodies ----------------------------------------------------------------------

// Whether a parmap return mode claims input order (its checksum weights results by position).
template <class Mode>
inline constexpr bool ordered_mode = !std::same_as<Mode, parmap::return_as::generator_unordered_t>;

// A run of `count` tasks of f through one Parallel<Mode>, returning the results' checksum:
// a list is checked after the call, a generator's results are summed as they arrive.
template <class Mode, class F>
std::function<std::uint64_t(std::size_t)> parmap_run(Mode mode, parmap::Options options, F f) {
  constexpr bool ordered = ordered_mode<Mode>;
  auto parallel = std::make_shared<parmap::Parallel<Mode>>(std::move(options), mode);
  return [parallel, f](std::size_t count) -> std::uint64_t {
    if constexpr (std::same_as<Mode, parmap::return_as::list_t>) {
      return checksum((*parallel)(delayed_tasks(f, count)), ordered);
    } else {
      Checksum sum(ordered);
      for (const std::int64_t r : (*parallel)(delayed_tasks(f, count))) sum.add(r);
      return sum.value();
    }
  };
}

// --- Statistics -------------------------------------------------------------------------------

// Nearest-rank percentile, p in [0, 1]; NaN for no values.
inline double percentile(std::vector<double> values, double p) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(rank, values.size() - 1)];
}
inline double median(std::vector<double> values) { return percentile(std::move(values), 0.5); }

// The 1-minute load average, so a report shows how busy the machine was; NaN if unknown.
inline double load_average() {
  std::ifstream file("/proc/loadavg");
  double load = std::numeric_limits<double>::quiet_NaN();
  file >> load;
  return load;
}

// --- Contestants and rounds -------------------------------------------------------------------

// One way of running `count` tasks; returns the checksum of the results it produced.
struct Contestant {
  std::string name;
  bool ordered;  // claims input order: its checksum weights each result by position
  std::function<std::uint64_t(std::size_t)> run;
  std::size_t tasks = 0;           // tasks per run; 0: the section's count
  std::string compared_with = "";  // the parmap row it is measured against; empty: a parmap row
};

// parmap in `mode` with `options` as a contestant.
template <class Mode, class F>
Contestant parmap_contestant(std::string name, Mode mode, parmap::Options options, F f,
                             std::size_t tasks = 0) {
  return {std::move(name), ordered_mode<Mode>, parmap_run(mode, std::move(options), f), tasks, ""};
}

// One contestant's time per task, one figure per round.
struct Row {
  std::string name;
  std::string compared_with;
  std::size_t tasks = 0;
  std::vector<double> ns_per_task;
  [[nodiscard]] double median_ns() const { return median(ns_per_task); }
};

// Runs every contestant `runs` times on its tasks of f (`n` unless it has a count of its own),
// interleaved (round k runs each once) so that noise on a shared machine hits them alike, after
// a warm-up on a tenth of them (threads started, caches and allocator primed). Every run's
// checksum is compared with the sequential loop's; a mismatch throws std::runtime_error.
template <class F>
std::vector<Row> run_rounds(std::string_view section, F f, std::size_t n,
                            const std::vector<Contestant>& contestants, int runs) {
  Expected<F> expected(f);
  auto check = [&](const Contestant& c, std::size_t count, std::uint64_t got) {
    if (got != expected(count, c.ordered)) {
      throw std::runtime_error(std::string(section) + ": " + c.name + ": wrong " +
                               (c.ordered ? "or misordered " : "") + "results on " +
                               std::to_string(count) + " tasks");
    }
  };
  auto tasks = [n](const Contestant& c) { return c.tasks != 0 ? c.tasks : n; };
  for (const Contestant& c : contestants) {
    const std::size_t count = std::max<std::size_t>(tasks(c) / 10, 1);
    check(c, count, c.run(count));
    settle();
  }
  std::vector<Row> rows;
  for (const Contestant& c : contestants) rows.push_back({c.name, c.compared_with, tasks(c), {}});
  for (int round = 0; round < runs; ++round) {
    for (std::size_t k = 0; k < contestants.size(); ++k) {
      const std::size_t count = tasks(contestants[k]);
      const auto start = Clock::now();
      const std::uint64_t sum = contestants[k].run(count);
      const double seconds = seconds_since(start);
      check(contestants[k], count, sum);
      rows[k].ns_per_task.push_back(seconds * 1e9 / static_cast<double>(count));
      settle();
    }
  }
  return rows;
}

// --- Report text and JSON ---------------------------------------------------------------------

// One number through a printf format; "n/a" for NaN.
inline std::string fmt(const char* format, double v) {
  if (v != v) return "n/a";  // NaN
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, v);
  return buffer;
}
// Nanoseconds with the precision that matters at their size.
inline std::string ns_text(double ns) { return fmt(ns >= 100 ? "%.0f" : "%.1f", ns); }

// JSON values written by hand: a quoted, escaped string; a number or null (NaN, infinity);
// an object from (key, JSON value) pairs; an array of JSON values.
inline std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(c));
      out += buffer;
    } else {
      out += c;
    }
  }
  return out + "\"";
}
inline std::string json_number(double v) {
  if (v != v || v == std::numeric_limits<double>::infinity()) return "null";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.6g", v);
  return buffer;
}
inline std::string json_object(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out = "{";
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ", ";
    out += json_string(fields[i].first) + ": " + fields[i].second;
  }
  return out + "}";
}
inline std::string json_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += items[i];
  }
  return out + "]";
}
inline std::string json_bool(bool b) { return b ? "true" : "false"; }
// A JSON array of numbers.
inline std::string json_numbers(const std::vector<double>& values) {
  std::vector<std::string> items;
  for (const double v : values) items.push_back(json_number(v));
  return json_array(items);
}

// Writes the JSON object `doc` to `path` (--json); on failure says so on stderr, as `program`,
// and returns false.
inline bool write_json(const char* program, const std::string& path,
                       const std::vector<std::pair<std::string, std::string>>& doc) {
  std::ofstream out(path);
  out << json_object(doc) << "\n";
  if (!out) {
    std::fprintf(stderr, "%s: cannot write %s\n", program, path.c_str());
    return false;
  }
  return true;
}

// --- Targets ---------------------------------------------------------------------------------

// A goal with what this run measured.
struct Target {
  std::string what;
  double value;  // NaN: not measured
  double goal;
  bool at_least;  // met when value >= goal; otherwise when value <= goal
  std::string unit;
  std::string context = "";  // what the peers reached in the same conditions, where it helps
  [[nodiscard]] bool met() const { return at_least ? value >= goal : value <= goal; }
  // "met" or "**not met**"; a --quick run's counts are too small for a verdict, so there
  // "indicative (quick): met" or "indicative (quick): not met".
  [[nodiscard]] std::string verdict(bool quick) const {
    if (quick) return std::string("indicative (quick): ") + (met() ? "met" : "not met");
    return met() ? "met" : "**not met**";
  }
  // The goal as text: ">= 0.8x", "<= 20 us".
  [[nodiscard]] std::string goal_text() const {
    return std::string(at_least ? ">= " : "<= ") + fmt("%.3g", goal) + unit;
  }
  [[nodiscard]] std::string json() const {
    std::vector<std::pair<std::string, std::string>> fields = {{"target", json_string(what)},
                                                               {"value", json_number(value)},
                                                               {"goal", json_number(goal)},
                                                               {"at_least", json_bool(at_least)},
                                                               {"met", json_bool(met())}};
    if (!context.empty()) fields.emplace_back("context", json_string(context));
    return json_object(fields);
  }
};

}  // namespace parmap_bench
