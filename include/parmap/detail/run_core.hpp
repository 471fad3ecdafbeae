#pragma once

#include <atomic>              // std::atomic: the fast-path mirrors of run state
#include <chrono>              // std::chrono::steady_clock, nanoseconds: task times and limits
#include <condition_variable>  // std::condition_variable: sleeping workers and consumer
#include <cstddef>             // std::size_t
#include <cstdint>             // std::uint64_t, std::int64_t
#include <deque>               // std::deque: the consumer's batches
#include <exception>           // std::exception_ptr: the first failure, rethrown to the consumer
#include <memory>              // std::unique_ptr, std::shared_ptr
#include <mutex>               // std::mutex, std::unique_lock
#include <optional>            // std::optional: the timeout client, the nested-stop link
#include <stop_token>          // std::stop_source, std::stop_callback: asking tasks to stop
#include <vector>              // std::vector: slot ownership and the free list

#include "batch_sizer.hpp"
#include "engine.hpp"
#include "progress.hpp"
#include "run_config.hpp"
#include "slot.hpp"
#include "slot_queue.hpp"
#include "task_context.hpp"
#include "timeout_monitor.hpp"

namespace parmap::detail {

// The untyped heart of one call: the window, the hand-over of results between the threads
// that run tasks and the one consumer, splitting, failure and cancellation.
//
// Who runs tasks: the workers (pool jobs running loop_entry, which stay in the run while it
// has work, sleeping when it has none for now) and, while it waits for a result, the
// consumer (see consumer_help_limit; always, when there are no workers). When the workers
// fill the hardware threads, the consumer runs tasks only in a seat a worker lent it
// (lend_seat), so that a woken consumer never waits for a core.
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
//
// This header declares the class and its state. Its members are defined by seam in
// run_core_lifetime.hpp (construction, shutdown, failure, stop, progress),
// run_core_claim.hpp (the worker loop: claiming and splitting chunks, sleeping),
// run_core_window.hpp (window places: reading a batch from the input, releasing it),
// run_core_tasks.hpp (running one task, under a timeout or not) and run_core_consumer.hpp
// (the consumer: finding, taking and waiting for results). run.hpp includes them all.
class RunCore {
 public:
  // What the consumer gets from next(): result `pos` of batch `slot`, in chunk `chunk`.
  struct Item {
    SlotBase* slot = nullptr;
    std::size_t chunk = 0;
    std::size_t pos = 0;
  };

  RunCore(const RunConfig& config, std::shared_ptr<Engine> engine);

  RunCore(const RunCore&) = delete;  // workers hold `this`
  RunCore& operator=(const RunCore&) = delete;

  virtual ~RunCore() {
    // Pairs with the exchange in Parallel's call: the next run starts after this one ended.
    engine_->busy.store(false, std::memory_order_release);
  }

  // Starts the workers. They claim batches as the window allows, before the consumer asks.
  void start();

  // Consumer only. Blocks until a result is ready (the next one in input order, or any one
  // in completion order) and names it in `item`; false when every result has been yielded.
  // Rethrows the run's first failure. While it waits it may run tasks itself.
  bool next(Item& item);

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
  // - run_tasks_published runs tasks [begin, end) in order, each into its result, and
  //   publishes each; it stops before a task once `stop` is requested, and after a task that
  //   threw (not collecting: nothing is published for it), storing what it threw in `error`.
  //   Returns how many it published. Frees each task it runs. One call per claimed block, so
  //   that the loop over tiny tasks is the typed code's own (no virtual call per task). A
  //   block run elsewhere (RunConfig::remote) adds to `work` how long its tasks took there:
  //   the batch sizer then measures the tasks, not the messages' round trips.
  // - run_task runs task k into its result without publishing it; throws what the task
  //   threw when not collecting. Frees the task.
  // - replace_with_error turns task k's result into an error outcome (collecting only: a
  //   task that returned after its timeout).
  // - drop_tasks frees tasks [begin, end) that will never run.
  // - destroy_result destroys result k (published and not taken).
  virtual std::unique_ptr<SlotBase> make_slot() = 0;
  virtual void read_batch(SlotBase& slot, std::size_t first, std::size_t want,
                          std::size_t& read) = 0;
  virtual std::size_t run_tasks_published(SlotBase& slot, std::size_t begin, std::size_t end,
                                          const std::stop_token& stop, std::exception_ptr& error,
                                          std::chrono::nanoseconds& work) noexcept = 0;
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
  void taken(const Item& item);

  // Stops claiming, asks running tasks to stop unless every result was delivered, waits
  // until no worker touches the run, and files the run's report with the Parallel. Called
  // first thing by the typed run's destructor, on the consumer thread.
  void shutdown() noexcept;

  // After shutdown, on the destroying thread: frees every result not taken and every task
  // never run, in every batch still in use.
  void free_leftovers() noexcept;

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
    std::chrono::nanoseconds work{};  // remote runs: the time the stretch's tasks took there
  };

  // What claim() found: a chunk to run, nothing for now, or nothing ever again.
  enum class Claim { chunk, idle, leave };

  // --- Claiming: the worker loop, chunks, splitting, sleeping (run_core_claim.hpp) -----------

  static void loop_entry(void* self) noexcept;

  // Claims and runs the next task of `me`'s chunk, or of the batch's next chunk; false when
  // the batch has no unclaimed task left for it. No lock.
  bool run_next(Runner& me);

  // Finds work for `me` once its batch has none left: first the oldest batch with unclaimed
  // chunks, then a new batch if the window has room, then a chunk another thread is running
  // that still has unstarted tasks (splitting it). On `chunk`, `me` is attached and run_next
  // will find a task (unless others take them first). A worker that gets `leave` has been
  // counted out under the same lock that saw the reason; one that gets `idle` gets the work
  // epoch it saw in `seen`.
  Claim claim(Runner& me, std::uint64_t& seen, bool worker);

  // Attaches `me` to a claimed chunk that still has unstarted tasks, oldest batch first.
  // Every task of a published batch exists from its publication on, so a thread that finds
  // none here needs no wake-up for them: only a new batch or a freed window place can bring
  // more.
  bool steal_locked(Runner& me);

  Claim leave_locked(bool worker);
  void attach_locked(Runner& me, SlotBase* slot, std::size_t chunk);

  // Ends `me`'s stretch: its counts go into the run's totals and its timing into the batch
  // sizer. Progress is reported by the caller (outside the lock).
  void detach_locked(Runner& me);

  // A worker with nothing to claim: polls the work epoch briefly, then sleeps until it moves.
  void idle(std::uint64_t seen);

  // A worker that sees the consumer ask for a seat (seat_wanted_) hands its own over: it
  // detaches `me`, wakes the consumer and sleeps until the seat comes back: when the run stops
  // or the consumer reaches the end, or when the consumer started no task for a whole
  // seat_reclaim_interval and is not running one (it is in its loop's body, or has nothing to
  // claim). False when another worker lent one first or the request was withdrawn.
  bool lend_seat(Runner& me);

  // New work may be claimable (a window place, a batch to split) or the run ends: idle
  // workers look again. Wakes one sleeper, or all of them.
  void bump_work_locked(bool all);

  // --- The window: reading batches into places, releasing them (run_core_window.hpp) ---------

  // Takes a window place and reads the next batch, with `lock` released meanwhile; true with
  // `me` attached to the new batch and chunk 0 claimed. False when the input had no more
  // (or threw); then the place is given back. Called and returns with `lock` held.
  bool read_next_batch(std::unique_lock<std::mutex>& lock, Runner& me);

  // Consumer only. Frees a batch's window place once every result of it was taken, and lets
  // an idle worker claim the next batch.
  void release(SlotBase& slot);

  // Puts a batch back on the free list once nobody can touch it any more.
  void maybe_free_locked(SlotBase& slot);

  // --- Running one task (run_core_tasks.hpp) -------------------------------------------------

  // Runs tasks [begin, end) of `me`'s batch (claimed by `me`) in order and publishes their
  // results. Cancellation is checked before each task starts; the tasks a stop or a failure
  // leaves unstarted are dropped.
  void run_tasks(Runner& me, std::size_t begin, std::size_t end) noexcept;

  // Runs task k under the timeout monitor, with a stop source of its own that also follows
  // the run's tasks' token. A task reported late gets a TimeoutError as its outcome
  // (collecting) or fails with one (raising; the monitor has already failed the run),
  // whatever it returned: a late result is never delivered as a success.
  void run_watched(SlotBase& slot, std::size_t k);

  // --- Consumer side (run_core_consumer.hpp) -------------------------------------------------

  // Input order: the next n results of the batch were taken.
  void taken_prefix(SlotBase& slot, std::size_t n);

  // A published result not yet taken, in the run's order; no lock.
  bool find_ready(Item& item);

  // Moves newly published batches into the consumer's list; true if there were any.
  bool pull_published();

  // True once tasks are measured to take `limit` or less (the batch sizer's estimate).
  bool tasks_within(std::chrono::nanoseconds limit) const noexcept;

  bool may_help() const noexcept;

  // lend_seats only: asks the workers for a seat, when tasks are short enough to run here.
  void want_seat() noexcept;

  // The consumer runs one task; false when there was none to claim, or (lend_seats) when
  // the seat it was lent has been taken back.
  bool help();
  bool help_in_seat();  // help's body; with lend_seats, only while the seat is in_use

  bool finish();

  // Sleeps until a run event or a result in a chunk it registered on, or (for_seat) until a
  // worker lends it a seat. Registration is a fetch_or of the waiter bit on every chunk whose
  // next result it could take: the runner's fetch_add on the same counter then sees the bit
  // (and wakes it), or the fetch_or sees the runner's result (and it does not sleep).
  void sleep_until_event(bool for_seat);

  bool register_waiter();
  void wake_consumer();
  void wake_consumer_locked();
  [[noreturn]] void rethrow_failure();

  // --- Failure, stop, progress (run_core_lifetime.hpp) ---------------------------------------

  static void timeout_entry(void* self, std::size_t index) noexcept;
  void fail(std::exception_ptr error) noexcept;

  // Keeps the first failure and stops claiming; the caller holds mutex_ and then calls
  // request_stop() once it has released it.
  void record_failure_locked(std::exception_ptr error) noexcept;

  // Stops the run (no task starts any more) and asks its running tasks to stop.
  void request_stop() noexcept;

  // Reports progress once a runner's stretch has been counted. A progress callback that
  // throws fails the run like a task's exception.
  void report_progress() noexcept;

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
  // How often the consumer looked for a task to run (help); written by the consumer only,
  // read by a worker that lent its seat (relaxed: it only decides when to take the seat back,
  // and a stale value delays that by one interval; seat_ decides whether it may).
  std::atomic<std::uint64_t> consumer_tasks_{0};
  // The seat a worker lends the consumer (config_.lend_seats). It goes free -> lent and back
  // under mutex_ (lend_seat, finish); the consumer alone moves it lent -> in_use and back,
  // around the tasks it runs (help). Both moves out of `lent` are compare-exchanges, so a
  // worker never takes its seat back while the consumer runs a task in it: no more threads
  // run tasks than workers. sleep_until_event reads it under mutex_, so a lend is never
  // missed. On the consumer's cache line: it changes at every help, and workers read it
  // only while they lend their seat.
  enum class Seat : unsigned char { free, lent, in_use };
  std::atomic<Seat> seat_{Seat::free};

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
  // Seats (config_.lend_seats): the consumer sets seat_wanted_ while it waits and clears it
  // when it has a result; workers poll it after each task (relaxed: lend_seat re-checks it
  // under mutex_, and lending to a consumer that no longer waits only idles the seat until
  // it is taken back). The seat itself is seat_, with the consumer's members.
  std::atomic<bool> seat_wanted_{false};
  std::condition_variable seat_cv_;  // predicate: seat_ is free, or stopping_ (lend_seat)
  BatchSizer batcher_;               // mutex_
  std::size_t tasks_read_ = 0;       // tasks read into batches; mutex_
  std::size_t tasks_started_ = 0;    // tasks begun; mutex_
  std::size_t completed_ = 0;        // tasks that returned a result or outcome; mutex_
  bool report_due_ = false;          // completed_ moved since the last progress report; mutex_
  bool finished_ = false;            // the consumer reached the end; mutex_
  std::vector<SlotBase*> free_;      // batches owned by nobody; mutex_
  SlotQueue open_;                   // batches that may have unclaimed chunks, oldest first; mutex_
  SlotQueue published_order_;        // published, not yet pulled by the consumer; mutex_
  std::vector<SlotBase*> inflight_;  // published and not yet released, oldest first; mutex_
};

}  // namespace parmap::detail
