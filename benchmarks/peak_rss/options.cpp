// peak_rss's command line: the sweep's parameters, --quick, --json, and the options a child
// is started with (--child, --mode, --window, --pattern, --consumer).

#include <cstdint>      // std::uint64_t: --seed
#include <cstdio>       // std::FILE, std::fprintf: the usage text
#include <optional>     // std::optional: options not given
#include <string>       // std::string
#include <string_view>  // std::string_view: the arguments

#include "peak_rss.hpp"
#include "support/parse_number.hpp"  // cli::parse_number: option values

namespace peak_rss {

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

namespace {

[[noreturn]] void bad(const std::string& message) { throw UsageError{message}; }

// `text`, the value of `option`, as a T of at least `min`; throws UsageError otherwise.
template <class T>
T number(std::string_view option, std::string_view text, T min) {
  const std::optional<T> value = cli::parse_number<T>(text);
  if (!value || *value < min) {
    bad("option " + std::string(option) + " needs a number >= " + std::to_string(min) + ", not '" +
        std::string(text) + "'");
  }
  return *value;
}

}  // namespace

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

}  // namespace peak_rss
