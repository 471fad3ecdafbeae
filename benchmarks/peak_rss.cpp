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
//
// This file is the parent: the sweep, the children it starts and the table. The rest is in
// peak_rss/: options.cpp (the command line), child.cpp (one configuration, parmap's modes),
// tbb_pipeline.cpp (oneTBB's rows).

#include "peak_rss/peak_rss.hpp"  // Base, Config, Cli, parse, run_child, durations

#include <sys/wait.h>  // waitpid, WIFEXITED: the children
#include <unistd.h>    // fork, execv, pipe, dup2, read

#include <algorithm>  // std::max, std::min
#include <cerrno>     // errno: EINTR around waitpid/read
#include <chrono>     // std::chrono::steady_clock: the sweep's time
#include <cstddef>    // std::size_t
#include <cstdint>    // std::int64_t
#include <cstdio>     // std::printf, std::fprintf, std::sscanf: reports, the child's answer
#include <fstream>    // std::ofstream: the JSON file
#include <map>        // std::map: results by configuration, for the table
#include <optional>   // std::optional: a child's measurement
#include <string>     // std::string
#include <tuple>      // std::tuple: table keys
#include <utility>    // std::move
#include <vector>     // std::vector

#include "support/proc_memory.hpp"  // pin_mmap_threshold

namespace {

using namespace peak_rss;  // peak_rss/peak_rss.hpp: what the parent and the child share
using Clock = std::chrono::steady_clock;

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
  argv.reserve(args.size() + 1);
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

  // Pinned, a freed result is unmapped at once, so RSS follows the live results (glibc's
  // dynamic threshold would keep freed 4 MB results in its heaps after the first free).
  if (b.pin_mmap) proc_memory::pin_mmap_threshold();

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
