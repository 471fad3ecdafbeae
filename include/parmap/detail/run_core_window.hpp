#pragma once

#include <cassert>    // assert: the window invariant in debug builds
#include <cstddef>    // std::size_t
#include <exception>  // std::exception_ptr: an input error
#include <mutex>      // std::lock_guard, std::unique_lock

#include "run_core.hpp"
#include "slot.hpp"

namespace parmap::detail {

// RunCore's window: taking a window place and reading the next batch from the input into it
// (under input_mutex_, with mutex_ released meanwhile), giving the place back when the
// consumer has taken every result of a batch, and recycling batches nobody holds.
// Invariant: claimed_ <= config_.window, asserted where a place is taken. Thread safety and
// guards are RunCore's (run_core.hpp).

inline bool RunCore::read_next_batch(std::unique_lock<std::mutex>& lock, Runner& me) {
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
  // (about a microsecond of work): fewer atomic claims for tiny tasks. A remote run claims a
  // whole chunk: it goes to another process as one message.
  const std::size_t block = config_.remote         ? grain
                            : config_.claim_blocks ? batcher_.block(grain)
                                                   : 1;
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

inline void RunCore::maybe_free_locked(SlotBase& slot) {
  if (slot.in_use && slot.released && slot.holders == 0 && !slot.in_open) {
    slot.in_use = false;
    free_.push_back(&slot);
  }
}

inline void RunCore::release(SlotBase& slot) {
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

}  // namespace parmap::detail
