// handoff's latency section: the consumer's wake-up, from a task stamping its end to the
// consumer holding its result, for parmap's generators with one-task and automatic batches.

#include <algorithm>   // std::max
#include <concepts>    // std::same_as: which modes claim input order
#include <cstddef>     // std::size_t
#include <cstdint>     // std::int64_t, std::uint64_t
#include <cstdio>      // std::printf, std::fprintf
#include <functional>  // std::function: a contestant's body
#include <memory>      // std::make_shared: the Parallel objects
#include <parmap/parmap.hpp>
#include <stdexcept>  // std::runtime_error: wrong results
#include <string>     // std::string
#include <utility>    // std::move
#include <vector>     // std::vector

#include "handoff/handoff.hpp"
#include "support/harness.hpp"  // parmap_bench: spin, stamps, checksums, statistics, JSON

namespace handoff {

namespace ra = parmap::return_as;
using namespace parmap_bench;

// latency: consumer wake-up latency. Each task stamps steady_clock::now() just before it
// returns; the consumer, doing nothing else, stamps its receipt. The difference is the
// hand-off as the consumer sees it: for the ordered generator it includes waiting behind an
// earlier task, and with automatic batches waiting for the rest of the result's batch.
void section_latency(const Calibration& calibration, const Sizes& sizes, const Config& config,
                     Report& report) {
  std::fprintf(stderr, "[handoff] latency...\n");
  const Spin work{calibration.steps_50us};
  auto task = [work](std::int64_t i) { return Stamped{work(i), Clock::now()}; };
  // A body runs `count` tasks, appends one latency (us) per result, returns the checksum.
  struct Body {
    std::string name;
    bool ordered;
    std::function<std::uint64_t(std::size_t, std::vector<double>&)> run;
  };
  auto parmap_body = [&](std::string name, auto mode, parmap::Options options) -> Body {
    constexpr bool ordered = !std::same_as<decltype(mode), ra::generator_unordered_t>;
    auto parallel = std::make_shared<parmap::Parallel<decltype(mode)>>(std::move(options), mode);
    return {std::move(name), ordered,
            [parallel, task](std::size_t count, std::vector<double>& out) {
              Checksum sum(ordered);
              for (auto&& s : (*parallel)(delayed_tasks(task, count))) {
                const auto received = Clock::now();
                out.push_back(micros(received - s.done));
                sum.add(s.value);
              }
              return sum.value();
            }};
  };
  std::vector<Body> bodies;
  bodies.push_back(parmap_body("parmap generator, batch_size=1", ra::generator,
                               {.n_jobs = n_jobs, .batch_size = 1}));
  bodies.push_back(parmap_body("parmap generator_unordered, batch_size=1", ra::generator_unordered,
                               {.n_jobs = n_jobs, .batch_size = 1}));
  bodies.push_back(
      parmap_body("parmap generator, automatic batches", ra::generator, {.n_jobs = n_jobs}));
  bodies.push_back(parmap_body("parmap generator_unordered, automatic batches",
                               ra::generator_unordered, {.n_jobs = n_jobs}));

  const std::size_t n = sizes.latency;
  Expected<Spin> expected(work);
  auto run_checked = [&](const Body& b, std::size_t count, std::vector<double>& out) {
    const std::size_t before = out.size();
    const std::uint64_t sum = b.run(count, out);
    if (sum != expected(count, b.ordered) || out.size() - before != count) {
      throw std::runtime_error("latency: " + b.name + ": wrong or misordered results");
    }
  };
  std::vector<double> scratch;
  for (const Body& b : bodies) {  // warm-up
    scratch.clear();
    run_checked(b, std::max<std::size_t>(n / 10, 1), scratch);
    settle();
  }
  std::vector<std::vector<double>> samples(bodies.size());        // every round's, pooled
  std::vector<std::vector<double>> round_medians(bodies.size());  // one per round
  for (auto& s : samples) s.reserve(n * static_cast<std::size_t>(config.runs));
  scratch.reserve(n);
  for (int round = 0; round < config.runs; ++round) {
    for (std::size_t k = 0; k < bodies.size(); ++k) {
      scratch.clear();
      run_checked(bodies[k], n, scratch);
      round_medians[k].push_back(median(scratch));
      samples[k].insert(samples[k].end(), scratch.begin(), scratch.end());
      settle();
    }
  }

  std::printf(
      "\n## latency: task stamped done -> consumer has the result, %.1f us tasks, %zu tasks\n\n",
      calibration.measured_50us / 1e3, n);
  std::printf(
      "Percentiles over every result of every round; the last column is the range of the "
      "per-round medians.\n\n");
  Table table(
      {"contestant", "samples", "median us", "p90 us", "p99 us", "max us", "round medians min-max"},
      "lrrrrrr");
  std::vector<std::string> rows;
  for (std::size_t k = 0; k < bodies.size(); ++k) {
    const auto& s = samples[k];
    const double p50 = percentile(s, 0.5), p90 = percentile(s, 0.9), p99 = percentile(s, 0.99),
                 max = percentile(s, 1.0);
    const Spread m = spread(round_medians[k]);
    table.add({bodies[k].name, std::to_string(s.size()), fmt("%.1f", p50), fmt("%.1f", p90),
               fmt("%.1f", p99), fmt("%.0f", max),
               range_text(fmt("%.1f", m.min), fmt("%.1f", m.max))});
    report.targets.push_back({"latency: " + bodies[k].name + ", median", p50, 5, false, " us"});
    report.targets.push_back({"latency: " + bodies[k].name + ", p90", p90, 20, false, " us"});
    rows.push_back(json_object({{"name", json_string(bodies[k].name)},
                                {"samples", std::to_string(s.size())},
                                {"median_us", json_number(p50)},
                                {"p90_us", json_number(p90)},
                                {"p99_us", json_number(p99)},
                                {"max_us", json_number(max)},
                                {"round_medians_us", json_numbers(round_medians[k])}}));
  }
  table.print();
  std::fflush(stdout);
  report.json.emplace_back("latency",
                           json_object({{"task_ns", json_number(calibration.measured_50us)},
                                        {"tasks", std::to_string(n)},
                                        {"rows", json_array(rows)}}));
}

}  // namespace handoff
