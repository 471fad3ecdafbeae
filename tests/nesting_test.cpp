// Nested use: a task that itself runs a Parallel gets the right results, never deadlocks and
// starts no threads of its own: the nested call runs inline, in the task's thread.

#include "support/catch.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <atomic>   // std::atomic: probes written from every thread
#include <ranges>   // std::views::iota, transform, take
#include <thread>   // std::this_thread::get_id, std::thread::id
#include <vector>   // std::vector: list results

namespace {

// What tasks at every level record.
struct Probe {
  std::atomic<int> max_threads{0};
  std::atomic<int> off_parent_thread{0};  // nested tasks not on their parent task's thread
  std::atomic<int> leaves{0};

  void record_threads() {
    const int now = parmap_test::thread_count();
    int seen = max_threads.load();
    while (now > seen && !max_threads.compare_exchange_weak(seen, now)) {
    }
  }
};

int value(int outer, int inner) { return outer * 100 + inner; }

// The sum of value(outer, j) over j < n, computed by a nested call in the given mode.
template <class Mode>
int nested_sum(int outer, int n, Mode mode, Probe& probe) {
  const std::thread::id me = std::this_thread::get_id();
  auto tasks = std::views::iota(0, n) | std::views::transform([&probe, me, outer](int j) {
                 return parmap::delayed([&probe, me, outer](int k) {
                   if (std::this_thread::get_id() != me) ++probe.off_parent_thread;
                   probe.record_threads();
                   return value(outer, k);
                 })(j);
               });
  int sum = 0;
  for (int r : parmap::Parallel({.n_jobs = 4}, mode)(tasks)) sum += r;
  return sum;
}

int expected_sum(int outer, int n) {
  int sum = 0;
  for (int j = 0; j < n; ++j) sum += value(outer, j);
  return sum;
}

// `depth` more levels of nested Parallel calls below the calling task, three tasks each,
// alternating the three modes; returns the number of leaves reached.
int nest(int depth, Probe& probe) {
  probe.record_threads();
  if (depth == 0) {
    ++probe.leaves;
    return 1;
  }
  const std::thread::id me = std::this_thread::get_id();
  auto tasks = std::views::iota(0, 3) | std::views::transform([&probe, me, depth](int i) {
                 return parmap::delayed([&probe, me, depth](int /*unused*/) {
                   if (std::this_thread::get_id() != me) ++probe.off_parent_thread;
                   return nest(depth - 1, probe);
                 })(i);
               });
  int leaves = 0;
  switch (depth % 3) {
    case 0:
      for (int r : parmap::Parallel({.n_jobs = 3})(tasks)) leaves += r;
      break;
    case 1:
      for (int r : parmap::Parallel({.n_jobs = 3}, parmap::return_as::generator)(tasks)) leaves += r;
      break;
    default:
      for (int r : parmap::Parallel({.n_jobs = 3}, parmap::return_as::generator_unordered)(tasks)) {
        leaves += r;
      }
      break;
  }
  return leaves;
}

}  // namespace

TEST_CASE("a task can run a nested Parallel in every mode and gets the right results",
          "[nesting]") {
  parmap_test::Watchdog watchdog(
      "a task can run a nested Parallel in every mode and gets the right results");
  const int n_outer = 8;
  const int n_inner = 10;
  const int threads_before = parmap_test::thread_count();
  const int n_jobs = GENERATE(1, 2);
  Probe probe;
  auto outer_tasks = [&](auto inner_mode) {
    return std::views::iota(0, n_outer) | std::views::transform([&probe, inner_mode](int i) {
             return parmap::delayed([&probe, inner_mode](int outer) {
               return nested_sum(outer, n_inner, inner_mode, probe);
             })(i);
           });
  };
  std::vector<int> expected;
  for (int i = 0; i < n_outer; ++i) expected.push_back(expected_sum(i, n_inner));

  SECTION("list in list") {
    CHECK(parmap::Parallel({.n_jobs = n_jobs})(outer_tasks(parmap::return_as::list)) == expected);
  }
  SECTION("ordered generator in ordered generator") {
    std::vector<int> got;
    for (int r : parmap::Parallel({.n_jobs = n_jobs}, parmap::return_as::generator)(
             outer_tasks(parmap::return_as::generator))) {
      got.push_back(r);
    }
    CHECK(got == expected);
  }
  SECTION("unordered generator in unordered generator") {
    std::vector<int> got(n_outer, -1);
    for (auto r : parmap::Parallel({.n_jobs = n_jobs}, parmap::return_as::generator_unordered)(
                      outer_tasks(parmap::return_as::generator_unordered))
                      .indexed()) {
      got[r.index] = r.value;
    }
    CHECK(got == expected);
  }
  CHECK(probe.off_parent_thread.load() == 0);
  // The outer call's workers at most; nested calls add none.
  CHECK(probe.max_threads.load() <= threads_before + (n_jobs == 1 ? 0 : n_jobs));
}

TEST_CASE("recursive nesting four levels deep neither deadlocks nor starts threads",
          "[nesting]") {
  parmap_test::Watchdog watchdog("recursive nesting four levels deep neither deadlocks nor starts threads");
  const int threads_before = parmap_test::thread_count();
  REQUIRE(threads_before > 0);
  const int n_jobs = 2;
  Probe probe;
  const std::thread::id main_thread = std::this_thread::get_id();
  std::atomic<int> outer_on_main{0};
  // Level 1 is this call (on worker threads); levels 2 to 4 are nested inside its tasks.
  auto tasks = std::views::iota(0, 3) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int /*unused*/) {
                   if (std::this_thread::get_id() == main_thread) ++outer_on_main;
                   return nest(3, probe);
                 })(i);
               });
  const std::vector<int> leaves = parmap::Parallel({.n_jobs = n_jobs})(tasks);

  CHECK(leaves == std::vector<int>{27, 27, 27});
  CHECK(probe.leaves.load() == 81);
  CHECK(outer_on_main.load() == 0);             // level 1 ran on its workers
  CHECK(probe.off_parent_thread.load() == 0);   // levels 2-4 ran inline in their parents
  CHECK(probe.max_threads.load() <= threads_before + n_jobs);
}

TEST_CASE("a nested generator broken early runs only the tasks it yielded", "[nesting]") {
  parmap_test::Watchdog watchdog("a nested generator broken early runs only the tasks it yielded");
  std::atomic<int> inner_started{0};
  auto inner = [&inner_started] {
    return std::views::iota(0) | std::views::transform([&inner_started](int j) {
             return parmap::delayed([&inner_started](int k) {
               ++inner_started;
               return k;
             })(j);
           });
  };
  auto outer = std::views::iota(0, 6) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int /*unused*/) {
                   int sum = 0;
                   for (int r : parmap::Parallel({.n_jobs = 4}, parmap::return_as::generator)(inner()) |
                                    std::views::take(5)) {
                     sum += r;
                   }
                   return sum;
                 })(i);
               });
  const std::vector<int> sums = parmap::Parallel({.n_jobs = 2})(outer);
  CHECK(sums == std::vector<int>(6, 0 + 1 + 2 + 3 + 4));
  CHECK(inner_started.load() == 6 * 5);  // inline and lazy: no task beyond the fifth
}

TEST_CASE("an exception in a nested task propagates out of the outer call", "[nesting]") {
  parmap_test::Watchdog watchdog("an exception in a nested task propagates out of the outer call");
  struct NestedFailure {
    int outer;
    int inner;
  };
  auto outer = std::views::iota(0, 4) | std::views::transform([](int i) {
                 return parmap::delayed([](int o) {
                   auto inner = std::views::iota(0, 5) | std::views::transform([o](int j) {
                                  return parmap::delayed([o](int k) {
                                    if (o == 2 && k == 3) throw NestedFailure{o, k};
                                    return k;
                                  })(j);
                                });
                   const std::vector<int> r = parmap::Parallel({.n_jobs = 2})(inner);
                   return static_cast<int>(r.size());
                 })(i);
               });
  bool thrown = false;
  try {
    (void)parmap::Parallel({.n_jobs = 2})(outer);
  } catch (const NestedFailure& e) {
    thrown = true;
    CHECK(e.outer == 2);
    CHECK(e.inner == 3);
  }
  CHECK(thrown);
}
