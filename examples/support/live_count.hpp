#pragma once

// Counting the results alive at once: a result type holds a LiveCount, and the program reads
// how many such results own storage now and the most there were at once. It is the library's
// memory bound in results, free of the allocator's effects on the RSS. Used by the memory
// demo's Matrix and benchmarks/peak_rss's Blob.

#include <atomic>   // std::atomic: the counts, updated from parmap's workers
#include <utility>  // std::exchange: a move hands the count over

namespace live_count {

// How many LiveCount objects count now, and the most at once since LiveCount::reset_peak().
// Only LiveCount touches them.
inline std::atomic<long> live_results{0};
inline std::atomic<long> peak_live_results{0};

// A member that makes its owner count as one live result until it is destroyed or moved from.
// Move-only, so its owner is too (a copy of a big result would be a hidden allocation).
//
// Thread safety: objects may be created, moved and destroyed on any thread. live() and peak()
// are statistics: read them after the threads that made the results have been joined (or the
// parmap call that ran them has returned), which orders those updates before the read.
class LiveCount {
 public:
  // Counts nothing: an empty result (oneTBB's pipeline default-constructs some).
  LiveCount() noexcept = default;
  // `counting`: whether the owner counts as a live result.
  explicit LiveCount(bool counting) noexcept {
    if (counting) count_in();
  }
  LiveCount(LiveCount&& other) noexcept : counted_(std::exchange(other.counted_, false)) {}
  LiveCount& operator=(LiveCount&& other) noexcept {
    if (this != &other) {
      count_out();
      counted_ = std::exchange(other.counted_, false);
    }
    return *this;
  }
  LiveCount(const LiveCount&) = delete;
  LiveCount& operator=(const LiveCount&) = delete;
  ~LiveCount() { count_out(); }

  // Results alive now.
  static long live() noexcept { return live_results.load(); }
  // The most results alive at once since the last reset_peak().
  static long peak() noexcept { return peak_live_results.load(); }
  // Starts a new peak from the results alive now.
  static void reset_peak() noexcept { peak_live_results.store(live_results.load()); }

 private:
  void count_in() noexcept {
    counted_ = true;
    // Relaxed: statistics, read after the run's threads are joined (see the class comment).
    const long now = live_results.fetch_add(1, std::memory_order_relaxed) + 1;
    long seen = peak_live_results.load(std::memory_order_relaxed);
    while (now > seen &&
           !peak_live_results.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
    }
  }
  void count_out() noexcept {
    if (std::exchange(counted_, false)) live_results.fetch_sub(1, std::memory_order_relaxed);
  }

  bool counted_ = false;  // this object is one of live_results; only its owner's thread touches it
};

}  // namespace live_count
