// overhead's throughput sections (tiny, 1us, 50us): every contestant on the same workload,
// interleaved round by round, time per task and how parmap compares with each peer.

#include <algorithm>  // std::ranges::minmax
#include <cstddef>    // std::size_t
#include <cstdio>     // std::printf, std::fprintf
#include <memory>     // std::make_shared: the textbook pool
#include <parmap/parmap.hpp>
#include <string>   // std::string
#include <utility>  // std::move
#include <vector>   // std::vector

#include "overhead/overhead.hpp"
#include "support/harness.hpp"        // parmap_bench: rounds, checksums, text, JSON
#include "support/openmp.hpp"         // the OpenMP contestants
#include "support/tbb.hpp"            // the oneTBB contestants
#include "support/textbook_pool.hpp"  // the textbook pool contestant

namespace overhead {

namespace {

using namespace parmap_bench;

// Every contestant of a throughput section. `slow_n` is the task count for the rows that
// pay microseconds per task (parmap batch_size = 1, the textbook pool), so that they take
// seconds rather than minutes; rows report time per task, so counts need not match.
template <class F>
std::vector<Contestant> make_contestants(F f, std::size_t n, std::size_t slow_n, std::size_t jobs) {
  namespace ra = parmap::return_as;
  const int n_jobs = static_cast<int>(jobs);
  const parmap::Options automatic{.n_jobs = n_jobs};
  const parmap::Options one{.n_jobs = n_jobs, .batch_size = 1};
  std::vector<Contestant> all;
  // The sequential loop writes into a vector, as the list does.
  all.push_back({"sequential loop", true,
                 [f](std::size_t count) {
                   std::vector<std::int64_t> out(count);
                   for (std::size_t i = 0; i < count; ++i) out[i] = f(static_cast<std::int64_t>(i));
                   return checksum(out, true);
                 },
                 n, "parmap list"});
  all.push_back(parmap_contestant("parmap list", ra::list, automatic, f, n));
  all.push_back(parmap_contestant("parmap generator", ra::generator, automatic, f, n));
  all.push_back(
      parmap_contestant("parmap generator_unordered", ra::generator_unordered, automatic, f, n));
  all.push_back(parmap_contestant("parmap list, batch_size=1", ra::list, one, f, slow_n));
  all.push_back(parmap_contestant("parmap generator, batch_size=1", ra::generator, one, f, slow_n));
  all.push_back(parmap_contestant("parmap generator_unordered, batch_size=1",
                                  ra::generator_unordered, one, f, slow_n));
#if PARMAP_HAVE_TBB
  all.push_back(tbb_parallel_for_contestant(f, n));
  for (const std::size_t tokens : {std::size_t{4}, std::size_t{64}}) {
    all.push_back(tbb_pipeline_contestant(f, tokens, tbb::filter_mode::serial_in_order, n));
    all.push_back(tbb_pipeline_contestant(f, tokens, tbb::filter_mode::serial_out_of_order, n));
  }
#endif
#if PARMAP_HAVE_OPENMP
  all.push_back(openmp_for_contestant(f, n_jobs, n));
  all.push_back(openmp_ordered_contestant(f, n_jobs, n));
#endif
  all.push_back(textbook_pool_contestant(std::make_shared<TextbookPool>(jobs), f, slow_n));
  return all;
}

template <class F>
ThroughputSection measure(std::string key, std::string title, F f, double task_ns, std::size_t n,
                          std::size_t slow_n, std::size_t jobs, const Config& config) {
  std::fprintf(stderr, "[overhead] %s...\n", key.c_str());
  ThroughputSection section{std::move(key), std::move(title), task_ns, task_ns > 0, {}};
  section.rows = run_rounds(section.key, f, n, make_contestants(f, n, slow_n, jobs), config.runs);
  return section;
}

}  // namespace

ThroughputSection run_throughput(std::string key, std::string title, Square f, double task_ns,
                                 std::size_t n, std::size_t slow_n, std::size_t jobs,
                                 const Config& config) {
  return measure(std::move(key), std::move(title), f, task_ns, n, slow_n, jobs, config);
}

ThroughputSection run_throughput(std::string key, std::string title, Spin f, double task_ns,
                                 std::size_t n, std::size_t slow_n, std::size_t jobs,
                                 const Config& config) {
  return measure(std::move(key), std::move(title), f, task_ns, n, slow_n, jobs, config);
}

void print_throughput(const ThroughputSection& s, std::size_t n_jobs) {
  std::printf("\n## %s\n\n", s.title.c_str());
  const Row* sequential = s.find("sequential loop");
  std::printf(
      "| contestant | tasks | ns/task (median) | min-max | time vs sequential |%s parmap vs this "
      "|\n",
      s.efficiency ? " efficiency |" : "");
  std::printf("|---|---:|---:|---:|---:|%s---|\n", s.efficiency ? "---:|" : "");
  for (const Row& r : s.rows) {
    const auto [lo, hi] = std::ranges::minmax(r.ns_per_task);
    std::string versus = "";
    if (const Row* p = s.find(r.compared_with)) {
      versus =
          fmt("%.2fx", r.median_ns() / p->median_ns()) + " (" + r.compared_with.substr(7) + ")";
    }
    std::string eff;
    if (s.efficiency) {
      // Appended piece by piece: `" " + fmt(...)` makes GCC 12 -O3 report a false
      // -Wrestrict (an overlapping memcpy of 2^63 bytes) in its inlined std::string code.
      eff = " ";
      if (r.name != "sequential loop" && sequential != nullptr) {
        eff += fmt("%.1f%%",
                   100.0 * sequential->median_ns() / (static_cast<double>(n_jobs) * r.median_ns()));
        eff += " ";
      }
      eff += "|";
    }
    std::printf("| %s | %zu | %s | %s-%s | %s |%s %s |\n", r.name.c_str(), r.tasks,
                ns_text(r.median_ns()).c_str(), ns_text(lo).c_str(), ns_text(hi).c_str(),
                sequential ? fmt("%.2fx", r.median_ns() / sequential->median_ns()).c_str() : "",
                eff.c_str(), versus.c_str());
  }
}

std::string throughput_json(const ThroughputSection& s, std::size_t n_jobs) {
  const Row* sequential = s.find("sequential loop");
  std::vector<std::string> rows;
  for (const Row& r : s.rows) {
    std::vector<std::string> runs;
    for (double v : r.ns_per_task) runs.push_back(json_number(v));
    const Row* p = s.find(r.compared_with);
    rows.push_back(json_object({
        {"name", json_string(r.name)},
        {"tasks", std::to_string(r.tasks)},
        {"ns_per_task_median", json_number(r.median_ns())},
        {"ns_per_task_runs", json_array(runs)},
        {"time_vs_sequential",
         sequential ? json_number(r.median_ns() / sequential->median_ns()) : "null"},
        {"efficiency",
         sequential && r.name != "sequential loop"
             ? json_number(sequential->median_ns() / (static_cast<double>(n_jobs) * r.median_ns()))
             : "null"},
        {"compared_with", p ? json_string(r.compared_with) : "null"},
        {"parmap_speedup_vs_this", p ? json_number(r.median_ns() / p->median_ns()) : "null"},
    }));
  }
  return json_object({{"title", json_string(s.title)},
                      {"task_ns", json_number(s.task_ns)},
                      {"rows", json_array(rows)}});
}

}  // namespace overhead
