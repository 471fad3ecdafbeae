#pragma once

// The memory demo's files: the two figures (joblib's two plots, as SVG: the running maximum
// of each run's memory growth, log scale, with the bounds dashed) and the samples and the
// summary as CSV, written into Config::out.

#include <algorithm>     // std::max
#include <cstdint>       // std::int64_t: byte counts
#include <cstdio>        // std::fprintf, std::snprintf
#include <filesystem>    // std::filesystem: the output folder
#include <fstream>       // std::ofstream: the files
#include <string>        // std::string
#include <system_error>  // std::error_code: create_directories must not throw
#include <utility>       // std::pair: (x, y) points
#include <vector>        // std::vector

#include "demo_config.hpp"
#include "demo_report.hpp"
#include "memory_monitor.hpp"
#include "svg_plot.hpp"

namespace memory_demo {

// A run's running maximum of memory growth as a step curve: (t, max so far), with a point
// only where the maximum changes (and one at the end).
inline std::vector<std::pair<double, double>> running_max(const demo_memory::Trace& trace) {
  std::vector<std::pair<double, double>> out;
  double best = 0;
  for (const auto& s : trace.samples) {
    const double y = static_cast<double>(std::max<std::int64_t>(s.growth, 0));
    if (out.empty()) {
      out.emplace_back(s.seconds, y);
      best = y;
    } else if (y > best) {
      out.emplace_back(s.seconds, best);
      out.emplace_back(s.seconds, y);
      best = y;
    }
  }
  if (!trace.samples.empty()) out.emplace_back(trace.samples.back().seconds, best);
  return out;
}

// matplotlib's first colours, as joblib's figures have them.
inline constexpr const char* blue = "#1f77b4";
inline constexpr const char* orange = "#ff7f0e";
inline constexpr const char* green = "#2ca02c";
inline constexpr const char* grey = "#666666";

// A figure's subtitle: the workload, the workers and the allocator setting.
inline std::string workload_line(const Config& c, bool delayed) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%zu tasks of %d ms returning %s each%s, n_jobs = %d; %s", c.tasks,
                c.sleep_ms, format_bytes(c.result_bytes()).c_str(),
                delayed ? (" (slow ones: " + std::to_string(c.slow_sleep_ms) + " ms)").c_str() : "",
                c.n_jobs,
                c.pin_mmap ? "mmap threshold pinned at 1 MiB" : "glibc's dynamic mmap threshold");
  return buf;
}

// The label of a bound's dashed line.
inline std::string bound_label(std::size_t window, std::int64_t result_bytes) {
  return "RSS target for window " + std::to_string(window) + ": (" + std::to_string(window) +
         " + 2) x " + format_bytes(result_bytes) + " = " +
         format_bytes(static_cast<std::int64_t>(window + 2) * result_bytes);
}

// Writes `text` to `path`; false on any failure.
inline bool write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  return static_cast<bool>(f);
}

// Writes the two figures and the two CSV files; returns their paths (empty on a failure).
inline std::vector<std::filesystem::path> write_outputs(const Config& c,
                                                        const std::vector<RunResult>& runs) {
  std::error_code ec;
  std::filesystem::create_directories(c.out, ec);
  if (ec) {
    std::fprintf(stderr, "memory_demo: cannot create %s: %s\n", c.out.string().c_str(),
                 ec.message().c_str());
    return {};
  }
  auto find = [&](const std::string& id) -> const RunResult& {
    for (const auto& r : runs) {
      if (r.spec.id == id) return r;
    }
    return runs.front();
  };
  const std::string y_label = "memory usage (RSS growth, running max)";

  demo_plot::Figure fig1;
  fig1.title = "return_as::list vs return_as::generator";
  fig1.subtitle = workload_line(c, false);
  fig1.y_label = y_label;
  fig1.series.push_back({"return_as::list", blue, running_max(find("1").trace), false});
  fig1.series.push_back({"return_as::generator (window " + std::to_string(c.window) + ")", orange,
                         running_max(find("2").trace), false});
  fig1.hlines.push_back(
      {static_cast<double>(*find("2").bound), bound_label(c.window, c.result_bytes()), grey});

  demo_plot::Figure fig2;
  fig2.title = "Delayed tasks: generator vs generator_unordered";
  fig2.subtitle = workload_line(c, true);
  fig2.y_label = y_label;
  fig2.series.push_back({"return_as::generator (window " + std::to_string(c.window) + ")", blue,
                         running_max(find("3").trace), false});
  fig2.series.push_back({"return_as::generator_unordered (window " + std::to_string(c.window) + ")",
                         orange, running_max(find("4").trace), false});
  fig2.series.push_back({"return_as::generator (window " + std::to_string(c.big_window) + ")",
                         green, running_max(find("5").trace), true});
  fig2.hlines.push_back(
      {static_cast<double>(*find("3").bound), bound_label(c.window, c.result_bytes()), grey});
  fig2.hlines.push_back(
      {static_cast<double>(*find("5").bound), bound_label(c.big_window, c.result_bytes()), green});

  std::string samples = "run,name,time_s,rss_growth_bytes,running_max_bytes\n";
  for (const auto& r : runs) {
    std::int64_t best = 0;
    for (const auto& s : r.trace.samples) {
      best = std::max(best, s.growth);
      char line[160];
      std::snprintf(line, sizeof line, ",%.4f,%lld,%lld\n", s.seconds,
                    static_cast<long long>(s.growth), static_cast<long long>(best));
      samples += r.spec.id + ",\"" + r.spec.name + "\"" + line;
    }
  }
  std::string summary =
      "run,name,window,peak_rss_growth_bytes,vmhwm_growth_bytes,rss_target_bytes,max_live_results,"
      "out_of_order,wall_s,sum_ok,rss_at_start_bytes\n";
  for (const auto& r : runs) {
    char line[256];
    std::snprintf(line, sizeof line, ",%zu,%lld,%s,%s,%ld,%zu,%.3f,%s,%lld\n", r.spec.window,
                  static_cast<long long>(r.trace.peak_sampled),
                  r.trace.peak_hwm ? std::to_string(*r.trace.peak_hwm).c_str() : "",
                  r.bound ? std::to_string(*r.bound).c_str() : "", r.max_live, r.out_of_order,
                  r.wall, r.sum_ok ? "true" : "false", static_cast<long long>(r.trace.baseline));
    summary += r.spec.id + ",\"" + r.spec.name + "\"" + line;
  }

  const std::vector<std::pair<std::filesystem::path, std::string>> files = {
      {c.out / "memory_list_vs_generator.svg", demo_plot::render_svg(fig1)},
      {c.out / "memory_delayed_generator_vs_unordered.svg", demo_plot::render_svg(fig2)},
      {c.out / "memory_samples.csv", samples},
      {c.out / "memory_summary.csv", summary},
  };
  std::vector<std::filesystem::path> written;
  for (const auto& [path, text] : files) {
    if (!write_file(path, text)) {
      std::fprintf(stderr, "memory_demo: cannot write %s\n", path.string().c_str());
      return {};
    }
    written.push_back(path);
  }
  return written;
}

}  // namespace memory_demo
