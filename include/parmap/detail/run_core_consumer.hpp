#pragma once

#include <atomic>     // std::memory_order: reading the run's mirrors and result states
#include <cstddef>    // std::size_t
#include <cstdint>    // std::uint64_t: the consumer's task count
#include <exception>  // std::exception_ptr, std::rethrow_exception
#include <mutex>      // std::lock_guard, std::unique_lock
#include <stdexcept>  // std::logic_error: a run used in a forked child

#include "process.hpp"
#include "run_core.hpp"
#include "slot.hpp"

namespace parmap::detail {

// RunCore's consumer side, run by the one thread that takes results: finding the next ready
// result without a lock, counting results taken (which releases their batch's window place),
// helping with short tasks while it waits, sleeping until a result or a run event, and
// rethrowing the run's failure. Thread safety and guards are RunCore's (run_core.hpp).

inline bool RunCore::next(Item& item) {
  int spins = 0;
  for (;;) {
    if (failed_.load(std::memory_order_acquire)) rethrow_failure();
    if (find_ready(item)) {
      if (seat_wanted_.load(std::memory_order_relaxed)) {
        seat_wanted_.store(false, std::memory_order_relaxed);
      }
      return true;
    }
    if (pull_published()) continue;
    if (consumer_slots_.empty() && input_done_.load(std::memory_order_acquire) &&
        published_.load(std::memory_order_acquire) == pulled_) {
      if (failed_.load(std::memory_order_acquire)) rethrow_failure();  // an input error
      return finish();
    }
    const bool can_help = may_help();
    if (can_help && help()) {
      spins = 0;
      continue;
    }
    if (!can_help && config_.lend_seats) want_seat();
    if (++spins < spin_before_sleep) {
      cpu_relax();
      continue;
    }
    sleep_until_event(!can_help);
    spins = 0;
  }
}

inline void RunCore::taken(const Item& item) {
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

inline void RunCore::taken_prefix(SlotBase& slot, std::size_t n) {
  slot.taken_total += n;
  if (slot.taken_total == slot.size) release(slot);
}

inline bool RunCore::find_ready(Item& item) {
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

inline bool RunCore::pull_published() {
  if (published_.load(std::memory_order_acquire) == pulled_) return false;
  std::lock_guard lock(mutex_);
  while (!published_order_.empty()) {
    consumer_slots_.push_back(published_order_.pop_front());
    ++pulled_;
  }
  return true;
}

inline bool RunCore::tasks_within(std::chrono::nanoseconds limit) const noexcept {
  const auto per_task = per_task_ns_.load(std::memory_order_relaxed);
  return per_task > 0 && per_task <= limit.count();
}

inline bool RunCore::may_help() const noexcept {
  if (config_.remote) return false;  // the tasks run in other processes
  if (config_.workers == 0) return true;
  if (config_.lend_seats) {
    return seat_.load(std::memory_order_relaxed) != Seat::free && tasks_within(consumer_lend_limit);
  }
  return tasks_within(consumer_help_limit);
}

inline void RunCore::want_seat() noexcept {
  if (!seat_wanted_.load(std::memory_order_relaxed) && tasks_within(consumer_lend_limit)) {
    seat_wanted_.store(true, std::memory_order_relaxed);
  }
}

inline bool RunCore::help() {
  if (config_.workers == 0 || !config_.lend_seats) return help_in_seat();
  Seat lent = Seat::lent;  // fails when the worker took its seat back
  if (!seat_.compare_exchange_strong(lent, Seat::in_use, std::memory_order_acq_rel)) {
    return false;
  }
  struct Leave {
    std::atomic<Seat>& seat;
    ~Leave() { seat.store(Seat::lent, std::memory_order_release); }
  } leave{seat_};
  return help_in_seat();
}

inline bool RunCore::help_in_seat() {
  Runner& me = consumer_runner_;
  // Counted before the task runs: a worker that lent its seat sees the seat in use.
  consumer_tasks_.store(consumer_tasks_.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
  if (me.slot != nullptr && run_next(me)) return true;
  std::uint64_t seen = 0;
  const Claim claimed = claim(me, seen, false);
  report_progress();
  return claimed == Claim::chunk && run_next(me);
}

inline bool RunCore::finish() {
  std::size_t completed = 0;
  {
    std::lock_guard lock(mutex_);
    detach_locked(consumer_runner_);
    seat_wanted_.store(false, std::memory_order_relaxed);
    if (seat_.load(std::memory_order_relaxed) != Seat::free) {  // no task left: give it back
      seat_.store(Seat::free, std::memory_order_relaxed);
      seat_cv_.notify_all();
    }
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

inline void RunCore::sleep_until_event(bool for_seat) {
  std::unique_lock lock(mutex_);
  if (engine_->owner_pid != current_pid()) {
    throw std::logic_error(
        "parmap: a result range was used in a process forked from the one that made it; its "
        "worker threads do not exist here");
  }
  if (error_ || !published_order_.empty() ||
      (consumer_slots_.empty() && input_done_.load(std::memory_order_relaxed)) ||
      (for_seat && may_help())) {
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

inline bool RunCore::register_waiter() {
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

inline void RunCore::wake_consumer() {
  {
    std::lock_guard lock(mutex_);
    ++wake_epoch_;
  }
  consumer_cv_.notify_one();
}

inline void RunCore::wake_consumer_locked() {
  if (!consumer_waiting_) return;
  ++wake_epoch_;
  consumer_cv_.notify_one();
}

inline void RunCore::rethrow_failure() {
  std::exception_ptr error;
  {
    std::lock_guard lock(mutex_);
    error = error_;
  }
  std::rethrow_exception(error);
}

}  // namespace parmap::detail
