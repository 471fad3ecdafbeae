#pragma once

#include <algorithm>           // std::find, std::min
#include <chrono>              // std::chrono::steady_clock: deadlines
#include <condition_variable>  // std::condition_variable: the monitor's and clients' waits
#include <cstddef>             // std::size_t
#include <mutex>               // std::mutex, std::unique_lock
#include <stop_token>          // std::stop_source: the late task's stop request
#include <system_error>        // std::system_error: a thread the system refuses
#include <thread>              // std::thread: the monitor thread
#include <utility>             // std::exchange
#include <vector>              // std::vector: tasks being watched

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>  // pthread_atfork: a forked child gets a monitor of its own
#define PARMAP_TIMEOUT_MONITOR_ATFORK 1
#else
#define PARMAP_TIMEOUT_MONITOR_ATFORK 0
#endif

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
//
// fork(): the child of a process whose monitor exists gets a new monitor, made and started by
// its first run with a timeout, and stopped at the child's exit like the parent's. The
// child's copy of the parent's monitor is abandoned, never used or destroyed: its thread does
// not exist in the child, and its mutex and condition variables may be in any state. A
// Parallel or result range inherited across fork() is unusable in the child (its workers, and
// the monitor its Clients and Watches name, are the parent's); the child must make its own.
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
  // Stops and joins the monitor thread, if it was started.
  ~TimeoutMonitor() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // The process's monitor, made on first use. Blocks briefly on the owner's lock.
  static TimeoutMonitor& instance() {
    static Owner owner;
    std::lock_guard lock(owner.mutex);
    if (owner.current == nullptr) owner.current = new TimeoutMonitor;
    return *owner.current;
  }

  // Owns the process's monitor: instance() makes it, exit destroys it (which stops and joins
  // its thread). A child process abandons the monitor it inherited (see fork() above) and
  // makes a new one on first use, so it never waits for, or joins, a thread that exists only
  // in its parent.
  //
  // Why a new monitor rather than the old one reset: the old one's mutex may be locked and
  // its condition variables may have waiters, by threads the child does not have, and POSIX
  // offers no way to make a condition variable consistent again in the child (glibc's
  // signalling may wait for such waiters). The fork handlers below hold only the owner's mutex
  // across fork(), so the child sees `current` as no thread was changing it; nothing else of the
  // parent's monitor is touched in the child.
  struct Owner {
    Owner() {
#if PARMAP_TIMEOUT_MONITOR_ATFORK
      owner_ = this;  // for the fork handlers, which take no argument
      // Registered once per process, before any monitor exists; children inherit it.
      if (const int rc =
              ::pthread_atfork(&before_fork, &after_fork_in_parent, &after_fork_in_child);
          rc != 0) {
        owner_ = nullptr;
        throw std::system_error(rc, std::generic_category(),
                                "parmap: could not register the timeout monitor's fork handler");
      }
#endif
    }
    Owner(const Owner&) = delete;
    Owner& operator=(const Owner&) = delete;
    // At exit: stops and joins this process's monitor thread.
    ~Owner() {
#if PARMAP_TIMEOUT_MONITOR_ATFORK
      owner_ = nullptr;  // a fork after this (from another exit handler) has nothing to do
#endif
      delete current;
    }

#if PARMAP_TIMEOUT_MONITOR_ATFORK
    // Run by fork() in the forking thread, around the fork: the owner's mutex is held across
    // it, so no thread is inside instance() when the child's copy of memory is taken.
    static void before_fork() noexcept {
      if (owner_ != nullptr) owner_->mutex.lock();
    }
    static void after_fork_in_parent() noexcept {
      if (owner_ != nullptr) owner_->mutex.unlock();
    }
    // In the child, single-threaded: abandons the inherited monitor (kept reachable on a
    // list, so a leak checker does not report it at exit) and unlocks the mutex that
    // before_fork locked in the parent.
    static void after_fork_in_child() noexcept {
      if (owner_ == nullptr) return;
      Owner& owner = *owner_;
      if (owner.current != nullptr) {
        owner.current->next_abandoned_ = owner.abandoned;
        owner.abandoned = std::exchange(owner.current, nullptr);
      }
      owner.mutex.unlock();
    }
    static inline Owner* owner_ = nullptr;  // the one Owner, once made; set before forks
#endif

    std::mutex mutex;
    TimeoutMonitor* current = nullptr;  // this process's monitor; guarded by mutex
    // Monitors inherited across fork() (one per generation), linked by next_abandoned_;
    // written only by after_fork_in_child, while the child has a single thread.
    TimeoutMonitor* abandoned = nullptr;
  };

  void start() {
    std::lock_guard lock(mutex_);
    if (thread_.joinable()) return;
    try {
      thread_ = std::thread([this] { watch(); });
    } catch (const std::system_error& e) {
      throw std::system_error(e.code(), "parmap: could not start the timeout monitor thread");
    }
  }

  struct Late {
    std::size_t index;
    std::stop_source stop;
    Client* client;
  };

  void watch() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      auto deadline = Clock::time_point::max();
      for (const Watch* w : watches_) {
        if (!w->expired_) deadline = std::min(deadline, w->deadline_);
      }
      changed_ = false;
      // Wake at the earliest deadline, or when a new task starts (it may be due earlier).
      if (deadline == Clock::time_point::max()) {
        wake_.wait(lock, [this] { return changed_ || stopping_; });
      } else {
        wake_.wait_until(lock, deadline, [this] { return changed_ || stopping_; });
      }
      if (stopping_) return;
      const auto now = Clock::now();
      for (Watch* w : watches_) {
        if (!w->expired_ && w->deadline_ <= now) {
          w->expired_ = true;
          ++w->client_.reporting_;  // keeps the client (and its run) alive until reported
          late_.push_back({w->index_, w->stop_, &w->client_});
        }
      }
      if (late_.empty()) continue;
      // Outside the lock: request_stop runs the task's stop callbacks, on_timeout takes the
      // run's locks, and tasks must be able to finish their watches meanwhile.
      lock.unlock();
      for (Late& l : late_) {
        l.stop.request_stop();
        l.client->on_timeout_(l.client->context_, l.index);
      }
      lock.lock();
      for (const Late& l : late_) --l.client->reporting_;
      late_.clear();
      reported_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;      // predicate: changed_ || stopping_, with a deadline
  std::condition_variable reported_;  // predicate: a client's reporting_ == 0
  std::vector<Watch*> watches_;       // running tasks; guarded by mutex_
  bool changed_ = false;              // a watch was added since the last scan; mutex_
  bool stopping_ = false;             // set once, by the destructor; mutex_
  // The tasks being reported; only the monitor thread touches it. A member rather than a
  // local of watch(): a forked child has no monitor thread, and a leak checker there sees
  // what only that thread's stack pointed to as leaked; the abandoned monitor keeps it.
  std::vector<Late> late_;
  TimeoutMonitor* next_abandoned_ = nullptr;  // Owner::abandoned's list (see there)
  std::thread thread_;  // started once, under mutex_; joined by ~TimeoutMonitor
};

}  // namespace parmap::detail
