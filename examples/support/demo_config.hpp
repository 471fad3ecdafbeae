#pragma once

// The memory demo's settings: the workload's sizes, the windows, where the figures go, what
// --quick changes, and the command line that sets them (--help prints it). Parsing is all here,
// so examples/memory_demo.cpp starts from a Config.

#include <algorithm>     // std::max
#include <chrono>        // std::chrono::milliseconds: the sampling period
#include <cstddef>       // std::size_t
#include <cstdint>       // std::int64_t: byte counts
#include <cstdio>        // std::FILE, std::fprintf: the usage text
#include <cstdlib>       // std::exit: --help and bad options end the program
#include <filesystem>    // std::filesystem: the output folder
#include <optional>      // std::optional: options not given
#include <string>        // std::string
#include <string_view>   // std::string_view: option parsing
#include <system_error>  // std::error_code: read_symlink must not throw

#include "parse_number.hpp"

namespace memory_demo {

constexpr double mb_bytes = 1e6;  // decimal megabytes, as joblib's example prints them
constexpr std::chrono::milliseconds sample_period{5};  // how often the monitor reads the RSS

// What the demo runs: joblib's sizes by default (150 tasks of 100 ms returning 16 MB, two
// workers), --quick's smaller ones, or the command line's.
struct Config {
  std::size_t tasks = 150;
  double size_mb = 16;  // result size, decimal MB: 16 MB = 10000 x 200 doubles
  int sleep_ms = 100;
  int slow_sleep_ms = 5000;
  // Delayed runs: task i is slow when (i + slow_every / 3) % slow_every == 0.
  std::size_t slow_every = 60;
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

inline void print_usage(std::FILE* to, const char* argv0) {
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

// Thrown by parse_options; parse_options_or_exit prints it with the usage and exits with 2.
struct UsageError {
  std::string message;
};
// Thrown by parse_options for --help; parse_options_or_exit prints the usage, exits with 0.
struct HelpRequested {};

[[noreturn]] inline void usage_error(const std::string& message) { throw UsageError{message}; }

// Explicit options win over --quick's sizes, whatever their order on the command line.
inline Config parse_options(int argc, char** argv) {
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
      const auto n = cli::parse_number<long long>(v);
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
      const auto x = cli::parse_number<double>(v);
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

// parse_options for main: on --help prints the usage and exits with 0; on a bad option prints
// the error and the usage on stderr and exits with 2.
inline Config parse_options_or_exit(int argc, char** argv) {
  const char* argv0 = argc > 0 ? argv[0] : "memory_demo";
  try {
    return parse_options(argc, argv);
  } catch (const HelpRequested&) {
    print_usage(stdout, argv0);
    std::exit(0);  // NOLINT(concurrency-mt-unsafe): no other thread exists yet
  } catch (const UsageError& e) {
    std::fprintf(stderr, "memory_demo: %s\n\n", e.message.c_str());
    print_usage(stderr, argv0);
    std::exit(2);  // NOLINT(concurrency-mt-unsafe): no other thread exists yet
  }
}

}  // namespace memory_demo
