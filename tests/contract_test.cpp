// Contract holes found by trying parmap as a new user would: results that can be moved but not
// assigned, stop requested on a run that ended normally, nested ranges consumed after their
// outer range ended, throwing progress callbacks, a moved-from Parallel.

#include "support/catch.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <algorithm>  // std::max: at least one worker
#include <atomic>     // std::atomic: callback counts
#include <chrono>     // std::chrono::steady_clock: tasks that take 0.8 ms
#include <cstddef>    // std::size_t
#include <stdexcept>  // std::logic_error, std::runtime_error
#include <stop_token>  // std::stop_token: tokens handed out by tasks
#include <string>     // std::string
#include <thread>     // std::this_thread::sleep_for: slow reads, a slow consumer
#include <utility>    // std::move
#include <vector>     // std::vector

namespace {

// Move-constructible, not assignable (a const member), not default-constructible.
struct Pinned {
  const int k;
};
static_assert(std::move_constructible<Pinned> && !std::is_move_assignable_v<Pinned>);

auto pinned_tasks(int n) {
  return std::views::iota(0, n) | std::views::transform([](int i) {
           return parmap::delayed([](int k) {
             if (k == 5) throw std::runtime_error("five");
             return Pinned{k};
           })(i);
         });
}

auto pinned_ok(int n) {
  return std::views::iota(0, n) | std::views::transform([](int i) {
           return parmap::delayed([](int k) { return Pinned{k}; })(i);
         });
}

}  // namespace

TEST_CASE("results that are move-constructible but not assignable work in every mode and policy",
          "[contract]") {
  parmap_test::Watchdog watchdog("non-assignable results");
  const int n = 40;
  SECTION("list, raise") {
    const std::vector<Pinned> v = parmap::Parallel({.n_jobs = 2})(pinned_ok(n));
    REQUIRE(v.size() == static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) CHECK(v[static_cast<std::size_t>(i)].k == i);
  }
  SECTION("map") {
    const std::vector<Pinned> v =
        parmap::map([](int k) { return Pinned{k}; }, std::views::iota(0, n), {.n_jobs = 2});
    REQUIRE(v.size() == static_cast<std::size_t>(n));
    CHECK(v.back().k == n - 1);
  }
  SECTION("list, collect") {
    const auto v = parmap::Parallel({.n_jobs = 2}, parmap::return_as::list,
                                    parmap::on_error::collect)(pinned_tasks(n));
    REQUIRE(v.size() == static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      CHECK(v[static_cast<std::size_t>(i)].has_value() == (i != 5));
      if (i != 5) CHECK(v[static_cast<std::size_t>(i)].value().k == i);
    }
  }
  SECTION("generators, collect, with a timeout (a late task's outcome is replaced in place)") {
    int got = 0;
    for (auto&& o : parmap::Parallel({.n_jobs = 2, .timeout = std::chrono::seconds(30)},
                                     parmap::return_as::generator_unordered,
                                     parmap::on_error::collect)(pinned_tasks(n))) {
      if (o) CHECK(o.value().k == static_cast<int>(o.index()));
      ++got;
    }
    CHECK(got == n);
    int expected = 0;
    for (auto&& o : parmap::Parallel({.n_jobs = 2}, parmap::return_as::generator,
                                     parmap::on_error::collect)(pinned_tasks(n))) {
      CHECK(o.index() == static_cast<std::size_t>(expected++));
    }
    CHECK(expected == n);
  }
}

TEST_CASE("a run whose results were all delivered never requests stop on its tasks' tokens",
          "[contract]") {
  parmap_test::Watchdog watchdog("no stop after a finished run");
  auto tokens = std::views::iota(0, 8) | std::views::transform([](int i) {
                  return parmap::delayed([](int) { return parmap::this_task::get_stop_token(); })(i);
                });
  SECTION("list") {
    const std::vector<std::stop_token> v = parmap::Parallel({.n_jobs = 2})(tokens);
    for (const auto& t : v) CHECK_FALSE(t.stop_requested());
  }
  SECTION("list with a timeout: the same") {
    const std::vector<std::stop_token> v =
        parmap::Parallel({.n_jobs = 2, .timeout = std::chrono::seconds(30)})(tokens);
    for (const auto& t : v) CHECK_FALSE(t.stop_requested());
  }
  SECTION("generator, consumed to its end") {
    std::vector<std::stop_token> v;
    {
      auto range = parmap::Parallel({.n_jobs = 2}, parmap::return_as::generator)(tokens);
      for (auto t : range) v.push_back(std::move(t));
    }
    for (const auto& t : v) CHECK_FALSE(t.stop_requested());
  }
  SECTION("generator left early: the tokens are asked to stop") {
    std::vector<std::stop_token> v;
    {
      auto range = parmap::Parallel({.n_jobs = 2}, parmap::return_as::generator)(tokens);
      for (auto t : range) {
        v.push_back(std::move(t));
        break;
      }
    }
    REQUIRE(v.size() == 1);
    CHECK(v[0].stop_requested());
  }
}

TEST_CASE("nested ranges returned by tasks stay usable after their outer range ended",
          "[contract]") {
  parmap_test::Watchdog watchdog("nested ranges outlive the outer run");
  auto outer = std::views::iota(0, 2) | std::views::transform([](int i) {
                 return parmap::delayed([](int k) {
                   auto inner = std::views::iota(0, 3) | std::views::transform([k](int j) {
                                  return parmap::delayed([](int a, int b) {
                                    return parmap::this_task::stop_requested() ? -1 : a * 10 + b;
                                  })(k, j);
                                });
                   return parmap::Parallel({.n_jobs = 2}, parmap::return_as::generator)(
                       std::move(inner));
                 })(i);
               });
  std::vector<parmap::ResultRange<int>> kept;
  for (auto r : parmap::Parallel({.n_jobs = 2}, parmap::return_as::generator)(outer)) {
    kept.push_back(std::move(r));
  }
  std::vector<int> got;
  for (auto& r : kept) {
    for (int x : r) got.push_back(x);
  }
  CHECK(got == std::vector<int>{0, 1, 2, 10, 11, 12});
}

TEST_CASE("a progress callback that throws fails the run like a task's exception", "[contract]") {
  parmap_test::Watchdog watchdog("throwing progress callback");
  struct ProgressFailure {};
  const bool on_final = GENERATE(false, true);
  CAPTURE(on_final);
  std::atomic<int> calls{0};
  parmap::Options options{.n_jobs = 2, .batch_size = 1};
  options.progress = [&](const parmap::Progress& p) {
    ++calls;
    if (p.done == on_final) throw ProgressFailure{};
  };
  parmap_test::LiveCounter live;
  auto tasks = std::views::iota(0, 50) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) { return parmap_test::Tracked(live, k); })(i);
               });
  SECTION("list") { CHECK_THROWS_AS(parmap::Parallel(options)(tasks), ProgressFailure); }
  SECTION("generator") {
    parmap::Parallel parallel(options, parmap::return_as::generator);
    CHECK_THROWS_AS(
        [&] {
          for ([[maybe_unused]] auto&& r : parallel(tasks)) {
          }
        }(),
        ProgressFailure);
    CHECK(parallel.last_report().failed);
    CHECK_FALSE(parallel.last_report().finished);
  }
  CHECK(calls.load() >= 1);
  CHECK(live.live.load() == 0);
}

TEST_CASE("calling a moved-from Parallel throws std::logic_error", "[contract]") {
  parmap::Parallel a({.n_jobs = 2});
  parmap::Parallel b(std::move(a));
  auto tasks = std::views::iota(0, 3) | std::views::transform([](int i) {
                 return parmap::delayed([](int k) { return k; })(i);
               });
  CHECK(b(tasks).size() == 3);
  // NOLINTNEXTLINE(bugprone-use-after-move): the point of the test
  CHECK_THROWS_AS(a(tasks), std::logic_error);
}

TEST_CASE("an input read in place that throws after its task's timeout fails the run, collecting too",
          "[contract][timeout]") {
  parmap_test::Watchdog watchdog("late input error under collect");
  struct ReadFailure {};
  auto tasks = std::views::iota(0, 6) | std::views::transform([](int i) {
                 if (i == 2) {
                   std::this_thread::sleep_for(std::chrono::milliseconds(50));
                   throw ReadFailure{};
                 }
                 return parmap::delayed([](int k) { return k; })(i);
               });
  CHECK_THROWS_AS(parmap::Parallel({.n_jobs = 2, .timeout = std::chrono::milliseconds(5)},
                                   parmap::return_as::list, parmap::on_error::collect)(tasks),
                  ReadFailure);
}

TEST_CASE("every idle worker joins a new batch, not only the one woken to read it", "[contract]") {
  parmap_test::Watchdog watchdog("idle workers split a new batch");
  // Four workers, a window of one batch of four tasks, and a consumer slow enough that the
  // workers fall asleep between batches. Each task waits until all four of its batch run at
  // once, which happens only if every sleeping worker was woken for the new batch.
  const int n_jobs = 4;
  const int batches = 3;
  parmap_test::Counter arrived;
  std::atomic<int> timed_out{0};
  auto tasks = std::views::iota(0, n_jobs * batches) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   arrived.add();
                   if (!arrived.wait_for_at_least((k / n_jobs + 1) * n_jobs,
                                                  std::chrono::seconds(5))) {
                     ++timed_out;
                   }
                   return k;
                 })(i);
               });
  int taken = 0;
  for (const int r : parmap::Parallel({.n_jobs = n_jobs, .pre_dispatch = 1, .batch_size = n_jobs},
                                      parmap::return_as::generator)(tasks)) {
    CHECK(r == taken++);
    if (r % n_jobs == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(taken == n_jobs * batches);
  CHECK(timed_out.load() == 0);
}

TEST_CASE("no more threads run tasks at once than n_jobs while the consumer runs some in a seat",
          "[contract]") {
  parmap_test::Watchdog watchdog("no more threads run tasks at once than n_jobs");
  // n_jobs fills the hardware threads, so the waiting consumer runs tasks only in a seat a
  // worker lends it ("Who runs tasks", docs/guarantees.md). Tasks of 0.8 ms are short enough
  // for the seat (under 1 ms) and longer than the interval after which an unused seat is
  // taken back (0.5 ms): the worker must not take its seat back while the consumer runs one.
  const int n_jobs = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  const int n = 300 * n_jobs;  // about 0.25 s per mode
  std::atomic<int> running{0};
  std::atomic<int> most_running{0};
  auto tasks = std::views::iota(0, n) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   const int now = ++running;
                   int seen = most_running.load();
                   while (now > seen && !most_running.compare_exchange_weak(seen, now)) {
                   }
                   const auto until =
                       std::chrono::steady_clock::now() + std::chrono::microseconds(800);
                   while (std::chrono::steady_clock::now() < until) {
                   }
                   --running;
                   return k;
                 })(i);
               });
  long sum = 0;
  SECTION("list") {
    for (const int r : parmap::Parallel({.n_jobs = n_jobs})(tasks)) sum += r;
  }
  SECTION("generator") {
    for (const int r : parmap::Parallel({.n_jobs = n_jobs}, parmap::return_as::generator)(tasks)) {
      sum += r;
    }
  }
  SECTION("generator_unordered") {
    for (const int r :
         parmap::Parallel({.n_jobs = n_jobs}, parmap::return_as::generator_unordered)(tasks)) {
      sum += r;
    }
  }
  CHECK(sum == static_cast<long>(n) * (n - 1) / 2);
  CHECK(most_running.load() <= n_jobs);
}
