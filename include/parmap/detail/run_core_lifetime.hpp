#pragma once

#include <cstddef>     // std::size_t
#include <exception>   // std::exception_ptr, std::make_exception_ptr
#include <memory>      // std::shared_ptr
#include <mutex>       // std::lock_guard, std::unique_lock
#include <stop_token>  // std::stop_token: an enclosing task's
#include <utility>     // std::move

#include "../outcome.hpp"
#include "run_core.hpp"

namespace parmap::detail {

// RunCore's lifetime and its failure path: construction (the nested-stop link, the timeout
// client), start, shutdown and the freeing of leftovers, recording the first failure,
// requesting stop and reporting progress. Thread safety and guards are RunCore's (run_core.hpp).

inline RunCore::RunCore(const RunConfig& config, std::shared_ptr<Engine> engine)
    : config_(config),
      engine_(std::move(engine)),
      progress_(config.progress, config.verbose, config.n_jobs, config.total),
      batcher_(config.batch, config.targets) {
  // A run made inside a task (a nested call, run inline) stops its tasks when the
  // enclosing task is asked to stop, but only while that task runs: once it has returned,
  // this run's results belong to whoever holds them (see RunningFlag).
  if (const std::stop_token* outer = this_thread_context.stop) {
    follow_outer_.emplace(*outer, FollowOuter{&tasks_stop_, this_thread_context.running_ref()});
  }
  if (config_.timeout) timeouts_.emplace(*config_.timeout, &RunCore::timeout_entry, this);
}

inline void RunCore::start() {
  {
    std::lock_guard lock(mutex_);
    active_loops_ = config_.workers;
  }
  for (std::size_t i = 0; i < config_.workers; ++i) {
    engine_->pool->submit({&RunCore::loop_entry, this});
  }
}

inline void RunCore::shutdown() noexcept {
  bool finished = false;
  {
    std::lock_guard lock(mutex_);
    detach_locked(consumer_runner_);
    stopping_ = true;
    finished = finished_;
    bump_work_locked(true);
    seat_cv_.notify_all();  // a worker that lent its seat leaves too
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

inline void RunCore::free_leftovers() noexcept {
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

inline void RunCore::timeout_entry(void* self, std::size_t index) noexcept {
  auto* run = static_cast<RunCore*>(self);
  if (!run->config_.collect_errors) {
    run->fail(std::make_exception_ptr(TimeoutError(index, *run->config_.timeout)));
  }
}

inline void RunCore::fail(std::exception_ptr error) noexcept {
  {
    std::lock_guard lock(mutex_);
    record_failure_locked(std::move(error));
  }
  request_stop();  // outside the mutex: it runs user stop callbacks
}

inline void RunCore::record_failure_locked(std::exception_ptr error) noexcept {
  if (!error_) error_ = std::move(error);
  failed_.store(true, std::memory_order_release);
  stopping_ = true;
  bump_work_locked(true);
  seat_cv_.notify_all();  // a worker that lent its seat leaves too
  wake_consumer_locked();
}

inline void RunCore::request_stop() noexcept {
  stop_.request_stop();
  tasks_stop_.request_stop();
}

inline void RunCore::report_progress() noexcept {
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

}  // namespace parmap::detail
