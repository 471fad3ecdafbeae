// return_as::generator: a lazy std::ranges::input_range of results in input order.

#include "support/catch.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <atomic>   // std::atomic: task counters
#include <memory>   // std::unique_ptr: a move-only result
#include <ranges>   // std::views::iota, transform, filter, take; std::ranges::input_range
#include <string>   // std::to_string: completion-order log entries
#include <thread>   // std::this_thread::sleep_for: tasks longer than the helping limit
#include <vector>   // std::vector: collected results

namespace {

int square(int i) { return i * i; }

auto square_tasks(int n) {
  return std::views::iota(0, n) |
         std::views::transform([](int i) { return parmap::delayed(square)(i); });
}

}  // namespace

TEST_CASE("the ordered generator yields input order even when later tasks finish first",
          "[ordered]") {
  parmap_test::Watchdog watchdog(
      "the ordered generator yields input order even when later tasks finish first");
  // Task 0 waits until task 3 has run (two workers, a window of four): results 1, 2 and 3 are
  // finished before result 0, and must still come after it.
  // Catch2's assertions are not thread-safe: tasks record, the test thread checks.
  parmap_test::TimedGate gate;
  std::atomic<bool> gate_timed_out{false};
  parmap_test::EventLog completed;
  auto tasks = std::views::iota(0, 30) | std::views::transform([&](int i) {
                 return parmap::delayed([&gate, &gate_timed_out, &completed](int k) {
                   if (k == 0 && !gate.wait()) gate_timed_out = true;
                   if (k == 3) gate.open();
                   completed.add(std::to_string(k));
                   return square(k);
                 })(i);
               });

  std::vector<int> yielded;
  for (int r :
       parmap::Parallel({.n_jobs = 2, .pre_dispatch = 4, .batch_size = 1},
                        parmap::return_as::generator)(tasks)) {
    yielded.push_back(r);
  }

  std::vector<int> expected;
  for (int i = 0; i < 30; ++i) expected.push_back(square(i));
  REQUIRE(yielded == expected);
  CHECK_FALSE(gate_timed_out.load());
  const auto order = completed.events();
  REQUIRE(order.size() == 30);
  CHECK(order.front() != "0");  // task 0 really finished after later tasks
}

TEST_CASE("the ordered generator is an input range that composes with standard views",
          "[ordered]") {
  parmap_test::Watchdog watchdog(
      "the ordered generator is an input range that composes with standard views");
  using Range = decltype(parmap::Parallel({.n_jobs = 2}, parmap::return_as::generator)(
      square_tasks(1)));
  static_assert(std::ranges::input_range<Range>);

  parmap::Parallel parallel({.n_jobs = 2, .pre_dispatch = 3}, parmap::return_as::generator);
  std::vector<int> expected;
  for (int i = 0; i < 100; ++i) {
    if (square(i) % 3 == 1) expected.push_back(square(i) + 1);
  }
  expected.resize(7);

  std::vector<int> got;
  for (int r : parallel(square_tasks(100)) |
                   std::views::filter([](const int& v) { return v % 3 == 1; }) |
                   std::views::transform([](int v) { return v + 1; }) | std::views::take(7)) {
    got.push_back(r);
  }
  CHECK(got == expected);

  SECTION("an lvalue result range works with the views too") {
    auto results = parallel(square_tasks(20));
    std::vector<int> firsts;
    for (int r : results | std::views::take(5)) firsts.push_back(r);
    CHECK(firsts == std::vector<int>{0, 1, 4, 9, 16});
    // The rest is still there for a later loop.
    std::vector<int> rest;
    for (int r : results) rest.push_back(r);
    REQUIRE(rest.size() == 15);
    CHECK(rest.front() == 25);
    CHECK(rest.back() == 361);
  }
}

TEST_CASE("take(10) on an infinite input stops all work once the range is gone", "[ordered]") {
  parmap_test::Watchdog watchdog("take(10) on an infinite input stops all work once the range is gone");
  const int n_jobs = 2;
  const int window = 4;
  const int batch = GENERATE(1, 3);
  std::atomic<long> started{0};
  auto tasks = std::views::iota(0) | std::views::transform([&started](int i) {
                 return parmap::delayed([&started](int k) {
                   started++;
                   return k;
                 })(i);
               });
  static_assert(!std::ranges::sized_range<decltype(tasks)>);
  parmap::Parallel parallel({.n_jobs = n_jobs, .pre_dispatch = window, .batch_size = batch},
                            parmap::return_as::generator);

  std::vector<int> got;
  for (int r : parallel(tasks) | std::views::take(10)) got.push_back(r);
  // The range died at the end of the loop statement: its destructor has returned.

  CHECK(got == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  const long after = started.load();
  CHECK(after >= 10);
  CHECK(after <= 10 + window * batch);

  // Any job of the dead run still queued on its pool would run before these (FIFO), so once
  // every worker has taken one of them, a task that started late would have been counted.
  REQUIRE(parmap_test::occupy_every_worker(parallel, n_jobs, batch));
  CHECK(started.load() == after);
}

TEST_CASE("take(n) does not wait for the result after the n-th", "[ordered]") {
  parmap_test::Watchdog watchdog("take(n) does not wait for the result after the n-th");
  // Task 5 blocks (with a limit) until the test opens the gate after the loop. If taking five
  // results waited for a sixth, the loop would only end when task 5 gave up. The other tasks
  // take 2 ms, more than the consumer's helping limit: a task that waits for the consumer
  // must not run on the consumer's thread (see "Who runs tasks" in the README).
  parmap_test::TimedGate gate;
  std::atomic<bool> task5_gave_up{false};
  auto tasks = std::views::iota(0) | std::views::transform([&](int i) {
                 return parmap::delayed([&gate, &task5_gave_up](int k) {
                   if (k == 5) {
                     if (!gate.wait()) task5_gave_up = true;
                   } else {
                     std::this_thread::sleep_for(parmap_test::beyond_helping_limit);
                   }
                   return k;
                 })(i);
               });
  const int n_jobs = GENERATE(1, 2);
  parmap::Parallel parallel({.n_jobs = n_jobs, .pre_dispatch = 8, .batch_size = 1},
                            parmap::return_as::generator);
  auto results = parallel(tasks);
  std::vector<int> got;
  for (int r : results | std::views::take(5)) got.push_back(r);
  gate.open();

  CHECK(got == std::vector<int>{0, 1, 2, 3, 4});
  CHECK_FALSE(task5_gave_up.load());
}

TEST_CASE("move-only results come out of the ordered generator", "[ordered]") {
  parmap_test::Watchdog watchdog("move-only results come out of the ordered generator");
  auto tasks = std::views::iota(0, 25) | std::views::transform([](int i) {
                 return parmap::delayed([](int k) { return std::make_unique<int>(k); })(i);
               });
  int expected = 0;
  for (std::unique_ptr<int> p :
       parmap::Parallel({.n_jobs = GENERATE(1, 2), .batch_size = GENERATE(1, 4)},
                        parmap::return_as::generator)(tasks)) {
    REQUIRE(p != nullptr);
    CHECK(*p == expected++);
  }
  CHECK(expected == 25);
}
