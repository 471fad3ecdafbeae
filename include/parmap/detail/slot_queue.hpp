#pragma once

#include <cassert>  // assert: the queue never holds more than its capacity
#include <cstddef>  // std::size_t
#include <vector>   // std::vector: the ring's storage

namespace parmap::detail {

struct SlotBase;

// A FIFO of slot pointers on a ring that grows by doubling. A run never holds more
// pointers than it has slots, so after the first few batches it stops allocating.
// Not thread-safe: the run guards it with its mutex.
class SlotQueue {
 public:
  [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
  [[nodiscard]] std::size_t size() const noexcept { return count_; }

  [[nodiscard]] SlotBase* front() const noexcept {
    assert(count_ > 0);
    return ring_[head_];
  }

  void push_back(SlotBase* slot) {
    if (count_ == ring_.size()) grow();
    ring_[(head_ + count_) % ring_.size()] = slot;
    ++count_;
  }

  SlotBase* pop_front() noexcept {
    assert(count_ > 0);
    SlotBase* slot = ring_[head_];
    head_ = (head_ + 1) % ring_.size();
    --count_;
    return slot;
  }

 private:
  void grow() {
    std::vector<SlotBase*> bigger(ring_.empty() ? 4 : ring_.size() * 2);
    for (std::size_t i = 0; i < count_; ++i) bigger[i] = ring_[(head_ + i) % ring_.size()];
    ring_.swap(bigger);
    head_ = 0;
  }

  std::vector<SlotBase*> ring_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

}  // namespace parmap::detail
