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
//
// This file is the workload and the runs. The measuring and reporting around them (options,
// memory monitor, progress, report, figures) are in support/, starting at demo_session.hpp.

#include <algorithm>  // std::all_of
#include <atomic>     // std::atomic: the floor's task counters
#include <chrono>     // std::chrono::milliseconds: the tasks' sleeps
#include <cstddef>    // std::size_t
#include <parmap/parmap.hpp>
#include <ranges>  // std::views::iota, std::views::transform: the task range
#include <string>  // std::string: the runs' names
#include <thread>  // std::jthread, std::this_thread::sleep_for
#include <vector>  // std::vector: matrices, the sum, the floor's threads

#include "support/demo_session.hpp"  // memory_demo::Session: measures and reports each run
#include "support/live_count.hpp"    // live_count::LiveCount: results alive at once
#include "support/proc_memory.hpp"   // proc_memory::pin_mmap_threshold

namespace {

using demo_console::Console;
using memory_demo::Config;
using memory_demo::Kind;
using memory_demo::Summed;
using std::chrono::milliseconds;

// --- The workload ----------------------------------------------------------------------------

// A task's big result: `n` doubles, every one written (so every page is really resident).
// Move-only: a copy would be a hidden 16 MB. Its LiveCount lets the demo report the most
// results alive at once, the library's bound free of allocator effects.
struct Matrix {
  std::vector<double> data;
  live_count::LiveCount counted{true};

  // The task that made it: every element holds its index.
  [[nodiscard]] std::size_t task() const { return static_cast<std::size_t>(data.front()); }
};

// joblib's return_big_object: sleep, then return i * ones((10000, 200)).
Matrix return_big_object(std::size_t i, milliseconds sleep, std::size_t elements) {
  std::this_thread::sleep_for(sleep);
  return Matrix{std::vector<double>(elements, static_cast<double>(i))};
}

// joblib's return_big_object_delayed sleeps 5 s instead when (i + 20) % 60 == 0.
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

// True when every element is 0 + 1 + ... + (tasks - 1): each task was summed exactly once.
bool sum_is_correct(const std::vector<double>& sum, std::size_t tasks) {
  const double expected = static_cast<double>(tasks) * static_cast<double>(tasks - 1) / 2;
  return !sum.empty() &&
         std::all_of(sum.begin(), sum.end(), [&](double x) { return x == expected; });
}

// joblib's accumulator_sum: element-wise sum into a running matrix, allocated on the first
// result (as joblib's `result = 0; result += value` makes a new array on the first add), a
// "." per result. Also counts the results that arrive out of input order. The running matrix
// is freed on return (joblib's `del res`).
template <class Results>
Summed accumulator_sum(Results&& results, Console& console, std::size_t tasks) {
  console.begin_accumulating();  // print("Accumulate results:", end='')
  std::vector<double> sum;
  std::size_t count = 0;
  std::size_t out_of_order = 0;
  for (const Matrix& m : results) {
    if (sum.empty()) sum.assign(m.data.size(), 0.0);
    for (std::size_t k = 0; k < m.data.size(); ++k) sum[k] += m.data[k];
    if (m.task() != count) ++out_of_order;
    ++count;
    console.dot();  // print(".", end="", flush=True)
  }
  return {count == tasks && sum_is_correct(sum, tasks), out_of_order};
}

// --- The runs --------------------------------------------------------------------------------

parmap::Options options(const Config& c, std::size_t window, Console& console) {
  // batch_size = 1: the window counts batches, so one task a batch makes it a bound in
  // results. (The automatic size would stay at 1 here anyway: the tasks are slow.)
  return {.n_jobs = c.n_jobs,
          .pre_dispatch = window,
          .batch_size = 1,
          .progress = console.progress_callback()};
}

// Parallel(n_jobs=2, return_as="list"): every result is alive before the sum starts.
Summed run_list(const Config& c, bool delayed, std::size_t window, Console& console) {
  parmap::Parallel parallel(options(c, window, console), parmap::return_as::list);
  const std::vector<Matrix> res = parallel(make_tasks(c, delayed));
  return accumulator_sum(res, console, c.tasks);
  // `res` dies here, as joblib's `del res`: every result was alive until now.
}

// Parallel(n_jobs=2, return_as="generator" or "generator_unordered"): each result is summed
// where it lies, and freed when the loop steps past it.
template <class Mode>
Summed run_generator(Mode mode, const Config& c, bool delayed, std::size_t window,
                     Console& console) {
  parmap::Parallel parallel(options(c, window, console), mode);
  return accumulator_sum(parallel(make_tasks(c, delayed)), console, c.tasks);
}

// The wall-time floor of run 4: n_jobs plain threads take the next task from a shared
// counter and run it, nothing else: no window, no order, no consumer thread, and no sum
// (only each result's first element is added up, to check that every task ran once).
// The strictest floor: parmap's run also sums every result, on the consumer's thread.
Summed run_threads(const Config& c, Console& console) {
  console.begin_accumulating();
  const std::size_t n = parmap::Parallel(c.n_jobs).n_jobs();
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
          if (i >= c.tasks) break;
          const Matrix m = return_big_object(i, task_sleep(c, true, i), c.elements());
          firsts[t] += m.data.front();  // this thread's element only
          console.tasks_done(finished.fetch_add(1, std::memory_order_relaxed) + 1, false);
          console.dot();
        }
      });
    }
  }  // the jthreads join here
  console.tasks_done(c.tasks, true);
  double total = 0;
  for (const double f : firsts) total += f;
  const double expected = static_cast<double>(c.tasks) * static_cast<double>(c.tasks - 1) / 2;
  return {finished.load() == c.tasks && total == expected};
}

}  // namespace

int main(int argc, char** argv) {
  const Config c = memory_demo::parse_options_or_exit(argc, argv);
  // Before any thread exists; see pin_mmap_threshold for why the RSS needs it.
  const bool pinned = c.pin_mmap && proc_memory::pin_mmap_threshold();
  memory_demo::print_header(c, pinned);

  namespace ra = parmap::return_as;
  const std::size_t w = c.window;
  const std::size_t big = c.big_window;
  const std::string n = std::to_string(parmap::Parallel(c.n_jobs).n_jobs());
  memory_demo::Session session(c);
  std::vector<memory_demo::RunResult> runs;

  runs.push_back(session.run(  // joblib's first figure: list vs generator
      {"1", "return_as::list", "list", "Running tasks with return_as::list...", Kind::list, false,
       w},
      [&](Console& console) { return run_list(c, false, w, console); }));
  runs.push_back(session.run(
      {"2", "return_as::generator", "generator",
       "Create result generator with return_as::generator...", Kind::generator, false, w},
      [&](Console& console) { return run_generator(ra::generator, c, false, w, console); }));

  runs.push_back(session.run(  // joblib's second figure: delayed tasks
      {"3", "generator, delayed tasks", "generator, delayed",
       "Create result generator on delayed tasks with return_as::generator...", Kind::generator,
       true, w},
      [&](Console& console) { return run_generator(ra::generator, c, true, w, console); }));
  // The floor runs right before (4), which it is compared with: on a shared machine, the
  // two runs then see about the same load.
  runs.push_back(session.run(
      {"F", n + " plain std::threads, delayed tasks (floor)", "threads, delayed",
       "The floor for (4): " + n + " plain std::threads running the same delayed tasks...",
       Kind::threads, true, 0},
      [&](Console& console) { return run_threads(c, console); }));
  runs.push_back(session.run(
      {"4", "generator_unordered, delayed tasks", "unordered, delayed",
       "Create result generator on delayed tasks with return_as::generator_unordered...",
       Kind::unordered, true, w},
      [&](Console& console) {
        return run_generator(ra::generator_unordered, c, true, w, console);
      }));
  runs.push_back(session.run(  // not in joblib's example: a larger window buys speed
      {"5", "generator, delayed tasks, large window",
       "generator, delayed, window " + std::to_string(big),
       "Create result generator on delayed tasks with return_as::generator and pre_dispatch = " +
           std::to_string(big) + "...",
       Kind::generator, true, big},
      [&](Console& console) { return run_generator(ra::generator, c, true, big, console); }));

  // The summary, the targets, the checks, the figures and CSV files; 1 if a check failed.
  return memory_demo::finish(c, runs);
}
