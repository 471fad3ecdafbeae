// parmap::map: the list-mode shorthand. Results in input order from views and containers,
// lvalue and rvalue; f shared by reference, not copied per task; options passed through and
// validated; void f; the first exception reaches the caller.

#include "support/catch.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <atomic>     // std::atomic: calls and copies counted across workers
#include <ranges>     // std::views::iota, std::views::filter
#include <stdexcept>  // std::runtime_error, std::invalid_argument
#include <string>     // std::string: an element type that owns memory
#include <type_traits>  // std::is_void_v
#include <vector>     // std::vector

namespace {

std::vector<long> squares(int n) {
  std::vector<long> out;
  for (int i = 0; i < n; ++i) out.push_back(static_cast<long>(i) * i);
  return out;
}

// A function object that counts its copies: map must call the caller's one.
struct CountingSquare {
  std::atomic<int>* copies;
  std::atomic<int>* calls;
  CountingSquare(std::atomic<int>& c, std::atomic<int>& k) : copies(&c), calls(&k) {}
  CountingSquare(const CountingSquare& other) : copies(other.copies), calls(other.calls) { ++*copies; }
  CountingSquare& operator=(const CountingSquare&) = delete;
  long operator()(int i) const {
    ++*calls;
    return static_cast<long>(i) * i;
  }
};

}  // namespace

TEST_CASE("map returns f of every element in input order", "[map]") {
  parmap_test::Watchdog watchdog("map: input order");
  const auto square = [](int i) { return static_cast<long>(i) * i; };

  SECTION("from a view") {
    CHECK(parmap::map(square, std::views::iota(0, 1000), {.n_jobs = 2}) == squares(1000));
  }
  SECTION("from an lvalue container, which is left intact") {
    const std::vector<std::string> words{"a", "bb", "ccc", "dddd"};
    const auto sizes = parmap::map([](const std::string& w) { return w.size(); }, words, {.n_jobs = 2});
    CHECK(sizes == std::vector<std::size_t>{1, 2, 3, 4});
    CHECK(words == std::vector<std::string>{"a", "bb", "ccc", "dddd"});
  }
  SECTION("from an rvalue container") {
    std::vector<int> xs;
    for (int i = 0; i < 100; ++i) xs.push_back(i);
    CHECK(parmap::map(square, std::move(xs), {.n_jobs = 3}) == squares(100));
  }
  SECTION("from a single-pass filtered view, inline") {
    auto odd = std::views::iota(0, 10) | std::views::filter([](int i) { return i % 2 == 1; });
    CHECK(parmap::map(square, odd, {.n_jobs = 1}) == std::vector<long>{1, 9, 25, 49, 81});
  }
}

TEST_CASE("map calls the caller's function object without copying it per task", "[map]") {
  parmap_test::Watchdog watchdog("map: no copies of f");
  std::atomic<int> copies{0};
  std::atomic<int> calls{0};
  const CountingSquare f(copies, calls);
  CHECK(parmap::map(f, std::views::iota(0, 500), {.n_jobs = 2}) == squares(500));
  CHECK(calls.load() == 500);
  CHECK(copies.load() == 0);
}

TEST_CASE("map passes its options on, and bad ones throw std::invalid_argument", "[map]") {
  parmap_test::Watchdog watchdog("map: options");
  const auto square = [](int i) { return static_cast<long>(i) * i; };
  CHECK_THROWS_AS(parmap::map(square, std::views::iota(0, 3), {.n_jobs = 0}), std::invalid_argument);
  CHECK_THROWS_AS(parmap::map(square, std::views::iota(0, 3), {.n_jobs = 2, .batch_size = 0}),
                  std::invalid_argument);
  CHECK(parmap::map(square, std::views::iota(0, 50), {.n_jobs = 2, .pre_dispatch = 1, .batch_size = 7}) ==
        squares(50));
}

TEST_CASE("map with a void function runs every element and returns void", "[map]") {
  parmap_test::Watchdog watchdog("map: void");
  std::vector<std::atomic<int>> seen(200);
  auto mark = [&seen](int i) { ++seen[static_cast<std::size_t>(i)]; };
  static_assert(std::is_void_v<decltype(parmap::map(mark, std::views::iota(0, 200)))>);
  parmap::map(mark, std::views::iota(0, 200), {.n_jobs = 2});
  for (std::size_t i = 0; i < seen.size(); ++i) {
    INFO("element " << i);
    CHECK(seen[i].load() == 1);
  }
}

TEST_CASE("map rethrows the first exception of f to the caller", "[map]") {
  parmap_test::Watchdog watchdog("map: exception");
  auto fails_at_7 = [](int i) {
    if (i == 7) throw std::runtime_error("element 7");
    return i;
  };
  CHECK_THROWS_WITH(parmap::map(fails_at_7, std::views::iota(0, 100), {.n_jobs = 2}), "element 7");
}
