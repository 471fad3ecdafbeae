// overhead's streaming section: the process's memory while 10,000,000 tiny tasks (1,000,000
// with --quick) stream through parmap's generator, read from /proc/self/status.

#include <algorithm>  // std::max, std::ranges::minmax
#include <cstddef>    // std::size_t
#include <cstdint>    // std::int64_t, std::uint64_t
#include <cstdio>     // std::printf, std::fprintf
#include <fstream>    // std::ifstream: /proc/self/status
#include <parmap/parmap.hpp>
#include <sstream>      // std::istringstream: a field's value
#include <stdexcept>    // std::runtime_error: wrong results
#include <string>       // std::string
#include <string_view>  // std::string_view: the field's name
#include <vector>       // std::vector

#include "overhead/overhead.hpp"
#include "support/harness.hpp"      // parmap_bench: Square, checksums, JSON
#include "support/proc_memory.hpp"  // reset_peak_rss

namespace overhead {

namespace {

using namespace parmap_bench;

// A "VmRSS:"-style field of /proc/self/status in KiB; -1 where there is no such file.
long proc_status_kib(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::string_view key(field);
  while (std::getline(status, line)) {
    if (line.compare(0, key.size(), key) == 0) {
      std::istringstream rest(line.substr(key.size()));
      long kib = -1;
      rest >> kib;
      return kib;
    }
  }
  return -1;
}

}  // namespace

StreamingResult run_streaming(std::size_t n, std::size_t jobs) {
  std::fprintf(stderr, "[overhead] streaming...\n");
  parmap::Parallel<parmap::return_as::generator_t> parallel({.n_jobs = static_cast<int>(jobs)},
                                                            parmap::return_as::generator);
  for (std::int64_t r : parallel(delayed_tasks(Square{}, 10'000)))
    consume(static_cast<std::uint64_t>(r));
  StreamingResult result;
  result.tasks = n;
  result.peak_reset = proc_memory::reset_peak_rss();
  result.rss_start_kib = proc_status_kib("VmRSS:");
  const std::size_t tenth = std::max<std::size_t>(n / 10, 1);
  Checksum sum(true);
  std::size_t seen = 0;
  const auto start = Clock::now();
  for (std::int64_t r : parallel(delayed_tasks(Square{}, n))) {
    sum.add(r);
    if (++seen % tenth == 0) result.rss_kib.push_back(proc_status_kib("VmRSS:"));
  }
  result.seconds = seconds_since(start);
  result.peak_kib = proc_status_kib("VmHWM:");
  if (sum.value() != expected_checksum(Square{}, n, true) || seen != n) {
    throw std::runtime_error("streaming: wrong results");
  }
  return result;
}

void print_streaming(const StreamingResult& s) {
  const auto [lo, hi] = std::ranges::minmax(s.rss_kib);
  std::printf("\n## Streaming: %zu tiny tasks through parmap generator\n\n", s.tasks);
  std::printf(
      "| RSS at start | peak RSS (VmHWM%s) | growth | RSS min-max during the stream | time | "
      "ns/task |\n",
      s.peak_reset ? ", reset at start" : ", since process start");
  std::printf("|---:|---:|---:|---:|---:|---:|\n");
  std::printf("| %.1f MiB | %.1f MiB | %ld KiB | %.1f-%.1f MiB | %.2f s | %.1f |\n",
              static_cast<double>(s.rss_start_kib) / 1024.0,
              static_cast<double>(s.peak_kib) / 1024.0, s.growth_kib(),
              static_cast<double>(lo) / 1024.0, static_cast<double>(hi) / 1024.0, s.seconds,
              s.seconds * 1e9 / static_cast<double>(s.tasks));
  std::printf("\n(The same results held in a std::vector would take %.1f MiB.)\n",
              static_cast<double>(s.tasks) * sizeof(std::int64_t) / (1024.0 * 1024.0));
}

std::string streaming_json(const StreamingResult& s) {
  std::vector<std::string> samples;
  for (long v : s.rss_kib) samples.push_back(std::to_string(v));
  return json_object({{"tasks", std::to_string(s.tasks)},
                      {"seconds", json_number(s.seconds)},
                      {"peak_reset", s.peak_reset ? "true" : "false"},
                      {"rss_start_kib", std::to_string(s.rss_start_kib)},
                      {"peak_kib", std::to_string(s.peak_kib)},
                      {"growth_kib", std::to_string(s.growth_kib())},
                      {"rss_kib_each_tenth", json_array(samples)}});
}

}  // namespace overhead
