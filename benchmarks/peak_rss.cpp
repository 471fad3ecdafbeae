// Peak RSS of ordered vs unordered vs list results, against the window, the task pattern and
// the consumer's speed; and, where oneTBB is found, tbb::parallel_pipeline with the same
// number of live tokens.
//
//   peak_rss                     # the default sweep, about 2 minutes on 2 cores
//   peak_rss --quick             # a smoke run of seconds
//   peak_rss --json out.json     # also write every measurement as JSON
//
// Every configuration runs in a fresh child process (this program, exec'ed again with
// --child), so each peak starts from a clean heap: peak RSS growth = the kernel's VmHWM at
// the end (reset through /proc/self/clear_refs at the start) minus the RSS at the start.
// The child also counts the results alive at once (the result type counts its instances)
// and checks the results: every task once, and in input order where the mode promises it.
//
// Results are `--size-mb` doubles; the consumer sums each one, and the slow consumer also
// sleeps `--consumer-ms` per result. Task patterns (durations are sleeps):
//   uniform     every task takes --task-ms
//   slow_head   task 0 takes --head-ms, the others --task-ms: head-of-line blocking
//   heavy_tail  Pareto(alpha = 1.5) durations with mean --task-ms (capped at 50x), seeded
// Windows: n_jobs, 2 n_jobs, 8 n_jobs and all (no window), with batch_size = 1, so the window
// is a bound in results. oneTBB rows run parallel_pipeline(max_number_of_live_tokens =
// window) in a task_arena of n_jobs threads: input (serial_in_order) -> task (parallel) ->
// sink (serial_in_order or serial_out_of_order). The sink runs on those n_jobs threads,
// where parmap's consumer has a thread of its own: with a slow consumer TBB computes with
// one thread fewer.

#include <sys/wait.h>  // waitpid, WIFEXITED: the children
#include <unistd.h>    // fork, execv, pipe, dup2, read

#include <algorithm>    // std::max, std::min, std::find
#include <atomic>       // std::atomic: the live-result counter
#include <cerrno>       // errno: EINTR around waitpid/read
#include <charconv>     // std::from_chars: option values
#include <chrono>       // std::chrono: sleeps and wall times
#include <cmath>        // std::pow: Pareto durations
#include <cstddef>      // std::size_t
#include <cstdint>      // std::int64_t, std::uint64_t
#include <cstdio>       // std::printf, std::fprintf: reports
#include <fstream>      // std::ofstream: the JSON file
#include <map>          // std::map: results by configuration, for the table
#include <optional>     // std::optional: readings and options
#include <random>       // std::mt19937_64, std::uniform_real_distribution: seeded durations
#include <ranges>       // std::views::iota, std::views::transform: the task range
#include <sstream>      // std::istringstream: parsing the child's answer
#include <string>       // std::string
#include <string_view>  // std::string_view: options
#include <thread>       // std::this_thread::sleep_for
#include <tuple>        // std::tuple: table keys
#include <utility>      // std::move, std::exchange
#include <vector>       // std::vector

#if __has_include(<malloc.h>)
#include <malloc.h>  // mallopt, M_MMAP_THRESHOLD (glibc)
#endif

#include <parmap/parmap.hpp>

#include "support/proc_memory.hpp"  // current_rss, peak_rss, reset_peak_rss

#ifdef PARMAP_HAVE_TBB
#include <oneapi/tbb/parallel_pipeline.h>  // tbb::parallel_pipeline, tbb::make_filter
#include <oneapi/tbb/task_arena.h>         // tbb::task_arena: n_jobs threads
#endif

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::microseconds;

// --- Configuration ---------------------------------------------------------------------------

struct Base {  // what every configuration shares
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

const std::vector<std::string> modes = {"ordered", "unordered", "list"
#ifdef PARMAP_HAVE_TBB
                                        ,
                                        "tbb_in_order", "tbb_out_of_order"
#endif
};
const std::vector<std::string> patterns = {"uniform", "slow_head", "heavy_tail"};
const std::vector<std::string> consumers = {"fast", "slow"};

struct Config {
  std::string mode;
  std::size_t window = 0;  // 0: all
  std::string pattern;
  std::string consumer;
};

// Task i's duration in microseconds: the same in the parent (for the header) and the child.
std::vector<std::int64_t> durations(const Base& b, const std::string& pattern) {
  std::vector<std::int64_t> us(b.tasks, static_cast<std::int64_t>(b.task_ms * 1000));
  if (pattern == "slow_head" && !us.empty()) {
    us[0] = static_cast<std::int64_t>(b.head_ms * 1000);
  } else if (pattern == "heavy_tail") {
    // Pareto(alpha, x_m): mean alpha x_m / (alpha - 1) = 3 x_m for alpha = 1.5.
    constexpr double alpha = 1.5;
    const double x_m = b.task_ms / 3;
    std::mt19937_64 rng(b.seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (auto& d : us) {
      const double ms = std::min(x_m / std::pow(1.0 - u(rng), 1.0 / alpha), 50 * b.task_ms);
      d = static_cast<std::int64_t>(ms * 1000);
    }
  }
  return us;
}

// --- The result type and the work ------------------------------------------------------------

std::atomic<long> g_live{0};
std::atomic<long> g_peak{0};

// A task's result: `n` doubles, every page written. Move-only; counts the instances that
// own storage, and the peak of that count.
class Blob {
 public:
  Blob() = default;  // empty, uncounted (oneTBB default-constructs some filter outputs)
  Blob(std::size_t n, double value) : data_(n, value), counted_(true) {
    // Relaxed: a statistic, read after every thread of the run has been joined.
    const long now = g_live.fetch_add(1, std::memory_order_relaxed) + 1;
    long seen = g_peak.load(std::memory_order_relaxed);
    while (now > seen && !g_peak.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
    }
  }
  Blob(Blob&& o) noexcept : data_(std::move(o.data_)), counted_(std::exchange(o.counted_, false)) {}
  Blob& operator=(Blob&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::move(o.data_);
      counted_ = std::exchange(o.counted_, false);
    }
    return *this;
  }
  Blob(const Blob&) = delete;
  Blob& operator=(const Blob&) = delete;
  ~Blob() { release(); }

  [[nodiscard]] const std::vector<double>& data() const noexcept { return data_; }

 private:
  void release() noexcept {
    if (std::exchange(counted_, false)) g_live.fetch_sub(1, std::memory_order_relaxed);
  }
  std::vector<double> data_;
  bool counted_ = false;
};

Blob make_result(std::size_t i, std::int64_t sleep_us, std::size_t elements) {
  std::this_thread::sleep_for(microseconds(sleep_us));
  return Blob(elements, static_cast<double>(i));
}

// The consumer: reads every element (so a result is really used), then, if slow, sleeps.
struct Consumer {
  std::int64_t sleep_us = 0;
  std::size_t count = 0;
  std::size_t out_of_order = 0;  // results whose task index is not their position
  std::size_t torn = 0;          // results whose elements are not all their index
  double index_sum = 0;

  void operator()(const Blob& b) {
    double s = 0;
    for (const double x : b.data()) s += x;
    const double index = b.data().front();
    if (s != index * static_cast<double>(b.data().size())) ++torn;
    if (static_cast<std::size_t>(index) != count) ++out_of_order;
    index_sum += index;
    ++count;
    if (sleep_us > 0) std::this_thread::sleep_for(microseconds(sleep_us));
  }
};

// Thrown for a bad command line; main prints it with the usage and exits with 2.
struct UsageError {
  std::string message;
};
// Thrown for --help; main prints the usage and exits with 0.
struct HelpRequested {};

// --- The child: one configuration ------------------------------------------------------------

struct Measurement {
  std::int64_t peak_growth = 0;
  std::int64_t baseline = 0;
  double wall = 0;
  long max_live = 0;
  bool ok = false;
  bool hwm_reset = false;
};

template <class Mode>
void run_parmap(const Base& b, const Config& c, const std::vector<std::int64_t>& us, Mode mode,
                Consumer& consume) {
  parmap::Parallel parallel(
      parmap::Options{.n_jobs = b.n_jobs,
                      .pre_dispatch = c.window == 0 ? parmap::PreDispatch(parmap::all)
                                                    : parmap::PreDispatch(c.window),
                      .batch_size = 1},
      mode);
  auto tasks =
      std::views::iota(std::size_t{0}, b.tasks) | std::views::transform([&](std::size_t i) {
        // &make_result: a bare function name makes GCC 12 warn (-Wnonnull-compare)
        // about delayed()'s null check.
        return parmap::delayed(&make_result)(i, us[i], b.elements());
      });
  if constexpr (std::same_as<Mode, parmap::return_as::list_t>) {
    const std::vector<Blob> all = parallel(tasks);
    for (const Blob& r : all) consume(r);
  } else {
    for (auto&& r : parallel(tasks)) consume(r);
  }
}

#ifdef PARMAP_HAVE_TBB
// Under ThreadSanitizer these rows report data races on `next` and on the consumer: false
// positives, since TBB orders its serial filters with atomics inside libtbb.so, which is not
// instrumented. The parmap rows are clean there.
void run_tbb(const Base& b, const Config& c, const std::vector<std::int64_t>& us, bool in_order,
             Consumer& consume) {
  const std::size_t tokens = c.window == 0 ? b.tasks : c.window;
  tbb::task_arena arena(b.n_jobs);
  arena.execute([&] {
    std::size_t next = 0;
    tbb::parallel_pipeline(
        tokens, tbb::make_filter<void, std::size_t>(tbb::filter_mode::serial_in_order,
                                                    [&](tbb::flow_control& fc) -> std::size_t {
                                                      if (next == b.tasks) {
                                                        fc.stop();
                                                        return 0;
                                                      }
                                                      return next++;
                                                    }) &
                    tbb::make_filter<std::size_t, Blob>(
                        tbb::filter_mode::parallel,
                        [&](std::size_t i) { return make_result(i, us[i], b.elements()); }) &
                    tbb::make_filter<Blob, void>(in_order ? tbb::filter_mode::serial_in_order
                                                          : tbb::filter_mode::serial_out_of_order,
                                                 [&](Blob r) { consume(r); }));
  });
}
#endif

Measurement run_child(const Base& b, const Config& c) {
  const auto us = durations(b, c.pattern);
  Consumer consume;
  consume.sleep_us = c.consumer == "slow" ? static_cast<std::int64_t>(b.consumer_ms * 1000) : 0;

  Measurement m;
  m.hwm_reset = proc_memory::reset_peak_rss();
  m.baseline = proc_memory::current_rss().value_or(0);
  g_peak.store(0);
  const auto t0 = Clock::now();
  if (c.mode == "ordered") {
    run_parmap(b, c, us, parmap::return_as::generator, consume);
  } else if (c.mode == "unordered") {
    run_parmap(b, c, us, parmap::return_as::generator_unordered, consume);
  } else if (c.mode == "list") {
    run_parmap(b, c, us, parmap::return_as::list, consume);
#ifdef PARMAP_HAVE_TBB
  } else if (c.mode == "tbb_in_order" || c.mode == "tbb_out_of_order") {
    run_tbb(b, c, us, c.mode == "tbb_in_order", consume);
#endif
  } else {
    throw UsageError{"unknown mode '" + c.mode + "'"};
  }
  m.wall = std::chrono::duration<double>(Clock::now() - t0).count();
  m.peak_growth = proc_memory::peak_rss().value_or(0) - m.baseline;
  m.max_live = g_peak.load();

  const bool ordered = c.mode == "ordered" || c.mode == "list" || c.mode == "tbb_in_order";
  const double expected = static_cast<double>(b.tasks) * static_cast<double>(b.tasks - 1) / 2;
  m.ok = consume.count == b.tasks && consume.index_sum == expected && consume.torn == 0 &&
         (!ordered || consume.out_of_order == 0) && g_live.load() == 0;
  return m;
}

// --- Options ---------------------------------------------------------------------------------

void usage(std::FILE* to) {
  std::fprintf(
      to,
      "usage: peak_rss [options]\n"
      "\n"
      "Sweeps mode (ordered, unordered, list%s) x window (n_jobs, 2 n_jobs,\n"
      "8 n_jobs, all) x task pattern (uniform, slow_head, heavy_tail) x consumer (fast, slow),\n"
      "each in a fresh child process, and prints peak RSS growth, the most results alive at\n"
      "once and wall time as a markdown table.\n"
      "\n"
      "  --tasks N          tasks per configuration (default 40)\n"
      "  --size-mb X        result size in MB (default 4)\n"
      "  --task-ms X        task duration (default 20; heavy_tail: the mean)\n"
      "  --head-ms X        slow_head's first task (default 500)\n"
      "  --consumer-ms X    the slow consumer's time per result (default 30)\n"
      "  --n-jobs N         worker threads (default 2)\n"
      "  --seed N           heavy_tail's random seed (default 42)\n"
      "  --json FILE        also write every measurement to FILE\n"
      "  --no-pin-mmap      keep glibc's dynamic mmap threshold (default: pinned at 1 MiB, so\n"
      "                     a freed result leaves the RSS at once)\n"
      "  --quick            a smoke run of seconds: 8 tasks of 2 MB, 2 ms\n"
      "  --help             this text\n",
#ifdef PARMAP_HAVE_TBB
      ", tbb_in_order, tbb_out_of_order"
#else
      "; built without oneTBB"
#endif
  );
}

[[noreturn]] void bad(const std::string& message) { throw UsageError{message}; }

template <class T>
T number(std::string_view option, std::string_view text, T min) {
  T value{};
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end || value < min) {
    bad("option " + std::string(option) + " needs a number >= " + std::to_string(min) + ", not '" +
        std::string(text) + "'");
  }
  return value;
}

struct Cli {
  Base base;
  bool child = false;
  Config config;  // the child's
  std::optional<std::string> json;
  bool quick = false;
  std::vector<std::string> passthrough;  // base options, for the children
};

Cli parse(int argc, char** argv) {
  Cli cli;
  struct {
    std::optional<std::size_t> tasks;
    std::optional<double> size_mb, task_ms, head_ms, consumer_ms;
  } given;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) bad("option " + std::string(arg) + " needs a value");
      return argv[++i];
    };
    auto pass = [&](std::string_view v) {
      cli.passthrough.emplace_back(arg);
      cli.passthrough.emplace_back(v);
    };
    if (arg == "--help" || arg == "-h") throw HelpRequested{};
    if (arg == "--quick") {
      cli.quick = true;
    } else if (arg == "--child") {
      cli.child = true;
    } else if (arg == "--no-pin-mmap") {
      cli.base.pin_mmap = false;
      cli.passthrough.emplace_back(arg);
    } else if (arg == "--tasks") {
      const auto v = value();
      given.tasks = number<std::size_t>(arg, v, 1);
      pass(v);
    } else if (arg == "--size-mb") {
      const auto v = value();
      given.size_mb = number<double>(arg, v, 0.001);
      pass(v);
    } else if (arg == "--task-ms") {
      const auto v = value();
      given.task_ms = number<double>(arg, v, 0);
      pass(v);
    } else if (arg == "--head-ms") {
      const auto v = value();
      given.head_ms = number<double>(arg, v, 0);
      pass(v);
    } else if (arg == "--consumer-ms") {
      const auto v = value();
      given.consumer_ms = number<double>(arg, v, 0);
      pass(v);
    } else if (arg == "--n-jobs") {
      const auto v = value();
      cli.base.n_jobs = number<int>(arg, v, 1);
      pass(v);
    } else if (arg == "--seed") {
      const auto v = value();
      cli.base.seed = number<std::uint64_t>(arg, v, 0);
      pass(v);
    } else if (arg == "--json") {
      cli.json = std::string(value());
    } else if (arg == "--mode") {  // child only
      cli.config.mode = std::string(value());
    } else if (arg == "--window") {
      cli.config.window = number<std::size_t>(arg, value(), 0);
    } else if (arg == "--pattern") {
      cli.config.pattern = std::string(value());
    } else if (arg == "--consumer") {
      cli.config.consumer = std::string(value());
    } else {
      bad("unknown option '" + std::string(arg) + "'");
    }
  }
  if (cli.quick) {
    cli.base.tasks = 8;
    cli.base.size_mb = 2;  // above the pinned 1 MiB threshold: each result is its own mmap
    cli.base.task_ms = 2;
    cli.base.head_ms = 40;
    cli.base.consumer_ms = 4;
    cli.passthrough.insert(cli.passthrough.begin(), "--quick");
  }
  if (given.tasks) cli.base.tasks = *given.tasks;
  if (given.size_mb) cli.base.size_mb = *given.size_mb;
  if (given.task_ms) cli.base.task_ms = *given.task_ms;
  if (given.head_ms) cli.base.head_ms = *given.head_ms;
  if (given.consumer_ms) cli.base.consumer_ms = *given.consumer_ms;
  return cli;
}

// --- The parent: the sweep -------------------------------------------------------------------

struct Row {
  Config config;
  std::optional<Measurement> m;  // absent: the child failed
};

// Runs one configuration in a fresh child and reads its one-line answer.
std::optional<Measurement> spawn(const Cli& cli, const Config& c) {
  std::vector<std::string> args = {
      "peak_rss",  "--child", "--mode",     c.mode,    "--window", std::to_string(c.window),
      "--pattern", c.pattern, "--consumer", c.consumer};
  args.insert(args.end(), cli.passthrough.begin(), cli.passthrough.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int fds[2];
  if (pipe(fds) != 0) return std::nullopt;
  const pid_t pid = fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execv("/proc/self/exe", argv.data());
    // Only async-signal-safe calls between fork and exec: write, not printf.
    static constexpr char message[] = "peak_rss: cannot exec /proc/self/exe\n";
    [[maybe_unused]] const auto ignored = write(STDERR_FILENO, message, sizeof message - 1);
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  for (;;) {
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;

  Measurement m;
  int ok = 0;
  int reset = 0;
  long long peak = 0;
  long long baseline = 0;
  if (std::sscanf(out.c_str(), "RESULT peak=%lld baseline=%lld wall=%lf live=%ld ok=%d reset=%d",
                  &peak, &baseline, &m.wall, &m.max_live, &ok, &reset) != 6) {
    return std::nullopt;
  }
  m.peak_growth = peak;
  m.baseline = baseline;
  m.ok = ok != 0;
  m.hwm_reset = reset != 0;
  return m;
}

std::string window_label(std::size_t w) { return w == 0 ? "all" : std::to_string(w); }

std::string mb(std::int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", static_cast<double>(bytes) / 1e6);
  return buf;
}

void print_table(const Cli& cli, const std::vector<std::size_t>& windows,
                 const std::vector<Row>& rows) {
  const Base& b = cli.base;
  std::map<std::tuple<std::string, std::string, std::size_t, std::string>, const Row*> at;
  for (const auto& r : rows)
    at[{r.config.pattern, r.config.consumer, r.config.window, r.config.mode}] = &r;

  std::printf(
      "\nEach cell: peak RSS growth in MB / most results alive at once / wall time in s.\n\n");
  std::printf("| pattern | consumer | window | window x result |");
  for (const auto& m : modes) std::printf(" %s |", m.c_str());
  std::printf("\n|---|---|---:|---:|");
  for (std::size_t i = 0; i < modes.size(); ++i) std::printf("---:|");
  std::printf("\n");
  for (const auto& p : patterns) {
    for (const auto& c : consumers) {
      for (const auto w : windows) {
        const std::size_t results = w == 0 ? b.tasks : std::min(w, b.tasks);
        std::printf("| %s | %s | %s | %s MB |", p.c_str(), c.c_str(), window_label(w).c_str(),
                    mb(static_cast<std::int64_t>(results) * b.result_bytes()).c_str());
        for (const auto& m : modes) {
          const auto it = at.find({p, c, w, m});
          if (it == at.end() || !it->second->m) {
            std::printf(" failed |");
            continue;
          }
          const Measurement& x = *it->second->m;
          std::printf(" %s / %ld / %.2f%s |", mb(x.peak_growth).c_str(), x.max_live, x.wall,
                      x.ok ? "" : " WRONG");
        }
        std::printf("\n");
      }
    }
  }
}

void write_json(const Cli& cli, const std::vector<Row>& rows, double total_s) {
  const Base& b = cli.base;
  std::ofstream f(*cli.json);
  f << "{\n  \"benchmark\": \"peak_rss\",\n";
  f << "  \"parameters\": {\"tasks\": " << b.tasks << ", \"result_bytes\": " << b.result_bytes()
    << ", \"task_ms\": " << b.task_ms << ", \"head_ms\": " << b.head_ms
    << ", \"consumer_ms\": " << b.consumer_ms << ", \"n_jobs\": " << b.n_jobs
    << ", \"seed\": " << b.seed
    << ", \"mmap_threshold_pinned\": " << (b.pin_mmap ? "true" : "false")
    << ", \"batch_size\": 1},\n";
  f << "  \"sweep_seconds\": " << total_s << ",\n  \"results\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    f << "    {\"mode\": \"" << r.config.mode << "\", \"window\": \""
      << window_label(r.config.window) << "\", \"pattern\": \"" << r.config.pattern
      << "\", \"consumer\": \"" << r.config.consumer << "\", ";
    if (r.m) {
      f << "\"peak_rss_growth_bytes\": " << r.m->peak_growth
        << ", \"rss_at_start_bytes\": " << r.m->baseline << ", \"peak_method\": \""
        << (r.m->hwm_reset ? "VmHWM after clear_refs" : "VmHWM of a fresh process")
        << "\", \"max_live_results\": " << r.m->max_live << ", \"wall_s\": " << r.m->wall
        << ", \"checks_passed\": " << (r.m->ok ? "true" : "false") << "}";
    } else {
      f << "\"failed\": true}";
    }
    f << (i + 1 < rows.size() ? ",\n" : "\n");
  }
  f << "  ]\n}\n";
  if (!f) std::fprintf(stderr, "peak_rss: cannot write %s\n", cli.json->c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Cli cli;
  try {
    cli = parse(argc, argv);
  } catch (const HelpRequested&) {
    usage(stdout);
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "peak_rss: %s\n\n", e.message.c_str());
    usage(stderr);
    return 2;
  }
  const Base& b = cli.base;

#if defined(M_MMAP_THRESHOLD)
  // Pinned, a freed result is unmapped at once, so RSS follows the live results (glibc's
  // dynamic threshold would keep freed 4 MB results in its heaps after the first free).
  if (b.pin_mmap) {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): no other thread exists yet.
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
  }
#endif

  if (cli.child) {
    Measurement m;
    try {
      m = run_child(b, cli.config);
    } catch (const UsageError& e) {
      std::fprintf(stderr, "peak_rss --child: %s\n", e.message.c_str());
      return 2;
    }
    std::printf("RESULT peak=%lld baseline=%lld wall=%.6f live=%ld ok=%d reset=%d\n",
                static_cast<long long>(m.peak_growth), static_cast<long long>(m.baseline), m.wall,
                m.max_live, m.ok ? 1 : 0, m.hwm_reset ? 1 : 0);
    return 0;
  }

  const auto n = static_cast<std::size_t>(b.n_jobs);
  const std::vector<std::size_t> windows = {n, 2 * n, 8 * n, 0};
  std::printf("# peak_rss: ordered vs unordered vs list%s\n\n",
#ifdef PARMAP_HAVE_TBB
              " vs tbb::parallel_pipeline"
#else
              " (built without oneTBB: no parallel_pipeline rows)"
#endif
  );
  std::printf(
      "%zu tasks returning %.1f MB each, n_jobs = %d, batch_size = 1; a fresh process per "
      "configuration;\nmmap threshold %s.\n",
      b.tasks, static_cast<double>(b.result_bytes()) / 1e6, b.n_jobs,
      b.pin_mmap ? "pinned at 1 MiB" : "glibc's dynamic default");
  for (const auto& p : patterns) {
    const auto us = durations(b, p);
    std::int64_t sum = 0;
    std::int64_t longest = 0;
    for (const auto d : us) {
      sum += d;
      longest = std::max(longest, d);
    }
    std::printf("- %s: tasks sum to %.0f ms, the longest %.0f ms\n", p.c_str(),
                static_cast<double>(sum) / 1000.0, static_cast<double>(longest) / 1000.0);
  }
  std::printf("- consumer: fast reads every element; slow also sleeps %.0f ms per result\n",
              b.consumer_ms);
  std::fflush(stdout);

  std::vector<Config> configs;
  for (const auto& p : patterns) {
    for (const auto& c : consumers) {
      for (const auto w : windows) {
        for (const auto& m : modes) configs.push_back({m, w, p, c});
      }
    }
  }

  std::vector<Row> rows;
  bool all_ok = true;
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < configs.size(); ++i) {
    const Config& c = configs[i];
    Row row{c, spawn(cli, c)};
    if (!row.m || !row.m->ok) all_ok = false;
    if (row.m) {
      std::fprintf(stderr,
                   "[%3zu/%zu] %-16s window %-3s %-10s %-4s: %5s MB, %2ld alive, %.2f s%s\n", i + 1,
                   configs.size(), c.mode.c_str(), window_label(c.window).c_str(),
                   c.pattern.c_str(), c.consumer.c_str(), mb(row.m->peak_growth).c_str(),
                   row.m->max_live, row.m->wall, row.m->ok ? "" : "  CHECKS FAILED");
    } else {
      std::fprintf(stderr, "[%3zu/%zu] %s window %s %s %s: the child failed\n", i + 1,
                   configs.size(), c.mode.c_str(), window_label(c.window).c_str(),
                   c.pattern.c_str(), c.consumer.c_str());
    }
    rows.push_back(std::move(row));
  }
  const double total = std::chrono::duration<double>(Clock::now() - t0).count();

  print_table(cli, windows, rows);
  std::printf("\nSweep: %zu configurations in %.0f s.\n", rows.size(), total);
  if (cli.json) write_json(cli, rows, total);
  if (!all_ok) {
    std::fprintf(stderr, "peak_rss: some configurations failed or gave wrong results\n");
    return 1;
  }
  return 0;
}
