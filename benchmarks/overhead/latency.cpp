// overhead's latency section: consumer wake-up latency, the time from a task stamping its
// end to the consumer holding its result, 50 us tasks, for parmap's generators and the
// textbook pool.

#include <cstddef>     // std::size_t
#include <cstdint>     // std::int64_t, std::uint64_t
#include <cstdio>      // std::printf, std::fprintf
#include <functional>  // std::function: a contestant's body
#include <future>      // std::future: the textbook pool's results
#include <memory>      // std::make_shared: Parallel objects, the pool
#include <parmap/parmap.hpp>
#include <string>   // std::string
#include <utility>  // std::move, std::pair
#include <vector>   // std::vector

#include "overhead/overhead.hpp"
#include "support/harness.hpp"        // parmap_bench: spin, stamps, statistics, JSON
#include "support/textbook_pool.hpp"  // TextbookPool

namespace overhead {

using namespace parmap_bench;

std::vector<LatencyRow> run_latency(std::uint64_t steps_50us, std::size_t n, std::size_t jobs,
                                    const Config& config) {
  std::fprintf(stderr, "[overhead] latency...\n");
  namespace ra = parmap::return_as;
  auto task = [steps_50us](std::int64_t i) {
    const std::int64_t value = spin(i, steps_50us);
    return Stamped{value, Clock::now()};
  };
  // Each contestant runs n tasks and appends one latency (us) per result.
  using Body = std::function<void(std::size_t, std::vector<double>&)>;
  auto record = [](std::vector<double>& out, const Stamped& s) {
    const auto now = Clock::now();
    out.push_back(micros(now - s.done));
    consume(static_cast<std::uint64_t>(s.value));
  };
  auto parmap_body = [&](auto mode, parmap::Options options) -> Body {
    auto parallel = std::make_shared<parmap::Parallel<decltype(mode)>>(std::move(options), mode);
    return [parallel, task, record](std::size_t count, std::vector<double>& out) {
      for (auto&& s : (*parallel)(delayed_tasks(task, count))) record(out, s);
    };
  };
  const int n_jobs = static_cast<int>(jobs);
  std::vector<std::pair<std::string, Body>> bodies;
  bodies.emplace_back("parmap generator_unordered, batch_size=1",
                      parmap_body(ra::generator_unordered, {.n_jobs = n_jobs, .batch_size = 1}));
  bodies.emplace_back("parmap generator, batch_size=1",
                      parmap_body(ra::generator, {.n_jobs = n_jobs, .batch_size = 1}));
  bodies.emplace_back("parmap generator_unordered (automatic batches)",
                      parmap_body(ra::generator_unordered, {.n_jobs = n_jobs}));
  bodies.emplace_back("parmap generator (automatic batches)",
                      parmap_body(ra::generator, {.n_jobs = n_jobs}));
  if (jobs >= 3) {
    // A core left free for the consumer: how much of the latency is the scheduler's.
    bodies.emplace_back(
        "parmap generator_unordered, batch_size=1, n_jobs=" + std::to_string(jobs - 1),
        parmap_body(ra::generator_unordered, {.n_jobs = n_jobs - 1, .batch_size = 1}));
  }
  auto pool = std::make_shared<TextbookPool>(jobs);
  bodies.emplace_back(
      "textbook pool, future per task (get in order)",
      [pool, task, record](std::size_t count, std::vector<double>& out) {
        std::vector<std::future<Stamped>> futures;
        futures.reserve(count);
        for (std::size_t i = 0; i < count; ++i) {
          futures.push_back(pool->submit([task, i] { return task(static_cast<std::int64_t>(i)); }));
        }
        for (auto& f : futures) record(out, f.get());
      });

  std::vector<std::vector<double>> samples(bodies.size());
  for (auto& s : samples) s.reserve(n * static_cast<std::size_t>(config.runs));
  std::vector<double> scratch;
  scratch.reserve(n);
  for (auto& [name, body] : bodies) {
    body(std::max<std::size_t>(n / 10, 1), scratch);  // warm-up
    scratch.clear();
    settle();
  }
  for (int round = 0; round < config.runs; ++round) {
    for (std::size_t k = 0; k < bodies.size(); ++k) {
      bodies[k].second(n, samples[k]);
      settle();
    }
  }
  std::vector<LatencyRow> rows;
  for (std::size_t k = 0; k < bodies.size(); ++k) {
    const auto& s = samples[k];
    rows.push_back({bodies[k].first, s.size(), percentile(s, 0.5), percentile(s, 0.9),
                    percentile(s, 0.99), percentile(s, 1.0)});
  }
  return rows;
}

void print_latency(const std::vector<LatencyRow>& rows, double task_ns) {
  std::printf(
      "\n## Consumer wake-up latency (task stamped done -> consumer has the result), %.0f us "
      "tasks\n\n",
      task_ns / 1e3);
  std::printf(
      "Ordered rows include waiting for an earlier task (head of line); unordered rows are the "
      "pure hand-off.\n\n");
  std::printf(
      "| contestant | samples | median us | p90 us | p99 us | max us "
      "|\n|---|---:|---:|---:|---:|---:|\n");
  for (const LatencyRow& r : rows) {
    std::printf("| %s | %zu | %.1f | %.1f | %.1f | %.0f |\n", r.name.c_str(), r.samples,
                r.median_us, r.p90_us, r.p99_us, r.max_us);
  }
}

std::string latency_json(const std::vector<LatencyRow>& rows) {
  std::vector<std::string> items;
  for (const LatencyRow& r : rows) {
    items.push_back(json_object({{"name", json_string(r.name)},
                                 {"samples", std::to_string(r.samples)},
                                 {"median_us", json_number(r.median_us)},
                                 {"p90_us", json_number(r.p90_us)},
                                 {"p99_us", json_number(r.p99_us)},
                                 {"max_us", json_number(r.max_us)}}));
  }
  return json_array(items);
}

}  // namespace overhead
