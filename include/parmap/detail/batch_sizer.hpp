#pragma once

#include <algorithm>  // std::clamp, std::max, std::min
#include <chrono>     // std::chrono::nanoseconds: measured batch durations
#include <cstddef>    // std::size_t

namespace parmap::detail {

// Chooses how many tasks go into the next batch.
//
// Fixed mode always answers the size it was given. Automatic mode starts at 1 and steers the
// batch duration towards `target`: tasks of `target` or longer stay at 1 (nothing to
// amortise, and the window stays a bound in tasks), shorter ones grow batches until one
// hand-off (a wake-up, some 10-20 us on a loaded 2-core VM) costs a few percent of the batch.
// 1 ms, not less: at 100 us, 50 us tasks ran at 70-80% parallel efficiency on 2 cores; at
// 1 ms, 95-98% (benchmarks/overhead). The sizes round up, so a batch is never much shorter
// than the target. Growth is at most 2x per measured batch so that one lucky fast batch cannot
// jump to a huge size; shrinking is immediate so a slow phase gets small batches at once.
//
// Not thread-safe: the run calls it under its mutex.
class BatchSizer {
 public:
  static constexpr std::chrono::nanoseconds target{std::chrono::milliseconds(1)};
  static constexpr std::size_t max_batch = std::size_t{1} << 16;

  // `fixed == 0` selects automatic sizing.
  explicit BatchSizer(std::size_t fixed) noexcept
      : adaptive_(fixed == 0), size_(fixed == 0 ? 1 : fixed) {}

  [[nodiscard]] bool adaptive() const noexcept { return adaptive_; }
  [[nodiscard]] std::size_t next() const noexcept { return size_; }

  // Records that `count` tasks took `elapsed` to run.
  void record(std::size_t count, std::chrono::nanoseconds elapsed) noexcept {
    // Batches cut short by the end of the input say little about the task duration.
    if (!adaptive_ || count == 0 || count < size_) return;
    using Rep = std::chrono::nanoseconds::rep;
    const Rep per_task = std::max<Rep>(elapsed.count() / static_cast<Rep>(count), 1);
    const auto ideal = static_cast<std::size_t>((target.count() + per_task - 1) / per_task);
    size_ = std::clamp<std::size_t>(ideal, 1, std::min(size_ * 2, max_batch));
  }

 private:
  bool adaptive_;
  std::size_t size_;
};

}  // namespace parmap::detail
