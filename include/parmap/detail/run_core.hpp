#pragma once

#include <algorithm>           // std::min
#include <atomic>              // std::atomic: the busy flag, the fast-path mirrors of run state
#include <cassert>             // assert: the window invariant in debug builds
#include <chrono>              // std::chrono::steady_clock: how long runs of tasks take
#include <condition_variable>  // std::condition_variable: sleeping workers and consumer
#include <cstddef>             // std::size_t
#include <cstdint>             // std::uint32_t, std::uint64_t
#include <deque>               // std::deque: the consumer's batches
#include <exception>           // std::exception_ptr: the first failure, rethrown to the consumer
#include <limits>              // std::numeric_limits: an unbounded window
#include <memory>              // std::unique_ptr, std::shared_ptr
#include <mutex>               // std::mutex, std::lock_guard, std::unique_lock
#include <optional>            // std::optional: the timeout client, the nested-stop link
#include <stdexcept>           // std::logic_error: a run used in a forked child
#include <stop_token>          // std::stop_source, std::stop_callback: asking tasks to stop
#include <vector>              // std::vector: slot ownership and the free list

#include "../outcome.hpp"
#include "batch_sizer.hpp"
#include "process.hpp"
#include "progress.hpp"
#include "slot.hpp"
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
  const long owner_pid = current_pid();  // the process whose threads the pool holds

  std::mutex report_mutex;
  RunReport last_report;  // guarded by report_mutex: the last run that ended
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
  bool claim_blocks = false;  // claim several tasks at once (list mode: no result is awaited)
};

inline constexpr std::size_t unbounded_window = std::numeric_limits<std::size_t>::max();

// The consumer may run a task itself while the result it waits for is not ready, but only
// when tasks are measured to be shorter than this: its own result then waits at most about
// this long, and more than n_jobs tasks run at once only for that long. Longer tasks run on
// the workers only, and the consumer sleeps (a wake-up costs little next to such a task).
inline constexpr std::chrono::nanoseconds consumer_help_limit{std::chrono::microseconds(50)};

// How long a thread with nothing to do polls before it sleeps: about 2 us (a pause is
// 20-40 ns). Long enough to catch the next hand-off in a steady stream, short enough not to
// take a core from a thread that has work when there are more threads than cores.
inline constexpr int spin_before_sleep = 100;

// The untyped heart of one call: the window, the hand-over of results between the threads
// that run tasks and the one consumer, splitting, failure and cancellation.
//
// Who runs tasks: the workers (pool jobs running work_loop, which stay in the run while it
// has work, sleeping when it has none for now) and, while it waits for a result, the
// consumer (see consumer_help_limit; always, when there are no workers).
// How a result reaches the consumer: the thread that ran the task constructs the result in
// its batch's storage and bumps its chunk's completion count (slot.hpp); the consumer reads
// the count. No lock and no wake-up per result; a sleeping consumer is woken only through
// the chunk it registered on (ChunkState) or by a run event (a new batch, the end, a failure).
// The window: at most `window` batches are claimed (being read, running, or holding results
// the consumer has not taken) at any moment. In input order batch k+window cannot start
// before the consumer has taken every result of batch k.
// Input: read by one thread at a time (input_mutex_), only when a window place is held, so
// it is never read further ahead than the window. Random-access inputs are "read" by taking
// an index range; their tasks are read in place by whoever runs them.
// Failure: the first exception, from a task, the input or a progress callback, is kept;
// claiming stops, the tasks' stop token is requested, and the consumer's next wait rethrows
// it. With collect_errors, a task's exception (or timeout) is stored as its outcome instead.
// Stop: the tasks' token is requested only when results are no longer wanted: a failure, or
// a run destroyed before its consumer reached the end.
// Destruction: the typed run's destructor calls shutdown() first, which stops claiming and
// waits until no worker touches the run; then the typed run frees what is left.
class RunCore {
 public:
  // What the consumer gets from next(): result `pos` of batch `slot`, in chunk `chunk`.
  struct Item {
    SlotBase* slot = nullptr;
    std::size_t chunk = 0;
    std::size_t pos = 0;
  };

  RunCore(const RunConfig& config, std::shared_ptr<Engine> engine)
      : config_(config),
        engine_(std::move(engine)),
        progress_(config.progress, config.verbose, config.n_jobs, config.total),
        batcher_(config.batch) {
    // A run made inside a task (a nested call, run inline) stops its tasks when the
    // enclosing task is asked to stop, but only while that task runs: once it has returned,
    // this run's results belong to whoever holds them (see RunningFlag).
    if (const std::stop_token* outer = this_thread_context.stop) {
      follow_outer_.emplace(*outer, FollowOuter{&tasks_stop_, this_thread_context.running_ref()});
    }
    if (config_.timeout) timeouts_.emplace(*config_.timeout, &RunCore::timeout_entry, this);
  }

  RunCore(const RunCore&) = delete;  // workers hold `this`
  RunCore& operator=(const RunCore&) = delete;

  virtual ~RunCore() {
    // Pairs with the exchange in Parallel's call: the next run starts after this one ended.
    engine_->busy.store(false, std::memory_order_release);
  }

  // Starts the workers. They claim batches as the window allows, before the consumer asks.
  void start() {
    {
      std::lock_guard lock(mutex_);
      active_loops_ = config_.workers;
    }
    for (std::size_t i = 0; i < config_.workers; ++i) {
      engine_->pool->submit({&RunCore::loop_entry, this});
    }
  }

  // Consumer only. Blocks until a result is ready (the next one in input order, or any one
  // in completion order) and names it in `item`; false when every result has been yielded.
  // Rethrows the run's first failure. While it waits it may run tasks itself.
  bool next(Item& item) {
    int spins = 0;
    for (;;) {
      if (failed_.load(std::memory_order_acquire)) rethrow_failure();
      if (find_ready(item)) return true;
      if (pull_published()) continue;
      if (consumer_slots_.empty() && input_done_.load(std::memory_order_acquire) &&
          published_.load(std::memory_order_acquire) == pulled_) {
        if (failed_.load(std::memory_order_acquire)) rethrow_failure();  // an input error
        return finish();
      }
      if (may_help() && help()) {
        spins = 0;
        continue;
      }
      if (++spins < spin_before_sleep) {
        cpu_relax();
        continue;
      }
      sleep_until_event();
      spins = 0;
    }
  }

  // Consumer only: counts results handed to the consumer, for the run's report.
  void consumed(std::size_t n) noexcept { consumed_ += n; }

  // Consumer only, input order: how many results from `item` on (item included, within its
  // batch) are ready now. The list mode's collector takes them together.
  [[nodiscard]] std::size_t ready_run(const Item& item) const noexcept {
    const SlotBase& slot = *item.slot;
    std::size_t k = item.pos + 1;
    while (k < slot.size && slot.ready(k)) ++k;
    return k - item.pos;
  }

  // Consumer only, input order: the n results from `item` on have been destroyed.
  void taken_run(const Item& item, std::size_t n) { taken_prefix(*item.slot, n); }

 protected:
  // Hooks for the typed run, each called by the thread that owns the batch or chunk:
  // - make_slot makes an empty batch of the typed kind.
  // - read_batch (under input_mutex_) reads up to `want` tasks starting at input index
  //   `first`, counting them in `read` as it goes (also when it throws: an input error).
  //   Fewer than `want` means the input ended.
  // - run_task_published runs task k into its result and publishes it; returns
  //   what the task threw when not collecting (nothing is published then). Frees the task.
  // - run_task runs task k into its result without publishing it; throws what the task
  //   threw when not collecting. Frees the task.
  // - replace_with_error turns task k's result into an error outcome (collecting only: a
  //   task that returned after its timeout).
  // - drop_tasks frees tasks [begin, end) that will never run.
  // - destroy_result destroys result k (published and not taken).
  virtual std::unique_ptr<SlotBase> make_slot() = 0;
  virtual void read_batch(SlotBase& slot, std::size_t first, std::size_t want,
                          std::size_t& read) = 0;
  virtual std::exception_ptr run_task_published(SlotBase& slot, std::size_t k) noexcept = 0;
  virtual void run_task(SlotBase& slot, std::size_t k) = 0;
  virtual void replace_with_error(SlotBase& slot, std::size_t k, std::exception_ptr error) = 0;
  virtual void drop_tasks(SlotBase& slot, std::size_t begin, std::size_t end) noexcept = 0;
  virtual void destroy_result(SlotBase& slot, std::size_t k) noexcept = 0;

  // Publishes result k: the consumer may take it from now on. A sleeping consumer is woken
  // by the claim that follows (see ChunkState). Called by the task's runner after
  // constructing the result.
  static void publish(SlotBase& slot, std::size_t k) noexcept {
    slot.state(k).store(task_published, std::memory_order_release);
  }

  // Consumer only: the result named by `item` has been destroyed; counts it taken and
  // releases its batch once every result of the batch is taken. Never blocks on tasks.
  void taken(const Item& item) {
    SlotBase& slot = *item.slot;
    const std::size_t c = item.chunk;
    if (config_.order == Order::input) {  // taken as a prefix: taken_total says it all
      taken_prefix(slot, 1);
      return;
    }
    slot.state(item.pos).store(task_taken, std::memory_order_relaxed);
    ++slot.taken[c];
    ++slot.taken_total;
    const std::size_t begin = slot.chunk_begin(c);
    const std::size_t size = slot.chunk_size(c);
    while (slot.cursor[c] < size &&
           slot.state(begin + slot.cursor[c]).load(std::memory_order_relaxed) == task_taken) {
      ++slot.cursor[c];
    }
    while (slot.first_open_chunk < slot.chunks &&
           slot.taken[slot.first_open_chunk] == slot.chunk_size(slot.first_open_chunk)) {
      ++slot.first_open_chunk;
    }
    if (slot.taken_total == slot.size) release(slot);
  }

  // Stops claiming, asks running tasks to stop unless every result was delivered, waits
  // until no worker touches the run, and files the run's report with the Parallel. Called
  // first thing by the typed run's destructor, on the consumer thread.
  void shutdown() noexcept {
    bool finished = false;
    {
      std::lock_guard lock(mutex_);
      detach_locked(consumer_runner_);
      stopping_ = true;
      finished = finished_;
      bump_work_locked(true);
    }
    stop_.request_stop();
    // Outside the mutex: request_stop runs the tasks' stop callbacks, which are user code.
    if (!finished) tasks_stop_.request_stop();
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

  // After shutdown, on the destroying thread: frees every result not taken and every task
  // never run, in every batch still in use.
  void free_leftovers() noexcept {
    for (auto& owned : owned_slots_) {
      SlotBase& slot = *owned;
      if (!slot.in_use) continue;
      const std::size_t claimed = slot.claimed_chunks();
      for (std::size_t c = 0; c < slot.chunks; ++c) {
        const std::size_t begin = slot.chunk_begin(c);
        const std::size_t end = slot.chunk_end(c);
        for (std::size_t k = begin; k < end; ++k) {
          const bool taken = config_.order == Order::input
                                 ? k < slot.taken_total
                                 : slot.state(k).load(std::memory_order_relaxed) == task_taken;
          if (!taken && slot.state(k).load(std::memory_order_relaxed) == task_published) {
            destroy_result(slot, k);
          }
        }
        // Claimed tasks were run or dropped by their claimer; the rest never will be.
        drop_tasks(slot, c < claimed ? begin + slot.claimed_tasks(c) : begin, end);
      }
    }
  }

 private:
  using Clock = std::chrono::steady_clock;

  // A thread that runs tasks: a worker loop, or the consumer while it helps. It is attached
  // to one chunk of one batch (counted in slot->holders) and claims that chunk's tasks one by
  // one, then the batch's next chunk. The counts cover the stretch of tasks it ran back to
  // back since it attached to the batch, and go into the run's totals and the batch sizer
  // when it detaches.
  struct Runner {
    SlotBase* slot = nullptr;
    std::size_t chunk = 0;
    Clock::time_point since{};
    std::size_t started = 0;
    std::size_t completed = 0;
  };

  // What claim() found: a chunk to run, nothing for now, or nothing ever again.
  enum class Claim { chunk, idle, leave };

  static void loop_entry(void* self) noexcept {
    auto* run = static_cast<RunCore*>(self);
    Runner me;
    std::uint64_t seen = 0;
    for (;;) {
      if (me.slot != nullptr && run->run_next(me)) continue;  // no lock
      const Claim claimed = run->claim(me, seen, true);
      if (claimed == Claim::leave) return;  // counted out: the run may already be gone
      run->report_progress();               // for the stretch claim() ended
      if (claimed == Claim::idle) run->idle(seen);
    }
  }

  // Claims and runs the next task of `me`'s chunk, or of the batch's next chunk; false when
  // the batch has no unclaimed task left for it. No lock.
  bool run_next(Runner& me) {
    SlotBase& slot = *me.slot;
    for (;;) {
      std::atomic<std::uint32_t>& next = slot.chunk_state[me.chunk].next;
      const auto block = static_cast<std::uint32_t>(slot.block);
      const std::uint32_t claimed = next.fetch_add(block, std::memory_order_acq_rel);
      if ((claimed & consumer_waits) != 0) {
        next.fetch_and(~consumer_waits, std::memory_order_relaxed);
        wake_consumer();
      }
      const std::size_t k = claimed & claim_mask;
      const std::size_t size = slot.chunk_size(me.chunk);
      if (k < size) {
        const std::size_t begin = slot.chunk_begin(me.chunk);
        const std::size_t end = std::min(k + slot.block, size);
        for (std::size_t i = k; i < end; ++i) run_task_at(me, begin + i);
        return true;
      }
      const std::size_t c = slot.next_chunk.fetch_add(1, std::memory_order_relaxed);
      if (c >= slot.chunks) return false;
      me.chunk = c;
    }
  }

  // Finds work for `me` once its batch has none left: first the oldest batch with unclaimed
  // chunks, then a new batch if the window has room, then a chunk another thread is running
  // that still has unstarted tasks (splitting it). On `chunk`, `me` is attached and run_next
  // will find a task (unless others take them first). A worker that gets `leave` has been
  // counted out under the same lock that saw the reason; one that gets `idle` gets the work
  // epoch it saw in `seen`.
  Claim claim(Runner& me, std::uint64_t& seen, bool worker) {
    std::unique_lock lock(mutex_);
    detach_locked(me);
    for (;;) {
      if (stopping_) return leave_locked(worker);
      while (!open_.empty()) {
        SlotBase* slot = open_.front();
        const std::size_t c = slot->next_chunk.fetch_add(1, std::memory_order_relaxed);
        if (c < slot->chunks) {
          attach_locked(me, slot, c);
          return Claim::chunk;
        }
        open_.pop_front();
        slot->in_open = false;
        maybe_free_locked(*slot);
      }
      if (!input_done_.load(std::memory_order_relaxed) && claimed_ < config_.window) {
        if (read_next_batch(lock, me)) return Claim::chunk;
        continue;  // the input ended or failed; look again
      }
      if (steal_locked(me)) return Claim::chunk;
      if (input_done_.load(std::memory_order_relaxed)) return leave_locked(worker);
      seen = work_epoch_.load(std::memory_order_relaxed);
      return Claim::idle;
    }
  }

  // Attaches `me` to a claimed chunk that still has unstarted tasks, oldest batch first.
  // Every task of a published batch exists from its publication on, so a thread that finds
  // none here needs no wake-up for them: only a new batch or a freed window place can bring
  // more.
  bool steal_locked(Runner& me) {
    for (SlotBase* slot : inflight_) {
      const std::size_t claimed = slot->claimed_chunks();
      for (std::size_t c = 0; c < claimed; ++c) {
        if (slot->claimed_tasks(c) < slot->chunk_size(c)) {
          attach_locked(me, slot, c);
          return true;
        }
      }
    }
    return false;
  }

  Claim leave_locked(bool worker) {
    if (worker && --active_loops_ == 0) idle_cv_.notify_all();
    return worker ? Claim::leave : Claim::idle;
  }

  // Takes a window place and reads the next batch, with `lock` released meanwhile; true with
  // `me` attached to the new batch and chunk 0 claimed. False when the input had no more
  // (or threw); then the place is given back. Called and returns with `lock` held.
  bool read_next_batch(std::unique_lock<std::mutex>& lock, Runner& me) {
    ++claimed_;
    assert(claimed_ <= config_.window);  // the window invariant
    SlotBase* slot = nullptr;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    }
    const std::size_t want = batcher_.next_batch();
    const std::size_t grain = batcher_.grain(want);
    // List mode delivers nothing before the end, so its threads claim a few tasks at a time
    // (about a microsecond of work): fewer atomic claims for tiny tasks.
    const std::size_t block = config_.claim_blocks ? batcher_.block(grain) : 1;
    lock.unlock();

    std::exception_ptr error;
    std::size_t read = 0;
    {
      std::lock_guard input(input_mutex_);
      if (!input_end_) {
        try {
          if (slot == nullptr) {
            owned_slots_.push_back(make_slot());
            slot = owned_slots_.back().get();
          }
          read_batch(*slot, next_index_, want, read);
        } catch (...) {
          error = std::current_exception();
        }
        if (error && slot != nullptr) drop_tasks(*slot, 0, read);
        const bool got_batch = !error && read > 0;
        input_end_ = error || read < want;
        if (got_batch) {
          slot->shape(next_index_, read, grain, block);
          slot->next_chunk.store(1, std::memory_order_relaxed);  // chunk 0 is this reader's
          next_index_ += read;
          lock.lock();  // still under input_mutex_, so batches are published in input order
          tasks_read_ += read;
          slot->in_use = true;
          slot->released = false;
          attach_locked(me, slot, 0);
          published_order_.push_back(slot);
          inflight_.push_back(slot);
          published_.fetch_add(1, std::memory_order_release);
          if (slot->chunks > 1) {
            open_.push_back(slot);
            slot->in_open = true;
          }
          if (input_end_) input_done_.store(true, std::memory_order_release);
          // Idle workers leave at the end, or take the new batch's tasks that this reader has
          // not started (it runs one at a time, and may be the consumer): all of them, since
          // one woken worker wakes no other.
          if (input_end_ || read > 1) bump_work_locked(true);
          wake_consumer_locked();
          return true;
        }
        next_index_ += read;
      }
      // No batch: give the place back, still under input_mutex_. An input error is recorded
      // before any other reader can see the input's end and report it, so a consumer that
      // sees the end also sees the error.
      lock.lock();
    }
    --claimed_;
    if (slot != nullptr) free_.push_back(slot);
    tasks_read_ += read;  // tasks read before the input threw: cancelled, never run
    // The failure first: a consumer that acquires input_done_ then sees failed_ too.
    if (error) record_failure_locked(error);
    input_done_.store(true, std::memory_order_release);
    bump_work_locked(true);  // idle workers leave
    wake_consumer_locked();
    if (error) {
      lock.unlock();
      request_stop();
      lock.lock();
    }
    return false;
  }

  void attach_locked(Runner& me, SlotBase* slot, std::size_t chunk) {
    me.slot = slot;
    me.chunk = chunk;
    ++slot->holders;
    me.since = Clock::now();
    me.started = 0;
    me.completed = 0;
  }

  // Ends `me`'s stretch: its counts go into the run's totals and its timing into the batch
  // sizer. Progress is reported by the caller (outside the lock).
  void detach_locked(Runner& me) {
    if (me.slot == nullptr) return;
    if (me.started > 0) {
      batcher_.record(me.started, Clock::now() - me.since);
      per_task_ns_.store(batcher_.per_task_ns(), std::memory_order_relaxed);
    }
    tasks_started_ += me.started;
    completed_ += me.completed;
    if (me.completed > 0) report_due_ = true;
    --me.slot->holders;
    maybe_free_locked(*me.slot);
    me.slot = nullptr;
  }

  // Puts a batch back on the free list once nobody can touch it any more.
  void maybe_free_locked(SlotBase& slot) {
    if (slot.in_use && slot.released && slot.holders == 0 && !slot.in_open) {
      slot.in_use = false;
      free_.push_back(&slot);
    }
  }

  // Runs task k of `me`'s batch (claimed by `me`) and publishes its result. Cancellation
  // is checked before the task starts.
  void run_task_at(Runner& me, std::size_t k) noexcept {
    SlotBase& slot = *me.slot;
    if (run_token_.stop_requested()) {
      drop_tasks(slot, k, k + 1);
      return;
    }
    ++me.started;
    std::exception_ptr error;
    {
      TaskScope scope(tasks_token_);
      if (!timeouts_) {
        error = run_task_published(slot, k);
      } else {
        try {
          run_watched(slot, k);
          publish(slot, k);
        } catch (...) {
          error = std::current_exception();
        }
      }
    }
    if (error) {
      fail(error);
    } else {
      ++me.completed;
    }
  }

  // Runs task k under the timeout monitor, with a stop source of its own that also follows
  // the run's tasks' token. A task reported late gets a TimeoutError as its outcome
  // (collecting) or fails with one (raising; the monitor has already failed the run),
  // whatever it returned: a late result is never delivered as a success.
  void run_watched(SlotBase& slot, std::size_t k) {
    std::stop_source task_stop;
    const std::stop_callback follow_run(tasks_token_, RequestStop{&task_stop});
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
      if (!config_.collect_errors) {
        if (!error) destroy_result(slot, k);
        std::rethrow_exception(late);
      }
      // Collecting, an error here came from reading the task in place (a task's own exception
      // is its outcome): no result was made, and the read error fails the run below.
      if (!error) replace_with_error(slot, k, std::move(late));
    }
    if (error) std::rethrow_exception(error);
  }

  // A worker with nothing to claim: polls the work epoch briefly, then sleeps until it moves.
  void idle(std::uint64_t seen) {
    for (int i = 0; i < spin_before_sleep; ++i) {
      if (work_epoch_.load(std::memory_order_relaxed) != seen) return;
      cpu_relax();
    }
    std::unique_lock lock(mutex_);
    ++sleepers_;
    work_cv_.wait(lock, [&] { return work_epoch_.load(std::memory_order_relaxed) != seen; });
    --sleepers_;
  }

  // New work may be claimable (a window place, a batch to split) or the run ends: idle
  // workers look again. Wakes one sleeper, or all of them.
  void bump_work_locked(bool all) {
    work_epoch_.fetch_add(1, std::memory_order_relaxed);
    if (sleepers_ == 0) return;
    if (all) {
      work_cv_.notify_all();
    } else {
      work_cv_.notify_one();
    }
  }

  // Consumer only. Frees a batch's window place once every result of it was taken, and lets
  // an idle worker claim the next batch.
  void release(SlotBase& slot) {
    {
      std::lock_guard lock(mutex_);
      slot.released = true;
      --claimed_;
      for (auto it = inflight_.begin(); it != inflight_.end(); ++it) {
        if (*it == &slot) {
          inflight_.erase(it);
          break;
        }
      }
      maybe_free_locked(slot);
      if (!input_done_.load(std::memory_order_relaxed)) bump_work_locked(false);
    }
    // The consumer's own list: the released batch is among the first (ordered: the first).
    for (auto it = consumer_slots_.begin(); it != consumer_slots_.end(); ++it) {
      if (*it == &slot) {
        consumer_slots_.erase(it);
        break;
      }
    }
  }

  // --- Consumer side ---------------------------------------------------------------------

  // Input order: the next n results of the batch were taken.
  void taken_prefix(SlotBase& slot, std::size_t n) {
    slot.taken_total += n;
    if (slot.taken_total == slot.size) release(slot);
  }

  // A published result not yet taken, in the run's order; no lock.
  bool find_ready(Item& item) {
    if (consumer_slots_.empty()) return false;
    if (config_.order == Order::input) {
      SlotBase& slot = *consumer_slots_.front();
      const std::size_t k = slot.taken_total;  // in input order results are taken as a prefix
      if (!slot.ready(k)) return false;
      item = {&slot, k / slot.grain, k};
      return true;
    }
    // Completion order: a chunk whose published count is ahead of what was taken holds a
    // ready result; oldest batch first. Within a batch, start where the last result came
    // from: that chunk likely has more.
    for (SlotBase* slot : consumer_slots_) {
      const std::size_t claimed = slot->claimed_chunks();
      const std::size_t first = slot->first_open_chunk;
      const std::size_t from = slot->scan_from < first ? first : slot->scan_from;
      for (std::size_t n = first; n < claimed; ++n) {
        std::size_t c = from + (n - first);
        if (c >= claimed) c -= claimed - first;
        if (slot->taken[c] == slot->chunk_size(c)) continue;
        const std::size_t end = slot->chunk_begin(c) + slot->claimed_tasks(c);
        for (std::size_t k = slot->chunk_begin(c) + slot->cursor[c]; k < end; ++k) {
          if (slot->ready(k)) {
            slot->scan_from = c;
            item = {slot, c, k};
            return true;
          }
        }
      }
    }
    return false;
  }

  // Moves newly published batches into the consumer's list; true if there were any.
  bool pull_published() {
    if (published_.load(std::memory_order_acquire) == pulled_) return false;
    std::lock_guard lock(mutex_);
    while (!published_order_.empty()) {
      consumer_slots_.push_back(published_order_.pop_front());
      ++pulled_;
    }
    return true;
  }

  bool may_help() const noexcept {
    if (config_.workers == 0) return true;
    const auto per_task = per_task_ns_.load(std::memory_order_relaxed);
    return per_task > 0 && per_task <= consumer_help_limit.count();
  }

  // The consumer runs one task; false when there was none to claim.
  bool help() {
    Runner& me = consumer_runner_;
    if (me.slot != nullptr && run_next(me)) return true;
    std::uint64_t seen = 0;
    const Claim claimed = claim(me, seen, false);
    report_progress();
    return claimed == Claim::chunk && run_next(me);
  }

  bool finish() {
    std::size_t completed = 0;
    {
      std::lock_guard lock(mutex_);
      detach_locked(consumer_runner_);
      // Every task read has returned (its result was taken), though a worker may not have
      // counted its last ones into completed_ yet.
      completed = tasks_read_;
    }
    try {
      progress_.finish(completed);
    } catch (...) {
      fail(std::current_exception());  // like a task's exception: the run failed
      rethrow_failure();
    }
    std::lock_guard lock(mutex_);
    finished_ = true;
    return false;
  }

  // Sleeps until a run event or a result in a chunk it registered on. Registration is a
  // fetch_or of the waiter bit on every chunk whose next result it could take: the runner's
  // fetch_add on the same counter then sees the bit (and wakes it), or the fetch_or sees the
  // runner's result (and it does not sleep).
  void sleep_until_event() {
    std::unique_lock lock(mutex_);
    if (engine_->owner_pid != current_pid()) {
      throw std::logic_error(
          "parmap: a result range was used in a process forked from the one that made it; its "
          "worker threads do not exist here");
    }
    if (error_ || !published_order_.empty() ||
        (consumer_slots_.empty() && input_done_.load(std::memory_order_relaxed))) {
      return;
    }
    const std::uint64_t seen = wake_epoch_;
    consumer_waiting_ = true;
    lock.unlock();
    const bool ready = register_waiter();
    lock.lock();
    if (!ready) consumer_cv_.wait(lock, [&] { return wake_epoch_ != seen; });
    consumer_waiting_ = false;
  }

  bool register_waiter() {
    auto watch = [](SlotBase& slot, std::size_t c) {
      slot.chunk_state[c].next.fetch_or(consumer_waits, std::memory_order_acq_rel);
    };
    if (consumer_slots_.empty()) return false;
    if (config_.order == Order::input) {
      SlotBase& slot = *consumer_slots_.front();
      const std::size_t k = slot.taken_total;
      watch(slot, k / slot.grain);
      return slot.ready(k);
    }
    for (SlotBase* slot : consumer_slots_) {
      for (std::size_t c = slot->first_open_chunk; c < slot->chunks; ++c) {
        if (slot->taken[c] < slot->chunk_size(c)) watch(*slot, c);
      }
    }
    Item item;
    return find_ready(item);
  }

  void wake_consumer() {
    {
      std::lock_guard lock(mutex_);
      ++wake_epoch_;
    }
    consumer_cv_.notify_one();
  }

  void wake_consumer_locked() {
    if (!consumer_waiting_) return;
    ++wake_epoch_;
    consumer_cv_.notify_one();
  }

  [[noreturn]] void rethrow_failure() {
    std::exception_ptr error;
    {
      std::lock_guard lock(mutex_);
      error = error_;
    }
    std::rethrow_exception(error);
  }

  // --- Failure, stop, progress -------------------------------------------------------------

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
    failed_.store(true, std::memory_order_release);
    stopping_ = true;
    bump_work_locked(true);
    wake_consumer_locked();
  }

  // Stops the run (no task starts any more) and asks its running tasks to stop.
  void request_stop() noexcept {
    stop_.request_stop();
    tasks_stop_.request_stop();
  }

  // Reports progress once a runner's stretch has been counted. A progress callback that
  // throws fails the run like a task's exception.
  void report_progress() noexcept {
    if (!progress_.enabled()) return;
    std::size_t completed = 0;
    {
      std::lock_guard lock(mutex_);
      if (!report_due_) return;
      report_due_ = false;
      completed = completed_;
    }
    try {
      progress_.report(completed);
    } catch (...) {
      fail(std::current_exception());
    }
  }

  struct RequestStop {
    std::stop_source* source;
    void operator()() const noexcept { source->request_stop(); }
  };
  // Requests stop on a nested run's tasks when the enclosing task is asked to stop while it
  // still runs.
  struct FollowOuter {
    std::stop_source* source;
    RunningRef outer;
    void operator()() const noexcept {
      if (outer.running()) source->request_stop();
    }
  };

  const RunConfig config_;
  const std::shared_ptr<Engine> engine_;
  // Thread-safe by themselves: stop_ ends the run (checked before each task); tasks_stop_
  // is what tasks see, requested on failure or early destruction and by an enclosing
  // task's stop. The tokens are made once, here, for every task to share.
  std::stop_source stop_;
  std::stop_source tasks_stop_;
  const std::stop_token run_token_ = stop_.get_token();
  const std::stop_token tasks_token_ = tasks_stop_.get_token();
  std::optional<std::stop_callback<FollowOuter>> follow_outer_;  // nested runs only
  ProgressReporter progress_;                                    // thread-safe by itself
  std::optional<TimeoutMonitor::Client> timeouts_;  // made by the constructor, reset by shutdown

  // Consumer thread only. On cache lines of their own: the consumer writes them per result,
  // and the runners read the members above per task.
  alignas(64) std::size_t consumed_ = 0;
  std::deque<SlotBase*> consumer_slots_;  // published batches not yet released, in input order
  std::size_t pulled_ = 0;                // batches moved from published_order_
  Runner consumer_runner_;                // the consumer while it helps

  alignas(64) std::mutex input_mutex_;  // serialises reads of the input; taken before mutex_
  std::size_t next_index_ = 0;          // guarded by input_mutex_
  bool input_end_ = false;              // guarded by input_mutex_
  std::vector<std::unique_ptr<SlotBase>> owned_slots_;  // guarded by input_mutex_

  alignas(64) std::mutex mutex_;         // guards the window, the lists and the run's state below
  std::condition_variable consumer_cv_;  // predicate: wake_epoch_ moved (sleep_until_event)
  std::condition_variable work_cv_;      // predicate: work_epoch_ moved (idle)
  std::condition_variable idle_cv_;      // predicate: active_loops_ == 0 (shutdown)
  // Batches holding a window place: claimed_ <= config_.window, always (asserted on claim).
  std::size_t claimed_ = 0;       // guarded by mutex_
  std::size_t active_loops_ = 0;  // worker loops submitted and not yet left; mutex_
  std::size_t sleepers_ = 0;      // workers asleep on work_cv_; mutex_
  // Written under mutex_; workers poll it without the lock while they spin (relaxed: a
  // change only sends them back to claim(), which takes the lock).
  std::atomic<std::uint64_t> work_epoch_{0};
  std::uint64_t wake_epoch_ = 0;   // moved to wake the consumer; mutex_
  bool consumer_waiting_ = false;  // the consumer sleeps or is about to; mutex_
  bool stopping_ = false;          // failure or shutdown: claim nothing more; mutex_
  std::exception_ptr error_;       // the first failure; mutex_
  // Mirrors written under mutex_ (release) and read by the consumer without it (acquire):
  // a failure was recorded; no batch will be published any more; batches published so far.
  std::atomic<bool> failed_{false};
  std::atomic<bool> input_done_{false};
  std::atomic<std::size_t> published_{0};
  std::atomic<std::int64_t> per_task_ns_{0};  // the sizer's estimate, for may_help (relaxed)
  BatchSizer batcher_;                        // mutex_
  std::size_t tasks_read_ = 0;                // tasks read into batches; mutex_
  std::size_t tasks_started_ = 0;             // tasks begun; mutex_
  std::size_t completed_ = 0;                 // tasks that returned a result or outcome; mutex_
  bool report_due_ = false;          // completed_ moved since the last progress report; mutex_
  bool finished_ = false;            // the consumer reached the end; mutex_
  std::vector<SlotBase*> free_;      // batches owned by nobody; mutex_
  SlotQueue open_;                   // batches that may have unclaimed chunks, oldest first; mutex_
  SlotQueue published_order_;        // published, not yet pulled by the consumer; mutex_
  std::vector<SlotBase*> inflight_;  // published and not yet released, oldest first; mutex_
};

}  // namespace parmap::detail
