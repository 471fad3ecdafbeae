// The memory demo: joblib's "Returning a generator in joblib.Parallel" example, in C++ with
// parmap, measured the same way (a thread sampling the process RSS) and drawn the same way
// (the running maximum of memory over time, log scale).
//
//   memory_demo                  # the full demo, about 1.5 minutes
//   memory_demo --quick          # seconds; what CI runs
//   memory_demo --help
//
// Five runs of the same workload (150 tasks; each sleeps 100 ms and returns a 10000 x 200
// matrix of doubles, 16 MB; n_jobs = 2), each consumed by a summing accumulator:
//   1. return_as::list                       every result is alive at once
//   2. return_as::generator                  at most `window` results alive
//   3. return_as::generator, delayed tasks   two tasks sleep 5 s: head-of-line blocking
//   4. return_as::generator_unordered, delayed tasks
//   5. return_as::generator, delayed tasks, a large window: memory bought back as speed
// and, run just before 4 as its wall-time floor, n_jobs plain std::threads doing the same work.
// It prints each run's peak memory growth, wall time and the bound parmap promises, a
// summary table, and writes two SVG figures and the samples as CSV into --out DIR.

#include <algorithm>     // std::max, std::all_of
#include <atomic>        // std::atomic: live-result counter, the floor's task counter
#include <charconv>      // std::from_chars: option values
#include <chrono>        // std::chrono: sleeps, wall times
#include <cstddef>       // std::size_t
#include <cstdint>       // std::int64_t: byte counts
#include <cstdio>        // std::printf, std::fprintf, std::fflush: the report
#include <filesystem>    // std::filesystem: the output folder
#include <fstream>       // std::ofstream: CSV and SVG files
#include <optional>      // std::optional: options not given, readings /proc may not give
#include <ranges>        // std::views::iota, std::views::transform: the task range
#include <string>        // std::string
#include <string_view>   // std::string_view: option parsing
#include <system_error>  // std::error_code: filesystem calls that must not throw
#include <thread>        // std::thread, std::this_thread::sleep_for
#include <utility>       // std::move, std::pair
#include <vector>        // std::vector: matrices, samples, results

#if __has_include(<malloc.h>)
#include <malloc.h>  // mallopt, M_MMAP_THRESHOLD (glibc)
#endif

#include <parmap/parmap.hpp>

#include "support/memory_monitor.hpp"
#include "support/progress_console.hpp"
#include "support/svg_plot.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr double mb_bytes = 1e6;  // decimal megabytes, as joblib's example prints them
constexpr std::size_t pinned_mmap_threshold = std::size_t{1} << 20;  // 1 MiB
constexpr milliseconds sample_period{5};

// --- Options ---------------------------------------------------------------------------------

struct Config {
  std::size_t tasks = 150;
  double size_mb = 16;  // result size, decimal MB: 16 MB = 10000 x 200 doubles
  int sleep_ms = 100;
  int slow_sleep_ms = 5000;
  std::size_t slow_every =
      60;  // delayed runs: task i is slow when (i + slow_every/3) % slow_every == 0
  int n_jobs = 2;
  std::size_t window = 0;       // runs 2-4 (and 1); 0 means parmap's default, 2 * n_jobs
  std::size_t big_window = 32;  // run 5
  std::filesystem::path out;
  bool quick = false;
  bool pin_mmap = true;

  [[nodiscard]] std::size_t elements() const {
    return std::max<std::size_t>(1, static_cast<std::size_t>(size_mb * mb_bytes / sizeof(double)));
  }
  [[nodiscard]] std::int64_t result_bytes() const {
    return static_cast<std::int64_t>(elements() * sizeof(double));
  }
  [[nodiscard]] bool is_slow(std::size_t i) const {
    return slow_every > 0 && (i + slow_every / 3) % slow_every == 0;
  }
};

void print_usage(std::FILE* to, const char* argv0) {
  std::fprintf(
      to,
      "usage: %s [options]\n"
      "\n"
      "joblib's parallel_generator example with parmap: five runs of the same tasks,\n"
      "their peak memory growth, wall time and the bound parmap promises, two SVG\n"
      "figures and the samples as CSV.\n"
      "\n"
      "  --tasks N          tasks per run (default 150)\n"
      "  --size-mb X        size of each task's result in MB (default 16: 10000 x 200 doubles)\n"
      "  --sleep-ms N       how long each task sleeps (default 100)\n"
      "  --slow-sleep-ms N  how long a delayed run's slow tasks sleep (default 5000)\n"
      "  --slow-every N     slow tasks are those with (i + N/3) %% N == 0 (default 60:\n"
      "                     joblib's (i + 20) %% 60 == 0; 0: none)\n"
      "  --n-jobs N         worker threads (default 2)\n"
      "  --window N         pre_dispatch of runs 1-4, in tasks (default 2 * n_jobs)\n"
      "  --big-window N     pre_dispatch of run 5 (default 32)\n"
      "  --out DIR          where to write the figures and CSV files\n"
      "                     (default: memory_demo_out next to this program; with\n"
      "                     --quick, memory_demo_quick, so a quick run keeps the full\n"
      "                     run's figures)\n"
      "  --no-pin-mmap      keep glibc's dynamic mmap threshold instead of pinning\n"
      "                     M_MMAP_THRESHOLD at 1 MiB (see the output's allocator note)\n"
      "  --quick            a run of seconds for CI: 12 tasks of 2 MB sleeping 10 ms, one\n"
      "                     slow task of 200 ms; checks its own results, exits 1 on failure\n"
      "  --help             this text\n",
      argv0);
}

// Thrown by the option parser; main prints the message and the usage, and exits with 2.
struct UsageError {
  std::string message;
};
// Thrown by the option parser for --help; main prints the usage and exits with 0.
struct HelpRequested {};

[[noreturn]] void usage_error(const std::string& message) { throw UsageError{message}; }

template <class T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

// Explicit options win over --quick's sizes, whatever their order on the command line.
Config parse_options(int argc, char** argv) {
  struct Given {
    std::optional<std::size_t> tasks, slow_every, window, big_window;
    std::optional<double> size_mb;
    std::optional<int> sleep_ms, slow_sleep_ms, n_jobs;
    std::optional<std::string> out;
    bool quick = false;
    bool no_pin = false;
  } given;

  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::optional<std::string_view> inline_value;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      inline_value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    auto value = [&]() -> std::string_view {
      if (inline_value) return *inline_value;
      if (i + 1 >= argc) usage_error("option " + std::string(arg) + " needs a value");
      return argv[++i];
    };
    auto flag = [&] {
      if (inline_value) usage_error("option " + std::string(arg) + " takes no value");
    };
    auto count = [&](long long min) -> long long {
      const std::string_view v = value();
      const auto n = parse_number<long long>(v);
      if (!n || *n < min) {
        usage_error("option " + std::string(arg) + " needs an integer >= " + std::to_string(min) +
                    ", not '" + std::string(v) + "'");
      }
      return *n;
    };

    if (arg == "--help" || arg == "-h") throw HelpRequested{};
    if (arg == "--quick") {
      flag();
      given.quick = true;
    } else if (arg == "--no-pin-mmap") {
      flag();
      given.no_pin = true;
    } else if (arg == "--tasks") {
      given.tasks = static_cast<std::size_t>(count(1));
    } else if (arg == "--size-mb") {
      const std::string_view v = value();
      const auto x = parse_number<double>(v);
      if (!x || !(*x > 0) || *x > 4096) {
        usage_error("option --size-mb needs a size in MB in (0, 4096], not '" + std::string(v) +
                    "'");
      }
      given.size_mb = *x;
    } else if (arg == "--sleep-ms") {
      given.sleep_ms = static_cast<int>(count(0));
    } else if (arg == "--slow-sleep-ms") {
      given.slow_sleep_ms = static_cast<int>(count(0));
    } else if (arg == "--slow-every") {
      given.slow_every = static_cast<std::size_t>(count(0));
    } else if (arg == "--n-jobs") {
      given.n_jobs = static_cast<int>(count(1));
    } else if (arg == "--window") {
      given.window = static_cast<std::size_t>(count(1));
    } else if (arg == "--big-window") {
      given.big_window = static_cast<std::size_t>(count(1));
    } else if (arg == "--out") {
      const std::string_view v = value();
      if (v.empty()) usage_error("option --out needs a folder");
      given.out = std::string(v);
    } else {
      usage_error("unknown option '" + std::string(argv[i]) + "'");
    }
  }

  Config c;
  if (given.quick) {
    c.quick = true;
    c.tasks = 12;
    c.size_mb = 2;
    c.sleep_ms = 10;
    c.slow_sleep_ms = 200;
    c.slow_every = 12;  // one slow task: i = 8
  }
  if (given.tasks) c.tasks = *given.tasks;
  if (given.size_mb) c.size_mb = *given.size_mb;
  if (given.sleep_ms) c.sleep_ms = *given.sleep_ms;
  if (given.slow_sleep_ms) c.slow_sleep_ms = *given.slow_sleep_ms;
  if (given.slow_every) c.slow_every = *given.slow_every;
  if (given.n_jobs) c.n_jobs = *given.n_jobs;
  c.window = given.window.value_or(2 * static_cast<std::size_t>(c.n_jobs));
  if (given.big_window) c.big_window = *given.big_window;
  c.pin_mmap = !given.no_pin;
  if (given.out) {
    c.out = *given.out;
  } else {
    // Next to the program: inside the build tree when built by CMake.
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    // A quick run has a folder of its own: it must not overwrite the full run's figures.
    c.out = (ec ? std::filesystem::current_path() : exe.parent_path()) /
            (c.quick ? "memory_demo_quick" : "memory_demo_out");
  }
  return c;
}

// --- The workload ----------------------------------------------------------------------------

// How many Matrix objects own storage now, and the most at once since reset_peak().
std::atomic<long> live_results{0};
std::atomic<long> peak_live_results{0};

// A task's big result: `n` doubles, every one written (so every page is really resident).
// Counts the instances that own storage, so the demo can report the largest number of
// results alive at once: the library's bound, free of allocator effects.
class Matrix {
 public:
  Matrix(std::size_t n, double value) : data_(n, value) { count_in(); }
  Matrix(Matrix&& other) noexcept
      : data_(std::move(other.data_)), counted_(std::exchange(other.counted_, false)) {}
  Matrix& operator=(Matrix&& other) noexcept {
    if (this != &other) {
      count_out();
      data_ = std::move(other.data_);
      counted_ = std::exchange(other.counted_, false);
    }
    return *this;
  }
  Matrix(const Matrix&) = delete;  // a copy would be a hidden 16 MB
  Matrix& operator=(const Matrix&) = delete;
  ~Matrix() { count_out(); }

  [[nodiscard]] const std::vector<double>& data() const noexcept { return data_; }
  // The task that made it: every element holds its index.
  [[nodiscard]] std::size_t task() const noexcept {
    return static_cast<std::size_t>(data_.front());
  }

  static void reset_peak() noexcept { peak_live_results.store(live_results.load()); }
  static long peak() noexcept { return peak_live_results.load(); }

 private:
  void count_in() noexcept {
    counted_ = true;
    // Relaxed: a statistic read after the run's threads are joined (the range's end).
    const long now = live_results.fetch_add(1, std::memory_order_relaxed) + 1;
    long seen = peak_live_results.load(std::memory_order_relaxed);
    while (now > seen &&
           !peak_live_results.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
    }
  }
  void count_out() noexcept {
    if (std::exchange(counted_, false)) live_results.fetch_sub(1, std::memory_order_relaxed);
  }

  std::vector<double> data_;
  bool counted_ = false;
};

// joblib's return_big_object: sleep, then return i * ones((10000, 200)).
Matrix return_big_object(std::size_t i, milliseconds sleep, std::size_t elements) {
  std::this_thread::sleep_for(sleep);
  return Matrix(elements, static_cast<double>(i));
}

milliseconds task_sleep(const Config& c, bool delayed, std::size_t i) {
  return milliseconds(delayed && c.is_slow(i) ? c.slow_sleep_ms : c.sleep_ms);
}

// The task range: delayed(return_big_object)(i, ...) for i in range(tasks). A sized range,
// so the progress callback knows the total.
auto make_tasks(const Config& c, bool delayed) {
  return std::views::iota(std::size_t{0}, c.tasks) |
         std::views::transform([&c, delayed](std::size_t i) {
           return parmap::delayed(return_big_object)(i, task_sleep(c, delayed, i), c.elements());
         });
}

// --- Console: dots, progress bar or lines ----------------------------------------------------
// (demo_console::Console, in support/progress_console.hpp.)

using demo_console::Console;

// True when every element is 0 + 1 + ... + (tasks - 1): each task was summed exactly once.
bool sum_is_correct(const std::vector<double>& sum, std::size_t tasks) {
  const double expected = static_cast<double>(tasks) * static_cast<double>(tasks - 1) / 2;
  return !sum.empty() &&
         std::all_of(sum.begin(), sum.end(), [&](double x) { return x == expected; });
}

// joblib's accumulator_sum: element-wise sum into a running matrix, allocated on the first
// result (as joblib's `result = 0; result += value` makes a new array on the first add).
// Also notes the order results arrive in.
class Accumulator {
 public:
  explicit Accumulator(Console& console) : console_(console) {}

  void add(const Matrix& m) {
    const auto& v = m.data();
    if (sum_.empty()) sum_.assign(v.size(), 0.0);
    for (std::size_t k = 0; k < v.size(); ++k) sum_[k] += v[k];
    if (m.task() != count_) ++out_of_order_;
    ++count_;
    console_.dot();
  }

  // Checks the sum, then frees the running matrix (joblib's `del res`).
  bool check_and_release(std::size_t tasks) {
    const bool ok = count_ == tasks && sum_is_correct(sum_, tasks);
    std::vector<double>().swap(sum_);
    return ok;
  }

  [[nodiscard]] std::size_t out_of_order() const noexcept { return out_of_order_; }

 private:
  Console& console_;
  std::vector<double> sum_;
  std::size_t count_ = 0;
  std::size_t out_of_order_ = 0;  // results whose task index is not their position
};

// --- Runs ------------------------------------------------------------------------------------

enum class Kind { list, generator, unordered, threads };

struct RunSpec {
  std::string id;     // "1".."5", "F"
  std::string name;   // for the table and the legends
  std::string tag;    // for progress lines
  std::string intro;  // joblib's "Running tasks with ..." line
  Kind kind = Kind::list;
  bool delayed = false;
  std::size_t window = 0;  // pre_dispatch; 0 for the plain threads
};

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

std::string format_bytes(std::int64_t bytes) {
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

class Demo {
 public:
  explicit Demo(Config config) : c_(std::move(config)), monitor_(sample_period) {
    console_.set_memory_probe(
        [this] { return static_cast<double>(monitor_.current_growth()) / mb_bytes; });
  }
  Demo(const Demo&) = delete;  // the monitor and the console callback hold `this`
  Demo& operator=(const Demo&) = delete;

  RunResult run(const RunSpec& spec) {
    std::printf("\n(%s) %s\n", spec.id.c_str(), spec.intro.c_str());
    std::fflush(stdout);
    console_.begin_run(spec.tag, c_.tasks);
    Matrix::reset_peak();
    RunResult r;
    r.spec = spec;

    monitor_.begin_run();
    const auto t0 = Clock::now();
    if (spec.kind == Kind::threads) {
      r.sum_ok = run_threads(spec);
    } else {
      Accumulator acc(console_);
      switch (spec.kind) {
        case Kind::list:
          run_list(spec, acc);
          break;
        case Kind::generator:
          run_generator(spec, parmap::return_as::generator, acc);
          break;
        default:
          run_generator(spec, parmap::return_as::generator_unordered, acc);
          break;
      }
      r.sum_ok = acc.check_and_release(c_.tasks);
      r.out_of_order = acc.out_of_order();
    }
    r.wall = std::chrono::duration<double>(Clock::now() - t0).count();
    r.trace = monitor_.end_run();
    console_.end_run();

    r.max_live = Matrix::peak();
    if (r.windowed()) r.bound = static_cast<std::int64_t>(spec.window + 2) * c_.result_bytes();
    report(r);
    return r;
  }

 private:
  parmap::Options options(const RunSpec& spec) {
    // batch_size = 1: the window counts batches, so one task a batch makes it a bound in
    // results. (The automatic size would stay at 1 here anyway: the tasks are slow.)
    return parmap::Options{.n_jobs = c_.n_jobs,
                           .pre_dispatch = spec.window,
                           .batch_size = 1,
                           .progress = console_.progress_callback()};
  }

  void run_list(const RunSpec& spec, Accumulator& acc) {
    parmap::Parallel parallel(options(spec), parmap::return_as::list);
    const std::vector<Matrix> res = parallel(make_tasks(c_, spec.delayed));
    console_.begin_accumulating();
    for (const Matrix& m : res) acc.add(m);
    // `res` dies here, as joblib's `del res`: every result was alive until now.
  }

  template <class Mode>
  void run_generator(const RunSpec& spec, Mode mode, Accumulator& acc) {
    parmap::Parallel parallel(options(spec), mode);
    auto res = parallel(make_tasks(c_, spec.delayed));
    console_.begin_accumulating();
    // Each result is summed where it lies, and freed when the loop steps past it.
    for (auto&& m : res) acc.add(m);
  }

  // The wall-time floor of run 4: n_jobs plain threads take the next task from a shared
  // counter and run it, nothing else: no window, no order, no consumer thread, and no sum
  // (only each result's first element is added up, to check that every task ran once).
  // The strictest floor: parmap's run also sums every result, on the consumer's thread.
  bool run_threads(const RunSpec& spec) {
    console_.begin_accumulating();
    const std::size_t n = parmap::Parallel(c_.n_jobs).n_jobs();
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> finished{0};
    std::vector<double> firsts(n, 0.0);
    {
      std::vector<std::jthread> threads;
      for (std::size_t t = 0; t < n; ++t) {
        threads.emplace_back([&, t] {
          for (;;) {
            // Relaxed: the counters only hand out indices and count; the joins publish firsts.
            const std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
            if (i >= c_.tasks) break;
            const Matrix m = return_big_object(i, task_sleep(c_, spec.delayed, i), c_.elements());
            firsts[t] += m.data().front();  // this thread's element only
            console_.tasks_done(finished.fetch_add(1, std::memory_order_relaxed) + 1, false);
            console_.dot();
          }
        });
      }
    }  // the jthreads join here
    console_.tasks_done(c_.tasks, true);
    double total = 0;
    for (const double f : firsts) total += f;
    return finished.load() == c_.tasks &&
           total == static_cast<double>(c_.tasks) * static_cast<double>(c_.tasks - 1) / 2;
  }

  void report(const RunResult& r) {
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
      std::printf(
          "Bound: none; the list holds all %zu results (%s) before the accumulator starts\n",
          c_.tasks, format_bytes(static_cast<std::int64_t>(c_.tasks) * c_.result_bytes()).c_str());
    } else if (r.bound) {
      // The promise counts results (window x size); the RSS target adds the accumulator's
      // running matrix and one result of headroom (see the header's "Bound" paragraph).
      std::printf(
          "Bound parmap promises: window %zu x %s = %s of results alive; RSS target (window + 2) "
          "x %s = %s -> %s\n",
          r.spec.window, format_bytes(c_.result_bytes()).c_str(),
          format_bytes(static_cast<std::int64_t>(r.spec.window) * c_.result_bytes()).c_str(),
          format_bytes(c_.result_bytes()).c_str(), format_bytes(*r.bound).c_str(),
          !r.trace.available     ? "not measured"
          : r.peak() <= *r.bound ? "within"
                                 : "EXCEEDED");
    }
    std::printf("Results alive at once, at most: %ld", r.max_live);
    if (r.windowed()) std::printf(" (window %zu)", r.spec.window);
    if (r.spec.kind == Kind::unordered) {
      std::printf("; %zu of %zu yielded out of input order", r.out_of_order, c_.tasks);
    }
    std::printf("\nWall time: %.2f s\n", r.wall);
    std::fflush(stdout);
  }

  const Config c_;
  Console console_;
  demo_memory::MemoryMonitor monitor_;  // after console_: its thread may be probed by it
};

// --- Figures and CSV -------------------------------------------------------------------------

// A run's running maximum of memory growth as a step curve: (t, max so far), with a point
// only where the maximum changes (and one at the end).
std::vector<std::pair<double, double>> running_max(const demo_memory::Trace& trace) {
  std::vector<std::pair<double, double>> out;
  double best = 0;
  for (const auto& s : trace.samples) {
    const double y = static_cast<double>(std::max<std::int64_t>(s.growth, 0));
    if (out.empty()) {
      out.emplace_back(s.seconds, y);
      best = y;
    } else if (y > best) {
      out.emplace_back(s.seconds, best);
      out.emplace_back(s.seconds, y);
      best = y;
    }
  }
  if (!trace.samples.empty()) out.emplace_back(trace.samples.back().seconds, best);
  return out;
}

constexpr const char* blue = "#1f77b4";  // matplotlib's first two colours, as joblib's figures
constexpr const char* orange = "#ff7f0e";
constexpr const char* green = "#2ca02c";
constexpr const char* grey = "#666666";

std::string workload_line(const Config& c, bool delayed) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%zu tasks of %d ms returning %s each%s, n_jobs = %d; %s", c.tasks,
                c.sleep_ms, format_bytes(c.result_bytes()).c_str(),
                delayed ? (" (slow ones: " + std::to_string(c.slow_sleep_ms) + " ms)").c_str() : "",
                c.n_jobs,
                c.pin_mmap ? "mmap threshold pinned at 1 MiB" : "glibc's dynamic mmap threshold");
  return buf;
}

std::string bound_label(std::size_t window, std::int64_t result_bytes) {
  return "RSS target for window " + std::to_string(window) + ": (" + std::to_string(window) +
         " + 2) x " + format_bytes(result_bytes) + " = " +
         format_bytes(static_cast<std::int64_t>(window + 2) * result_bytes);
}

bool write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  return static_cast<bool>(f);
}

// Writes the two figures and the two CSV files; returns their paths (empty on a failure).
std::vector<std::filesystem::path> write_outputs(const Config& c,
                                                 const std::vector<RunResult>& runs) {
  std::error_code ec;
  std::filesystem::create_directories(c.out, ec);
  if (ec) {
    std::fprintf(stderr, "memory_demo: cannot create %s: %s\n", c.out.string().c_str(),
                 ec.message().c_str());
    return {};
  }
  auto find = [&](const std::string& id) -> const RunResult& {
    for (const auto& r : runs) {
      if (r.spec.id == id) return r;
    }
    return runs.front();
  };
  const std::string y_label = "memory usage (RSS growth, running max)";

  demo_plot::Figure fig1;
  fig1.title = "return_as::list vs return_as::generator";
  fig1.subtitle = workload_line(c, false);
  fig1.y_label = y_label;
  fig1.series.push_back({"return_as::list", blue, running_max(find("1").trace), false});
  fig1.series.push_back({"return_as::generator (window " + std::to_string(c.window) + ")", orange,
                         running_max(find("2").trace), false});
  fig1.hlines.push_back(
      {static_cast<double>(*find("2").bound), bound_label(c.window, c.result_bytes()), grey});

  demo_plot::Figure fig2;
  fig2.title = "Delayed tasks: generator vs generator_unordered";
  fig2.subtitle = workload_line(c, true);
  fig2.y_label = y_label;
  fig2.series.push_back({"return_as::generator (window " + std::to_string(c.window) + ")", blue,
                         running_max(find("3").trace), false});
  fig2.series.push_back({"return_as::generator_unordered (window " + std::to_string(c.window) + ")",
                         orange, running_max(find("4").trace), false});
  fig2.series.push_back({"return_as::generator (window " + std::to_string(c.big_window) + ")",
                         green, running_max(find("5").trace), true});
  fig2.hlines.push_back(
      {static_cast<double>(*find("3").bound), bound_label(c.window, c.result_bytes()), grey});
  fig2.hlines.push_back(
      {static_cast<double>(*find("5").bound), bound_label(c.big_window, c.result_bytes()), green});

  std::string samples = "run,name,time_s,rss_growth_bytes,running_max_bytes\n";
  for (const auto& r : runs) {
    std::int64_t best = 0;
    for (const auto& s : r.trace.samples) {
      best = std::max(best, s.growth);
      char line[160];
      std::snprintf(line, sizeof line, ",%.4f,%lld,%lld\n", s.seconds,
                    static_cast<long long>(s.growth), static_cast<long long>(best));
      samples += r.spec.id + ",\"" + r.spec.name + "\"" + line;
    }
  }
  std::string summary =
      "run,name,window,peak_rss_growth_bytes,vmhwm_growth_bytes,rss_target_bytes,max_live_results,"
      "out_of_order,wall_s,sum_ok,rss_at_start_bytes\n";
  for (const auto& r : runs) {
    char line[256];
    std::snprintf(line, sizeof line, ",%zu,%lld,%s,%s,%ld,%zu,%.3f,%s,%lld\n", r.spec.window,
                  static_cast<long long>(r.trace.peak_sampled),
                  r.trace.peak_hwm ? std::to_string(*r.trace.peak_hwm).c_str() : "",
                  r.bound ? std::to_string(*r.bound).c_str() : "", r.max_live, r.out_of_order,
                  r.wall, r.sum_ok ? "true" : "false", static_cast<long long>(r.trace.baseline));
    summary += r.spec.id + ",\"" + r.spec.name + "\"" + line;
  }

  const std::vector<std::pair<std::filesystem::path, std::string>> files = {
      {c.out / "memory_list_vs_generator.svg", demo_plot::render_svg(fig1)},
      {c.out / "memory_delayed_generator_vs_unordered.svg", demo_plot::render_svg(fig2)},
      {c.out / "memory_samples.csv", samples},
      {c.out / "memory_summary.csv", summary},
  };
  std::vector<std::filesystem::path> written;
  for (const auto& [path, text] : files) {
    if (!write_file(path, text)) {
      std::fprintf(stderr, "memory_demo: cannot write %s\n", path.string().c_str());
      return {};
    }
    written.push_back(path);
  }
  return written;
}

// --- The report ------------------------------------------------------------------------------

void print_header(const Config& c, bool pinned) {
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

void print_summary(const Config& c, const std::vector<RunResult>& runs) {
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

// Prints the two targets; returns nothing: they are measurements, not invariants.
void print_targets(const std::vector<RunResult>& runs) {
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

}  // namespace

int main(int argc, char** argv) {
  const char* argv0 = argc > 0 ? argv[0] : "memory_demo";
  Config config;
  try {
    config = parse_options(argc, argv);
  } catch (const HelpRequested&) {
    print_usage(stdout, argv0);
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "memory_demo: %s\n\n", e.message.c_str());
    print_usage(stderr, argv0);
    return 2;
  }

  // Before any thread exists: mallopt is not meant to race with allocations.
  bool pinned = false;
#if defined(M_MMAP_THRESHOLD)
  // Pinning also switches glibc's dynamic threshold off. Without it, the first freed 16 MB
  // result raises the threshold above 16 MB and later results come from the heap, where
  // freed ones can stay resident: RSS would show the allocator's habits, not the live results.
  if (config.pin_mmap) {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): no other thread exists yet.
    pinned = mallopt(M_MMAP_THRESHOLD, static_cast<int>(pinned_mmap_threshold)) == 1;
  }
#endif
  print_header(config, pinned);

  const std::size_t w = config.window;
  const std::size_t big = config.big_window;
  const std::string n = std::to_string(parmap::Parallel(config.n_jobs).n_jobs());
  const std::vector<RunSpec> specs = {
      {"1", "return_as::list", "list", "Running tasks with return_as::list...", Kind::list, false,
       w},
      {"2", "return_as::generator", "generator",
       "Create result generator with return_as::generator...", Kind::generator, false, w},
      {"3", "generator, delayed tasks", "generator, delayed",
       "Create result generator on delayed tasks with return_as::generator...", Kind::generator,
       true, w},
      // The floor runs right before (4), which it is compared with: on a shared machine, the
      // two runs then see about the same load.
      {"F", n + " plain std::threads, delayed tasks (floor)", "threads, delayed",
       "The floor for (4): " + n + " plain std::threads running the same delayed tasks...",
       Kind::threads, true, 0},
      {"4", "generator_unordered, delayed tasks", "unordered, delayed",
       "Create result generator on delayed tasks with return_as::generator_unordered...",
       Kind::unordered, true, w},
      {"5", "generator, delayed tasks, large window",
       "generator, delayed, window " + std::to_string(big),
       "Create result generator on delayed tasks with return_as::generator and pre_dispatch = " +
           std::to_string(big) + "...",
       Kind::generator, true, big},
  };

  std::vector<RunResult> runs;
  {
    Demo demo(config);
    for (const auto& spec : specs) runs.push_back(demo.run(spec));
  }

  print_summary(config, runs);
  print_targets(runs);

  // Invariants: failing one is a bug (in parmap or here), whatever the machine.
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
