// handoff's hostage section: one task of ten sleeps; are the nine others held back with it?

#include <algorithm>  // std::max
#include <chrono>     // std::chrono: the sleep, stamps
#include <cstddef>    // std::size_t
#include <cstdint>    // std::int64_t
#include <cstdio>     // std::printf, std::fprintf
#include <parmap/parmap.hpp>
#include <stdexcept>  // std::runtime_error: wrong results
#include <string>     // std::string
#include <thread>     // std::this_thread::sleep_for: the hostage
#include <vector>     // std::vector

#include "handoff/handoff.hpp"
#include "support/harness.hpp"  // parmap_bench: stamps, delayed_tasks, settle, JSON

namespace handoff {

namespace ra = parmap::return_as;
using namespace parmap_bench;

// hostage: 10 tasks, n_jobs = 2, pre_dispatch = 10, automatic batches; task 1 (0-based) sleeps,
// the others return at once. A slow task must not hold finished results back:
//  (a) generator_unordered: the 9 fast results should all arrive long before the sleeper
//      returns. We take 9 results and break; leaving the loop destroys the range, which waits
//      for the sleeping task (threads cannot be killed), so that is reported separately.
//  (b) generator: results 2..9 come after task 1 in input order, but they finished long ago,
//      so they should follow task 1's return immediately.
void section_hostage(const Sizes& sizes, const Config& config, Report& report) {
  std::fprintf(stderr, "[handoff] hostage...\n");
  constexpr std::size_t n = 10;
  constexpr std::size_t hostage = 1;  // the sleeper's input index
  // The 9th-result threshold stays 100 ms in --quick, where the sleep is 200 ms.
  constexpr double ninth_goal_ms = 100;
  // "Immediately" for (b): a few wake-ups, far below the sleep.
  constexpr double gap_goal_us = 1'000;
  struct Task {
    Clock::duration sleep;
    Stamped operator()(std::int64_t i) const {
      if (i == static_cast<std::int64_t>(hostage)) std::this_thread::sleep_for(sleep);
      return {i, Clock::now()};
    }
  };
  const Task slow{sizes.hostage_sleep};
  const Task warm_up{Clock::duration::zero()};
  const parmap::Options options{.n_jobs = n_jobs, .pre_dispatch = 10};
  parmap::Parallel<ra::generator_unordered_t> unordered(options, ra::generator_unordered);
  parmap::Parallel<ra::generator_t> ordered(options, ra::generator);

  // (a) Returns {ms to the 9th result, hostage among the 9, ms to leave the loop}.
  struct Unordered {
    double ninth_ms = nan;
    bool hostage_among = false;
    double leave_ms = nan;
  };
  auto run_unordered = [&](const Task& task) {
    Unordered out;
    std::vector<bool> seen(n, false);
    std::size_t received = 0;
    const auto start = Clock::now();
    for (auto&& [at, item] : unordered(delayed_tasks(task, n)).indexed()) {
      if (at >= n || seen[at] || item.value != static_cast<std::int64_t>(at))
        throw std::runtime_error("hostage: generator_unordered: wrong or repeated result");
      seen[at] = true;
      if (at == hostage) out.hostage_among = true;
      if (++received == n - 1) {
        out.ninth_ms = millis(Clock::now() - start);
        break;  // the range's destruction waits for whatever still runs
      }
    }
    out.leave_ms = millis(Clock::now() - start);
    if (received != n - 1) throw std::runtime_error("hostage: generator_unordered: results lost");
    return out;
  };
  // (b) Returns {max us from task 1's return to receipt of results 2..9, us to receive task 1}.
  struct Ordered {
    double max_gap_us = nan;
    double hostage_receipt_us = nan;
  };
  auto run_ordered = [&](const Task& task) {
    std::vector<Clock::time_point> receipt(n);
    Clock::time_point hostage_done{};
    std::size_t position = 0;
    for (auto&& [at, item] : ordered(delayed_tasks(task, n)).indexed()) {
      const auto now = Clock::now();
      if (at != position || item.value != static_cast<std::int64_t>(position))
        throw std::runtime_error("hostage: generator: result out of order");
      receipt[position] = now;
      if (at == hostage) hostage_done = item.done;
      ++position;
    }
    if (position != n) throw std::runtime_error("hostage: generator: results lost");
    Ordered out;
    out.hostage_receipt_us = micros(receipt[hostage] - hostage_done);
    out.max_gap_us = 0;
    for (std::size_t k = hostage + 1; k < n; ++k)
      out.max_gap_us = std::max(out.max_gap_us, micros(receipt[k] - hostage_done));
    return out;
  };

  run_unordered(warm_up);
  run_ordered(warm_up);
  std::vector<double> ninth_ms, leave_ms, max_gap_us, hostage_receipt_us;
  int hostage_among = 0;
  const int runs = hostage_runs(config);
  for (int round = 0; round < runs; ++round) {
    const Unordered a = run_unordered(slow);
    ninth_ms.push_back(a.ninth_ms);
    leave_ms.push_back(a.leave_ms);
    hostage_among += a.hostage_among ? 1 : 0;
    settle();
    const Ordered b = run_ordered(slow);
    max_gap_us.push_back(b.max_gap_us);
    hostage_receipt_us.push_back(b.hostage_receipt_us);
    settle();
  }

  const double sleep_ms = millis(sizes.hostage_sleep);
  std::printf(
      "\n## hostage: 10 tasks, task 1 sleeps %.0f ms, the rest return at once; n_jobs = %d, "
      "pre_dispatch = 10, automatic batches; %d round(s)\n\n",
      sleep_ms, n_jobs, runs);
  Table table({"measure", "median", "min-max", "target"}, "lrrr");
  const Spread ninth = spread(ninth_ms), leave = spread(leave_ms), gap = spread(max_gap_us),
               receipt = spread(hostage_receipt_us);
  table.add({"(a) unordered: 9th result arrived, ms after the call", fmt("%.2f", ninth.median),
             range_text(fmt("%.2f", ninth.min), fmt("%.2f", ninth.max)),
             fmt("<= %.0f", ninth_goal_ms)});
  table.add({"(a) unordered: task 1 among the 9 (rounds)",
             std::to_string(hostage_among) + " of " + std::to_string(runs), "", "0"});
  table.add({"(a) unordered: loop left (range destroyed), ms after the call",
             fmt("%.1f", leave.median), range_text(fmt("%.1f", leave.min), fmt("%.1f", leave.max)),
             "(waits for the sleeper)"});
  table.add({"(b) ordered: task 1 received, us after it returned", fmt("%.1f", receipt.median),
             range_text(fmt("%.1f", receipt.min), fmt("%.1f", receipt.max)), ""});
  table.add({"(b) ordered: results 2..9 received, max us after task 1 returned",
             fmt("%.1f", gap.median), range_text(fmt("%.1f", gap.min), fmt("%.1f", gap.max)),
             fmt("<= %.0f", gap_goal_us)});
  table.print();
  std::fflush(stdout);
  // Targets on the worst round: a hostage in any round is a hostage.
  report.targets.push_back(
      {"hostage (a): 9th unordered result, worst round", ninth.max, ninth_goal_ms, false, " ms"});
  report.targets.push_back({"hostage (a): rounds with task 1 among the first 9 unordered results",
                            static_cast<double>(hostage_among), 0, false, ""});
  report.targets.push_back({"hostage (b): results 2..9 after task 1's return, max gap, worst round",
                            gap.max, gap_goal_us, false, " us"});
  report.json.emplace_back(
      "hostage", json_object({{"sleep_ms", json_number(sleep_ms)},
                              {"rounds", std::to_string(runs)},
                              {"unordered_ninth_ms", json_numbers(ninth_ms)},
                              {"unordered_hostage_among_rounds", std::to_string(hostage_among)},
                              {"unordered_leave_ms", json_numbers(leave_ms)},
                              {"ordered_hostage_receipt_us", json_numbers(hostage_receipt_us)},
                              {"ordered_max_gap_us", json_numbers(max_gap_us)}}));
}

}  // namespace handoff
