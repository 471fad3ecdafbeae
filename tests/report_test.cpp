// What a run tells about itself: Parallel::last_report() after a full run, an early exit and a
// failure (its counts must agree with what the test saw happen); joblib's early-exit line,
// printed only with verbose; the verbose progress lines; and the progress callback.

#include "support/catch.hpp"
#include "support/stress_support.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <atomic>     // std::atomic: task counters
#include <chrono>     // std::chrono: elapsed times, limits
#include <cstddef>    // std::size_t
#include <mutex>      // std::mutex: the callback's log
#include <optional>   // std::optional: Progress::total
#include <ranges>     // std::views::iota, transform, filter, take
#include <regex>      // std::regex: the verbose lines' format
#include <sstream>    // std::istringstream: splitting captured lines
#include <stdexcept>  // std::runtime_error: a failing task
#include <string>     // std::string
#include <thread>     // std::this_thread::get_id
#include <vector>     // std::vector

using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<std::string> lines_containing(const std::string& text, const std::string& part) {
  std::vector<std::string> out;
  for (const auto& line : lines_of(text)) {
    if (line.find(part) != std::string::npos) out.push_back(line);
  }
  return out;
}

// Counts what tasks did, to compare with the report.
struct TaskLog {
  std::atomic<int> read{0};     // tasks built by the input (read by the run)
  std::atomic<int> started{0};  // tasks that began
};

// n tasks returning k; reading each one is counted in log.read, starting it in log.started.
auto counted_tasks(int n, TaskLog& log) {
  // Read in batches: an input read in place would be read only as each task starts.
  return std::views::iota(0, n) | parmap_test::read_in_batches |
         std::views::transform([&log](int i) {
           ++log.read;
           return parmap::delayed([&log](int k) {
             ++log.started;
             return k;
           })(i);
         });
}

void check_consistent(const parmap::RunReport& r) {
  CHECK(r.completed >= r.consumed);
  CHECK(r.unused == r.completed - r.consumed);
  CHECK_FALSE((r.finished && r.failed));
}

}  // namespace

TEST_CASE("last_report is empty before the first call", "[report]") {
  const parmap::Parallel parallel(2);
  const parmap::RunReport r = parallel.last_report();
  CHECK(r.completed == 0);
  CHECK(r.consumed == 0);
  CHECK(r.unused == 0);
  CHECK(r.cancelled == 0);
  CHECK_FALSE(r.finished);
  CHECK_FALSE(r.failed);
}

TEST_CASE("after a full run the report says finished, with every result consumed", "[report]") {
  parmap_test::Watchdog watchdog("report: full run", 60s);
  constexpr int n = 57;
  const int n_jobs = GENERATE(1, 2, 4);
  CAPTURE(n_jobs);
  TaskLog log;
  auto tasks = counted_tasks(n, log);
  const auto check = [&](const parmap::RunReport& r) {
    check_consistent(r);
    CHECK(r.completed == n);
    CHECK(r.consumed == n);
    CHECK(r.unused == 0);
    CHECK(r.cancelled == 0);
    CHECK(r.finished);
    CHECK_FALSE(r.failed);
  };
  SECTION("list") {
    parmap::Parallel parallel({.n_jobs = n_jobs, .batch_size = 3});
    CHECK(parallel(tasks).size() == n);
    check(parallel.last_report());
  }
  SECTION("generator") {
    parmap::Parallel parallel({.n_jobs = n_jobs}, parmap::return_as::generator);
    int got = 0;
    for (const int v : parallel(tasks)) got += v >= 0 ? 1 : 0;
    CHECK(got == n);
    check(parallel.last_report());
  }
  SECTION("generator_unordered, indexed") {
    parmap::Parallel parallel({.n_jobs = n_jobs}, parmap::return_as::generator_unordered);
    int got = 0;
    for (const auto& item : parallel(tasks).indexed()) got += item.value == static_cast<int>(item.index);
    CHECK(got == n);
    check(parallel.last_report());
  }
}

TEST_CASE("after a break the report counts exactly the results the loop took", "[report]") {
  parmap_test::Watchdog watchdog("report: break", 60s);
  constexpr int n = 200;
  const int n_jobs = GENERATE(1, 2, 3);
  const int took = GENERATE(0, 1, 5, 17);
  const int batch = GENERATE(1, 4);
  CAPTURE(n_jobs, took, batch);
  TaskLog log;
  auto tasks = counted_tasks(n, log);
  const auto check = [&](const parmap::RunReport& r) {
    check_consistent(r);
    CHECK(r.consumed == static_cast<std::size_t>(took));
    // All tasks return normally: what started completed, what was read and not started was
    // cancelled.
    CHECK(r.completed == static_cast<std::size_t>(log.started.load()));
    CHECK(r.cancelled == static_cast<std::size_t>(log.read.load() - log.started.load()));
    CHECK_FALSE(r.finished);
    CHECK_FALSE(r.failed);
  };
  SECTION("break in a range-for, input order") {
    parmap::Parallel parallel({.n_jobs = n_jobs, .pre_dispatch = 3, .batch_size = batch},
                              parmap::return_as::generator);
    int loop_bodies = 0;
    for (const int v : parallel(tasks)) {
      if (loop_bodies == took) break;  // this result was taken too, and dropped
      CHECK(v == loop_bodies);
      ++loop_bodies;
    }
    // The body that breaks dereferenced one more result: it counts as consumed.
    const parmap::RunReport r = parallel.last_report();
    check_consistent(r);
    CHECK(r.consumed == static_cast<std::size_t>(took) + 1);
    CHECK(r.completed == static_cast<std::size_t>(log.started.load()));
    CHECK(r.cancelled == static_cast<std::size_t>(log.read.load() - log.started.load()));
    CHECK_FALSE(r.finished);
    CHECK_FALSE(r.failed);
  }
  SECTION("views::take, completion order") {
    parmap::Parallel parallel({.n_jobs = n_jobs, .pre_dispatch = 3, .batch_size = batch},
                              parmap::return_as::generator_unordered);
    int loop_bodies = 0;
    for (const int v : parallel(tasks) | std::views::take(took)) loop_bodies += v >= 0 ? 1 : 0;
    CHECK(loop_bodies == took);
    check(parallel.last_report());
  }
  SECTION("explicit iterator, stepping past each result taken") {
    parmap::Parallel parallel({.n_jobs = n_jobs, .pre_dispatch = 3, .batch_size = batch},
                              parmap::return_as::generator);
    {
      auto range = parallel(tasks);
      auto it = range.begin();
      for (int i = 0; i < took && it != range.end(); ++i, ++it) CHECK(*it == i);
    }
    check(parallel.last_report());
  }
}

TEST_CASE("an early exit reports unused results and cancelled tasks, and prints joblib's note "
          "only with verbose",
          "[report]") {
  // Batches of 3 tasks, a window of 2 batches, 2 workers. Batch 0 (tasks 0-2) is quick; tasks
  // 3 and 4 (batch 1) run until they are told to stop, one on each worker. The consumer takes
  // result 0, waits until both are running, and breaks: batch 0's two other results were
  // never used, tasks 3 and 4 return when asked (unused too), task 5 is cancelled, batch 2
  // was never read (the window is full while the consumer holds batch 0). The quick tasks
  // take 2 ms, more than the consumer's helping limit, so that only the workers run tasks
  // and the blockers cannot land on the consumer's thread.
  const int verbose = GENERATE(0, 1);
  CAPTURE(verbose);
  parmap_test::Watchdog watchdog("report: early exit", 60s);
  parmap_test::Counter blockers_running;
  std::atomic<int> saw_stop{0};
  TaskLog log;
  auto tasks = std::views::iota(0, 30) | parmap_test::read_in_batches |
               std::views::transform([&](int i) {
                 ++log.read;
                 return parmap::delayed([&](int k) {
                   ++log.started;
                   if (k == 3 || k == 4) {
                     blockers_running.add();
                     if (parmap_test::wait_for_stop(parmap::this_task::get_stop_token())) ++saw_stop;
                   } else {
                     std::this_thread::sleep_for(parmap_test::beyond_helping_limit);
                   }
                   return k;
                 })(i);
               });
  parmap::Parallel parallel({.n_jobs = 2, .pre_dispatch = 2, .batch_size = 3, .verbose = verbose},
                            parmap::return_as::generator);
  std::string printed;
  {
    parmap_test::StderrCapture capture;
    for (const int v : parallel(tasks)) {
      CHECK(v == 0);
      REQUIRE(blockers_running.wait_for_at_least(2));
      break;
    }
    printed = capture.text();
  }
  CHECK(saw_stop == 2);
  CHECK(log.read == 6);
  CHECK(log.started == 5);
  const parmap::RunReport r = parallel.last_report();
  check_consistent(r);
  CHECK(r.consumed == 1);
  CHECK(r.completed == 5);
  CHECK(r.unused == 4);
  CHECK(r.cancelled == 1);
  CHECK_FALSE(r.finished);
  CHECK_FALSE(r.failed);

  const auto notes = lines_containing(printed, "Stopped early");
  if (verbose == 0) {
    CHECK(printed.empty());
  } else {
    REQUIRE(notes.size() == 1);
    CHECK(notes[0] ==
          "[Parallel(n_jobs=2)]: Stopped early: 4 finished results were never used, 1 tasks "
          "were cancelled");
  }
}

TEST_CASE("after a failure the report says failed and no early-exit note is printed",
          "[report]") {
  parmap_test::Watchdog watchdog("report: failure", 60s);
  const int n_jobs = GENERATE(1, 2);
  CAPTURE(n_jobs);
  auto tasks = std::views::iota(0, 40) | std::views::transform([](int i) {
                 return parmap::delayed([](int k) {
                   if (k == 6) throw std::runtime_error("task 6 failed");
                   return k;
                 })(i);
               });
  SECTION("generator") {
    parmap::Parallel parallel({.n_jobs = n_jobs, .batch_size = 1, .verbose = 1},
                              parmap::return_as::generator);
    std::string printed;
    int got = 0;
    {
      parmap_test::StderrCapture capture;
      CHECK_THROWS_WITH(
          [&] {
            for (const int v : parallel(tasks)) got += v >= 0 ? 1 : 0;
          }(),
          "task 6 failed");
      printed = capture.text();
    }
    const parmap::RunReport r = parallel.last_report();
    check_consistent(r);
    CHECK(r.failed);
    CHECK_FALSE(r.finished);
    CHECK(r.consumed == static_cast<std::size_t>(got));
    CHECK(r.consumed <= 6);
    CHECK(lines_containing(printed, "Stopped early").empty());
  }
  SECTION("list") {
    parmap::Parallel parallel({.n_jobs = n_jobs});
    CHECK_THROWS_WITH(parallel(tasks), "task 6 failed");
    const parmap::RunReport r = parallel.last_report();
    check_consistent(r);
    CHECK(r.failed);
    CHECK_FALSE(r.finished);
  }
  SECTION("the next call's report replaces it") {
    parmap::Parallel parallel({.n_jobs = n_jobs});
    CHECK_THROWS(parallel(tasks));
    CHECK(parallel(tasks | std::views::take(5)).size() == 5);
    const parmap::RunReport r = parallel.last_report();
    CHECK(r.finished);
    CHECK_FALSE(r.failed);
    CHECK(r.completed == 5);
  }
}

TEST_CASE("an input error in the middle of a batch counts the tasks already read as cancelled",
          "[report]") {
  // RunReport::cancelled is "tasks read from the input but never started". Batches of 5 and
  // an input that throws when asked for task 3: tasks 0, 1 and 2 were read, never started.
  parmap_test::Watchdog watchdog("report: input error mid-batch", 60s);
  std::atomic<int> read{0};
  std::atomic<int> started{0};
  auto tasks = std::views::iota(0, 20) | parmap_test::read_in_batches |
               std::views::transform([&](int i) {
                 if (i == 3) throw std::runtime_error("input broke at 3");
                 ++read;
                 return parmap::delayed([&](int k) {
                   ++started;
                   return k;
                 })(i);
               });
  parmap::Parallel parallel({.n_jobs = 2, .batch_size = 5});
  CHECK_THROWS_WITH(parallel(tasks), "input broke at 3");
  const parmap::RunReport r = parallel.last_report();
  CHECK(r.failed);
  CHECK(read == 3);
  CHECK(started == 0);
  CHECK(r.cancelled == 3);
}

namespace {

// A progress callback that records every call and notices overlapping calls.
struct ProgressLog {
  std::mutex mutex;
  std::vector<parmap::Progress> calls;     // guarded by mutex
  std::vector<std::thread::id> threads;    // guarded by mutex
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};

  std::function<void(const parmap::Progress&)> callback() {
    return [this](const parmap::Progress& p) {
      if (inside.fetch_add(1) != 0) ++overlaps;
      {
        std::lock_guard lock(mutex);
        calls.push_back(p);
        threads.push_back(std::this_thread::get_id());
      }
      inside.fetch_sub(1);
    };
  }
};

void check_progress(ProgressLog& log, std::size_t n, std::optional<std::size_t> total) {
  std::lock_guard lock(log.mutex);
  CHECK(log.overlaps == 0);
  REQUIRE_FALSE(log.calls.empty());
  for (std::size_t i = 0; i < log.calls.size(); ++i) {
    const parmap::Progress& p = log.calls[i];
    CHECK(p.total == total);
    CHECK(p.done == (i + 1 == log.calls.size()));  // exactly one done call, the last
    CHECK(p.completed <= n);
    if (i > 0) {
      CHECK(p.completed >= log.calls[i - 1].completed);
      CHECK(p.elapsed >= log.calls[i - 1].elapsed);
    }
  }
  CHECK(log.calls.back().completed == n);
  // The last call is made on the consumer's thread.
  CHECK(log.threads.back() == std::this_thread::get_id());
}

}  // namespace

TEST_CASE("the progress callback counts up to the total and ends with done", "[report][progress]") {
  parmap_test::Watchdog watchdog("report: progress callback", 60s);
  const int n_jobs = GENERATE(1, 2, 4);
  const int batch = GENERATE(0, 1, 7);
  const int n = GENERATE(0, 1, 50);
  CAPTURE(n_jobs, batch, n);
  parmap::Options base{.n_jobs = n_jobs};
  if (batch > 0) base.batch_size = batch;
  auto task = [](int i) { return parmap::delayed([](int k) { return k; })(i); };

  SECTION("sized input: total is its size, generator") {
    ProgressLog log;
    parmap::Options options = base;
    options.progress = log.callback();
    parmap::Parallel parallel(options, parmap::return_as::generator);
    int got = 0;
    for (const int v : parallel(std::views::iota(0, n) | std::views::transform(task))) got += v >= 0;
    CHECK(got == n);
    check_progress(log, n, static_cast<std::size_t>(n));
    if (n_jobs == 1) {
      // Inline: every call on the calling thread, one after each task, then the done call.
      std::lock_guard lock(log.mutex);
      for (const auto& id : log.threads) CHECK(id == std::this_thread::get_id());
      CHECK(log.calls.size() == static_cast<std::size_t>(n) + 1);
    }
  }
  SECTION("unsized input: no total, list") {
    ProgressLog log;
    parmap::Options options = base;
    options.progress = log.callback();
    auto unsized = std::views::iota(0, n) | std::views::filter([](int) { return true; }) |
                   std::views::transform(task);
    static_assert(!std::ranges::sized_range<decltype(unsized)>);
    CHECK(parmap::Parallel(options)(unsized).size() == static_cast<std::size_t>(n));
    check_progress(log, n, std::nullopt);
  }
  SECTION("unordered") {
    ProgressLog log;
    parmap::Options options = base;
    options.progress = log.callback();
    parmap::Parallel parallel(options, parmap::return_as::generator_unordered);
    int got = 0;
    for (const int v : parallel(std::views::iota(0, n) | std::views::transform(task))) got += v >= 0;
    CHECK(got == n);
    check_progress(log, n, static_cast<std::size_t>(n));
  }
}

TEST_CASE("verbose prints joblib-style progress lines", "[report][progress]") {
  parmap_test::Watchdog watchdog("report: verbose lines", 60s);
  const std::regex sized(
      R"(\[Parallel\(n_jobs=(\d+)\)\]: Done +(\d+) out of +(\d+) \| elapsed: +\d+\.\ds( finished)?)");
  const std::regex unsized(
      R"(\[Parallel\(n_jobs=(\d+)\)\]: Done +(\d+) tasks +\| elapsed: +\d+\.\ds( finished)?)");
  auto task = [](int i) { return parmap::delayed([](int k) { return k; })(i); };

  // Runs 10 tasks inline and returns the task counts of the lines printed; checks each line's
  // format and that only the last says "finished".
  const auto counts_printed = [&](int verbose, bool is_sized, int n_jobs) {
    std::string printed;
    {
      parmap_test::StderrCapture capture;
      if (is_sized) {
        parmap::Parallel({.n_jobs = n_jobs, .batch_size = 1, .verbose = verbose})(
            std::views::iota(0, 10) | std::views::transform(task));
      } else {
        parmap::Parallel({.n_jobs = n_jobs, .batch_size = 1, .verbose = verbose})(
            std::views::iota(0, 10) | std::views::filter([](int) { return true; }) |
            std::views::transform(task));
      }
      printed = capture.text();
    }
    std::vector<int> counts;
    const auto lines = lines_of(printed);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      INFO("line: " << lines[i]);
      std::smatch m;
      if (is_sized) {
        REQUIRE(std::regex_match(lines[i], m, sized));
        CHECK(m[3] == "10");
        CHECK(m[4].matched == (i + 1 == lines.size()));
      } else {
        REQUIRE(std::regex_match(lines[i], m, unsized));
        CHECK(m[3].matched == (i + 1 == lines.size()));
      }
      CHECK(std::stoi(m[1]) == n_jobs);
      counts.push_back(std::stoi(m[2]));
    }
    return counts;
  };

  SECTION("verbose = 0 prints nothing") {
    CHECK(counts_printed(0, true, 1).empty());
    CHECK(counts_printed(0, true, 2).empty());
  }
  SECTION("verbose = 1 prints after 1, 2, 4, 8 tasks and at the end") {
    CHECK(counts_printed(1, true, 1) == std::vector<int>{1, 2, 4, 8, 10});
    CHECK(counts_printed(1, false, 1) == std::vector<int>{1, 2, 4, 8, 10});
  }
  SECTION("verbose = 10 prints after every batch, the last one as the finished line") {
    CHECK(counts_printed(10, true, 1) == std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  }
  SECTION("with workers the counts go up and the last line is the finished total") {
    const std::vector<int> counts = counts_printed(10, true, 3);
    REQUIRE_FALSE(counts.empty());
    for (std::size_t i = 1; i < counts.size(); ++i) CHECK(counts[i] >= counts[i - 1]);
    CHECK(counts.back() == 10);
  }
}
