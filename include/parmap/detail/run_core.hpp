#pragma once

#include <atomic>              // std::atomic<bool>: the one-run-at-a-time flag
#include <cassert>             // assert: the window invariant in debug builds
#include <chrono>              // std::chrono::steady_clock: batch timing for automatic sizing
#include <condition_variable>  // std::condition_variable: the consumer's and shutdown's waits
#include <cstddef>             // std::size_t
#include <exception>           // std::exception_ptr: the first failure, rethrown to the consumer
#include <limits>              // std::numeric_limits: an unbounded window
#include <memory>              // std::unique_ptr, std::shared_ptr
#include <mutex>               // std::mutex, std::lock_guard, std::unique_lock
#include <optional>            // std::optional: the timeout client, the nested-stop link
#include <stop_token>          // std::stop_source, std::stop_callback: asking tasks to stop
#include <vector>              // std::vector: slot ownership and the free list

#include "../outcome.hpp"
#include "batch_sizer.hpp"
#include "progress.hpp"
#include "slot_queue.hpp"
#include "task_context.hpp"
#include "thread_pool.hpp"
#include "timeout_monitor.hpp"

namespace parmap::detail {

// The state a Parallel keeps between calls: its worker threads (made on first use) and the
// flag that allows one run at a time. Runs hold it by shared_ptr, so a result range may
// outlive the Parallel that made it.
struct Engine {
  std::unique_ptr<ThreadPool> pool;  // touched only by the holder of `busy`
  // Set by the call that starts a run (exchange, acq_rel) and cleared by that run's
  // destructor (store, release): the next call's exchange sees everything the last run did.
  std::atomic<bool> busy{false};

  std::mutex report_mutex;
  RunReport last_report;  // guarded by report_mutex: the last run that ended
};

// A batch of consecutive tasks and, once run, their results. The typed run derives from it
// to add the task and result storage.
//
// Ownership moves with the batch's state and the run's mutex orders each hand-over:
// free list -> the claiming thread (reads the input into it, runs it) -> `ready` under the
// mutex -> the consumer (yields its results) -> free list. Only the owner touches the
// storage, so the storage itself needs no lock.
struct SlotBase {
  SlotBase() = default;
  SlotBase(const SlotBase&) = delete;  // the run and its queues hold slots by address
  SlotBase& operator=(const SlotBase&) = delete;
  virtual ~SlotBase() = default;

  std::size_t first_index = 0;  // input index of the batch's first task; owner only
  std::size_t size = 0;         // tasks in the batch; owner only
  bool ready = false;           // guarded by RunCore::mutex_
};

enum class Order { input, completion };

struct RunConfig {
  std::size_t workers = 0;  // 0: the consumer runs each task itself, when it asks for it
  std::size_t window = 1;   // batches claimed and not yet released; max() means no bound
  std::size_t batch = 0;    // fixed batch size, or 0 for automatic
  Order order = Order::input;
  bool collect_errors = false;  // on_error::collect: a task's exception is its outcome
  std::optional<std::chrono::nanoseconds> timeout;  // per task
  std::size_t n_jobs = 1;                           // for verbose lines
  std::optional<std::size_t> total;                 // the input's size, when known
  int verbose = 0;
  std::function<void(const Progress&)> progress;
};

inline constexpr std::size_t unbounded_window = std::numeric_limits<std::size_t>::max();

// The untyped heart of one call: the window, the batch hand-over between the threads that
// run tasks and the one consumer, failure and cancellation.
//
// Threads: the workers (pool jobs running work_loop) and one consumer thread at a time (the
// owner of the result range). next_ready() and release() are consumer-only; everything
// else is internal.
// The window: at most `window` batches are claimed (being read, running, or finished and
// not yet released by the consumer) at any moment. In input order this means batch k+window
// cannot start before the consumer has released batch k, whatever the speed of either side.
// Input: read by one thread at a time (input_mutex_), only when a window place is held, so
// it is never read further ahead than the window.
// Failure: the first exception, from a task or from the input, is kept; claiming stops, the
// stop token is requested, and the consumer's next next_ready() rethrows it. With
// collect_errors, a task's exception (or timeout) is stored as its outcome instead.
// Destruction: the typed run's destructor calls shutdown() first, which stops claiming,
// requests stop and waits until no worker touches the run; then results are freed.
class RunCore {
 public:
  RunCore(const RunConfig& config, std::shared_ptr<Engine> engine)
      : config_(config),
        engine_(std::move(engine)),
        progress_(config.progress, config.verbose, config.n_jobs, config.total),
        batcher_(config.batch) {
    // A run made inside a task (a nested call, run inline) stops its tasks when the
    // enclosing task is asked to stop.
    if (const std::stop_token* outer = this_thread_context.stop) {
      follow_outer_.emplace(*outer, RequestStop{&tasks_stop_});
    }
    if (config_.timeout) timeouts_.emplace(*config_.timeout, &RunCore::timeout_entry, this);
  }

  RunCore(const RunCore&) = delete;  // workers hold `this`
  RunCore& operator=(const RunCore&) = delete;

  virtual ~RunCore() {
    // Pairs with the exchange in Parallel's call: the next run starts after this one ended.
    engine_->busy.store(false, std::memory_order_release);
  }

  // Starts the workers; with workers, up to min(workers, window) batches start at once.
  void start() {
    std::size_t loops = 0;
    {
      std::lock_guard lock(mutex_);
      loops = std::min(config_.workers, config_.window);
      active_loops_ = loops;
    }
    for (std::size_t i = 0; i < loops; ++i) engine_->pool->submit({&RunCore::loop_entry, this});
  }

  // Consumer only. Blocks until the next batch in the run's order is ready and hands it
  // over; null when every task has been yielded. Rethrows the run's first failure. With no
  // workers it claims and runs the next batch on the calling thread instead of waiting.
  SlotBase* next_ready() {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (error_) std::rethrow_exception(error_);
      if (front_ready_locked()) return ready_queue_.pop_front();
      if (input_done_ && claimed_ == 0) {
        finished_ = true;
        const std::size_t completed = completed_;
        lock.unlock();
        progress_.finish(completed);
        return nullptr;
      }
      if (config_.workers == 0) {
        lock.unlock();
        if (SlotBase* slot = claim(false)) execute(slot);
        lock.lock();
        continue;
      }
      consumer_waiting_ = true;
      consumer_cv_.wait(
          lock, [&] { return error_ || front_ready_locked() || (input_done_ && claimed_ == 0); });
      consumer_waiting_ = false;
    }
  }

  // Consumer only: counts results handed to the consumer, for the run's report.
  void consumed(std::size_t n) noexcept { consumed_ += n; }

  // Consumer only. Frees the batch's results, then returns its window place, then lets a
  // worker claim the next batch if none is running. The results die before the place is
  // reused, so the bound holds for live results, not only for batches.
  void release(SlotBase* slot) {
    reset_slot(*slot);
    bool arm = false;
    {
      std::lock_guard lock(mutex_);
      slot->ready = false;
      free_.push_back(slot);
      --claimed_;
      arm = config_.workers > 0 && active_loops_ < config_.workers && !stopping_ && !input_done_;
      if (arm) ++active_loops_;
    }
    if (arm) engine_->pool->submit({&RunCore::loop_entry, this});
  }

 protected:
  // Hooks for the typed run, each called by the slot's owner:
  // - read_batch (under input_mutex_) reads up to `want` tasks into the slot, keeping
  //   slot.size equal to the number read so far (also when it throws: an input error);
  //   fewer than `want` means the input ended.
  // - run_task runs task k and appends its result (or, collecting, its outcome). Throws
  //   what the task threw when not collecting.
  // - replace_with_error turns the last appended result, task k's, into an error outcome
  //   (collecting only: a task that returned after its timeout).
  // - drop_tasks frees the tasks once run; reset_slot empties the slot for reuse.
  virtual std::unique_ptr<SlotBase> make_slot() = 0;
  virtual void read_batch(SlotBase& slot, std::size_t want) = 0;
  virtual void run_task(SlotBase& slot, std::size_t k) = 0;
  // run_tasks runs the slot's tasks in order until `stop` is requested or one throws;
  // returns how many started and, when the last one threw, sets `error` to its exception.
  virtual std::size_t run_tasks(SlotBase& slot, const std::stop_token& stop,
                                std::exception_ptr& error) noexcept = 0;
  virtual void replace_with_error(SlotBase& slot, std::size_t k, std::exception_ptr error) = 0;
  virtual void drop_tasks(SlotBase& slot) noexcept = 0;
  virtual void reset_slot(SlotBase& slot) noexcept = 0;

  // Stops claiming, asks running tasks to stop, waits until no worker touches the run, and
  // files the run's report with the Parallel. Called first thing by the typed run's
  // destructor, on the consumer thread.
  void shutdown() noexcept {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    // Outside the mutex: request_stop runs the tasks' stop callbacks, which are user code.
    request_stop();
    RunReport report;
    {
      std::unique_lock lock(mutex_);
      idle_cv_.wait(lock, [&] { return active_loops_ == 0; });
      report.completed = completed_;
      report.consumed = consumed_;
      report.unused = completed_ - consumed_;
      report.cancelled = tasks_read_ - tasks_started_;
      report.finished = finished_;
      report.failed = static_cast<bool>(error_);
    }
    timeouts_.reset();  // no task runs any more; waits for a timeout report under way
    if (!report.finished && !report.failed) progress_.early_exit(report.unused, report.cancelled);
    std::lock_guard lock(engine_->report_mutex);
    engine_->last_report = report;
  }

 private:
  static void loop_entry(void* self) noexcept {
    auto* run = static_cast<RunCore*>(self);
    while (SlotBase* slot = run->claim(true)) run->execute(slot);
    // claim() has left the loop: the run may already be gone, touch nothing.
  }

  // Takes a window place and reads the next batch into a slot; null when nothing can be
  // claimed now. A worker loop (`loop`) that gets null has been counted out under the same
  // lock that saw the reason, so release() either sees it gone and re-arms, or saw it
  // still active and it will claim again: no wake-up is lost.
  SlotBase* claim(bool loop) {
    for (;;) {
      SlotBase* slot = nullptr;
      std::size_t want = 0;
      {
        std::lock_guard lock(mutex_);
        if (stopping_ || input_done_ || claimed_ >= config_.window) {
          if (loop && --active_loops_ == 0) idle_cv_.notify_all();
          return nullptr;
        }
        ++claimed_;
        assert(claimed_ <= config_.window);  // the window invariant
        if (!free_.empty()) {
          slot = free_.back();
          free_.pop_back();
        }
        want = batcher_.next();
      }

      std::exception_ptr error;
      bool got_batch = false;
      std::size_t read = 0;
      {
        std::lock_guard input(input_mutex_);
        if (!input_end_) {
          try {
            if (slot == nullptr) {
              owned_slots_.push_back(make_slot());
              slot = owned_slots_.back().get();
            }
            slot->first_index = next_index_;
            slot->size = 0;
            read_batch(*slot, want);
          } catch (...) {
            error = std::current_exception();
          }
          read = slot != nullptr ? slot->size : 0;
          next_index_ += read;
          got_batch = !error && read > 0;
          input_end_ = error || !got_batch || read < want;
          if (got_batch) {
            std::lock_guard lock(mutex_);
            tasks_read_ += read;
            // Still under input_mutex_, so batches enter the queue in input order.
            if (config_.order == Order::input) ready_queue_.push_back(slot);
            if (input_end_) input_done_ = true;
            return slot;
          }
          if (slot != nullptr) reset_slot(*slot);
        }
      }
      // No batch: give the place back, then loop to leave under the mutex. An input error
      // is recorded under the same lock that ends the input, so a consumer that sees the
      // end also sees the error: it can never take a failed input for a finished one.
      {
        std::lock_guard lock(mutex_);
        --claimed_;
        if (slot != nullptr) free_.push_back(slot);
        tasks_read_ += read;  // tasks read before the input threw: cancelled, never run
        input_done_ = true;
        if (error) record_failure_locked(error);
        if (consumer_waiting_) consumer_cv_.notify_one();  // it may be waiting for the end
      }
      if (error) request_stop();
    }
  }

  // Runs a claimed batch and hands it to the consumer. Cancellation is checked between
  // tasks, so a long batch stops early too.
  void execute(SlotBase* slot) noexcept {
    const bool timed = batcher_.adaptive();  // the mode is fixed: no lock needed
    const auto start =
        timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    const std::stop_token run_token = stop_.get_token();
    const std::stop_token task_token = tasks_stop_.get_token();
    std::exception_ptr error;
    std::size_t started = 0;
    {
      TaskScope scope(task_token);
      if (!timeouts_) {
        started = run_tasks(*slot, run_token, error);
      } else {
        for (std::size_t k = 0; k < slot->size && !run_token.stop_requested(); ++k) {
          ++started;
          try {
            run_watched(*slot, k, task_token);
          } catch (...) {
            error = std::current_exception();
            break;
          }
        }
      }
    }
    drop_tasks(*slot);
    const auto elapsed =
        timed ? std::chrono::steady_clock::now() - start : std::chrono::nanoseconds{};
    std::size_t completed = 0;
    {
      std::lock_guard lock(mutex_);
      tasks_started_ += started;
      completed_ += error ? started - 1 : started;
      completed = completed_;
      if (!error) {
        if (timed && started == slot->size) batcher_.record(started, elapsed);
        // A batch cut short by a stop is never consumed: the run is failing or going away.
        slot->ready = true;
        if (config_.order == Order::completion) ready_queue_.push_back(slot);
        // Wake the consumer only when it waits for this very batch.
        if (consumer_waiting_ && front_ready_locked()) consumer_cv_.notify_one();
      }
      // On error the slot stays claimed: the consumer never sees it, shutdown frees it.
    }
    if (error) {
      fail(error);
    } else {
      progress_.report(completed);  // the loop is still counted: the run stays alive
    }
  }

  // Runs task k under the timeout monitor, with a stop source of its own that also follows
  // the run's tasks' token. A task reported late gets a TimeoutError as its outcome
  // (collecting) or fails its batch with one (raising; the monitor has already failed the
  // run), whatever it returned: a late result is never delivered as a success.
  void run_watched(SlotBase& slot, std::size_t k, const std::stop_token& tasks_token) {
    std::stop_source task_stop;
    const std::stop_callback follow_run(tasks_token, RequestStop{&task_stop});
    const std::stop_token task_token = task_stop.get_token();
    TaskScope scope(task_token);
    const std::size_t index = slot.first_index + k;
    TimeoutMonitor::Watch watch(*timeouts_, index, task_stop);
    std::exception_ptr error;
    try {
      run_task(slot, k);
    } catch (...) {
      error = std::current_exception();
    }
    if (watch.finish()) {
      auto late = std::make_exception_ptr(TimeoutError(index, *config_.timeout));
      if (!config_.collect_errors) std::rethrow_exception(late);
      replace_with_error(slot, k, std::move(late));
    }
    if (error) std::rethrow_exception(error);
  }

  static void timeout_entry(void* self, std::size_t index) noexcept {
    auto* run = static_cast<RunCore*>(self);
    if (!run->config_.collect_errors) {
      run->fail(std::make_exception_ptr(TimeoutError(index, *run->config_.timeout)));
    }
  }

  void fail(std::exception_ptr error) noexcept {
    {
      std::lock_guard lock(mutex_);
      record_failure_locked(std::move(error));
    }
    request_stop();  // outside the mutex: it runs user stop callbacks
  }

  // Keeps the first failure and stops claiming; the caller holds mutex_ and then calls
  // request_stop() once it has released it.
  void record_failure_locked(std::exception_ptr error) noexcept {
    if (!error_) error_ = std::move(error);
    stopping_ = true;
    if (consumer_waiting_) consumer_cv_.notify_one();
  }

  // Stops the run (no task starts any more) and asks its running tasks to stop.
  void request_stop() noexcept {
    stop_.request_stop();
    tasks_stop_.request_stop();
  }

  struct RequestStop {
    std::stop_source* source;
    void operator()() const noexcept { source->request_stop(); }
  };

  [[nodiscard]] bool front_ready_locked() const noexcept {
    return !ready_queue_.empty() && ready_queue_.front()->ready;
  }

  const RunConfig config_;
  const std::shared_ptr<Engine> engine_;
  // Thread-safe by themselves: stop_ ends the run (checked before each task); tasks_stop_
  // is what tasks see, requested with stop_ and also by an enclosing task's stop.
  std::stop_source stop_;
  std::stop_source tasks_stop_;
  std::optional<std::stop_callback<RequestStop>> follow_outer_;  // nested runs only
  ProgressReporter progress_;                                    // thread-safe by itself
  std::optional<TimeoutMonitor::Client> timeouts_;  // made by the constructor, reset by shutdown
  std::size_t consumed_ = 0;                        // consumer thread only

  std::mutex input_mutex_;      // serialises reads of the input; taken before mutex_
  std::size_t next_index_ = 0;  // guarded by input_mutex_
  bool input_end_ = false;      // guarded by input_mutex_
  std::vector<std::unique_ptr<SlotBase>> owned_slots_;  // guarded by input_mutex_

  std::mutex mutex_;                     // guards the window, the queues and the run's state below
  std::condition_variable consumer_cv_;  // predicate: the consumer can proceed (next_ready)
  std::condition_variable idle_cv_;      // predicate: active_loops_ == 0 (shutdown)
  // Batches holding a window place: claimed_ <= config_.window, always (asserted in claim).
  std::size_t claimed_ = 0;        // guarded by mutex_
  std::size_t active_loops_ = 0;   // worker loops submitted and not yet left; mutex_
  bool input_done_ = false;        // no more batches will be claimed; mutex_
  bool stopping_ = false;          // failure or shutdown: claim nothing more; mutex_
  bool consumer_waiting_ = false;  // the consumer sleeps on consumer_cv_; mutex_
  std::exception_ptr error_;       // the first failure; mutex_
  BatchSizer batcher_;             // mutex_ (its mode is fixed at construction)
  std::size_t tasks_read_ = 0;     // tasks read into batches; mutex_
  std::size_t tasks_started_ = 0;  // tasks begun; mutex_
  std::size_t completed_ = 0;      // tasks that returned a result or outcome; mutex_
  bool finished_ = false;          // the consumer reached the end; mutex_
  std::vector<SlotBase*> free_;    // slots owned by nobody; mutex_
  // Batches for the consumer, in the order it takes them: claimed order (input order) or
  // completion order. At most claimed_ entries. Guarded by mutex_.
  SlotQueue ready_queue_;
};

}  // namespace parmap::detail
