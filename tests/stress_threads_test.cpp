// Stress on the library's threads: Parallel objects made and destroyed in a tight loop (lost
// wake-ups), many Parallel objects used from several threads at once, and recursive nesting
// eight levels deep. PARMAP_STRESS_SEED fixes the seeds of the first two.

#include <algorithm>   // std::min, std::sort
#include <atomic>      // std::atomic: the largest thread count seen
#include <chrono>      // std::chrono_literals: the watchdogs' limits
#include <cstdint>     // std::uint64_t: seeds
#include <functional>  // std::function: the tasks
#include <parmap/parmap.hpp>
#include <ranges>  // std::views::iota, std::views::transform
#include <string>  // std::string
#include <thread>  // std::thread, std::this_thread::yield
#include <vector>  // std::vector

#include "support/catch.hpp"
#include "support/stress_support.hpp"
#include "support/test_support.hpp"

using namespace std::chrono_literals;
using parmap_test::env_number;

TEST_CASE("Parallel objects made and destroyed in a tight loop never hang or lose a result",
          "[stress]") {
  const std::uint64_t seed = env_number("PARMAP_STRESS_SEED").value_or(12345);
  CAPTURE(seed);
  parmap_test::Watchdog watchdog("tight create/destroy loop, seed " + std::to_string(seed), 300s);
  parmap_test::Dice dice(seed);
  int wrong = 0;
  for (int iteration = 0; iteration < 2000; ++iteration) {
    const int n = dice.pick(0, 5);
    std::vector<std::function<int()>> tasks;
    for (int i = 0; i < n; ++i) tasks.emplace_back([i] { return i * 3; });
    parmap::Options options{.n_jobs = dice.pick(2, 4)};
    const int window = dice.pick(0, 2);
    if (window > 0) {
      options.pre_dispatch = window;
    } else {
      options.pre_dispatch = parmap::all;
    }
    options.batch_size = dice.pick(1, 2);
    const int how = dice.pick(0, 4);
    std::vector<int> got;
    if (how == 0) {
      got = parmap::Parallel(options)(tasks);
    } else if (how == 1) {
      parmap::Parallel parallel(options, parmap::return_as::generator);
      for (const int v : parallel(tasks)) got.push_back(v);
    } else if (how == 2) {
      parmap::Parallel parallel(options, parmap::return_as::generator_unordered);
      for (const int v : parallel(tasks)) got.push_back(v);
      std::sort(got.begin(), got.end());
    } else if (how == 3) {
      parmap::Parallel parallel(options, parmap::return_as::generator);
      for (const int v : parallel(tasks)) {  // take one, leave
        got.push_back(v);
        break;
      }
    } else {
      parmap::Parallel parallel(options, parmap::return_as::generator_unordered);
      auto dropped = parallel(tasks);  // started, never iterated
    }
    // Every result, except when the loop took one and left, or never iterated.
    const int wanted = how == 3 ? std::min(n, 1) : how == 4 ? 0 : n;
    std::vector<int> expected;
    for (int i = 0; i < wanted; ++i) expected.push_back(i * 3);
    if (got != expected) ++wrong;
  }
  CHECK(wrong == 0);
}

TEST_CASE("many Parallel objects used from several threads at once stay independent", "[stress]") {
  const std::uint64_t seed = env_number("PARMAP_STRESS_SEED").value_or(777);
  CAPTURE(seed);
  parmap_test::Watchdog watchdog(
      "Parallel objects from several threads, seed " + std::to_string(seed), 300s);
  parmap_test::EventLog problems;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&problems, t, seed] {
      parmap_test::Dice dice(seed + static_cast<std::uint64_t>(t));
      // One long-lived Parallel per thread, plus fresh ones.
      parmap::Parallel kept({.n_jobs = 2}, parmap::return_as::generator);
      for (int run = 0; run < 40; ++run) {
        const int n = dice.pick(0, 60);
        std::vector<std::function<long()>> tasks;
        for (int i = 0; i < n; ++i) {
          tasks.emplace_back([i, t] {
            if (i % 7 == 3) std::this_thread::yield();
            return static_cast<long>(i) * 1000 + t;
          });
        }
        std::vector<long> expected;
        for (int i = 0; i < n; ++i) expected.push_back(static_cast<long>(i) * 1000 + t);
        std::vector<long> got;
        const int how = dice.pick(0, 3);
        const parmap::Options options{.n_jobs = dice.pick(1, 3),
                                      .pre_dispatch = dice.pick(1, 4),
                                      .batch_size = dice.pick(1, 3)};
        if (how == 0) {
          for (const long v : kept(tasks)) got.push_back(v);
        } else if (how == 1) {
          got = parmap::Parallel(options)(tasks);
        } else if (how == 2) {
          parmap::Parallel parallel(options, parmap::return_as::generator_unordered);
          for (const long v : parallel(tasks)) got.push_back(v);
          std::sort(got.begin(), got.end());
        } else {
          parmap::Parallel parallel(options, parmap::return_as::generator);
          for (const long v : parallel(tasks)) got.push_back(v);
        }
        if (got != expected) {
          problems.add("thread " + std::to_string(t) + " run " + std::to_string(run) + " (how " +
                       std::to_string(how) + "): wrong results");
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const auto found = problems.events();
  for (const auto& line : found) INFO(line);
  CHECK(found.empty());
}

namespace {

// Sums 2^(max_depth - depth) leaves; each level is a Parallel over two tasks (a different mode
// per level). Records the largest thread count seen at a leaf.
long nested_leaves(int depth, int max_depth, std::atomic<int>& max_threads) {
  if (depth == max_depth) {
    const int now = parmap_test::thread_count();
    int seen = max_threads.load();
    while (now > seen && !max_threads.compare_exchange_weak(seen, now)) {
    }
    return 1;
  }
  auto tasks =
      std::views::iota(0, 2) | std::views::transform([&max_threads, depth, max_depth](int i) {
        return parmap::delayed([&max_threads, depth, max_depth](int) {
          return nested_leaves(depth + 1, max_depth, max_threads);
        })(i);
      });
  long sum = 0;
  switch (depth % 3) {
    case 0:
      for (const long v : parmap::Parallel({.n_jobs = 4})(tasks)) sum += v;
      break;
    case 1:
      for (const long v : parmap::Parallel({.n_jobs = 4}, parmap::return_as::generator)(tasks))
        sum += v;
      break;
    default:
      for (const long v :
           parmap::Parallel({.n_jobs = 4}, parmap::return_as::generator_unordered)(tasks))
        sum += v;
      break;
  }
  return sum;
}

}  // namespace

TEST_CASE("recursive nesting eight levels deep runs inline and never exhausts threads",
          "[stress]") {
  parmap_test::Watchdog watchdog("nesting eight levels deep", 120s);
  const int baseline = parmap_test::thread_count();
  REQUIRE(baseline > 0);
  for (int round = 0; round < 5; ++round) {
    std::atomic<int> max_threads{0};
    CHECK(nested_leaves(0, 8, max_threads) == 256);
    // The outermost call's four workers; every nested call runs in the task's own thread.
    CHECK(max_threads.load() <= baseline + 4);
  }
}
