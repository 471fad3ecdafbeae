#pragma once

#include <algorithm>  // std::clamp, std::max, std::min
#include <chrono>     // std::chrono::nanoseconds: measured run durations
#include <cstddef>    // std::size_t
#include <cstdint>    // std::int64_t

namespace parmap::detail {

// What batches and chunks aim at (see BatchSizer). A run whose batches go to another process
// (the MPI backend) aims higher: there one chunk is one message, and the time measured per
// task includes the message's round trip, so chunks grow until that is a small share.
struct BatchTargets {
  std::chrono::nanoseconds batch{std::chrono::milliseconds(1)};
  std::chrono::nanoseconds chunk{std::chrono::microseconds(16)};
  // Chunks before any task was measured: 0 cuts a batch into chunks of 1; n cuts it into n
  // chunks (a remote run, where a chunk is a message: a fixed batch_size of 10000 must not
  // start as 10000 messages).
  std::size_t unmeasured_chunks = 0;
};

// Measures how long tasks take and chooses, from that, the size of the next batch and the
// size of the chunks it is cut into.
//
// A batch is the unit of the window and of input reads; a chunk is the unit one thread
// claims. Neither decides when a result is delivered: results leave one by one as their
// tasks finish, and idle threads split a batch chunk by chunk. So:
// - Chunks aim at `BatchTargets::chunk` of work: long enough that one claim (an atomic add on a
//   line other threads may touch) costs little, short enough that a task waits behind its
//   chunk-mates for about a microsecond at most. Tasks of that length or more get chunks of 1.
// - Automatic batches aim at `BatchTargets::batch`: a window place, an input read under the input
//   lock and a release by the consumer are then a small share of a batch. Tasks of that
//   length or more get batches of 1, so the window stays a bound in tasks. Growth is at most
//   2x per batch, so one lucky fast measurement cannot jump to a huge size; shrinking is
//   immediate, so a slow phase gets small batches at once.
// - Fixed mode always answers the size it was given (chunks still follow the measurements).
// Before any measurement: batches of 1 and chunks of 1 (or BatchTargets::unmeasured_chunks).
//
// Not thread-safe: the run calls it under its mutex.
class BatchSizer {
 public:
  static constexpr std::chrono::nanoseconds block_target{std::chrono::microseconds(1)};
  static constexpr std::size_t max_batch = std::size_t{1} << 16;

  // `fixed == 0` selects automatic sizing.
  explicit BatchSizer(std::size_t fixed, BatchTargets targets = {}) noexcept
      : adaptive_(fixed == 0),
        fixed_(fixed),
        last_batch_(fixed == 0 ? 0 : fixed),
        batch_target_(targets.batch),
        chunk_target_(targets.chunk),
        unmeasured_chunks_(targets.unmeasured_chunks) {}

  [[nodiscard]] bool adaptive() const noexcept { return adaptive_; }

  // The size of the next batch.
  [[nodiscard]] std::size_t next_batch() noexcept {
    if (!adaptive_) return fixed_;
    std::size_t size = 1;
    if (per_task_ns_ > 0) {
      const auto ideal =
          static_cast<std::size_t>((batch_target_.count() + per_task_ns_ - 1) / per_task_ns_);
      size = std::clamp<std::size_t>(
          ideal, 1, std::min(std::max<std::size_t>(last_batch_, 1) * 2, max_batch));
    }
    last_batch_ = size;
    return size;
  }

  // Tasks per chunk for a batch of `batch` tasks.
  [[nodiscard]] std::size_t grain(std::size_t batch) const noexcept {
    if (per_task_ns_ <= 0) {
      if (unmeasured_chunks_ == 0) return 1;
      return std::max<std::size_t>(1, (batch + unmeasured_chunks_ - 1) / unmeasured_chunks_);
    }
    const auto ideal =
        static_cast<std::size_t>((chunk_target_.count() + per_task_ns_ - 1) / per_task_ns_);
    return std::clamp<std::size_t>(ideal, 1, std::max<std::size_t>(batch, 1));
  }

  // Tasks per claim for a chunk of `chunk` tasks when no single result is awaited (list
  // mode): about `block_target` of work.
  [[nodiscard]] std::size_t block(std::size_t chunk) const noexcept {
    if (per_task_ns_ <= 0) return 1;
    const auto ideal =
        static_cast<std::size_t>((block_target.count() + per_task_ns_ - 1) / per_task_ns_);
    return std::clamp<std::size_t>(ideal, 1, std::max<std::size_t>(chunk, 1));
  }

  // Records that one thread ran `count` tasks back to back in `elapsed`.
  void record(std::size_t count, std::chrono::nanoseconds elapsed) noexcept {
    if (count == 0) return;
    per_task_ns_ = std::max<std::int64_t>(elapsed.count() / static_cast<std::int64_t>(count), 1);
  }

  // The last measured time per task in nanoseconds; 0 before any measurement.
  [[nodiscard]] std::int64_t per_task_ns() const noexcept { return per_task_ns_; }

 private:
  bool adaptive_;
  std::size_t fixed_;
  std::size_t last_batch_;
  std::chrono::nanoseconds batch_target_;
  std::chrono::nanoseconds chunk_target_;
  std::size_t unmeasured_chunks_;
  std::int64_t per_task_ns_ = 0;
};

}  // namespace parmap::detail
