// Early stop: destroying a result range before its end (a break, an exception in the loop
// body, never iterating) cancels the tasks not yet started, asks the running ones to stop
// through parmap::this_task, waits for them, and frees the results nobody consumed.

#include "support/catch.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <algorithm>  // std::min
#include <atomic>     // std::atomic: task counters
#include <chrono>     // std::chrono::microseconds, milliseconds: slow tasks, a slow wind-down
#include <ranges>     // std::views::iota, transform
#include <stdexcept>  // std::runtime_error: the loop body's exception
#include <stop_token> // std::stop_token: what a task polls
#include <thread>     // std::this_thread::sleep_for, yield
#include <vector>     // std::vector: list results

namespace {

enum class Leave { by_break, by_exception };

// Tasks 0..2 take 2 ms; the others run until they are told to stop, then take a little
// longer to wind down (so "the destructor waited" is observable). Consumes two results, with
// two tasks running, then leaves the loop. 2 ms is over the consumer's helping limit: tasks
// 3 and 4 wait for the consumer to destroy the range, so they must not run on its thread (see
// "Who runs tasks" in the README); with quick tasks 0..2 the consumer sometimes ran one and
// waited in it until wait_for_stop gave up.
template <class Mode>
void check_early_exit(Mode mode, Leave leave) {
  const int n = 100;
  const int n_jobs = 2;
  const int window = 4;
  parmap_test::LiveCounter live;
  std::atomic<int> started{0};
  std::atomic<int> saw_stop{0};
  std::atomic<int> saw_this_task_stop{0};
  std::atomic<int> finished{0};
  parmap_test::Counter running;
  auto tasks = std::views::iota(0, n) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   ++started;
                   if (k < 3) {
                     std::this_thread::sleep_for(parmap_test::beyond_helping_limit);
                   } else {
                     running.add();
                     if (parmap_test::wait_for_stop(parmap::this_task::get_stop_token())) ++saw_stop;
                     if (parmap::this_task::stop_requested() &&
                         parmap::this_task::get_stop_token().stop_requested()) {
                       ++saw_this_task_stop;
                     }
                     std::this_thread::sleep_for(std::chrono::milliseconds(5));  // slow wind-down
                     ++finished;
                   }
                   return parmap_test::Tracked(live, k);
                 })(i);
               });
  parmap::Parallel parallel({.n_jobs = n_jobs, .pre_dispatch = window, .batch_size = 1}, mode);

  int consumed = 0;
  bool body_threw = false;
  try {
    for (parmap_test::Tracked r : parallel(tasks)) {
      CHECK(r.value() < 3);
      if (++consumed == 2) {
        CHECK(running.wait_for_at_least(2));  // both workers are inside tasks 3 and 4
        if (leave == Leave::by_break) break;
        throw std::runtime_error("the loop body failed");
      }
    }
  } catch (const std::runtime_error&) {
    body_threw = true;
  }
  // The range is gone: its destructor has returned.

  CHECK(body_threw == (leave == Leave::by_exception));
  CHECK(consumed == 2);
  // One result released, so the window held tasks up to 4; everything after was cancelled.
  CHECK(started.load() == 5);
  CHECK(saw_stop.load() == 2);            // the running tasks were asked to stop...
  CHECK(saw_this_task_stop.load() == 2);  // ...and this_task says so too
  CHECK(finished.load() == 2);            // ...and were waited for
  CHECK(live.live.load() == 0);           // result 2 (never consumed) and 3, 4 are freed
  CHECK(live.constructed.load() == 5);

  // Nothing of the cancelled run is left on the pool to start later.
  REQUIRE(parmap_test::occupy_every_worker(parallel, n_jobs));
  CHECK(started.load() == 5);
}

}  // namespace

TEST_CASE("breaking out of the loop cancels unstarted tasks and waits for running ones and frees "
          "buffered results",
          "[cancellation]") {
  parmap_test::Watchdog watchdog(
      "breaking out of the loop cancels unstarted tasks and waits for running ones and frees "
      "buffered results");
  SECTION("ordered") { check_early_exit(parmap::return_as::generator, Leave::by_break); }
  SECTION("unordered") { check_early_exit(parmap::return_as::generator_unordered, Leave::by_break); }
}

TEST_CASE("an exception in the loop body cancels the run like a break", "[cancellation]") {
  parmap_test::Watchdog watchdog("an exception in the loop body cancels the run like a break");
  SECTION("ordered") { check_early_exit(parmap::return_as::generator, Leave::by_exception); }
  SECTION("unordered") {
    check_early_exit(parmap::return_as::generator_unordered, Leave::by_exception);
  }
}

TEST_CASE("a task polling its stop token returns early and the destruction completes",
          "[cancellation]") {
  parmap_test::Watchdog watchdog(
      "a task polling its stop token returns early and the destruction completes");
  const int n_jobs = 2;
  std::atomic<int> started{0};
  std::atomic<int> returned_early{0};
  parmap_test::Counter polling;
  const bool use_token = GENERATE(false, true);
  INFO((use_token ? "polling get_stop_token()" : "polling stop_requested()"));
  auto tasks = std::views::iota(0, 50) | std::views::transform([&](int i) {
                 return parmap::delayed([&, use_token](int k) {
                   ++started;
                   polling.add();
                   if (use_token) {
                     const std::stop_token token = parmap::this_task::get_stop_token();
                     while (!token.stop_requested()) std::this_thread::yield();
                   } else {
                     while (!parmap::this_task::stop_requested()) std::this_thread::yield();
                   }
                   ++returned_early;
                   return k;
                 })(i);
               });
  SECTION("ordered") {
    auto results = parmap::Parallel({.n_jobs = n_jobs}, parmap::return_as::generator)(tasks);
    REQUIRE(polling.wait_for_at_least(n_jobs));
  }
  SECTION("unordered") {
    auto results =
        parmap::Parallel({.n_jobs = n_jobs}, parmap::return_as::generator_unordered)(tasks);
    REQUIRE(polling.wait_for_at_least(n_jobs));
  }
  CHECK(started.load() == n_jobs);
  CHECK(returned_early.load() == n_jobs);
}

TEST_CASE("destroying a range that was never iterated cancels every task not yet started",
          "[cancellation]") {
  parmap_test::Watchdog watchdog(
      "destroying a range that was never iterated cancels every task not yet started");
  const int n_jobs = 2;
  const int window = GENERATE(1, 4);
  parmap_test::LiveCounter live;
  std::atomic<int> started{0};
  std::atomic<int> saw_stop{0};
  parmap_test::Counter running;
  auto tasks = std::views::iota(0, 100) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   ++started;
                   running.add();
                   if (parmap_test::wait_for_stop(parmap::this_task::get_stop_token())) ++saw_stop;
                   return parmap_test::Tracked(live, k);
                 })(i);
               });
  const int running_tasks = std::min(n_jobs, window);
  {
    auto results = parmap::Parallel({.n_jobs = n_jobs, .pre_dispatch = window, .batch_size = 1},
                                    parmap::return_as::generator)(tasks);
    REQUIRE(running.wait_for_at_least(running_tasks));
  }
  CHECK(started.load() == running_tasks);
  CHECK(saw_stop.load() == running_tasks);
  CHECK(live.live.load() == 0);
}

TEST_CASE("breaking out of an inline (n_jobs = 1) loop runs no further task", "[cancellation]") {
  parmap_test::Watchdog watchdog("breaking out of an inline (n_jobs = 1) loop runs no further task");
  std::atomic<int> started{0};
  auto tasks = std::views::iota(0, 100) | std::views::transform([&started](int i) {
                 return parmap::delayed([&started](int k) {
                   ++started;
                   return k;
                 })(i);
               });
  SECTION("ordered") {
    for (int r : parmap::Parallel({.n_jobs = 1}, parmap::return_as::generator)(tasks)) {
      if (r == 2) break;
    }
  }
  SECTION("unordered") {
    int seen = 0;
    for ([[maybe_unused]] int r :
         parmap::Parallel({.n_jobs = 1}, parmap::return_as::generator_unordered)(tasks)) {
      if (++seen == 3) break;
    }
  }
  CHECK(started.load() == 3);
}

TEST_CASE("outside a task the stop token never stops", "[cancellation]") {
  parmap_test::Watchdog watchdog("outside a task the stop token never stops");
  CHECK_FALSE(parmap::this_task::stop_requested());
  CHECK_FALSE(parmap::this_task::get_stop_token().stop_possible());

  // Inside a task it is a real token, restored afterwards.
  auto tasks = std::views::iota(0, 4) | std::views::transform([](int i) {
                 return parmap::delayed([](int k) {
                   return parmap::this_task::get_stop_token().stop_possible() ? k : -1;
                 })(i);
               });
  const std::vector<int> results = parmap::Parallel({.n_jobs = GENERATE(1, 2)})(tasks);
  CHECK(results == std::vector<int>{0, 1, 2, 3});
  CHECK_FALSE(parmap::this_task::get_stop_token().stop_possible());
}
