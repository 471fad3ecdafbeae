// A peak_rss child: runs one configuration in this fresh process and measures it. parmap's
// three modes are here; oneTBB's pipeline is in tbb_pipeline.cpp.

#include "child.hpp"

#include <algorithm>  // std::min
#include <chrono>     // std::chrono::steady_clock: the wall time
#include <cmath>      // std::pow: Pareto durations
#include <concepts>   // std::same_as: the list mode
#include <cstddef>    // std::size_t
#include <cstdint>    // std::int64_t
#include <parmap/parmap.hpp>
#include <random>  // std::mt19937_64, std::uniform_real_distribution: seeded durations
#include <ranges>  // std::views::iota, std::views::transform: the task range
#include <string>  // std::string
#include <vector>  // std::vector

#include "peak_rss.hpp"
#include "support/live_count.hpp"   // live_count::LiveCount: results alive at once
#include "support/proc_memory.hpp"  // current_rss, peak_rss, reset_peak_rss

namespace peak_rss {

using Clock = std::chrono::steady_clock;

std::vector<std::int64_t> durations(const Base& b, const std::string& pattern) {
  std::vector<std::int64_t> us(b.tasks, static_cast<std::int64_t>(b.task_ms * 1000));
  if (pattern == "slow_head" && !us.empty()) {
    us[0] = static_cast<std::int64_t>(b.head_ms * 1000);
  } else if (pattern == "heavy_tail") {
    // Pareto(alpha, x_m): mean alpha x_m / (alpha - 1) = 3 x_m for alpha = 1.5.
    constexpr double alpha = 1.5;
    const double x_m = b.task_ms / 3;
    std::mt19937_64 rng(b.seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (auto& d : us) {
      const double ms = std::min(x_m / std::pow(1.0 - u(rng), 1.0 / alpha), 50 * b.task_ms);
      d = static_cast<std::int64_t>(ms * 1000);
    }
  }
  return us;
}

namespace {

template <class Mode>
void run_parmap(const Base& b, const Config& c, const std::vector<std::int64_t>& us, Mode mode,
                Consumer& consume) {
  parmap::Parallel parallel(
      parmap::Options{.n_jobs = b.n_jobs,
                      .pre_dispatch = c.window == 0 ? parmap::PreDispatch(parmap::all)
                                                    : parmap::PreDispatch(c.window),
                      .batch_size = 1},
      mode);
  auto tasks =
      std::views::iota(std::size_t{0}, b.tasks) | std::views::transform([&](std::size_t i) {
        // &make_result: a bare function name makes GCC 12 warn (-Wnonnull-compare)
        // about delayed()'s null check.
        return parmap::delayed(&make_result)(i, us[i], b.elements());
      });
  if constexpr (std::same_as<Mode, parmap::return_as::list_t>) {
    const std::vector<Blob> all = parallel(tasks);
    for (const Blob& r : all) consume(r);
  } else {
    for (auto&& r : parallel(tasks)) consume(r);
  }
}

}  // namespace

Measurement run_child(const Base& b, const Config& c) {
  const auto us = durations(b, c.pattern);
  Consumer consume;
  consume.sleep_us = c.consumer == "slow" ? static_cast<std::int64_t>(b.consumer_ms * 1000) : 0;

  Measurement m;
  m.hwm_reset = proc_memory::reset_peak_rss();
  m.baseline = proc_memory::current_rss().value_or(0);
  live_count::LiveCount::reset_peak();
  const auto t0 = Clock::now();
  if (c.mode == "ordered") {
    run_parmap(b, c, us, parmap::return_as::generator, consume);
  } else if (c.mode == "unordered") {
    run_parmap(b, c, us, parmap::return_as::generator_unordered, consume);
  } else if (c.mode == "list") {
    run_parmap(b, c, us, parmap::return_as::list, consume);
#ifdef PARMAP_HAVE_TBB
  } else if (c.mode == "tbb_in_order" || c.mode == "tbb_out_of_order") {
    run_tbb(b, c, us, c.mode == "tbb_in_order", consume);
#endif
  } else {
    throw UsageError{"unknown mode '" + c.mode + "'"};
  }
  m.wall = std::chrono::duration<double>(Clock::now() - t0).count();
  m.peak_growth = proc_memory::peak_rss().value_or(0) - m.baseline;
  m.max_live = live_count::LiveCount::peak();

  const bool ordered = c.mode == "ordered" || c.mode == "list" || c.mode == "tbb_in_order";
  const double expected = static_cast<double>(b.tasks) * static_cast<double>(b.tasks - 1) / 2;
  m.ok = consume.count == b.tasks && consume.index_sum == expected && consume.torn == 0 &&
         (!ordered || consume.out_of_order == 0) && live_count::LiveCount::live() == 0;
  return m;
}

}  // namespace peak_rss
