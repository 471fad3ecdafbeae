// The stress suite's seeded random scenarios, each checked against a sequential reference
// (support/stress_scenario.hpp makes and runs them), and the regression they found.
//
// Scenarios: a normal run does 150 (a few seconds). The soak legs set
//   PARMAP_SOAK_SCENARIOS=<count>   how many scenarios to run, and/or
//   PARMAP_SOAK_SECONDS=<seconds>   run scenarios until this much time has passed.
// A failing scenario prints its seed; PARMAP_STRESS_REPLAY=<seed> runs that one scenario,
// PARMAP_STRESS_SEED=<seed> fixes the base seed of a whole run (random otherwise).
//
// Every scenario checks: ordered output equals the reference; unordered output is the same
// multiset with the right indices; nothing lost or duplicated, every task started at most
// once; live results never exceed the window's bound; nothing leaks once the range is gone;
// the exception that surfaces is one that a task, the input, a result's move or the consumer
// really threw, and in input order no result at or after its position arrives first; the
// input is read by one thread at a time and never further ahead than the window; the run's
// report agrees with what the consumer saw; the Parallel takes another call afterwards; and
// the run ends within a watchdog limit (a hang aborts with the seed).

#include <chrono>   // std::chrono: the soak's clock, the watchdog's limit
#include <cstdint>  // std::uint64_t: seeds
#include <cstdio>   // std::fprintf: the soak's summary
#include <limits>   // std::numeric_limits: an unbounded soak count
#include <parmap/parmap.hpp>
#include <random>   // std::random_device: a random base seed
#include <ranges>   // std::views::iota, std::views::transform
#include <sstream>  // std::ostringstream: the problems of a failing scenario
#include <string>   // std::string
#include <vector>   // std::vector

#include "support/catch.hpp"
#include "support/stress_scenario.hpp"
#include "support/stress_support.hpp"
#include "support/test_support.hpp"

using namespace std::chrono_literals;
using parmap_test::env_number;
using parmap_test::splitmix64;
using parmap_test::stress::make_scenario;
using parmap_test::stress::run_scenario;
using parmap_test::stress::Scenario;

TEST_CASE(
    "random scenarios match a sequential reference: nothing lost, duplicated or leaked, "
    "within the window, with true exceptions",
    "[stress]") {
  const auto replay = env_number("PARMAP_STRESS_REPLAY");
  const auto soak_count = env_number("PARMAP_SOAK_SCENARIOS");
  const auto soak_seconds = env_number("PARMAP_SOAK_SECONDS");
  const std::uint64_t base =
      env_number("PARMAP_STRESS_SEED")
          .value_or(std::random_device{}() * 0x100000001ULL ^
                    static_cast<std::uint64_t>(
                        std::chrono::steady_clock::now().time_since_epoch().count()));
  std::uint64_t count = 150;
  if (soak_count) count = *soak_count;
  if (soak_seconds && !soak_count) count = std::numeric_limits<std::uint64_t>::max();
  if (replay) count = 1;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(soak_seconds.value_or(0));
  CAPTURE(base);

  const auto start = std::chrono::steady_clock::now();
  std::uint64_t ran = 0;
  int failures = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    if (soak_seconds && !replay && std::chrono::steady_clock::now() >= deadline) break;
    const std::uint64_t seed = replay ? *replay : splitmix64(base + i);
    const Scenario scenario = make_scenario(seed);
    const std::vector<std::string> problems = run_scenario(scenario);
    ++ran;
    if (!problems.empty()) {
      std::ostringstream text;
      for (const auto& line : problems) text << "\n  - " << line;
      INFO("scenario " << scenario.describe() << text.str());
      CHECK(problems.empty());
      if (++failures == 5) break;  // enough to go on
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (soak_count || soak_seconds) {
    std::fprintf(stderr,
                 "parmap stress: %llu scenarios, %d failed, %.1f s (PARMAP_STRESS_SEED=%llu)\n",
                 static_cast<unsigned long long>(ran), failures, seconds,
                 static_cast<unsigned long long>(base));
  }
  CHECK(ran > 0);
}

TEST_CASE("an exception from the input is never mistaken for the input's end",
          "[stress][regression]") {
  // Found by the scenarios above: with workers, an input that throws once every batch before
  // it was consumed (at position 0, say) made the run end normally, or return a short list,
  // about a third of the time, the exception lost. Repeated, because it is a race.
  parmap_test::Watchdog watchdog("input exception vs input end", 120s);
  struct Broke {
    int position;
  };
  int lost = 0;
  int runs = 0;
  for (const int position : {0, 1, 5}) {
    auto tasks = std::views::iota(0, 10) | std::views::transform([position](int k) {
                   if (k == position) throw Broke{k};
                   return parmap::delayed([](int x) { return x; })(k);
                 });
    for (int repeat = 0; repeat < 60; ++repeat) {
      for (int mode = 0; mode < 3; ++mode) {
        ++runs;
        try {
          if (mode == 0) {
            static_cast<void>(parmap::Parallel(2)(tasks));
          } else if (mode == 1) {
            for (const int v : parmap::Parallel(2, parmap::return_as::generator)(tasks))
              static_cast<void>(v);
          } else {
            for (const int v : parmap::Parallel(2, parmap::return_as::generator_unordered)(tasks))
              static_cast<void>(v);
          }
          ++lost;
        } catch (const Broke& e) {
          if (e.position != position) ++lost;
        }
      }
    }
  }
  INFO(lost << " of " << runs << " runs ended without the input's exception");
  CHECK(lost == 0);
}
