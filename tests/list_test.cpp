// return_as::list, the default mode: the call blocks and returns every result in a
// std::vector, in input order.

#include "support/catch.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <atomic>       // std::atomic: flags and counts written by tasks
#include <functional>   // std::function: a container of tasks
#include <memory>       // std::unique_ptr: a move-only result
#include <ranges>       // std::views::iota, transform, filter
#include <string>       // std::to_string: completion-order log entries
#include <type_traits>  // std::is_void_v, std::is_same_v, std::is_default_constructible_v
#include <vector>       // std::vector: what list mode returns

namespace {

int square(int i) { return i * i; }

std::vector<int> squares(int n) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i) out.push_back(square(i));
  return out;
}

auto square_tasks(int n) {
  return std::views::iota(0, n) |
         std::views::transform([](int i) { return parmap::delayed(square)(i); });
}

// A result type without a default constructor.
class NoDefault {
 public:
  explicit NoDefault(int v) : v_(v) {}
  [[nodiscard]] int value() const { return v_; }

 private:
  int v_;
};

}  // namespace

TEST_CASE("list returns every result in input order even when later tasks finish first",
          "[list]") {
  parmap_test::Watchdog watchdog(
      "list returns every result in input order even when later tasks finish first");
  // Task 0 waits until task 3 has run: with two workers and a window of four, one worker holds
  // task 0 while the other runs 1, 2 and 3, so completion order is not input order.
  // Catch2's assertions are not thread-safe: tasks record, the test thread checks.
  parmap_test::TimedGate gate;
  std::atomic<bool> gate_timed_out{false};
  parmap_test::EventLog completed;
  auto tasks = std::views::iota(0, 40) | std::views::transform([&](int i) {
                 return parmap::delayed([&gate, &gate_timed_out, &completed](int k) {
                   if (k == 0 && !gate.wait()) gate_timed_out = true;
                   if (k == 3) gate.open();
                   completed.add(std::to_string(k));
                   return square(k);
                 })(i);
               });

  const std::vector<int> results =
      parmap::Parallel({.n_jobs = 2, .pre_dispatch = 4, .batch_size = 1})(tasks);

  REQUIRE(results == squares(40));
  CHECK_FALSE(gate_timed_out.load());
  const auto order = completed.events();
  REQUIRE(order.size() == 40);
  CHECK(order.front() != "0");  // the interleaving really happened
}

TEST_CASE("list of an empty input is an empty vector", "[list]") {
  parmap_test::Watchdog watchdog("list of an empty input is an empty vector");
  const int n_jobs = GENERATE(1, 2);
  SECTION("an empty view") {
    const std::vector<int> results = parmap::Parallel({.n_jobs = n_jobs})(square_tasks(0));
    CHECK(results.empty());
  }
  SECTION("an empty container") {
    const std::vector<std::function<int()>> tasks;
    const std::vector<int> results = parmap::Parallel({.n_jobs = n_jobs})(tasks);
    CHECK(results.empty());
  }
}

TEST_CASE("list accepts sized and unsized inputs alike", "[list]") {
  parmap_test::Watchdog watchdog("list accepts sized and unsized inputs alike");
  parmap::Parallel parallel({.n_jobs = 3});
  constexpr int n = 57;  // constexpr: the take_while lambda reads it without a capture

  SECTION("a sized view") {
    auto tasks = square_tasks(n);
    static_assert(std::ranges::sized_range<decltype(tasks)>);
    CHECK(parallel(tasks) == squares(n));
  }
  SECTION("an unsized view") {
    auto tasks = std::views::iota(0) | std::views::take_while([](int i) { return i < n; }) |
                 std::views::transform([](int i) { return parmap::delayed(square)(i); });
    static_assert(!std::ranges::sized_range<decltype(tasks)>);
    CHECK(parallel(tasks) == squares(n));
  }
  SECTION("an rvalue container") {
    std::vector<std::function<int()>> tasks;
    for (int i = 0; i < n; ++i) tasks.emplace_back([i] { return square(i); });
    CHECK(parallel(std::move(tasks)) == squares(n));
  }
}

TEST_CASE("list of void tasks returns void once every task has run", "[list]") {
  parmap_test::Watchdog watchdog("list of void tasks returns void once every task has run");
  const int n_jobs = GENERATE(1, 2, 4);
  const int n = 100;
  std::vector<std::atomic<int>> runs(n);
  auto tasks = std::views::iota(0, n) | std::views::transform([&runs](int i) {
                 return parmap::delayed([&runs](int k) { runs[static_cast<std::size_t>(k)]++; })(i);
               });
  parmap::Parallel parallel({.n_jobs = n_jobs});
  static_assert(std::is_void_v<decltype(parallel(tasks))>);

  parallel(tasks);

  for (int i = 0; i < n; ++i) {
    INFO("task " << i);
    CHECK(runs[static_cast<std::size_t>(i)].load() == 1);
  }
}

TEST_CASE("list collects move-only and non-default-constructible results", "[list]") {
  parmap_test::Watchdog watchdog("list collects move-only and non-default-constructible results");
  const int n_jobs = GENERATE(1, 2);
  const int n = 33;
  parmap::Parallel parallel({.n_jobs = n_jobs, .batch_size = GENERATE(1, 4)});

  SECTION("std::unique_ptr") {
    auto tasks = std::views::iota(0, n) | std::views::transform([](int i) {
                   return parmap::delayed([](int k) { return std::make_unique<int>(square(k)); })(i);
                 });
    std::vector<std::unique_ptr<int>> results = parallel(tasks);
    REQUIRE(results.size() == static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      REQUIRE(results[static_cast<std::size_t>(i)] != nullptr);
      CHECK(*results[static_cast<std::size_t>(i)] == square(i));
    }
  }
  SECTION("a type without a default constructor") {
    static_assert(!std::is_default_constructible_v<NoDefault>);
    auto tasks = std::views::iota(0, n) | std::views::transform([](int i) {
                   return parmap::delayed([](int k) { return NoDefault(square(k)); })(i);
                 });
    const std::vector<NoDefault> results = parallel(tasks);
    REQUIRE(results.size() == static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) CHECK(results[static_cast<std::size_t>(i)].value() == square(i));
  }
}
