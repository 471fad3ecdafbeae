#pragma once

#include <algorithm>           // std::find
#include <chrono>              // std::chrono::steady_clock: deadlines
#include <condition_variable>  // std::condition_variable_any: waits that also wake on stop
#include <cstddef>             // std::size_t
#include <mutex>               // std::mutex, std::unique_lock
#include <stop_token>          // std::stop_source: the late task's stop request
#include <thread>              // std::jthread: the monitor thread
#include <utility>             // std::pair
#include <vector>              // std::vector: tasks being watched

namespace parmap::detail {

// Watches running tasks and reports each one that runs past its deadline.
//
// One thread per monitor (a run with a timeout owns one). For each late task it requests
// stop on the task's own stop source, then calls on_timeout(context, index) from the
// monitor thread, outside the monitor's lock; each task is reported at most once.
// Thread safety: Watch objects may be created and finished from any thread.
// Callers guarantee: on_timeout and its context outlive the monitor; a Watch is finished
// (or destroyed) before the monitor is destroyed.
// Destruction: stops and joins the monitor thread; a report under way completes first.
class TimeoutMonitor {
 public:
  using Clock = std::chrono::steady_clock;
  using OnTimeout = void (*)(void* context, std::size_t index) noexcept;

  TimeoutMonitor(std::chrono::nanoseconds limit, OnTimeout on_timeout, void* context)
      : limit_(limit), on_timeout_(on_timeout), context_(context),
        thread_([this](std::stop_token stop) { watch(stop); }) {}

  TimeoutMonitor(const TimeoutMonitor&) = delete;  // the thread and the watches hold `this`
  TimeoutMonitor& operator=(const TimeoutMonitor&) = delete;
  ~TimeoutMonitor() = default;  // thread_ (declared last) stops and joins first

  // The deadline of one task, from construction to finish(); lives on the task's stack.
  class Watch {
   public:
    Watch(TimeoutMonitor& monitor, std::size_t index, const std::stop_source& stop)
        : monitor_(monitor), index_(index), deadline_(Clock::now() + monitor.limit_), stop_(stop) {
      {
        std::lock_guard lock(monitor_.mutex_);
        monitor_.watches_.push_back(this);
        monitor_.changed_ = true;
      }
      monitor_.cv_.notify_one();
    }
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    ~Watch() { finish(); }

    // Stops watching; true when the task was reported late.
    bool finish() {
      std::lock_guard lock(monitor_.mutex_);
      auto& all = monitor_.watches_;
      if (auto it = std::find(all.begin(), all.end(), this); it != all.end()) {
        *it = all.back();
        all.pop_back();
      }
      return expired_;
    }

   private:
    friend class TimeoutMonitor;
    TimeoutMonitor& monitor_;
    const std::size_t index_;
    const Clock::time_point deadline_;
    const std::stop_source stop_;  // a copy: shares the task's stop state
    bool expired_ = false;         // guarded by monitor_.mutex_
  };

 private:
  void watch(const std::stop_token& stop) {
    std::vector<std::pair<std::size_t, std::stop_source>> late;
    std::unique_lock lock(mutex_);
    while (!stop.stop_requested()) {
      auto deadline = Clock::time_point::max();
      for (const Watch* w : watches_) {
        if (!w->expired_) deadline = std::min(deadline, w->deadline_);
      }
      changed_ = false;
      // Wake at the earliest deadline, or when a new task starts (it may be due earlier).
      if (deadline == Clock::time_point::max()) {
        cv_.wait(lock, stop, [this] { return changed_; });
      } else {
        cv_.wait_until(lock, stop, deadline, [this] { return changed_; });
      }
      const auto now = Clock::now();
      for (Watch* w : watches_) {
        if (!w->expired_ && w->deadline_ <= now) {
          w->expired_ = true;
          late.emplace_back(w->index_, w->stop_);
        }
      }
      if (late.empty()) continue;
      // Outside the lock: request_stop runs the task's stop callbacks, on_timeout takes the
      // run's locks, and tasks must be able to finish their watches meanwhile.
      lock.unlock();
      for (auto& [index, source] : late) {
        source.request_stop();
        on_timeout_(context_, index);
      }
      late.clear();
      lock.lock();
    }
  }

  const std::chrono::nanoseconds limit_;
  const OnTimeout on_timeout_;
  void* const context_;

  std::mutex mutex_;
  std::condition_variable_any cv_;   // predicate: changed_ (or stop), with a deadline
  std::vector<Watch*> watches_;      // running tasks; guarded by mutex_
  bool changed_ = false;             // a watch was added since the last scan; mutex_
  std::jthread thread_;              // last: starts after, and stops before, the rest
};

}  // namespace parmap::detail
