#pragma once

// The stress suite's random scenarios: what one is (Scenario: workers, window, batch size,
// input length, task durations and failures, the consumer's behaviour, the result type, error
// policy and mode), how a seed makes one (make_scenario), and run_scenario, which runs one and
// checks it against a sequential reference (support/stress_scenario.cpp). Used by
// tests/stress_scenarios_test.cpp.

#include <algorithm>  // std::min
#include <cstddef>    // std::size_t
#include <cstdint>    // std::uint64_t: seeds
#include <optional>   // std::optional: where the input throws
#include <sstream>    // std::ostringstream: describe()
#include <string>     // std::string
#include <vector>     // std::vector

#include "stress_support.hpp"  // Dice: the scenario's random choices

namespace parmap_test::stress {

enum class Durations { none, sleeps, spins, heavy_tail, slow_head };
enum class Consumer { fast, slow, break_at, throw_at };
enum class Kind { small, large, fragile };
enum class Mode { list, generator, unordered };

inline const char* name(Durations d) {
  switch (d) {
    case Durations::none:
      return "none";
    case Durations::sleeps:
      return "uniform sleeps";
    case Durations::spins:
      return "uniform spins";
    case Durations::heavy_tail:
      return "heavy tail";
    default:
      return "slow head";
  }
}
inline const char* name(Consumer c) {
  switch (c) {
    case Consumer::fast:
      return "fast";
    case Consumer::slow:
      return "slow";
    case Consumer::break_at:
      return "break";
    default:
      return "throw in body";
  }
}
inline const char* name(Kind k) {
  switch (k) {
    case Kind::small:
      return "move-only";
    case Kind::large:
      return "large (64 KiB)";
    default:
      return "throwing move";
  }
}
inline const char* name(Mode m) {
  switch (m) {
    case Mode::list:
      return "list";
    case Mode::generator:
      return "generator";
    default:
      return "generator_unordered";
  }
}

// One run of parmap, drawn at random from a seed; describe() names it, seed first.
struct Scenario {
  std::uint64_t seed = 0;
  int n_jobs = 1;
  int window = 1;  // 0: parmap::all
  int batch = 1;   // 0: parmap::automatic
  std::size_t length = 0;
  Durations durations = Durations::none;
  std::vector<int> micros;        // per task: > 0 sleeps, < 0 spins that many microseconds
  std::vector<char> task_throws;  // per task
  std::optional<std::size_t> input_throw_at;  // the input throws when asked for this element
  Consumer consumer = Consumer::fast;
  std::size_t stop_after = 0;  // break/throw consumers act in body number stop_after + 1
  int consumer_pause_us = 0;   // slow consumer
  Kind kind = Kind::small;
  int move_throw_permille = 0;  // fragile results: chance that one move throws
  bool collect = false;
  Mode mode = Mode::generator;
  bool lvalue_input = true;
  bool indexed = false;
  bool watched = false;  // a generous timeout: every task runs under the timeout monitor

  // The tasks that exist before the input throws.
  [[nodiscard]] std::size_t effective_length() const {
    return input_throw_at ? std::min(*input_throw_at, length) : length;
  }

  [[nodiscard]] std::string describe() const {
    std::ostringstream out;
    out << "seed=" << seed << " (PARMAP_STRESS_REPLAY=" << seed << "): n_jobs=" << n_jobs
        << " window=" << (window == 0 ? std::string("all") : std::to_string(window))
        << " batch=" << (batch == 0 ? std::string("auto") : std::to_string(batch))
        << " length=" << length << " durations=" << name(durations) << " task_errors=";
    int errors = 0;
    for (std::size_t i = 0; i < task_throws.size(); ++i) {
      if (task_throws[i] != 0) out << (errors++ ? "," : "") << i;
    }
    if (errors == 0) out << "none";
    out << " input_throws_at="
        << (input_throw_at ? std::to_string(*input_throw_at) : std::string("never"))
        << " consumer=" << name(consumer);
    if (consumer == Consumer::break_at || consumer == Consumer::throw_at) {
      out << "(after " << stop_after << ")";
    }
    out << " result=" << name(kind);
    if (kind == Kind::fragile) out << "(" << move_throw_permille << " per mille)";
    out << " policy=" << (collect ? "collect" : "raise") << " mode=" << name(mode)
        << (indexed ? " indexed" : "") << " input=" << (lvalue_input ? "lvalue" : "rvalue")
        << (watched ? " timeout=60s" : "");
    return out.str();
  }
};

// The scenario of `seed`: the same seed always makes the same scenario.
inline Scenario make_scenario(std::uint64_t seed) {
  Dice dice(seed);
  Scenario s;
  s.seed = seed;
  s.n_jobs = dice.pick(1, 4);
  s.window = dice.chance(0.12) ? 0 : dice.pick(1, 8);
  s.batch = dice.chance(0.3) ? 0 : dice.pick(1, 5);
  const int length_kind = dice.pick(0, 9);
  s.length = static_cast<std::size_t>(length_kind == 0   ? 0
                                      : length_kind == 1 ? dice.pick(1, 3)
                                                         : dice.pick(0, 300));
  const int n = static_cast<int>(s.length);

  s.durations = static_cast<Durations>(dice.pick(0, 4));
  s.micros.assign(s.length, 0);
  for (int i = 0; i < n; ++i) {
    switch (s.durations) {
      case Durations::none:
        break;
      case Durations::sleeps:
        s.micros[i] = dice.pick(0, 100);
        break;
      case Durations::spins:
        s.micros[i] = -dice.pick(0, 50);
        break;
      case Durations::heavy_tail:
        s.micros[i] = dice.chance(0.03) ? dice.pick(1000, 5000) : 0;
        break;
      case Durations::slow_head:
        s.micros[i] = i == 0 ? dice.pick(5000, 20000) : (dice.chance(0.3) ? -dice.pick(0, 20) : 0);
        break;
    }
  }
  s.task_throws.assign(s.length, 0);
  if (n > 0 && dice.chance(0.35)) {
    const int errors = dice.pick(1, 3);
    for (int e = 0; e < errors; ++e)
      s.task_throws[static_cast<std::size_t>(dice.pick(0, n - 1))] = 1;
  }
  if (dice.chance(0.15)) s.input_throw_at = static_cast<std::size_t>(dice.pick(0, n));

  const int mode = dice.pick(0, 19);
  s.mode = mode < 5 ? Mode::list : mode < 13 ? Mode::generator : Mode::unordered;
  if (s.mode != Mode::list) {
    const int consumer = dice.pick(0, 9);
    s.consumer = consumer < 4   ? Consumer::fast
                 : consumer < 6 ? Consumer::slow
                 : consumer < 8 ? Consumer::break_at
                                : Consumer::throw_at;
  }
  s.stop_after = static_cast<std::size_t>(dice.pick(0, n));
  s.consumer_pause_us = dice.pick(20, 150);
  const int kind = dice.pick(0, 3);
  s.kind = kind < 2 ? Kind::small : kind == 2 ? Kind::large : Kind::fragile;
  if (s.kind == Kind::fragile) s.move_throw_permille = dice.pick(1, 10);
  s.collect = dice.chance(0.4);
  s.lvalue_input = dice.chance(0.5);
  s.indexed = s.mode == Mode::unordered || (s.mode == Mode::generator && dice.chance(0.5));
  s.watched = dice.chance(0.2);
  return s;
}

// Runs `s` and checks it against the sequential reference; returns the problems found (none:
// the scenario passed). A hang aborts the test binary with the scenario's description.
std::vector<std::string> run_scenario(const Scenario& s);

}  // namespace parmap_test::stress
