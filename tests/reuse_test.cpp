// A Parallel keeps its workers across calls and survives failed ones; it runs one call at a
// time (a second call while a result range is alive throws std::logic_error); separate
// Parallel objects are independent; a result range may outlive its Parallel.

#include "support/catch.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <algorithm>  // std::sort
#include <mutex>      // std::mutex: the set of worker ids
#include <optional>   // std::optional: a range whose lifetime the test ends by hand
#include <set>        // std::set: distinct worker ids
#include <ranges>     // std::views::iota, transform
#include <stdexcept>  // std::logic_error, std::runtime_error
#include <string>     // std::string: the error message
#include <thread>     // std::this_thread::get_id
#include <utility>    // std::move
#include <vector>     // std::vector: results

namespace {

int triple(int i) { return 3 * i; }

auto triple_tasks(int n, int offset = 0) {
  return std::views::iota(offset, offset + n) |
         std::views::transform([](int i) { return parmap::delayed(triple)(i); });
}

std::vector<int> triples(int n, int offset = 0) {
  std::vector<int> out;
  for (int i = offset; i < offset + n; ++i) out.push_back(triple(i));
  return out;
}

template <class Range>
std::vector<int> collect(Range&& range) {
  std::vector<int> out;
  for (int r : range) out.push_back(r);
  return out;
}

// The distinct threads that ran tasks.
struct ThreadIds {
  std::mutex mutex;
  std::set<std::thread::id> ids;  // guarded by mutex

  void record() {
    std::lock_guard lock(mutex);
    ids.insert(std::this_thread::get_id());
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return ids.size();
  }
};

auto recording_tasks(ThreadIds& threads, int n, int offset) {
  return std::views::iota(offset, offset + n) | std::views::transform([&threads](int i) {
           return parmap::delayed([&threads](int k) {
             threads.record();
             return triple(k);
           })(i);
         });
}

// The message of the std::logic_error that `call` throws, or "" when it throws none.
template <class F>
std::string logic_error_message(F call) {
  try {
    call();
  } catch (const std::logic_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("one Parallel serves two hundred calls on the same workers", "[reuse]") {
  parmap_test::Watchdog watchdog("one Parallel serves two hundred calls on the same workers");
  const int calls = 200;
  const int n_jobs = 2;
  ThreadIds threads;
  SECTION("list") {
    parmap::Parallel parallel({.n_jobs = n_jobs});
    for (int call = 0; call < calls; ++call) {
      const int n = call % 17;
      REQUIRE(parallel(recording_tasks(threads, n, call)) == triples(n, call));
    }
    // The workers, plus the calling thread, which runs short tasks while it waits.
    CHECK(threads.count() <= static_cast<std::size_t>(n_jobs) + 1);
  }
  SECTION("generators") {
    parmap::Parallel ordered({.n_jobs = n_jobs}, parmap::return_as::generator);
    for (int call = 0; call < calls; ++call) {
      const int n = call % 13;
      REQUIRE(collect(ordered(recording_tasks(threads, n, call))) == triples(n, call));
    }
    CHECK(threads.count() <= static_cast<std::size_t>(n_jobs) + 1);
    parmap::Parallel unordered({.n_jobs = n_jobs}, parmap::return_as::generator_unordered);
    for (int call = 0; call < calls; ++call) {
      const int n = call % 13;
      auto got = collect(unordered(recording_tasks(threads, n, call)));
      std::sort(got.begin(), got.end());
      REQUIRE(got == triples(n, call));
    }
    CHECK(threads.count() <= static_cast<std::size_t>(2 * n_jobs) + 1);
  }
  // The calls shared one set of workers rather than starting threads per call.
  CHECK(threads.count() >= 1);
  CHECK(threads.count() <= static_cast<std::size_t>(2 * n_jobs) + 1);
}

TEST_CASE("a Parallel survives task errors", "[reuse]") {
  parmap_test::Watchdog watchdog("a Parallel survives task errors");
  const int n_jobs = GENERATE(1, 2);
  parmap::Parallel parallel({.n_jobs = n_jobs});
  for (int call = 0; call < 40; ++call) {
    const int fail_at = call % 2 == 0 ? call % 11 : -1;
    auto tasks = std::views::iota(0, 12) | std::views::transform([fail_at](int i) {
                   return parmap::delayed([fail_at](int k) {
                     if (k == fail_at) throw std::runtime_error("task failed");
                     return triple(k);
                   })(i);
                 });
    if (fail_at >= 0) {
      REQUIRE_THROWS_AS(parallel(tasks), std::runtime_error);
    } else {
      REQUIRE(parallel(tasks) == triples(12));
    }
  }
}

TEST_CASE("a second call while a result range is alive throws std::logic_error", "[reuse]") {
  parmap_test::Watchdog watchdog("a second call while a result range is alive throws std::logic_error");
  const int n_jobs = GENERATE(1, 2);
  auto check_one_at_a_time = [n_jobs](auto mode) {
    parmap::Parallel parallel({.n_jobs = n_jobs}, mode);
    std::optional<decltype(parallel(triple_tasks(1)))> first;
    first.emplace(parallel(triple_tasks(20)));

    const std::string message = logic_error_message([&] { (void)parallel(triple_tasks(3)); });
    INFO("message: " << message);
    CHECK(message.find("already running") != std::string::npos);
    CHECK(message.find("parmap") != std::string::npos);

    // The refused call did not disturb the running one.
    auto got = collect(*first);
    std::sort(got.begin(), got.end());
    CHECK(got == triples(20));

    // Still refused while the exhausted range is alive...
    CHECK_THROWS_AS(parallel(triple_tasks(3)), std::logic_error);
    // ...and accepted once it is gone.
    first.reset();
    auto again = collect(parallel(triple_tasks(7)));
    std::sort(again.begin(), again.end());
    CHECK(again == triples(7));
  };
  SECTION("ordered") { check_one_at_a_time(parmap::return_as::generator); }
  SECTION("unordered") { check_one_at_a_time(parmap::return_as::generator_unordered); }
}

TEST_CASE("separate Parallel objects are independent", "[reuse]") {
  parmap_test::Watchdog watchdog("separate Parallel objects are independent");
  parmap::Parallel a({.n_jobs = 2, .pre_dispatch = 2}, parmap::return_as::generator);
  parmap::Parallel b({.n_jobs = 2, .pre_dispatch = 3}, parmap::return_as::generator);
  parmap::Parallel c({.n_jobs = 2});
  auto from_a = a(triple_tasks(30));
  auto from_b = b(triple_tasks(30, 100));
  // Interleave the two consumers; a third object runs whole calls meanwhile.
  auto it_a = from_a.begin();
  auto it_b = from_b.begin();
  std::vector<int> got_a;
  std::vector<int> got_b;
  while (it_a != from_a.end() || it_b != from_b.end()) {
    if (it_a != from_a.end()) {
      got_a.push_back(*it_a);
      ++it_a;
    }
    if (it_b != from_b.end()) {
      got_b.push_back(*it_b);
      ++it_b;
    }
    REQUIRE(c(triple_tasks(3)) == triples(3));
  }
  CHECK(got_a == triples(30));
  CHECK(got_b == triples(30, 100));
}

TEST_CASE("a result range outlives its Parallel", "[reuse]") {
  parmap_test::Watchdog watchdog("a result range outlives its Parallel");
  const int n_jobs = GENERATE(1, 2);
  SECTION("the Parallel is a temporary in the loop's range expression") {
    CHECK(collect(parmap::Parallel({.n_jobs = n_jobs}, parmap::return_as::generator)(
              triple_tasks(40))) == triples(40));
  }
  SECTION("the Parallel goes out of scope before the range is used") {
    std::optional<parmap::ResultRange<int>> results;
    {
      parmap::Parallel parallel({.n_jobs = n_jobs, .pre_dispatch = 2}, parmap::return_as::generator);
      results.emplace(parallel(triple_tasks(40)));
    }
    CHECK(collect(*results) == triples(40));
  }
  SECTION("the range is moved around after its Parallel is gone") {
    std::optional<parmap::ResultRange<int>> results;
    {
      parmap::Parallel parallel({.n_jobs = n_jobs}, parmap::return_as::generator_unordered);
      results.emplace(parallel(triple_tasks(40)));
    }
    parmap::ResultRange<int> moved = std::move(*results);
    results.reset();
    auto got = collect(moved);
    std::sort(got.begin(), got.end());
    CHECK(got == triples(40));
  }
}
