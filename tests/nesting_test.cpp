// Nested use: a task that itself runs a Parallel gets the right results, never deadlocks and
// starts no threads of its own: the nested call runs inline, in the task's thread.

#include <algorithm>  // std::max
#include <atomic>     // std::atomic: probes written from every thread
#include <chrono>     // std::chrono::microseconds: slow nested tasks
#include <cstddef>    // std::size_t
#include <cstdint>    // std::uint64_t: seeds
#include <numeric>    // std::iota: the consumption order
#include <optional>   // std::optional: an early break
#include <parmap/parmap.hpp>
#include <random>   // std::random_device: a fresh base seed
#include <ranges>   // std::views::iota, transform, take
#include <string>   // std::string: scenario descriptions and problems
#include <thread>   // std::this_thread::get_id, std::thread::id, sleep_for
#include <utility>  // std::pair, std::move, std::swap
#include <vector>   // std::vector: list results

#include "support/catch.hpp"
#include "support/stress_support.hpp"
#include "support/test_support.hpp"

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
      for (int r : parmap::Parallel({.n_jobs = 3}, parmap::return_as::generator)(tasks))
        leaves += r;
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

TEST_CASE("recursive nesting four levels deep neither deadlocks nor starts threads", "[nesting]") {
  parmap_test::Watchdog watchdog(
      "recursive nesting four levels deep neither deadlocks nor starts threads");
  const int threads_before = parmap_test::thread_count();
  REQUIRE(threads_before > 0);
  const int n_jobs = 2;
  Probe probe;
  // Level 1 is this call; levels 2 to 4 are nested inside its tasks. Level 1 runs on its
  // workers and, while it waits, on the consumer's thread (docs/guarantees.md, "Who runs
  // tasks"): in a worker's seat when n_jobs fills the hardware threads, else beside them.
  std::atomic<int> level1_running{0};
  std::atomic<int> level1_max_running{0};
  auto tasks = std::views::iota(0, 3) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int /*unused*/) {
                   const int now = ++level1_running;
                   int seen = level1_max_running.load();
                   while (now > seen && !level1_max_running.compare_exchange_weak(seen, now)) {
                   }
                   const int leaves = nest(3, probe);
                   --level1_running;
                   return leaves;
                 })(i);
               });
  const std::vector<int> leaves = parmap::Parallel({.n_jobs = n_jobs})(tasks);

  CHECK(leaves == std::vector<int>{27, 27, 27});
  CHECK(probe.leaves.load() == 81);
  const bool fills_cores = static_cast<unsigned>(n_jobs) >= std::thread::hardware_concurrency();
  CHECK(level1_max_running.load() <= n_jobs + (fills_cores ? 0 : 1));
  CHECK(probe.off_parent_thread.load() == 0);  // levels 2-4 ran inline in their parents
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
  auto outer =
      std::views::iota(0, 6) | std::views::transform([&](int i) {
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

// --- Stress: nested ranges that outlive their outer run --------------------------------------
// Tasks return lazy nested ranges; the consumer keeps some, lets the outer range end (or break
// early), then consumes the kept ones in a random order: fully, partly, or not at all. A
// finished outer run must not stop the nested work the consumer still holds, and nothing may
// be lost, run twice or leaked. Scenario count: 60, or PARMAP_SOAK_SCENARIOS / 10 (the soak
// legs), at least 60; PARMAP_STRESS_REPLAY=<seed> runs one, PARMAP_STRESS_SEED sets the base.

namespace {

enum class Order { list, ordered, unordered };

struct KeptScenario {
  std::uint64_t seed = 0;
  int outer_n = 0;
  int inner_n = 0;
  int outer_jobs = 1;
  Order outer = Order::ordered;
  Order inner = Order::ordered;    // never list: a list would run at once, not lazily
  std::optional<int> outer_break;  // the consumer keeps this many, then leaves the outer loop
  std::vector<int> take;           // per outer index: inner results consumed (-1: all)
  std::vector<int> order;          // the order in which kept ranges are consumed
  int slow_us = 0;                 // every inner task sleeps this long (a slow task)

  [[nodiscard]] std::string describe() const {
    const auto name = [](Order o) {
      return o == Order::list ? "list" : o == Order::ordered ? "ordered" : "unordered";
    };
    std::string out =
        "seed=" + std::to_string(seed) + " (PARMAP_STRESS_REPLAY=" + std::to_string(seed) +
        ") outer_n=" + std::to_string(outer_n) + " inner_n=" + std::to_string(inner_n) +
        " outer_jobs=" + std::to_string(outer_jobs) + " outer=" + name(outer) +
        " inner=" + name(inner) +
        " break=" + (outer_break ? std::to_string(*outer_break) : std::string("none")) +
        " slow_us=" + std::to_string(slow_us);
    return out;
  }
};

KeptScenario make_kept_scenario(std::uint64_t seed) {
  parmap_test::Dice dice(seed);
  KeptScenario s;
  s.seed = seed;
  s.outer_n = dice.pick(0, 10);
  s.inner_n = dice.pick(0, 12);
  s.outer_jobs = dice.pick(1, 3);
  s.outer = static_cast<Order>(dice.pick(0, 2));
  s.inner = dice.chance(0.5) ? Order::ordered : Order::unordered;
  if (s.outer != Order::list && dice.chance(0.3)) s.outer_break = dice.pick(0, s.outer_n);
  for (int k = 0; k < s.outer_n; ++k) {
    s.take.push_back(dice.chance(0.6) ? -1 : dice.pick(0, s.inner_n));
  }
  s.order.resize(static_cast<std::size_t>(s.outer_n));
  std::iota(s.order.begin(), s.order.end(), 0);
  for (std::size_t i = s.order.size(); i > 1; --i) {
    std::swap(s.order[i - 1],
              s.order[static_cast<std::size_t>(dice.pick(0, static_cast<int>(i) - 1))]);
  }
  s.slow_us = dice.chance(0.2) ? dice.pick(50, 300) : 0;
  return s;
}

using Kept = std::pair<int, parmap::ResultRange<parmap_test::Tracked>>;

// Runs one scenario; returns what went wrong (empty: nothing).
std::vector<std::string> run_kept_scenario(const KeptScenario& s) {
  std::vector<std::string> problems;
  parmap_test::LiveCounter live;
  const auto cells = static_cast<std::size_t>(s.outer_n * s.inner_n);
  std::vector<std::atomic<int>> runs(cells);
  std::atomic<int> saw_stop{0};
  {
    auto outer =
        std::views::iota(0, s.outer_n) | std::views::transform([&](int i) {
          return parmap::delayed([&](int k) {
            auto inner = std::views::iota(0, s.inner_n) | std::views::transform([&, k](int j) {
                           return parmap::delayed([&](int a, int b) {
                             runs[static_cast<std::size_t>(a * s.inner_n + b)].fetch_add(1);
                             if (s.slow_us > 0) {
                               std::this_thread::sleep_for(std::chrono::microseconds(s.slow_us));
                             }
                             if (parmap::this_task::stop_requested()) ++saw_stop;
                             return parmap_test::Tracked(live, a * 100 + b);
                           })(k, j);
                         });
            auto range =
                s.inner == Order::ordered
                    ? parmap::Parallel({.n_jobs = 2},
                                       parmap::return_as::generator)(std::move(inner))
                    : parmap::Parallel({.n_jobs = 2},
                                       parmap::return_as::generator_unordered)(std::move(inner));
            return Kept{k, std::move(range)};
          })(i);
        });
    std::vector<Kept> kept;
    const parmap::Options options{.n_jobs = s.outer_jobs};
    const auto keep_from = [&](auto&& results) {
      for (auto&& r : results) {
        if (s.outer_break && static_cast<int>(kept.size()) == *s.outer_break) break;
        kept.push_back(std::move(r));
      }
    };
    if (s.outer == Order::list) {
      std::vector<Kept> all = parmap::Parallel(options)(outer);
      keep_from(all);
    } else if (s.outer == Order::ordered) {
      keep_from(parmap::Parallel(options, parmap::return_as::generator)(outer));
    } else {
      keep_from(parmap::Parallel(options, parmap::return_as::generator_unordered)(outer));
    }
    // Every outer range is gone here. Consume the kept ranges in the scenario's order.
    std::vector<Kept*> by_outer(static_cast<std::size_t>(s.outer_n), nullptr);
    for (Kept& k : kept) by_outer[static_cast<std::size_t>(k.first)] = &k;
    for (const int k : s.order) {
      Kept* r = by_outer[static_cast<std::size_t>(k)];
      if (r == nullptr) continue;  // not kept
      const int want =
          s.take[static_cast<std::size_t>(k)] < 0 ? s.inner_n : s.take[static_cast<std::size_t>(k)];
      std::vector<int> got;
      for (parmap_test::Tracked t : r->second) {
        if (static_cast<int>(got.size()) == want) break;
        got.push_back(t.value());
      }
      const std::string where = "outer " + std::to_string(k) + ": ";
      if (static_cast<int>(got.size()) != want) {
        problems.push_back(where + std::to_string(got.size()) + " results, wanted " +
                           std::to_string(want));
      }
      std::vector<int> seen(static_cast<std::size_t>(s.inner_n), 0);
      for (std::size_t i = 0; i < got.size(); ++i) {
        const int b = got[i] - k * 100;
        if (b < 0 || b >= s.inner_n) {
          problems.push_back(where + "foreign result " + std::to_string(got[i]));
          continue;
        }
        if (++seen[static_cast<std::size_t>(b)] != 1) problems.push_back(where + "a result twice");
        if (s.inner == Order::ordered && b != static_cast<int>(i)) {
          problems.push_back(where + "out of order at " + std::to_string(i));
        }
      }
      { const auto done = std::move(r->second); }  // partly consumed ranges end here
    }
  }
  if (saw_stop.load() != 0) {
    problems.push_back(std::to_string(saw_stop.load()) + " nested tasks saw a stop request");
  }
  for (std::size_t c = 0; c < cells; ++c) {
    if (runs[c].load() > 1) problems.push_back("nested task " + std::to_string(c) + " ran twice");
  }
  if (live.live.load() != 0)
    problems.push_back(std::to_string(live.live.load()) + " results leaked");
  return problems;
}

}  // namespace

TEST_CASE(
    "nested ranges kept after their outer range ended: random scenarios yield every "
    "result once, unstopped, and leak nothing",
    "[stress][nesting]") {
  parmap_test::Watchdog watchdog("nested ranges outliving their outer run",
                                 std::chrono::seconds(280));
  std::vector<std::uint64_t> seeds;
  if (const auto replay = parmap_test::env_number("PARMAP_STRESS_REPLAY")) {
    seeds.push_back(*replay);
  } else {
    const std::uint64_t count = std::max<std::uint64_t>(
        60, parmap_test::env_number("PARMAP_SOAK_SCENARIOS").value_or(0) / 10);
    const std::uint64_t base =
        parmap_test::env_number("PARMAP_STRESS_SEED").value_or(std::random_device{}());
    for (std::uint64_t i = 0; i < count; ++i) seeds.push_back(parmap_test::splitmix64(base + i));
  }
  int failures = 0;
  for (const std::uint64_t seed : seeds) {
    const KeptScenario s = make_kept_scenario(seed);
    const std::vector<std::string> problems = run_kept_scenario(s);
    if (!problems.empty() && failures++ < 5) {
      std::string text = s.describe();
      for (const auto& p : problems) text += "\n  " + p;
      FAIL_CHECK(text);
    }
  }
  CHECK(failures == 0);
}
