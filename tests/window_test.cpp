// The window (pre_dispatch): at most `pre_dispatch` batches are running or finished and not
// yet consumed, however slow the consumer and however uneven the tasks. With batch_size = 1
// that is a bound on live results; in input order, task k + window does not start before
// result k is consumed. Eager start: the call returns with the window already filling.
//
// The slow consumer here is slow on state, not on time: before taking each result it waits
// until the workers have done everything the window allows, which gives a library that
// ignored the window every chance to overshoot.

#include "support/catch.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <algorithm>  // std::min
#include <atomic>     // std::atomic: the consumption count tasks read
#include <chrono>     // std::chrono::milliseconds: slow tasks
#include <cstddef>    // std::size_t
#include <ranges>     // std::views::iota, transform
#include <thread>     // std::this_thread::sleep_for: a slow task
#include <vector>     // std::vector: per-task records

namespace {

// Uneven work: every fourth task is slow.
void maybe_slow(int k) {
  if (k % 4 == 1) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

// Runs the same checks in both generator modes.
template <class Mode>
void check_live_results_bounded(Mode mode, int n_jobs, int window) {
  const int n = 40;
  parmap_test::LiveCounter live;
  parmap_test::Counter finished;
  auto tasks = std::views::iota(0, n) | std::views::transform([&](int i) {
                 return parmap::delayed([&live, &finished](int k) {
                   maybe_slow(k);
                   parmap_test::Tracked result(live, k);
                   finished.add();
                   return result;
                 })(i);
               });

  {
    auto results =
        parmap::Parallel({.n_jobs = n_jobs, .pre_dispatch = window, .batch_size = 1}, mode)(tasks);
    int consumed = 0;
    for (parmap_test::Tracked r : results) {
      // Everything the window allows: the `consumed` released results plus `window` more.
      CHECK(finished.wait_for_at_least(std::min(n, consumed + window)));
      CHECK(live.live.load() <= window);
      CHECK(r.value() >= 0);
      ++consumed;
    }
    CHECK(consumed == n);
  }

  CHECK(live.peak.load() <= window);
  CHECK(live.peak.load() == std::min(n, window));  // the window really filled up
  CHECK(live.live.load() == 0);
  CHECK(live.constructed.load() == n);
}

}  // namespace

TEST_CASE("live results never exceed pre_dispatch under a slow consumer", "[window]") {
  parmap_test::Watchdog watchdog("live results never exceed pre_dispatch under a slow consumer");
  const int n_jobs = GENERATE(2, 3);
  const int window = GENERATE(1, 2, 5);
  INFO("n_jobs " << n_jobs << ", pre_dispatch " << window);
  SECTION("ordered") { check_live_results_bounded(parmap::return_as::generator, n_jobs, window); }
  SECTION("unordered") {
    check_live_results_bounded(parmap::return_as::generator_unordered, n_jobs, window);
  }
}

TEST_CASE("in input order task k + window does not start before result k is consumed",
          "[window]") {
  parmap_test::Watchdog watchdog(
      "in input order task k + window does not start before result k is consumed");
  const int n = 40;
  const int window = GENERATE(1, 3);
  const int batch = GENERATE(1, 2);
  INFO("pre_dispatch " << window << ", batch_size " << batch);
  std::atomic<long> consumed{0};
  std::vector<long> consumed_at_start(n, -1);  // each task writes its own element
  parmap_test::Counter started;
  auto tasks = std::views::iota(0, n) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   consumed_at_start[static_cast<std::size_t>(k)] = consumed.load();
                   started.add();
                   maybe_slow(k);
                   return k;
                 })(i);
               });

  {
    int expected = 0;
    for (int r : parmap::Parallel({.n_jobs = 2, .pre_dispatch = window, .batch_size = batch},
                                  parmap::return_as::generator)(tasks)) {
      CHECK(r == expected);
      // The batches released so far plus `window` more may have started.
      const int allowed = (expected / batch + window) * batch;
      CHECK(started.wait_for_at_least(std::min(n, allowed)));
      CHECK(started.value() <= allowed);
      ++expected;
      consumed.store(expected);
    }
    CHECK(expected == n);
  }

  for (int k = 0; k < n; ++k) {
    // Task k is in batch k / batch; that batch needs batch (k / batch - window) released,
    // which happens after the consumer has taken (k / batch - window + 1) * batch results.
    const long needed = static_cast<long>((k / batch - window + 1) * batch);
    INFO("task " << k << " started after " << consumed_at_start[static_cast<std::size_t>(k)]
                 << " results were consumed");
    CHECK(consumed_at_start[static_cast<std::size_t>(k)] >= needed);
  }
}

TEST_CASE("the call returns with up to pre_dispatch tasks started and no more", "[window]") {
  parmap_test::Watchdog watchdog("the call returns with up to pre_dispatch tasks started and no more");
  const int n_jobs = 2;
  const int window = GENERATE(1, 3);
  INFO("pre_dispatch " << window);
  parmap_test::Counter started;
  parmap_test::Counter finished;
  parmap_test::TimedGate gate;
  std::atomic<int> gate_timeouts{0};  // Catch2's assertions are not thread-safe
  auto tasks = std::views::iota(0, 50) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   started.add();
                   if (!gate.wait()) ++gate_timeouts;
                   finished.add();
                   return k;
                 })(i);
               });

  auto check_eager = [&](auto mode) {
    auto results =
        parmap::Parallel({.n_jobs = n_jobs, .pre_dispatch = window, .batch_size = 1}, mode)(tasks);
    parmap_test::OpenOnUnwind open_on_failure(gate);
    // Not iterated yet: the workers run what they may on their own.
    const int running = std::min(n_jobs, window);
    REQUIRE(gate.wait_for_waiters(running));
    CHECK(started.value() == running);
    gate.open();
    CHECK(finished.wait_for_at_least(window));
    CHECK(started.value() == window);  // the window is full; nothing more may start
  };
  SECTION("ordered") { check_eager(parmap::return_as::generator); }
  SECTION("unordered") { check_eager(parmap::return_as::generator_unordered); }
  CHECK(started.value() == window);  // nor while the range was destroyed
  CHECK(gate_timeouts.load() == 0);
}
