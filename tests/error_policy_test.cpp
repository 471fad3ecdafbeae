// on_error::collect ("errors as values"): every item arrives as a parmap::Outcome carrying
// its input index and either the task's result or the task's exception, with its original
// type; the run goes on past errors. Void tasks give Outcome<void>. An exception of the input
// range itself still ends the run: it is not a task's outcome (RunCore: "With
// collect_errors, a task's exception (or timeout) is stored as its outcome instead").

#include "support/catch.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <algorithm>  // std::sort, std::adjacent_find: no outcome twice
#include <atomic>     // std::atomic: how many tasks ran
#include <concepts>   // std::same_as: the types a call returns
#include <cstdint>    // std::uint64_t: the seed
#include <exception>  // std::exception_ptr, std::rethrow_exception
#include <random>     // std::mt19937_64: which tasks fail
#include <ranges>     // std::views::iota, transform
#include <stdexcept>  // std::out_of_range
#include <string>     // std::string
#include <utility>    // std::move
#include <vector>     // std::vector: outcomes

namespace {

// Three unrelated exception types, so "keeps its original type" cannot pass by accident:
// a standard one, a class not derived from std::exception, and a plain int.
struct NotAnException {
  int index;
  std::string note;
};

enum class Failure { none, out_of_range, custom, integer };

Failure failure_of(const std::vector<bool>& fails, int k) {
  if (!fails[k]) return Failure::none;
  switch (k % 3) {
    case 0: return Failure::out_of_range;
    case 1: return Failure::custom;
    default: return Failure::integer;
  }
}

[[noreturn]] void throw_failure(Failure f, int k) {
  switch (f) {
    case Failure::out_of_range: throw std::out_of_range("task " + std::to_string(k));
    case Failure::custom: throw NotAnException{k, "custom " + std::to_string(k)};
    default: throw k + 1000;
  }
}

// Checks that `error` is exactly what task k threw.
void check_error(const std::exception_ptr& error, Failure f, int k) {
  REQUIRE(error != nullptr);
  try {
    std::rethrow_exception(error);
  } catch (const std::out_of_range& e) {
    CHECK(f == Failure::out_of_range);
    CHECK(std::string(e.what()) == "task " + std::to_string(k));
  } catch (const NotAnException& e) {
    CHECK(f == Failure::custom);
    CHECK(e.index == k);
    CHECK(e.note == "custom " + std::to_string(k));
  } catch (int e) {
    CHECK(f == Failure::integer);
    CHECK(e == k + 1000);
  } catch (...) {
    FAIL("task " << k << ": an exception of another type");
  }
}

// Checks one outcome against what task k (its index) did.
void check_outcome(parmap::Outcome<int>& o, const std::vector<bool>& fails) {
  REQUIRE(o.index() < fails.size());
  const int k = static_cast<int>(o.index());
  const Failure f = failure_of(fails, k);
  if (f == Failure::none) {
    REQUIRE(o.has_value());
    CHECK(static_cast<bool>(o));
    CHECK(o.error() == nullptr);
    CHECK(o.value() == k * 7);
  } else {
    REQUIRE_FALSE(o.has_value());
    CHECK_FALSE(static_cast<bool>(o));
    check_error(o.error(), f, k);
    // value() rethrows the same exception.
    std::exception_ptr from_value;
    try {
      static_cast<void>(o.value());
    } catch (...) {
      from_value = std::current_exception();
    }
    check_error(from_value, f, k);
  }
}

}  // namespace

TEST_CASE("on_error::collect yields every item as an Outcome with its index and the task's "
          "original exception, and the run goes on past errors",
          "[on_error]") {
  parmap_test::Watchdog watchdog("on_error::collect: every mode", std::chrono::seconds(60));
  const std::uint64_t seed = GENERATE(1u, 2u, 3u);
  constexpr int n = 120;
  std::mt19937_64 rng(seed);
  std::vector<bool> fails(n, false);
  for (int j = 0; j < 20; ++j) fails[rng() % n] = true;
  CAPTURE(seed);

  std::atomic<int> ran{0};
  auto tasks = std::views::iota(0, n) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   ++ran;
                   if (const Failure f = failure_of(fails, k); f != Failure::none) throw_failure(f, k);
                   return k * 7;
                 })(i);
               });

  const int n_jobs = GENERATE(1, 2, 4);
  const int batch = GENERATE(0, 1, 3);  // 0: automatic
  CAPTURE(n_jobs, batch);
  parmap::Options options{.n_jobs = n_jobs};
  if (batch > 0) options.batch_size = batch;

  SECTION("list") {
    parmap::Parallel parallel(options, parmap::return_as::list, parmap::on_error::collect);
    auto all = parallel(tasks);
    static_assert(std::same_as<decltype(all), std::vector<parmap::Outcome<int>>>);
    REQUIRE(all.size() == n);
    for (std::size_t i = 0; i < all.size(); ++i) {
      CHECK(all[i].index() == i);
      check_outcome(all[i], fails);
    }
  }
  SECTION("generator: input order") {
    parmap::Parallel parallel(options, parmap::return_as::generator, parmap::on_error::collect);
    std::size_t next = 0;
    for (parmap::Outcome<int> o : parallel(tasks)) {
      CHECK(o.index() == next++);
      check_outcome(o, fails);
    }
    CHECK(next == n);
  }
  SECTION("generator_unordered: every index once") {
    parmap::Parallel parallel(options, parmap::return_as::generator_unordered,
                              parmap::on_error::collect);
    std::vector<int> seen(n, 0);
    for (auto [index, o] : parallel(tasks).indexed()) {
      CHECK(index == o.index());
      ++seen.at(o.index());
      check_outcome(o, fails);
    }
    for (int k = 0; k < n; ++k) CHECK(seen[k] == 1);
  }
  CHECK(ran == n);  // no error stopped the run
}

TEST_CASE("void tasks under on_error::collect give Outcome<void> with index and exception",
          "[on_error]") {
  parmap_test::Watchdog watchdog("on_error::collect: void tasks", std::chrono::seconds(60));
  constexpr int n = 30;
  std::vector<bool> fails(n, false);
  for (const int k : {0, 4, 5, 17, 29}) fails[k] = true;
  std::atomic<int> ran{0};
  auto tasks = std::views::iota(0, n) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   ++ran;
                   if (const Failure f = failure_of(fails, k); f != Failure::none) throw_failure(f, k);
                 })(i);
               });
  const auto check = [&](const parmap::Outcome<void>& o) {
    REQUIRE(o.index() < static_cast<std::size_t>(n));
    const int k = static_cast<int>(o.index());
    const Failure f = failure_of(fails, k);
    CHECK(o.has_value() == (f == Failure::none));
    if (f == Failure::none) {
      CHECK(o.error() == nullptr);
      CHECK_NOTHROW(o.value());
    } else {
      check_error(o.error(), f, k);
      std::exception_ptr from_value;
      try {
        o.value();
      } catch (...) {
        from_value = std::current_exception();
      }
      check_error(from_value, f, k);
    }
  };
  const int n_jobs = GENERATE(1, 3);
  CAPTURE(n_jobs);
  ran = 0;

  SECTION("list") {
    auto all = parmap::Parallel(n_jobs, parmap::return_as::list, parmap::on_error::collect)(tasks);
    static_assert(std::same_as<decltype(all), std::vector<parmap::Outcome<void>>>);
    REQUIRE(all.size() == n);
    for (std::size_t i = 0; i < all.size(); ++i) {
      CHECK(all[i].index() == i);
      check(all[i]);
    }
  }
  SECTION("generator") {
    parmap::Parallel parallel(n_jobs, parmap::return_as::generator, parmap::on_error::collect);
    auto range = parallel(tasks);
    static_assert(std::same_as<decltype(range), parmap::ResultRange<parmap::Outcome<void>>>);
    std::size_t next = 0;
    for (const parmap::Outcome<void>& o : range) {
      CHECK(o.index() == next++);
      check(o);
    }
    CHECK(next == n);
  }
  SECTION("generator_unordered") {
    parmap::Parallel parallel(n_jobs, parmap::return_as::generator_unordered,
                              parmap::on_error::collect);
    std::vector<int> seen(n, 0);
    for (const parmap::Outcome<void>& o : parallel(tasks)) {
      ++seen.at(o.index());
      check(o);
    }
    for (int k = 0; k < n; ++k) CHECK(seen[k] == 1);
  }
  CHECK(ran == n);
}

namespace {

struct InputBroke {
  int position;
};

// Tasks 0..n-1 returning 7 * i; building task `throw_at` throws InputBroke (an error of the
// input range, not of a task).
auto input_breaking_at(int n, int throw_at) {
  return std::views::iota(0, n) | std::views::transform([throw_at](int i) {
           if (i == throw_at) throw InputBroke{i};
           return parmap::delayed([](int k) { return k * 7; })(i);
         });
}

}  // namespace

TEST_CASE("under on_error::collect an exception of the input range still ends the run",
          "[on_error]") {
  parmap_test::Watchdog watchdog("on_error::collect: input error", std::chrono::seconds(60));
  constexpr int n = 50;
  constexpr int throw_at = 9;
  auto tasks = input_breaking_at(n, throw_at);
  std::vector<bool> no_failures(n, false);

  SECTION("list: the call throws the input's exception") {
    const int n_jobs = GENERATE(1, 2);
    parmap::Parallel parallel(n_jobs, parmap::return_as::list, parmap::on_error::collect);
    try {
      static_cast<void>(parallel(tasks));
      FAIL("no exception");
    } catch (const InputBroke& e) {
      CHECK(e.position == throw_at);
    }
    CHECK(parallel.last_report().failed);
  }
  SECTION("generator, inline: exactly the outcomes before it, then the exception") {
    parmap::Parallel parallel(1, parmap::return_as::generator, parmap::on_error::collect);
    std::vector<std::size_t> got;
    try {
      for (parmap::Outcome<int> o : parallel(tasks)) {
        check_outcome(o, no_failures);
        got.push_back(o.index());
      }
      FAIL("no exception");
    } catch (const InputBroke& e) {
      CHECK(e.position == throw_at);
    }
    CHECK(got == std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8});
  }
  SECTION("generator and generator_unordered with workers: no outcome after it") {
    // The input is read in place: other threads read and run tasks 10, 11, ... while task 9's
    // read throws. In input order nothing after position 9 may come out; in completion order,
    // outcomes of tasks that finished before the failure was seen may, whatever their index.
    const auto run = [&](auto mode) {
      parmap::Parallel parallel({.n_jobs = 3, .batch_size = 2}, mode, parmap::on_error::collect);
      std::vector<std::size_t> got;
      try {
        for (parmap::Outcome<int> o : parallel(tasks)) {
          check_outcome(o, no_failures);
          got.push_back(o.index());
        }
        FAIL("no exception");
      } catch (const InputBroke& e) {
        CHECK(e.position == throw_at);
      }
      for (const std::size_t i : got) CHECK(i != static_cast<std::size_t>(throw_at));
      CHECK(parallel.last_report().failed);
      return got;
    };
    const std::vector<std::size_t> ordered = run(parmap::return_as::generator);
    CHECK(ordered.size() <= static_cast<std::size_t>(throw_at));
    for (std::size_t i = 0; i < ordered.size(); ++i) CHECK(ordered[i] == i);  // a prefix
    std::vector<std::size_t> unordered = run(parmap::return_as::generator_unordered);
    std::sort(unordered.begin(), unordered.end());
    CHECK(std::adjacent_find(unordered.begin(), unordered.end()) == unordered.end());
  }
}

TEST_CASE("the default policy (on_error::raise) still fails fast with the original type",
          "[on_error]") {
  parmap_test::Watchdog watchdog("on_error::raise", std::chrono::seconds(60));
  constexpr int n = 40;
  std::vector<bool> fails(n, false);
  fails[13] = true;  // 13 % 3 == 1: NotAnException
  auto tasks = std::views::iota(0, n) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   if (const Failure f = failure_of(fails, k); f != Failure::none) throw_failure(f, k);
                   return k;
                 })(i);
               });
  parmap::Parallel parallel(2, parmap::return_as::generator);
  std::vector<int> got;
  try {
    for (const int v : parallel(tasks)) got.push_back(v);
    FAIL("no exception");
  } catch (const NotAnException& e) {
    CHECK(e.index == 13);
  }
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == static_cast<int>(i));
  CHECK(got.size() <= 13);
}
