#pragma once

#include <algorithm>           // std::find, std::min
#include <chrono>              // std::chrono::steady_clock: deadlines
#include <condition_variable>  // std::condition_variable(_any): the monitor's and clients' waits
#include <cstddef>             // std::size_t
#include <mutex>               // std::mutex, std::unique_lock
#include <stop_token>          // std::stop_source: the late task's stop request
#include <system_error>        // std::system_error: a thread the system refuses
#include <thread>              // std::jthread: the monitor thread
#include <vector>              // std::vector: tasks being watched

namespace parmap::detail {

// Watches running tasks and reports each one that runs past its deadline.
//
// One monitor thread per process, started by the first run that has a timeout (a Client)
// and stopped at exit, so nested runs with timeouts start no thread of their own.
// For each late task the monitor requests stop on the task's own stop source, then calls
// the client's on_timeout(context, index), from the monitor thread and outside the
// monitor's lock; each task is reported at most once.
// Thread safety: Clients and Watches may be made and destroyed on any thread.
// Callers guarantee: a client's Watches end before the client does.
// Guarantees: a report for a client completes before that client's destructor returns, so
// on_timeout never runs on a run that is gone.
class TimeoutMonitor {
 public:
  using Clock = std::chrono::steady_clock;
  using OnTimeout = void (*)(void* context, std::size_t index) noexcept;

  // One run's registration: its limit and whom to tell. Starting the first client starts
  // the monitor thread; throws std::system_error if the system refuses it.
  class Client {
   public:
    Client(std::chrono::nanoseconds limit, OnTimeout on_timeout, void* context)
        : monitor_(instance()), limit_(limit), on_timeout_(on_timeout), context_(context) {
      monitor_.start();
    }
    Client(const Client&) = delete;  // watches and reports hold its address
    Client& operator=(const Client&) = delete;
    // Waits for a report to this client that is under way (it may be running user stop
    // callbacks); blocks no longer than that.
    ~Client() {
      std::unique_lock lock(monitor_.mutex_);
      monitor_.reported_.wait(lock, [this] { return reporting_ == 0; });
    }

   private:
    friend class TimeoutMonitor;
    TimeoutMonitor& monitor_;
    const std::chrono::nanoseconds limit_;
    const OnTimeout on_timeout_;
    void* const context_;
    int reporting_ = 0;  // reports under way; guarded by monitor_.mutex_
  };

  // The deadline of one task, from construction to finish(); lives on the task's stack.
  class Watch {
   public:
    Watch(Client& client, std::size_t index, const std::stop_source& stop)
        : client_(client), index_(index), deadline_(deadline_after(client.limit_)), stop_(stop) {
      TimeoutMonitor& monitor = client_.monitor_;
      {
        std::lock_guard lock(monitor.mutex_);
        monitor.watches_.push_back(this);
        monitor.changed_ = true;
      }
      monitor.wake_.notify_one();
    }
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    ~Watch() { finish(); }

    // Stops watching; true when the task was reported late. Never waits for the report.
    bool finish() {
      TimeoutMonitor& monitor = client_.monitor_;
      std::lock_guard lock(monitor.mutex_);
      auto& all = monitor.watches_;
      if (auto it = std::find(all.begin(), all.end(), this); it != all.end()) {
        *it = all.back();
        all.pop_back();
      }
      return expired_;
    }

   private:
    friend class TimeoutMonitor;
    // now + limit, saturated: a limit too long to represent never expires.
    static Clock::time_point deadline_after(std::chrono::nanoseconds limit) {
      const auto now = Clock::now();
      return limit >= Clock::time_point::max() - now ? Clock::time_point::max() : now + limit;
    }

    Client& client_;
    const std::size_t index_;
    const Clock::time_point deadline_;
    const std::stop_source stop_;  // a copy: shares the task's stop state
    bool expired_ = false;         // guarded by the monitor's mutex_
  };

 private:
  TimeoutMonitor() = default;
  TimeoutMonitor(const TimeoutMonitor&) = delete;
  TimeoutMonitor& operator=(const TimeoutMonitor&) = delete;
  ~TimeoutMonitor() = default;  // thread_ (declared last) stops and joins first

  static TimeoutMonitor& instance() {
    static TimeoutMonitor monitor;
    return monitor;
  }

  void start() {
    std::lock_guard lock(mutex_);
    if (thread_.joinable()) return;
    try {
      thread_ = std::jthread([this](const std::stop_token& stop) { watch(stop); });
    } catch (const std::system_error& e) {
      throw std::system_error(e.code(), "parmap: could not start the timeout monitor thread");
    }
  }

  struct Late {
    std::size_t index;
    std::stop_source stop;
    Client* client;
  };

  void watch(const std::stop_token& stop) {
    std::vector<Late> late;
    std::unique_lock lock(mutex_);
    while (!stop.stop_requested()) {
      auto deadline = Clock::time_point::max();
      for (const Watch* w : watches_) {
        if (!w->expired_) deadline = std::min(deadline, w->deadline_);
      }
      changed_ = false;
      // Wake at the earliest deadline, or when a new task starts (it may be due earlier).
      if (deadline == Clock::time_point::max()) {
        wake_.wait(lock, stop, [this] { return changed_; });
      } else {
        wake_.wait_until(lock, stop, deadline, [this] { return changed_; });
      }
      const auto now = Clock::now();
      for (Watch* w : watches_) {
        if (!w->expired_ && w->deadline_ <= now) {
          w->expired_ = true;
          ++w->client_.reporting_;  // keeps the client (and its run) alive until reported
          late.push_back({w->index_, w->stop_, &w->client_});
        }
      }
      if (late.empty()) continue;
      // Outside the lock: request_stop runs the task's stop callbacks, on_timeout takes the
      // run's locks, and tasks must be able to finish their watches meanwhile.
      lock.unlock();
      for (Late& l : late) {
        l.stop.request_stop();
        l.client->on_timeout_(l.client->context_, l.index);
      }
      lock.lock();
      for (const Late& l : late) --l.client->reporting_;
      late.clear();
      reported_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable_any wake_;  // predicate: changed_ (or stop), with a deadline
  std::condition_variable reported_;  // predicate: a client's reporting_ == 0
  std::vector<Watch*> watches_;       // running tasks; guarded by mutex_
  bool changed_ = false;              // a watch was added since the last scan; mutex_
  std::jthread thread_;               // started once, under mutex_; last member
};

}  // namespace parmap::detail
