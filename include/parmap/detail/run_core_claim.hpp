#pragma once

#include <algorithm>           // std::min
#include <atomic>              // std::atomic: a chunk's claim counter
#include <condition_variable>  // std::cv_status: a lent seat's reclaim check
#include <cstddef>             // std::size_t
#include <cstdint>             // std::uint32_t, std::uint64_t
#include <mutex>               // std::unique_lock

#include "run_core.hpp"
#include "slot.hpp"

namespace parmap::detail {

// How a thread that runs tasks finds them (RunCore's worker loop and the consumer's help):
// claiming the next task of its chunk without a lock, the next chunk or batch under mutex_,
// splitting a chunk another thread runs, and sleeping when there is nothing to claim.
// Thread safety and guards are RunCore's (run_core.hpp).

inline void RunCore::loop_entry(void* self) noexcept {
  auto* run = static_cast<RunCore*>(self);
  Runner me;
  std::uint64_t seen = 0;
  for (;;) {
    if (run->seat_wanted_.load(std::memory_order_relaxed) && run->lend_seat(me)) {
      run->report_progress();  // for the stretch lend_seat ended
      continue;
    }
    if (me.slot != nullptr && run->run_next(me)) continue;  // no lock
    const Claim claimed = run->claim(me, seen, true);
    if (claimed == Claim::leave) return;  // counted out: the run may already be gone
    run->report_progress();               // for the stretch claim() ended
    if (claimed == Claim::idle) run->idle(seen);
  }
}

inline bool RunCore::run_next(Runner& me) {
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
      run_tasks(me, begin + k, begin + std::min(k + slot.block, size));
      return true;
    }
    const std::size_t c = slot.next_chunk.fetch_add(1, std::memory_order_relaxed);
    if (c >= slot.chunks) return false;
    me.chunk = c;
  }
}

inline RunCore::Claim RunCore::claim(Runner& me, std::uint64_t& seen, bool worker) {
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

inline bool RunCore::steal_locked(Runner& me) {
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

inline RunCore::Claim RunCore::leave_locked(bool worker) {
  if (worker && --active_loops_ == 0) idle_cv_.notify_all();
  return worker ? Claim::leave : Claim::idle;
}

inline void RunCore::attach_locked(Runner& me, SlotBase* slot, std::size_t chunk) {
  me.slot = slot;
  me.chunk = chunk;
  ++slot->holders;
  me.since = Clock::now();
  me.started = 0;
  me.completed = 0;
  me.work = {};
}

inline void RunCore::detach_locked(Runner& me) {
  if (me.slot == nullptr) return;
  // A remote run measures the tasks where they ran (the wall time here would be mostly the
  // messages' round trips); a block that reported no time (a failed request) measures nothing.
  const std::chrono::nanoseconds elapsed =
      config_.remote ? me.work : std::chrono::nanoseconds(Clock::now() - me.since);
  if (me.started > 0 && elapsed.count() > 0) {
    batcher_.record(me.started, elapsed);
    per_task_ns_.store(batcher_.per_task_ns(), std::memory_order_relaxed);
  }
  tasks_started_ += me.started;
  completed_ += me.completed;
  if (me.completed > 0) report_due_ = true;
  --me.slot->holders;
  maybe_free_locked(*me.slot);
  me.slot = nullptr;
}

inline void RunCore::idle(std::uint64_t seen) {
  for (int i = 0; i < spin_before_sleep; ++i) {
    if (work_epoch_.load(std::memory_order_relaxed) != seen) return;
    cpu_relax();
  }
  std::unique_lock lock(mutex_);
  ++sleepers_;
  work_cv_.wait(lock, [&] { return work_epoch_.load(std::memory_order_relaxed) != seen; });
  --sleepers_;
}

inline bool RunCore::lend_seat(Runner& me) {
  std::unique_lock lock(mutex_);
  if (!seat_wanted_.load(std::memory_order_relaxed) ||
      seat_.load(std::memory_order_relaxed) != Seat::free || stopping_) {
    return false;
  }
  seat_wanted_.store(false, std::memory_order_relaxed);
  seat_.store(Seat::lent, std::memory_order_relaxed);
  detach_locked(me);
  wake_consumer_locked();
  std::uint64_t seen = consumer_tasks_.load(std::memory_order_relaxed);
  while (seat_.load(std::memory_order_relaxed) != Seat::free && !stopping_) {
    if (seat_cv_.wait_for(lock, seat_reclaim_interval) == std::cv_status::timeout) {
      const std::uint64_t now = consumer_tasks_.load(std::memory_order_relaxed);
      Seat unused = Seat::lent;  // fails while the consumer runs a task in it
      if (now == seen) seat_.compare_exchange_strong(unused, Seat::free, std::memory_order_acq_rel);
      seen = now;
    }
  }
  return true;
}

inline void RunCore::bump_work_locked(bool all) {
  work_epoch_.fetch_add(1, std::memory_order_relaxed);
  if (sleepers_ == 0) return;
  if (all) {
    work_cv_.notify_all();
  } else {
    work_cv_.notify_one();
  }
}

}  // namespace parmap::detail
