// Per-task timeouts (Options::timeout): the clock starts when a task starts, not when the
// consumer starts waiting; a late task is asked to stop through its stop token and fails with
// parmap::TimeoutError naming its input index (failing the run, or becoming an error outcome
// with on_error::collect); a task that ignores the request delays the range's destruction
// until it returns.

#include "support/catch.hpp"
#include "support/stress_support.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <algorithm>   // std::sort: unordered results
#include <atomic>      // std::atomic: what tasks observed
#include <chrono>      // std::chrono: limits and slow tasks
#include <concepts>    // std::same_as: telling list mode apart
#include <functional>  // std::function: the blocking stop callback
#include <memory>      // std::unique_ptr: a range destroyed on another thread
#include <optional>    // std::optional: the range under test
#include <ranges>      // std::views::iota, transform
#include <stdexcept>   // std::invalid_argument
#include <stop_token>  // std::stop_callback: a late task's stop callback
#include <string>      // std::string: messages
#include <thread>      // std::thread, std::this_thread::sleep_for
#include <vector>      // std::vector: results

using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;

namespace {

// Runs `tasks` on `parallel`, appending each result the consumer receives to `got`. Returns
// normally, or throws what the run (or the call, in list mode) threw.
template <class Parallel, class Tasks>
void consume_into(Parallel& parallel, Tasks& tasks, std::vector<int>& got) {
  if constexpr (std::same_as<decltype(parallel(tasks)), std::vector<int>>) {
    got = parallel(tasks);
  } else {
    for (const int v : parallel(tasks)) got.push_back(v);
  }
}

// A task for the raise-mode tests: index `late` waits until its stop token is requested
// (bounded, so a library that never asks fails instead of hanging), and records what it saw;
// the others return their index at once.
struct LateTaskLog {
  std::atomic<bool> saw_stop{false};
  std::atomic<bool> callback_ran{false};
};

template <class Mode>
void check_late_task_fails_run(Mode mode, int n_jobs) {
  parmap_test::Watchdog watchdog("timeout: late task fails the run", 60s);
  constexpr int late = 3;
  LateTaskLog log;
  auto tasks = std::views::iota(0, 8) | std::views::transform([&log](int i) {
                 return parmap::delayed([&log](int k) {
                   if (k == late) {
                     const std::stop_callback on_stop(parmap::this_task::get_stop_token(),
                                                      [&log] { log.callback_ran = true; });
                     log.saw_stop = parmap_test::wait_for_stop(parmap::this_task::get_stop_token());
                   }
                   return k;
                 })(i);
               });
  parmap::Parallel parallel({.n_jobs = n_jobs, .batch_size = 1, .timeout = 30ms}, mode);

  std::vector<int> got;
  std::string message;
  std::size_t index = 999;
  std::chrono::nanoseconds limit{};
  try {
    consume_into(parallel, tasks, got);
  } catch (const parmap::TimeoutError& e) {
    message = e.what();
    index = e.index();
    limit = e.limit();
  }
  // The range is gone here: every task has returned.
  CHECK(index == late);
  CHECK_THAT(message, ContainsSubstring("task 3"));
  CHECK_THAT(message, ContainsSubstring("timeout"));
  CHECK(limit == 30ms);
  CHECK(log.saw_stop);
  CHECK(log.callback_ran);
  if constexpr (!std::same_as<Mode, parmap::return_as::generator_unordered_t>) {
    // Input order: nothing at or after the late task's position reaches the consumer.
    for (const int v : got) CHECK(v < late);
  }
  const parmap::RunReport report = parallel.last_report();
  CHECK(report.failed);
  CHECK_FALSE(report.finished);
}

}  // namespace

TEST_CASE("a slow consumer of fast tasks never times out: the clock starts when a task starts",
          "[timeout]") {
  parmap_test::Watchdog watchdog("timeout: slow consumer", 60s);
  // Three quick tasks, a 100 ms limit, a consumer that takes 250 ms per result (the sleep
  // stands for a slow consumer) and a window of one task: later tasks wait for the consumer
  // far longer than the limit before they start, which must not count.
  auto tasks = std::views::iota(0, 3) |
               std::views::transform([](int i) { return parmap::delayed([](int k) { return k; })(i); });
  const auto run = [&](auto mode, int n_jobs) {
    parmap::Parallel parallel({.n_jobs = n_jobs, .pre_dispatch = 1, .batch_size = 1, .timeout = 100ms},
                              mode);
    std::vector<int> got;
    for (const int v : parallel(tasks)) {
      got.push_back(v);
      std::this_thread::sleep_for(250ms);
    }
    std::sort(got.begin(), got.end());
    CHECK(got == std::vector<int>{0, 1, 2});
    CHECK(parallel.last_report().finished);
  };
  SECTION("inline, n_jobs = 1") { run(parmap::return_as::generator, 1); }
  SECTION("ordered, n_jobs = 2") { run(parmap::return_as::generator, 2); }
  SECTION("unordered, n_jobs = 2") { run(parmap::return_as::generator_unordered, 2); }
}

TEST_CASE("a task running past its timeout fails the run with a TimeoutError naming its index, "
          "and its stop token is requested",
          "[timeout]") {
  SECTION("list, n_jobs = 2") { check_late_task_fails_run(parmap::return_as::list, 2); }
  SECTION("generator, n_jobs = 2") { check_late_task_fails_run(parmap::return_as::generator, 2); }
  SECTION("generator_unordered, n_jobs = 2") {
    check_late_task_fails_run(parmap::return_as::generator_unordered, 2);
  }
  SECTION("generator, inline (n_jobs = 1)") {
    check_late_task_fails_run(parmap::return_as::generator, 1);
  }
  SECTION("list, inline (n_jobs = 1)") { check_late_task_fails_run(parmap::return_as::list, 1); }
}

TEST_CASE("a late task that ignores its stop request delays the range's destruction until it "
          "returns",
          "[timeout]") {
  parmap_test::Watchdog watchdog("timeout: task ignoring its stop request", 60s);
  parmap_test::TimedGate gate;
  std::atomic<bool> task_returned{false};
  std::atomic<bool> stop_was_requested{false};
  auto tasks = std::views::iota(0, 4) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   if (k == 0) {
                     static_cast<void>(gate.wait());  // ignores the stop request
                     stop_was_requested = parmap::this_task::stop_requested();
                     task_returned = true;
                   }
                   return k;
                 })(i);
               });
  parmap::Parallel parallel({.n_jobs = 2, .batch_size = 1, .timeout = 20ms},
                            parmap::return_as::generator);
  auto range = std::make_unique<parmap::ResultRange<int>>(parallel(tasks));

  // The TimeoutError reaches the consumer while task 0 is still blocked at the gate: failing
  // fast does not wait for the late task.
  CHECK_THROWS_AS(static_cast<void>(range->begin() == range->end()), parmap::TimeoutError);
  REQUIRE(gate.wait_for_waiters(1));
  CHECK_FALSE(task_returned);

  // Destroy the range on another thread: it must block until the task returns.
  parmap_test::Counter destroyed;
  std::atomic<bool> returned_before_destruction_ended{false};
  std::thread destroyer([&] {
    range.reset();
    returned_before_destruction_ended = task_returned.load();
    destroyed.add();
  });
  // A correct library never finishes the destruction here; a broken one does so at once, and
  // 200 ms is plenty to see it.
  CHECK_FALSE(destroyed.wait_for_at_least(1, 200ms));
  CHECK(gate.waiting() == 1);
  gate.open();
  CHECK(destroyed.wait_for_at_least(1, 20s));
  destroyer.join();
  CHECK(returned_before_destruction_ended);
  CHECK(stop_was_requested);
  CHECK(parallel.last_report().failed);
}

TEST_CASE("with on_error::collect a timed-out task becomes a TimeoutError outcome and the run "
          "goes on",
          "[timeout][on_error]") {
  parmap_test::Watchdog watchdog("timeout: collect", 60s);
  constexpr int n = 8;
  const auto is_late = [](int k) { return k == 2 || k == 5; };
  std::atomic<int> late_saw_stop{0};
  std::atomic<int> others_saw_stop{0};
  auto tasks = std::views::iota(0, n) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   if (is_late(k)) {
                     if (parmap_test::wait_for_stop(parmap::this_task::get_stop_token())) ++late_saw_stop;
                   } else if (parmap::this_task::stop_requested()) {
                     ++others_saw_stop;
                   }
                   return k * 10;
                 })(i);
               });
  const auto check = [&](auto mode, int n_jobs) {
    late_saw_stop = 0;
    others_saw_stop = 0;
    parmap::Parallel parallel({.n_jobs = n_jobs, .batch_size = 1, .timeout = 30ms}, mode,
                              parmap::on_error::collect);
    std::vector<int> seen(n, 0);
    const auto look = [&](parmap::Outcome<int>& o) {
      REQUIRE(o.index() < static_cast<std::size_t>(n));
      const int k = static_cast<int>(o.index());
      ++seen[k];
      if (is_late(k)) {
        REQUIRE_FALSE(o.has_value());
        try {
          std::rethrow_exception(o.error());
        } catch (const parmap::TimeoutError& e) {
          CHECK(e.index() == o.index());
          CHECK(e.limit() == 30ms);
        } catch (...) {
          FAIL("task " << k << ": the error is not a TimeoutError");
        }
        CHECK_THROWS_AS(o.value(), parmap::TimeoutError);
      } else {
        REQUIRE(o.has_value());
        CHECK(o.value() == k * 10);
      }
    };
    if constexpr (std::same_as<decltype(mode), parmap::return_as::list_t>) {
      auto all = parallel(tasks);
      REQUIRE(all.size() == n);
      for (std::size_t i = 0; i < all.size(); ++i) {
        CHECK(all[i].index() == i);
        look(all[i]);
      }
    } else {
      for (auto o : parallel(tasks)) look(o);
    }
    for (int k = 0; k < n; ++k) CHECK(seen[k] == 1);
    CHECK(late_saw_stop == 2);
    CHECK(others_saw_stop == 0);  // a timeout under collect stops only the late task
    const parmap::RunReport report = parallel.last_report();
    CHECK(report.finished);
    CHECK_FALSE(report.failed);
    CHECK(report.completed == n);
  };
  SECTION("list") { check(parmap::return_as::list, 2); }
  SECTION("generator") { check(parmap::return_as::generator, 2); }
  SECTION("generator_unordered") { check(parmap::return_as::generator_unordered, 3); }
  SECTION("generator, inline (n_jobs = 1)") { check(parmap::return_as::generator, 1); }
}

TEST_CASE("with on_error::collect a late task that ignores its stop still gets a TimeoutError "
          "outcome, whatever it returned",
          "[timeout][on_error]") {
  parmap_test::Watchdog watchdog("timeout: collect, task ignoring the stop", 60s);
  auto tasks = std::views::iota(0, 3) | std::views::transform([](int i) {
                 return parmap::delayed([](int k) {
                   if (k == 1) std::this_thread::sleep_for(150ms);  // a slow task, ignoring stop
                   return k;
                 })(i);
               });
  parmap::Parallel parallel({.n_jobs = 2, .timeout = 30ms}, parmap::return_as::list,
                            parmap::on_error::collect);
  auto all = parallel(tasks);  // not const: Outcome has no const value() (see the report)
  REQUIRE(all.size() == 3);
  CHECK(all[0].has_value());
  CHECK_FALSE(all[1].has_value());
  CHECK_THROWS_AS(all[1].value(), parmap::TimeoutError);
  CHECK(all[2].has_value());
}

TEST_CASE("a task reported late never has its result delivered as a success (fail-fast)",
          "[timeout]") {
  // The monitor marks a task late, then asks it to stop (running the task's stop callbacks
  // on the monitor thread), and only then fails the run. A task returning in between must
  // still count as timed out: its result must not reach the consumer and the run must fail
  // with TimeoutError. A stop callback that blocks holds the monitor in that gap
  // deterministically (a slow callback, or a descheduled monitor thread, does the same).
  const auto check = [](int n_jobs) {
    parmap_test::Watchdog watchdog("timeout: late task returning before the run fails", 60s);
    parmap_test::Counter in_callback;
    parmap_test::TimedGate release_monitor;
    std::unique_ptr<std::stop_callback<std::function<void()>>> callback;
    auto tasks = std::views::iota(0, 1) | std::views::transform([&](int i) {
                   return parmap::delayed([&](int k) {
                     callback = std::make_unique<std::stop_callback<std::function<void()>>>(
                         parmap::this_task::get_stop_token(), std::function<void()>([&] {
                           in_callback.add();
                           release_monitor.wait();
                         }));
                     in_callback.wait_for_at_least(1);  // the monitor has marked us late
                     return k + 42;
                   })(i);
                 });
    parmap::Parallel parallel({.n_jobs = n_jobs, .timeout = 20ms}, parmap::return_as::generator);
    std::vector<int> got;
    bool timed_out = false;
    {
      auto range = parallel(tasks);
      try {
        for (const int v : range) got.push_back(v);
      } catch (const parmap::TimeoutError& e) {
        timed_out = true;
        CHECK(e.index() == 0);
      }
      release_monitor.open();  // before the range's destruction joins the monitor
    }
    callback.reset();
    CHECK(in_callback.value() == 1);
    CHECK(got == std::vector<int>{});  // 42 must not arrive as a success
    CHECK(timed_out);
  };
  SECTION("n_jobs = 2") { check(2); }
  SECTION("inline (n_jobs = 1)") { check(1); }
}

TEST_CASE("a nested call with a timeout runs inline and starts no thread", "[timeout][nesting]") {
  // Parallel's contract: calls made from inside a task run inline, and nesting never starts
  // threads. That must hold with a timeout too, or deep recursion multiplies threads.
  parmap_test::Watchdog watchdog("timeout: nested call", 60s);
  // parmap's one timeout-monitor thread starts with the first call that has a timeout and
  // lives until the process exits; start it here so that it is in the baseline.
  CHECK(parmap::Parallel({.n_jobs = 1, .timeout = 10s})(std::vector<std::function<int()>>{[] { return 1; }}) ==
        std::vector<int>{1});
  const int baseline = parmap_test::thread_count();
  REQUIRE(baseline > 0);
  std::atomic<int> seen_in_nested{-1};
  auto inner = std::views::iota(0, 2) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   seen_in_nested = parmap_test::thread_count();
                   return k;
                 })(i);
               });
  auto outer = std::views::iota(0, 1) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   const std::vector<int> r = parmap::Parallel({.n_jobs = 2, .timeout = 10s})(inner);
                   return k + static_cast<int>(r.size());
                 })(i);
               });
  const std::vector<int> r = parmap::Parallel({.n_jobs = 2})(outer);
  CHECK(r == std::vector<int>{2});
  // The outer pool's two workers and nothing more.
  CHECK(seen_in_nested.load() == baseline + 2);
}

TEST_CASE("a timeout of zero or less is rejected with std::invalid_argument naming the option",
          "[timeout][bad_input]") {
  using parmap_test::thrown_message;
  for (const std::chrono::nanoseconds bad : {0ns, -1ns, std::chrono::nanoseconds(-5ms)}) {
    INFO("timeout = " << bad.count() << " ns");
    const std::string message = thrown_message<std::invalid_argument>(
        [&] { parmap::Parallel parallel({.n_jobs = 2, .timeout = bad}); });
    CHECK_THAT(message, ContainsSubstring("timeout"));
  }
  // The smallest positive limit is valid.
  CHECK_NOTHROW(parmap::Parallel({.n_jobs = 2, .timeout = 1ns}));
}
