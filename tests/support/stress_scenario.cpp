// Running one stress scenario and checking it against the sequential reference: the run
// (every mode, error policy and input kind, through the same loop body), then verify(), which
// turns what the consumer saw and what the tasks and the input recorded into a list of
// problems. See stress_scenario.hpp; tests/stress_scenarios_test.cpp lists what is checked.

#include "stress_scenario.hpp"

#include <algorithm>   // std::min
#include <chrono>      // std::chrono_literals: the watchdog's and the timeout's limits
#include <cstddef>     // std::size_t
#include <exception>   // std::exception_ptr, std::rethrow_exception
#include <functional>  // std::function: the follow-up call
#include <optional>    // std::optional
#include <parmap/parmap.hpp>
#include <string>       // std::string
#include <type_traits>  // std::is_same_v
#include <utility>      // std::move
#include <vector>       // std::vector

#include "stress_recording.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

namespace parmap_test::stress {

namespace {

// --- Running one scenario -----------------------------------------------------------------------

// One result as the consumer saw it.
struct Received {
  std::size_t index = 0;
  bool ok = false;              // a value (not an error outcome)
  bool correct = false;         // value, payload and inner index as the reference says
  std::string error;            // error outcome: "task", "move", or what else it was
  std::size_t error_index = 0;  // the index the error names
};

// What surfaced from the run (the call, or the loop).
struct Surfaced {
  std::string kind;  // task, input, move, consumer, timeout, or what else it was
  std::size_t index = 0;
};

struct Observed {
  std::vector<Received> received;
  std::size_t bodies = 0;  // loop bodies entered (results dereferenced and kept)
  std::optional<Surfaced> surfaced;
  bool broke = false;
  std::vector<std::string> problems;  // found while consuming
  parmap::RunReport report;
  bool follow_up_ok = false;
};

Surfaced classify(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const TaskError& e) {
    return {"task", e.index};
  } catch (const InputError& e) {
    return {"input", e.position};
  } catch (const MoveError& e) {
    return {"move", e.index};
  } catch (const ConsumerStop&) {
    return {"consumer", 0};
  } catch (const parmap::TimeoutError& e) {
    return {"timeout", e.index()};
  } catch (const std::exception& e) {
    return {std::string("std::exception: ") + e.what(), 0};
  } catch (...) {
    return {"an exception of an unknown type", 0};
  }
}

template <class R>
Received look_at(const Scenario& s, R& item, std::size_t index) {
  Received r;
  r.index = index;
  r.ok = true;
  r.correct = item.index() == index && item.value() == value_of(s.seed, index) &&
              item.intact(s.kind == Kind::large);
  return r;
}

template <class R>
Received look_at(const Scenario& s, parmap::Outcome<R>& outcome, std::size_t index) {
  if (outcome.index() != index) {
    Received r;
    r.index = index;
    r.error = "outcome index " + std::to_string(outcome.index()) + " where " +
              std::to_string(index) + " was expected";
    return r;
  }
  if (outcome.has_value()) return look_at(s, outcome.value(), index);
  Received r;
  r.index = index;
  const Surfaced what = classify(outcome.error());
  r.error = what.kind;
  r.error_index = what.index;
  return r;
}

template <class R>
std::size_t index_of(const R& item) {
  return item.index();
}
template <class R>
std::size_t index_of(const parmap::Outcome<R>& outcome) {
  return outcome.index();
}

template <class R, class ModeTag, class Policy, bool Lvalue>
void run_typed(const Scenario& s, RunState& state, Observed& obs) {
  constexpr bool is_list = std::is_same_v<ModeTag, parmap::return_as::list_t>;
  constexpr bool in_order = !std::is_same_v<ModeTag, parmap::return_as::generator_unordered_t>;

  parmap::Options options{.n_jobs = s.n_jobs};
  if (s.window > 0) {
    options.pre_dispatch = s.window;
  } else {
    options.pre_dispatch = parmap::all;
  }
  if (s.batch > 0) options.batch_size = s.batch;
  if (s.watched) options.timeout = 60s;
  parmap::Parallel parallel(options, ModeTag{}, Policy{});

  // Checks made as each result arrives: inline runs are lazy; in input order with a fixed
  // batch size, the input is never read further ahead than the window.
  const auto on_arrival = [&](std::size_t index) {
    if (s.n_jobs == 1 && !is_list) {
      const int started = state.started_total.load();
      if (started != static_cast<int>(obs.bodies)) {
        obs.problems.push_back("inline run not lazy: " + std::to_string(started) +
                               " tasks started at result " + std::to_string(obs.bodies));
      }
    } else if (in_order && !is_list && s.window > 0 && s.batch > 0) {
      const std::size_t b = static_cast<std::size_t>(s.batch);
      const std::size_t bound = (index / b + static_cast<std::size_t>(s.window)) * b;
      const std::size_t reads = state.reads.load();
      if (reads > bound) {
        obs.problems.push_back("input read " + std::to_string(reads) + " tasks ahead of result " +
                               std::to_string(index) + " (bound " + std::to_string(bound) + ")");
      }
    }
  };
  // One loop body: records the result; says whether to go on.
  const auto body = [&](auto& item, std::size_t index) {
    ++obs.bodies;
    on_arrival(index);
    obs.received.push_back(look_at(s, item, index));
    if (s.consumer == Consumer::slow) spend(s.consumer_pause_us);
    if (obs.bodies == s.stop_after + 1) {
      if (s.consumer == Consumer::throw_at) throw ConsumerStop{};
      if (s.consumer == Consumer::break_at) return false;
    }
    return true;
  };

  Input<R> input(state);
  const auto call = [&]() -> decltype(auto) {
    if constexpr (Lvalue) {
      return parallel(input);
    } else {
      return parallel(Input<R>(state));
    }
  };

  try {
    if constexpr (is_list) {
      auto all = call();
      for (std::size_t pos = 0; pos < all.size(); ++pos) {
        ++obs.bodies;
        obs.received.push_back(look_at(s, all[pos], pos));
      }
    } else if (s.indexed) {
      for (auto x : call().indexed()) {
        if (x.index != index_of(x.value)) {
          obs.problems.push_back("indexed() says " + std::to_string(x.index) +
                                 " for the result of task " + std::to_string(index_of(x.value)));
        }
        if (!body(x.value, x.index)) {
          obs.broke = true;
          break;
        }
      }
    } else {
      std::size_t position = 0;
      for (auto x : call()) {
        // Not indexed: the input order gives the index; completion order only the result.
        const std::size_t index = in_order ? position++ : index_of(x);
        if (!body(x, index)) {
          obs.broke = true;
          break;
        }
      }
    }
  } catch (...) {
    obs.surfaced = classify(std::current_exception());
  }
  obs.report = parallel.last_report();

  // The Parallel takes another call after whatever happened.
  std::vector<std::function<int()>> small{[] { return 1; }, [] { return 2; }, [] { return 3; }};
  std::size_t follow_up = 0;
  try {
    if constexpr (is_list) {
      follow_up = parallel(small).size();
    } else {
      for (auto&& x : parallel(small)) {
        static_cast<void>(x);
        ++follow_up;
      }
    }
  } catch (...) {
    follow_up = 0;
  }
  obs.follow_up_ok = follow_up == 3;
}

template <class R>
void run_with_result(const Scenario& s, RunState& state, Observed& obs) {
  using parmap::on_error::collect_t;
  using parmap::on_error::raise_t;
  using parmap::return_as::generator_t;
  using parmap::return_as::generator_unordered_t;
  using parmap::return_as::list_t;
  const auto by_input = [&](auto mode, auto policy) {
    using M = decltype(mode);
    using P = decltype(policy);
    if (s.lvalue_input) {
      run_typed<R, M, P, true>(s, state, obs);
    } else {
      run_typed<R, M, P, false>(s, state, obs);
    }
  };
  const auto by_mode = [&](auto policy) {
    switch (s.mode) {
      case Mode::list:
        by_input(list_t{}, policy);
        break;
      case Mode::generator:
        by_input(generator_t{}, policy);
        break;
      case Mode::unordered:
        by_input(generator_unordered_t{}, policy);
        break;
    }
  };
  if (s.collect) {
    by_mode(collect_t{});
  } else {
    by_mode(raise_t{});
  }
}

// --- Checking one scenario against the reference --------------------------------------------

std::vector<std::string> verify(const Scenario& s, RunState& state, Observed& obs) {
  std::vector<std::string> p = std::move(obs.problems);
  const auto problem = [&p](std::string text) { p.push_back(std::move(text)); };
  const std::size_t n = s.length;
  const std::size_t eff = s.effective_length();
  const bool in_order = s.mode != Mode::unordered;
  const std::vector<MoveThrow> moves = state.moves_thrown();
  const auto move_thrown = [&](std::size_t index, std::optional<bool> consumer_side) {
    for (const MoveThrow& m : moves) {
      if (m.index == index && (!consumer_side || m.consumer_side == *consumer_side)) return true;
    }
    return false;
  };

  // No leak, the window's bound, one reader at a time, every task started at most once.
  if (state.live.live.load() != 0) {
    problem(std::to_string(state.live.live.load()) + " results still alive after the range died");
  }
  if (s.mode != Mode::list) {
    long bound = static_cast<long>(eff);  // parmap::all, or automatic batches: no duplicates
    if (s.n_jobs == 1) {
      bound = std::min(bound, 1L);  // inline: one task at a time, run when asked for
    } else if (s.window > 0 && s.batch > 0) {
      bound = std::min(bound, static_cast<long>(s.window) * s.batch);
    }
    if (state.live.peak.load() > bound) {
      problem("peak of " + std::to_string(state.live.peak.load()) +
              " live results exceeds the bound " + std::to_string(bound));
    }
  }
  if (state.concurrent_reads.load() != 0) problem("the input was read by two threads at once");
  if (state.reads.load() > eff) problem("the input produced more tasks than it has");
  for (std::size_t i = 0; i < n; ++i) {
    const int starts = state.starts[i].load();
    if (starts > 1)
      problem("task " + std::to_string(i) + " started " + std::to_string(starts) + " times");
    if (starts > 0 && i >= eff)
      problem("task " + std::to_string(i) + " started though the input ended before it");
  }

  // Every result received is right, once.
  std::vector<int> seen(n, 0);
  for (std::size_t pos = 0; pos < obs.received.size(); ++pos) {
    const Received& r = obs.received[pos];
    const std::string at =
        "result " + std::to_string(pos) + " (task " + std::to_string(r.index) + "): ";
    if (r.index >= eff) {
      problem(at + "no such task");
      continue;
    }
    if (++seen[r.index] > 1) problem(at + "received twice");
    if (in_order && r.index != pos) problem(at + "out of input order");
    if (r.ok) {
      if (!r.correct) problem(at + "wrong value, payload or inner index");
      if (s.task_throws[r.index] != 0) problem(at + "a value, but the task threw");
    } else if (!s.collect) {
      problem(at + "an error outcome without on_error::collect");
    } else if (r.error == "task") {
      if (s.task_throws[r.index] == 0 || r.error_index != r.index)
        problem(at + "a TaskError the task never threw");
    } else if (r.error == "move") {
      if (r.error_index != r.index || !move_thrown(r.index, false))
        problem(at + "a MoveError never thrown by a worker");
    } else {
      problem(at + "an error outcome holding " + r.error);
    }
    if (s.collect && r.ok && s.task_throws[r.index] != 0)
      problem(at + "the task's exception was lost");
  }

  // What surfaced is something that really was thrown, no later than its position.
  const bool complete = !obs.surfaced && !obs.broke;
  if (obs.surfaced) {
    const Surfaced& e = *obs.surfaced;
    const std::string what = "surfaced " + e.kind + " " + std::to_string(e.index) + ": ";
    if (e.kind == "task") {
      if (s.collect) problem(what + "a task's exception ended a collecting run");
      if (e.index >= eff || s.task_throws[e.index] == 0 || state.starts[e.index].load() != 1) {
        problem(what + "no such task threw");
      }
    } else if (e.kind == "input") {
      if (s.input_throw_at != e.index) problem(what + "the input never threw there");
    } else if (e.kind == "move") {
      if (!move_thrown(e.index, s.collect ? std::optional<bool>(true) : std::nullopt)) {
        problem(what + "no such move threw");
      }
    } else if (e.kind == "consumer") {
      if (s.consumer != Consumer::throw_at || obs.bodies != s.stop_after + 1)
        problem(what + "the consumer never threw");
    } else {
      problem(what + "nobody threw this");
    }
    if (in_order && (e.kind == "task" || e.kind == "move" || e.kind == "input")) {
      for (const Received& r : obs.received) {
        if (r.index >= e.index) {
          problem(what + "result " + std::to_string(r.index) +
                  " arrived before an exception at or before its position");
          break;
        }
      }
    }
  } else if (obs.broke) {
    if (s.consumer != Consumer::break_at || obs.bodies != s.stop_after + 1)
      problem("the loop broke unasked");
  }
  if (complete) {
    // The run reached its end: everything arrived, and nothing thrown was swallowed.
    if (obs.received.size() != n) {
      problem("complete run delivered " + std::to_string(obs.received.size()) + " of " +
              std::to_string(n) + " results");
    }
    if (s.input_throw_at) problem("the input's exception was lost");
    if (!s.collect) {
      for (std::size_t i = 0; i < n; ++i) {
        if (s.task_throws[i] != 0) problem("task " + std::to_string(i) + "'s exception was lost");
      }
      if (!moves.empty()) problem("a MoveError was lost");
    } else {
      for (const MoveThrow& m : moves) {
        if (m.consumer_side) problem("a consumer-side MoveError was lost");
      }
    }
  }

  // The report agrees with what the consumer saw.
  const parmap::RunReport& rep = obs.report;
  if (rep.completed < rep.consumed || rep.unused != rep.completed - rep.consumed) {
    problem("report: completed " + std::to_string(rep.completed) + ", consumed " +
            std::to_string(rep.consumed) + ", unused " + std::to_string(rep.unused) +
            " do not add up");
  }
  if (rep.finished != complete)
    problem("report: finished is " + std::string(rep.finished ? "true" : "false"));
  if (rep.finished && rep.failed) problem("report: both finished and failed");
  if (s.mode != Mode::list) {
    const bool deref_threw =
        obs.surfaced && obs.surfaced->kind == "move" && move_thrown(obs.surfaced->index, true);
    const std::size_t expected = obs.bodies + (deref_threw ? 1 : 0);
    if (rep.consumed != expected) {
      problem("report: consumed " + std::to_string(rep.consumed) + ", the loop took " +
              std::to_string(expected));
    }
  } else if (complete && rep.consumed != n) {
    problem("report: consumed " + std::to_string(rep.consumed) + " of a complete list");
  }
  if (obs.surfaced && !rep.failed &&
      (obs.surfaced->kind == "task" || obs.surfaced->kind == "input" ||
       (obs.surfaced->kind == "move" && !move_thrown(obs.surfaced->index, true)))) {
    problem("report: not failed, but the run threw");
  }
  if (rep.completed > static_cast<std::size_t>(state.started_total.load()))
    problem("report: more completed than started");
  if (!s.input_throw_at &&
      rep.cancelled != state.reads.load() - static_cast<std::size_t>(state.started_total.load())) {
    problem("report: cancelled " + std::to_string(rep.cancelled) + ", but " +
            std::to_string(state.reads.load()) + " tasks were read and " +
            std::to_string(state.started_total.load()) + " started");
  }
  if (!obs.follow_up_ok) problem("the Parallel did not take a call after this run");
  return p;
}

}  // namespace

std::vector<std::string> run_scenario(const Scenario& s) {
  parmap_test::Watchdog watchdog("stress scenario " + s.describe(), 120s);
  RunState state(s);
  Observed obs;
  if (s.kind == Kind::fragile) {
    run_with_result<FragileItem>(s, state, obs);
  } else {
    run_with_result<Item>(s, state, obs);
  }
  return verify(s, state, obs);
}

}  // namespace parmap_test::stress
