#pragma once

// Helpers shared by the tests: a watchdog that turns a hang into a failure with a message,
// a result type that counts live instances, and a latch with a timeout.

#include <atomic>              // std::atomic: live-instance counters
#include <chrono>              // std::chrono: watchdog and wait limits
#include <condition_variable>  // std::condition_variable: the watchdog's and the gates' waits
#include <cstdio>              // std::fprintf: the watchdog's message
#include <cstdlib>             // std::abort: a hang ends the test binary
#include <mutex>               // std::mutex
#include <string>              // std::string: the watchdog's label
#include <thread>              // std::thread: the watchdog thread
#include <utility>             // std::exchange

namespace parmap_test {

// Aborts the process with `label` if it is still alive after `limit`: a deadlock fails fast
// and says where, instead of waiting for ctest's timeout.
class Watchdog {
 public:
  explicit Watchdog(std::string label, std::chrono::seconds limit = std::chrono::seconds(30))
      : label_(std::move(label)), thread_([this, limit] {
          std::unique_lock lock(mutex_);
          if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
            std::fprintf(stderr, "watchdog: '%s' still running after %llds, aborting\n",
                         label_.c_str(), static_cast<long long>(limit.count()));
            std::abort();
          }
        }) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::string label_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;  // guarded by mutex_
  std::thread thread_;
};

// Counts instances that hold a payload (moved-from shells do not count) and remembers the
// peak. One counter per test: construct a LiveCounter and make Tracked values from it.
struct LiveCounter {
  std::atomic<long> live{0};
  std::atomic<long> peak{0};
  std::atomic<long> constructed{0};

  void add() {
    constructed.fetch_add(1);
    const long now = live.fetch_add(1) + 1;
    long seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
  }
  void remove() { live.fetch_sub(1); }
};

class Tracked {
 public:
  Tracked(LiveCounter& counter, int value) : counter_(&counter), value_(value) { counter_->add(); }
  Tracked(Tracked&& other) noexcept
      : counter_(std::exchange(other.counter_, nullptr)), value_(other.value_) {}
  Tracked& operator=(Tracked&& other) noexcept {
    if (this != &other) {
      if (counter_ != nullptr) counter_->remove();
      counter_ = std::exchange(other.counter_, nullptr);
      value_ = other.value_;
    }
    return *this;
  }
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  ~Tracked() {
    if (counter_ != nullptr) counter_->remove();
  }
  [[nodiscard]] int value() const { return value_; }

 private:
  LiveCounter* counter_;
  int value_;
};

}  // namespace parmap_test

// ---------------------------------------------------------------------------------------------
// More helpers for the feature tests: counters and gates that tests wait on with a limit, a
// thread count, a stop-token wait, and a pool-draining rendezvous.

#include <exception>   // std::uncaught_exceptions: OpenOnUnwind
#include <fstream>     // std::ifstream: thread_count reads /proc/self/status
#include <functional>  // std::function: the tasks of occupy_every_worker
#include <ranges>      // std::views::filter: read_in_batches
#include <stop_token>  // std::stop_token: wait_for_stop
#include <vector>      // std::vector: EventLog, occupy_every_worker

namespace parmap_test {

inline constexpr std::chrono::milliseconds default_wait_limit{std::chrono::seconds(10)};

// Longer than any task the consumer runs on its own thread while it waits (50 us, or 1 ms in
// a seat a worker lent it: "Who runs tasks" in docs/guarantees.md). A test whose task waits
// for the consumer makes the other tasks this long, so that only workers run tasks.
inline constexpr std::chrono::milliseconds beyond_helping_limit{2};

// A count that threads bump and the test waits on. wait_for_at_least() is the state-based
// wait: it returns as soon as the value is reached, and false only when `limit` passes first.
class Counter {
 public:
  void add(long n = 1) {
    {
      std::lock_guard lock(mutex_);
      value_ += n;
    }
    cv_.notify_all();
  }
  [[nodiscard]] long value() {
    std::lock_guard lock(mutex_);
    return value_;
  }
  bool wait_for_at_least(long n, std::chrono::milliseconds limit = default_wait_limit) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, limit, [&] { return value_ >= n; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  long value_ = 0;  // guarded by mutex_
};

// A gate whose waiters give up after a limit, so a broken library fails a test instead of
// hanging it: wait() returns false when the gate was not opened in time.
class TimedGate {
 public:
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool wait(std::chrono::milliseconds limit = default_wait_limit) {
    std::unique_lock lock(mutex_);
    ++waiting_;
    cv_.notify_all();
    const bool opened = cv_.wait_for(lock, limit, [this] { return open_; });
    --waiting_;
    return opened;
  }
  bool wait_for_waiters(int n, std::chrono::milliseconds limit = default_wait_limit) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, limit, [&] { return waiting_ >= n; });
  }
  [[nodiscard]] int waiting() {
    std::lock_guard lock(mutex_);
    return waiting_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;  // guarded by mutex_
  int waiting_ = 0;    // guarded by mutex_
};

// Opens a gate when the scope it guards is left by an exception (a failed REQUIRE), so the
// tasks blocked on it return and the result range's destructor does not wait forever.
// Declare it inside the scope whose unwinding must open the gate (a loop body, say).
template <class G>
class OpenOnUnwind {
 public:
  explicit OpenOnUnwind(G& gate) : gate_(gate), exceptions_(std::uncaught_exceptions()) {}
  OpenOnUnwind(const OpenOnUnwind&) = delete;
  OpenOnUnwind& operator=(const OpenOnUnwind&) = delete;
  ~OpenOnUnwind() {
    if (std::uncaught_exceptions() > exceptions_) gate_.open();
  }

 private:
  G& gate_;
  int exceptions_;
};

// Blocks until stop is requested on `token` or `limit` passes; true when stop was requested.
// A task calls it with parmap::this_task::get_stop_token() to wait "until no longer wanted".
inline bool wait_for_stop(const std::stop_token& token,
                          std::chrono::milliseconds limit = default_wait_limit) {
  std::mutex mutex;
  std::condition_variable_any cv;
  std::unique_lock lock(mutex);
  cv.wait_for(lock, token, limit, [] { return false; });
  return token.stop_requested();
}

// The number of threads of this process ("Threads:" in /proc/self/status), or -1 when the
// file cannot be read.
inline int thread_count() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

// An append-only list of events from any thread, read back by the test.
class EventLog {
 public:
  void add(std::string event) {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
  }
  [[nodiscard]] std::vector<std::string> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> events_;  // guarded by mutex_
};

// Runs n_jobs * batch_size tasks on `parallel` (n_jobs workers, a window of at least n_jobs
// batches, a fixed batch_size) whose first task in each batch waits for the others, so the
// call returns only after every worker thread has taken one of its jobs. The pool runs jobs in
// FIFO order, so every job queued on it before this call has finished by then: a later check
// can rely on "nothing left over from an earlier run is still running". Works with list and
// generator modes. False if the rendezvous timed out.
template <class Parallel>
bool occupy_every_worker(Parallel& parallel, int n_jobs, int batch_size = 1) {
  Counter arrived;
  // int, not bool: a std::vector<bool> of results is a special case this helper should not
  // depend on.
  std::vector<std::function<int()>> tasks;
  for (int i = 0; i < n_jobs * batch_size; ++i) {
    tasks.emplace_back([&arrived, n_jobs, first = i % batch_size == 0] {
      if (!first) return 1;
      arrived.add();
      return arrived.wait_for_at_least(n_jobs) ? 1 : 0;
    });
  }
  int ok = 0;
  for (const int r : parallel(tasks)) ok += r;
  return ok == n_jobs * batch_size;
}

// Hides random access from an input, so parmap reads it in batches under its input lock, as
// it reads any single-pass input, instead of reading each task in place when it starts:
//   std::views::iota(0, n) | parmap_test::read_in_batches | std::views::transform(...)
// Tests that count reads of the input against tasks started need this.
inline constexpr auto read_in_batches = std::views::filter([](const auto& /*unused*/) { return true; });

}  // namespace parmap_test
