#pragma once

// The memory demo's MemoryMonitor: joblib's example samples the process RSS with psutil every
// 0.2 s from a thread; this one reads /proc/self/statm every few milliseconds (a 16 MB result
// lives for a few milliseconds, 0.2 s would miss most of them). Linux only: elsewhere the
// readings are absent and the demo says so.

#include <chrono>              // std::chrono: sampling period, sample times
#include <condition_variable>  // std::condition_variable_any: a sleep that stop can cut short
#include <cstdint>             // std::int64_t: byte counts
#include <mutex>               // std::mutex: the sample buffer
#include <optional>            // std::optional: readings /proc may not give
#include <stop_token>          // std::stop_token: the sampler's shutdown
#include <thread>              // std::jthread: the sampler
#include <utility>             // std::move, std::exchange
#include <vector>              // std::vector: the samples

#include "proc_memory.hpp"

namespace demo_memory {

using proc_memory::current_rss;
using proc_memory::peak_rss;
using proc_memory::reset_peak_rss;

struct Sample {
  double seconds;       // since the run started
  std::int64_t growth;  // RSS minus the RSS when the run started, in bytes
};

// One run's memory profile.
struct Trace {
  bool available = false;                // /proc could be read
  std::int64_t baseline = 0;             // RSS when the run started
  std::vector<Sample> samples;           // in time order; the first is (0, 0)
  std::int64_t peak_sampled = 0;         // the largest growth among the samples
  std::optional<std::int64_t> peak_hwm;  // VmHWM at the end minus the baseline, when resettable
};

// Samples the RSS every `period` on its own thread while a run is open.
//
// Thread safety: begin_run() and end_run() are called by one thread (the demo's main
// thread), alternately; current_growth() may be called from any thread. The sampler thread
// only appends to the open run's samples. Destroying the monitor stops and joins the sampler.
class MemoryMonitor {
 public:
  explicit MemoryMonitor(std::chrono::milliseconds period)
      : period_(period), thread_([this](std::stop_token stop) { loop(stop); }) {}
  MemoryMonitor(const MemoryMonitor&) = delete;  // the sampler holds `this`
  MemoryMonitor& operator=(const MemoryMonitor&) = delete;
  ~MemoryMonitor() = default;  // jthread: requests stop, wakes the sleep, joins

  // Opens a run: resets VmHWM, takes the baseline and the first sample (0, 0).
  void begin_run() {
    const bool hwm_reset = reset_peak_rss();
    const auto rss = current_rss();
    std::lock_guard lock(mutex_);
    trace_ = Trace{};
    trace_.available = rss.has_value();
    trace_.baseline = rss.value_or(0);
    hwm_reset_ = hwm_reset;
    start_ = std::chrono::steady_clock::now();
    trace_.samples.reserve(1 << 16);  // reserved now, so appends rarely allocate mid-run
    if (trace_.available) trace_.samples.push_back({0.0, 0});
    open_ = true;
  }

  // Closes the run with a last sample and returns its trace.
  Trace end_run() {
    const auto rss = current_rss();
    const auto hwm = peak_rss();
    std::lock_guard lock(mutex_);
    open_ = false;
    if (trace_.available && rss) append_locked(*rss);
    if (trace_.available && hwm_reset_ && hwm) trace_.peak_hwm = *hwm - trace_.baseline;
    last_growth_ = trace_.samples.empty() ? 0 : trace_.samples.back().growth;
    return std::exchange(trace_, Trace{});
  }

  // The last sampled growth of the open run, or of the last run once it is closed.
  // Thread-safe.
  std::int64_t current_growth() {
    std::lock_guard lock(mutex_);
    if (!open_) return last_growth_;
    return trace_.samples.empty() ? 0 : trace_.samples.back().growth;
  }

 private:
  void loop(const std::stop_token& stop) {
    std::unique_lock lock(mutex_);
    while (!stop.stop_requested()) {
      if (open_ && trace_.available) {
        lock.unlock();
        const auto rss = current_rss();  // outside the lock: the consumer reads growth too
        lock.lock();
        if (open_ && rss) append_locked(*rss);
      }
      // A sleep that the jthread's stop request cuts short.
      cv_.wait_for(lock, stop, period_, [] { return false; });
    }
  }

  void append_locked(std::int64_t rss) {
    const double t =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const std::int64_t growth = rss - trace_.baseline;
    trace_.samples.push_back({t, growth});
    if (growth > trace_.peak_sampled) trace_.peak_sampled = growth;
  }

  const std::chrono::milliseconds period_;
  std::mutex mutex_;
  std::condition_variable_any cv_;               // only ever woken by the stop request
  Trace trace_;                                  // guarded by mutex_
  bool open_ = false;                            // guarded by mutex_
  bool hwm_reset_ = false;                       // guarded by mutex_
  std::int64_t last_growth_ = 0;                 // the closed run's last sample; guarded by mutex_
  std::chrono::steady_clock::time_point start_;  // guarded by mutex_
  std::jthread thread_;                          // last: starts after the fields it reads exist
};

}  // namespace demo_memory
