// return_as::generator_unordered: results in completion order, with .indexed() to learn
// each result's input index.

#include "support/catch.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <algorithm>  // std::sort
#include <atomic>     // std::atomic: run counts of void tasks
#include <chrono>     // std::chrono::milliseconds: slow tasks
#include <cstddef>    // std::size_t
#include <memory>     // std::unique_ptr: a move-only result
#include <ranges>     // std::views::iota, transform
#include <thread>     // std::this_thread::sleep_for: a slow task
#include <vector>     // std::vector: collected results

namespace {

int encode(int i) { return i * 7 + 1; }

// Every fifth task is slow, so completion order differs from input order.
int uneven(int i) {
  if (i % 5 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return encode(i);
}

auto uneven_tasks(int n) {
  return std::views::iota(0, n) |
         std::views::transform([](int i) { return parmap::delayed(uneven)(i); });
}

}  // namespace

TEST_CASE("a slow first task does not hold back the others in completion order", "[unordered]") {
  parmap_test::Watchdog watchdog("a slow first task does not hold back the others in completion order");
  // Task 0 blocks until the consumer has received every other result; only then does the
  // consumer open its gate. A mode that yielded in input order would never get there.
  const int n = 20;
  // Catch2's assertions are not thread-safe: tasks record, the test thread checks.
  parmap_test::TimedGate gate;
  std::atomic<bool> gate_timed_out{false};
  auto tasks = std::views::iota(0, n) | std::views::transform([&gate, &gate_timed_out](int i) {
                 return parmap::delayed([&gate, &gate_timed_out](int k) {
                   if (k == 0 && !gate.wait()) gate_timed_out = true;
                   return k;
                 })(i);
               });
  const int window = GENERATE(2, 4);
  std::vector<int> order;
  for (int k : parmap::Parallel({.n_jobs = 2, .pre_dispatch = window, .batch_size = 1},
                                parmap::return_as::generator_unordered)(tasks)) {
    parmap_test::OpenOnUnwind open_on_failure(gate);
    order.push_back(k);
    if (order.size() == static_cast<std::size_t>(n - 1)) {
      CHECK(gate.waiting() == 1);  // task 0 is still blocked
      gate.open();
    }
  }
  REQUIRE(order.size() == static_cast<std::size_t>(n));
  CHECK_FALSE(gate_timed_out.load());
  CHECK(order.back() == 0);
  std::sort(order.begin(), order.end() - 1);
  for (int i = 1; i < n; ++i) CHECK(order[static_cast<std::size_t>(i - 1)] == i);
}

TEST_CASE("indexed() pairs each unordered result with its input index", "[unordered]") {
  parmap_test::Watchdog watchdog("indexed() pairs each unordered result with its input index");
  const int n = 60;
  const int n_jobs = GENERATE(1, 2, 3);
  const int batch = GENERATE(1, 3);
  std::vector<int> seen(n, 0);
  for (auto r : parmap::Parallel({.n_jobs = n_jobs, .batch_size = batch},
                                 parmap::return_as::generator_unordered)(uneven_tasks(n))
                    .indexed()) {
    REQUIRE(r.index < static_cast<std::size_t>(n));
    CHECK(r.value == encode(static_cast<int>(r.index)));
    ++seen[r.index];
  }
  for (int i = 0; i < n; ++i) {
    INFO("index " << i);
    CHECK(seen[static_cast<std::size_t>(i)] == 1);
  }
}

TEST_CASE("indexed() also works on the ordered generator", "[unordered]") {
  parmap_test::Watchdog watchdog("indexed() also works on the ordered generator");
  std::size_t expected = 0;
  for (auto r : parmap::Parallel({.n_jobs = 2, .batch_size = 2}, parmap::return_as::generator)(
                    uneven_tasks(15))
                    .indexed()) {
    CHECK(r.index == expected);
    CHECK(r.value == encode(static_cast<int>(expected)));
    ++expected;
  }
  CHECK(expected == 15);
}

TEST_CASE("the unordered results are the ordered results as a multiset", "[unordered]") {
  parmap_test::Watchdog watchdog("the unordered results are the ordered results as a multiset");
  const int n = 80;
  const std::vector<int> ordered = parmap::Parallel({.n_jobs = 3})(uneven_tasks(n));
  std::vector<int> unordered;
  for (int r : parmap::Parallel({.n_jobs = 3}, parmap::return_as::generator_unordered)(
           uneven_tasks(n))) {
    unordered.push_back(r);
  }
  REQUIRE(unordered.size() == ordered.size());
  std::sort(unordered.begin(), unordered.end());
  std::vector<int> sorted_ordered = ordered;
  std::sort(sorted_ordered.begin(), sorted_ordered.end());
  CHECK(unordered == sorted_ordered);
}

TEST_CASE("move-only results come out of the unordered generator", "[unordered]") {
  parmap_test::Watchdog watchdog("move-only results come out of the unordered generator");
  const int n = 30;
  auto tasks = std::views::iota(0, n) | std::views::transform([](int i) {
                 return parmap::delayed([](int k) { return std::make_unique<int>(encode(k)); })(i);
               });
  int count = 0;
  for (auto r : parmap::Parallel({.n_jobs = GENERATE(1, 2)}, parmap::return_as::generator_unordered)(
                    tasks)
                    .indexed()) {
    REQUIRE(r.value != nullptr);
    CHECK(*r.value == encode(static_cast<int>(r.index)));
    ++count;
  }
  CHECK(count == n);
}

TEST_CASE("unordered void tasks yield the indices of the finished tasks", "[unordered]") {
  parmap_test::Watchdog watchdog("unordered void tasks yield the indices of the finished tasks");
  const int n = 40;
  std::vector<std::atomic<int>> runs(n);
  auto tasks = std::views::iota(0, n) | std::views::transform([&runs](int i) {
                 return parmap::delayed([&runs](int k) { runs[static_cast<std::size_t>(k)]++; })(i);
               });
  std::vector<int> seen(n, 0);
  for (std::size_t index : parmap::Parallel({.n_jobs = 2}, parmap::return_as::generator_unordered)(tasks)) {
    REQUIRE(index < static_cast<std::size_t>(n));
    CHECK(runs[index].load() == 1);  // yielded only once it has run
    ++seen[index];
  }
  for (int i = 0; i < n; ++i) CHECK(seen[static_cast<std::size_t>(i)] == 1);
}
