// n_jobs = 1: every task runs in the calling thread, no thread is started, and in the
// generator modes each task runs lazily, when the consumer asks for its result.

#include "support/catch.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <algorithm>  // std::max
#include <atomic>   // std::atomic: run counters
#include <ranges>   // std::views::iota, transform, take
#include <string>   // std::string, std::to_string: event names
#include <thread>   // std::this_thread::get_id
#include <vector>   // std::vector: results and expected event sequences

namespace {

// Tasks that log "ran k" and count the tasks not run on `caller`.
auto logging_tasks(int n, parmap_test::EventLog& log, std::thread::id caller,
                   std::atomic<int>& elsewhere) {
  return std::views::iota(0, n) | std::views::transform([&log, caller, &elsewhere](int i) {
           return parmap::delayed([&log, caller, &elsewhere](int k) {
             if (std::this_thread::get_id() != caller) ++elsewhere;
             log.add("ran " + std::to_string(k));
             return k;
           })(i);
         });
}

// "ran 0", "got 0", "ran 1", "got 1", ...
std::vector<std::string> alternating(int n) {
  std::vector<std::string> out;
  for (int k = 0; k < n; ++k) {
    out.push_back("ran " + std::to_string(k));
    out.push_back("got " + std::to_string(k));
  }
  return out;
}

}  // namespace

TEST_CASE("n_jobs = 1 runs every task in the calling thread and starts no thread", "[inline]") {
  parmap_test::Watchdog watchdog("n_jobs = 1 runs every task in the calling thread and starts no thread");
  const int threads_before = parmap_test::thread_count();
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<int> elsewhere{0};
  std::atomic<int> max_threads{0};  // written by the calling thread only, if all is well
  auto tasks = std::views::iota(0, 20) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   if (std::this_thread::get_id() != caller) ++elsewhere;
                   max_threads = std::max(max_threads.load(), parmap_test::thread_count());
                   return k;
                 })(i);
               });
  int count = 0;
  SECTION("list") { count = static_cast<int>(parmap::Parallel({.n_jobs = 1})(tasks).size()); }
  SECTION("ordered") {
    for ([[maybe_unused]] int r : parmap::Parallel(1, parmap::return_as::generator)(tasks)) ++count;
  }
  SECTION("unordered") {
    for ([[maybe_unused]] int r :
         parmap::Parallel(1, parmap::return_as::generator_unordered)(tasks)) {
      ++count;
    }
  }
  CHECK(count == 20);
  CHECK(elsewhere.load() == 0);
  CHECK(max_threads.load() <= threads_before);
}

TEST_CASE("n_jobs = 1 generators run task k only when the consumer asks for result k",
          "[inline]") {
  parmap_test::Watchdog watchdog(
      "n_jobs = 1 generators run task k only when the consumer asks for result k");
  const int n = 8;
  parmap_test::EventLog log;
  std::atomic<int> elsewhere{0};
  auto tasks = logging_tasks(n, log, std::this_thread::get_id(), elsewhere);

  auto check_lazy = [&](auto mode) {
    auto results = parmap::Parallel({.n_jobs = 1}, mode)(tasks);
    CHECK(log.events().empty());  // the call itself runs nothing
    for (int r : results) log.add("got " + std::to_string(r));
    CHECK(log.events() == alternating(n));
  };
  SECTION("ordered") { check_lazy(parmap::return_as::generator); }
  SECTION("unordered") { check_lazy(parmap::return_as::generator_unordered); }
  SECTION("a window option changes nothing inline") {
    auto results =
        parmap::Parallel({.n_jobs = 1, .pre_dispatch = 5, .batch_size = 1},
                         parmap::return_as::generator)(tasks);
    for (int r : results) log.add("got " + std::to_string(r));
    CHECK(log.events() == alternating(n));
  }
  CHECK(elsewhere.load() == 0);
}

TEST_CASE("n_jobs = 1 with take(3) on an infinite input runs exactly three tasks", "[inline]") {
  parmap_test::Watchdog watchdog("n_jobs = 1 with take(3) on an infinite input runs exactly three tasks");
  parmap_test::EventLog log;
  auto tasks = std::views::iota(0) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   log.add("ran " + std::to_string(k));
                   return k;
                 })(i);
               });
  for (int r : parmap::Parallel(1, parmap::return_as::generator)(tasks) | std::views::take(3)) {
    log.add("got " + std::to_string(r));
  }
  CHECK(log.events() == alternating(3));
}
