// Seeded random scenarios for the paths where a batch is shared: inputs read in place by index
// (std::views::iota | transform), batches of many instant tasks with a few slow ones among
// them (so idle threads split the batch), the consumer running short tasks while it waits,
// failures and early stops while a batch is split, per-task timeouts and on_error::collect.
//
// Every scenario checks: each task ran at most once; every yielded result is the right one,
// yielded once, in input order where ordered; in input order nothing after a failing task
// arrives before its exception; no result is alive once the range is gone; live results never
// exceed the window times the batch size; a run that was not cut short yields every result;
// the run's report agrees with the tasks' own counts. Scenario count: 60, or
// PARMAP_SOAK_SCENARIOS / 10 (the soak legs), at least 60. PARMAP_STRESS_REPLAY=<seed> runs one.

#include "support/catch.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <algorithm>  // std::max
#include <atomic>     // std::atomic: per-task run counts
#include <chrono>     // std::chrono: slow tasks, the timeout
#include <cstddef>    // std::size_t
#include <cstdint>    // std::uint64_t: seeds
#include <cstdlib>    // std::getenv, std::strtoull
#include <optional>   // std::optional: the failing task
#include <random>     // std::mt19937_64, distributions
#include <ranges>     // std::views::iota, transform
#include <sstream>    // std::ostringstream: scenario descriptions
#include <string>     // std::string
#include <thread>     // std::this_thread::sleep_for: slow tasks
#include <vector>     // std::vector

using namespace std::chrono_literals;

namespace {

enum class Mode { list, ordered, unordered };

struct SplitScenario {
  std::uint64_t seed = 0;
  int n_jobs = 2;
  int window = 1;  // 0: parmap::all
  int batch = 0;   // 0: automatic
  int length = 0;
  std::vector<int> sleep_us;        // per task: 0 for an instant task
  std::optional<int> throws_at;     // the task that throws
  std::optional<int> break_after;   // the consumer leaves after this many results
  bool collect = false;
  bool watched = false;  // a generous timeout: every task runs under the timeout monitor
  Mode mode = Mode::ordered;

  [[nodiscard]] std::string describe() const {
    std::ostringstream out;
    out << "seed=" << seed << " (PARMAP_STRESS_REPLAY=" << seed << ") n_jobs=" << n_jobs
        << " window=" << window << " batch=" << batch << " length=" << length << " slow=";
    for (int i = 0; i < length; ++i) {
      if (sleep_us[static_cast<std::size_t>(i)] > 0) out << i << ",";
    }
    out << " throws_at=" << (throws_at ? std::to_string(*throws_at) : "none")
        << " break_after=" << (break_after ? std::to_string(*break_after) : "none")
        << " policy=" << (collect ? "collect" : "raise") << (watched ? " timeout=60s" : "")
        << " mode=" << (mode == Mode::list ? "list" : mode == Mode::ordered ? "ordered" : "unordered");
    return out.str();
  }
};

SplitScenario make_split_scenario(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const auto chance = [&rng](double p) { return std::bernoulli_distribution(p)(rng); };
  SplitScenario s;
  s.seed = seed;
  s.n_jobs = pick(2, 4);
  s.window = chance(0.15) ? 0 : pick(1, 4);
  s.batch = chance(0.5) ? 0 : pick(2, 64);
  s.length = pick(0, 400);
  s.sleep_us.assign(static_cast<std::size_t>(s.length), 0);
  const int slow = s.length == 0 ? 0 : pick(0, 4);
  for (int k = 0; k < slow; ++k) s.sleep_us[static_cast<std::size_t>(pick(0, s.length - 1))] = pick(200, 3000);
  if (s.length > 0 && chance(0.3)) s.throws_at = pick(0, s.length - 1);
  const int mode = pick(0, 2);
  s.mode = mode == 0 ? Mode::list : mode == 1 ? Mode::ordered : Mode::unordered;
  if (s.mode != Mode::list && chance(0.3)) s.break_after = pick(0, std::max(0, s.length - 1));
  s.collect = chance(0.35);
  s.watched = chance(0.2);
  return s;
}

struct Failure {
  int index;
};

// Runs one scenario; returns what went wrong (empty: nothing).
std::vector<std::string> run_split_scenario(const SplitScenario& s) {
  std::vector<std::string> problems;
  const auto n = static_cast<std::size_t>(s.length);
  std::vector<std::atomic<int>> runs(n);
  parmap_test::LiveCounter live;
  auto tasks = std::views::iota(0, s.length) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   runs[static_cast<std::size_t>(k)].fetch_add(1);
                   const int us = s.sleep_us[static_cast<std::size_t>(k)];
                   if (us > 0) std::this_thread::sleep_for(std::chrono::microseconds(us));
                   if (s.throws_at == k) throw Failure{k};
                   return parmap_test::Tracked(live, k);
                 })(i);
               });
  parmap::Options options{.n_jobs = s.n_jobs};
  if (s.window == 0) {
    options.pre_dispatch = parmap::all;
  } else {
    options.pre_dispatch = s.window;
  }
  if (s.batch > 0) options.batch_size = s.batch;
  if (s.watched) options.timeout = 60s;

  std::vector<int> yielded(n, 0);
  std::size_t count = 0;
  bool failed = false;
  bool stopped = false;
  std::size_t next_in_order = 0;
  const auto take = [&](std::size_t index, int value, bool ordered) {
    if (index >= n || static_cast<std::size_t>(value) != index) {
      problems.push_back("result " + std::to_string(value) + " at index " + std::to_string(index));
      return;
    }
    if (++yielded[index] != 1) problems.push_back("result " + std::to_string(index) + " twice");
    if (ordered && index != next_in_order++) problems.push_back("out of order at " + std::to_string(index));
    if (s.window > 0 && s.batch > 0 && s.mode != Mode::list &&
        live.live.load() > static_cast<long>(s.window) * s.batch + 1) {  // + the one being yielded
      problems.push_back("more live results than the window allows");
    }
    ++count;
  };
  const auto run_generator = [&](auto mode, auto policy) {
    constexpr bool collecting = std::is_same_v<decltype(policy), parmap::on_error::collect_t>;
    parmap::Parallel parallel(options, mode, policy);
    const bool ordered = std::is_same_v<decltype(mode), parmap::return_as::generator_t>;
    try {
      for (auto&& item : parallel(tasks).indexed()) {
        if constexpr (collecting) {
          if (!item.value) {
            try {
              item.value.value();
            } catch (const Failure& f) {
              if (f.index != static_cast<int>(item.index) || s.throws_at != f.index) {
                problems.push_back("a collected error at the wrong index");
              }
            }
            if (++yielded[item.index] != 1) problems.push_back("outcome twice");
            if (ordered && item.index != next_in_order++) problems.push_back("outcome out of order");
            ++count;
          } else {
            take(item.index, item.value.value().value(), ordered);
          }
        } else {
          take(item.index, item.value.value(), ordered);
        }
        if (s.break_after && count > static_cast<std::size_t>(*s.break_after)) {
          stopped = true;
          break;
        }
      }
    } catch (const Failure& f) {
      failed = true;
      if (collecting || s.throws_at != f.index) problems.push_back("a task's exception surfaced wrongly");
      // In input order nothing at or after the failing task arrived before its exception.
      if (ordered && next_in_order > static_cast<std::size_t>(f.index)) {
        problems.push_back("a result at or after the failing task arrived first");
      }
    }
    return parallel.last_report();
  };
  const auto run_list = [&](auto policy) {
    constexpr bool collecting = std::is_same_v<decltype(policy), parmap::on_error::collect_t>;
    parmap::Parallel parallel(options, parmap::return_as::list, policy);
    try {
      auto all = parallel(tasks);
      for (std::size_t i = 0; i < all.size(); ++i) {
        if constexpr (collecting) {
          if (all[i]) {
            take(all[i].index(), all[i].value().value(), true);
          } else {
            ++yielded[i];
            ++next_in_order;
            ++count;
          }
        } else {
          take(i, all[i].value(), true);
        }
      }
    } catch (const Failure& f) {
      failed = true;
      if (collecting || s.throws_at != f.index) problems.push_back("a task's exception surfaced wrongly");
    }
    return parallel.last_report();
  };

  parmap::RunReport report;
  if (s.collect) {
    switch (s.mode) {
      case Mode::list: report = run_list(parmap::on_error::collect); break;
      case Mode::ordered: report = run_generator(parmap::return_as::generator, parmap::on_error::collect); break;
      case Mode::unordered: report = run_generator(parmap::return_as::generator_unordered, parmap::on_error::collect); break;
    }
  } else {
    switch (s.mode) {
      case Mode::list: report = run_list(parmap::on_error::raise); break;
      case Mode::ordered: report = run_generator(parmap::return_as::generator, parmap::on_error::raise); break;
      case Mode::unordered: report = run_generator(parmap::return_as::generator_unordered, parmap::on_error::raise); break;
    }
  }

  std::size_t ran = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const int r = runs[k].load();
    if (r > 1) problems.push_back("task " + std::to_string(k) + " ran " + std::to_string(r) + " times");
    ran += static_cast<std::size_t>(r);
  }
  if (live.live.load() != 0) problems.push_back(std::to_string(live.live.load()) + " results leaked");
  if (!failed && !stopped && count != n) {
    problems.push_back("yielded " + std::to_string(count) + " of " + std::to_string(n));
  }
  if (s.throws_at && !s.collect && !stopped && !failed) problems.push_back("the task's exception was lost");
  // The report agrees with the tasks: what started returned (or threw, once).
  const std::size_t threw = (s.throws_at && runs[static_cast<std::size_t>(*s.throws_at)].load() == 1 && !s.collect) ? 1 : 0;
  if (report.completed != ran - threw) {
    problems.push_back("report.completed " + std::to_string(report.completed) + ", tasks returned " +
                       std::to_string(ran - threw));
  }
  if (report.unused != report.completed - report.consumed) problems.push_back("report.unused inconsistent");
  // A consumer that left early may not have seen a failure the run recorded meanwhile.
  if (stopped ? (report.failed && !s.throws_at) : report.failed != failed) {
    problems.push_back("report.failed disagrees");
  }
  return problems;
}

std::optional<std::uint64_t> env_number(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return std::nullopt;
  return std::strtoull(text, nullptr, 10);
}

}  // namespace

TEST_CASE("split batches, in-place inputs and a helping consumer: random scenarios lose, "
          "duplicate and leak nothing",
          "[stress]") {
  parmap_test::Watchdog watchdog("split stress scenarios", std::chrono::seconds(280));
  std::vector<std::uint64_t> seeds;
  if (const auto replay = env_number("PARMAP_STRESS_REPLAY")) {
    seeds.push_back(*replay);
  } else {
    const std::uint64_t count = std::max<std::uint64_t>(60, env_number("PARMAP_SOAK_SCENARIOS").value_or(0) / 10);
    const std::uint64_t base = env_number("PARMAP_STRESS_SEED").value_or(std::random_device{}());
    for (std::uint64_t i = 0; i < count; ++i) seeds.push_back(base + i);
  }
  int failures = 0;
  for (const std::uint64_t seed : seeds) {
    const SplitScenario s = make_split_scenario(seed);
    const std::vector<std::string> problems = run_split_scenario(s);
    if (!problems.empty() && failures++ < 5) {
      std::string text = s.describe();
      for (const auto& p : problems) text += "\n  " + p;
      FAIL_CHECK(text);
    }
  }
  CHECK(failures == 0);
}
