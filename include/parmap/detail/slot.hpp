#pragma once

#include <algorithm>  // std::min
#include <atomic>     // std::atomic, std::atomic_ref: claims, completion counts, task states
#include <cstddef>    // std::size_t
#include <cstdint>    // std::uint32_t, std::uint8_t
#include <cstring>    // std::memset: resetting a reused batch's task states
#include <memory>     // std::unique_ptr, std::allocator, std::destroy_at
#include <vector>     // std::vector: the consumer's per-chunk counts

namespace parmap::detail {

// One chunk's claim counter, on a cache line of its own so that threads working in
// neighbouring chunks do not write the same line.
//
// Low 31 bits: tasks of the chunk claimed so far, by fetch_add from the chunk's runner and
// from any idle thread that joins it (the count may run past the chunk's size: each claimer
// overshoots once). Top bit (consumer_waits): the consumer sleeps, or is about to, until a
// result of this chunk is published.
// The hand-off, and its memory ordering: a runner publishes task k with a release store of
// task_published, and then always claims again in the same chunk before anything else (its
// next task, or the failed claim that sends it to another chunk). That claim, a fetch_add
// (acq_rel), is also the publish's check for a sleeping consumer: the consumer sets the bit
// with a fetch_or (acq_rel) and then looks at the task's state. The two read-modify-writes
// are totally ordered on this one atomic: either the runner's fetch_add sees the bit (and
// wakes the consumer), or the consumer's fetch_or reads the runner's claim and so also sees
// the published state stored before it. One atomic read-modify-write per task in all.
struct alignas(64) ChunkState {
  std::atomic<std::uint32_t> next{0};
};
inline constexpr std::uint32_t consumer_waits = std::uint32_t{1} << 31;
inline constexpr std::uint32_t claim_mask = consumer_waits - 1;

// What task_state holds for each task of a batch.
enum TaskState : std::uint8_t {
  task_pending = 0,    // not run yet, or running
  task_published = 1,  // its result is ready for the consumer (written by the runner)
  task_taken = 2,      // the consumer took and destroyed its result (consumer only)
};

// A batch of consecutive tasks read from the input together, and the storage for their
// results. The window counts batches. A batch is cut into chunks of `grain` tasks; a thread
// claims a chunk and then its tasks one by one, and a thread with nothing else to do joins a
// chunk another thread is running and claims its unstarted tasks too: no unstarted task
// waits behind a running one while a thread is idle.
//
// Who touches what:
// - The shape (first_index, size, grain, chunks) is written by the thread that reads the
//   batch, before the run publishes the batch under its mutex; read-only while published.
// - next_chunk: chunk claims, by fetch_add from any runner (relaxed, as ChunkState::next).
// - chunk_state: see ChunkState. task_state: one byte per task, through std::atomic_ref
//   while the batch is published (the runner's release store of task_published pairs with
//   the consumer's acquire load); plain memory while it is being reshaped.
// - taken, cursor, taken_total, first_open_chunk, scan_from: the consumer only (it
//   received the batch under the run's mutex).
// - holders, released, in_open, in_use: guarded by RunCore::mutex_.
// A batch goes back to the free list only when it is released by the consumer, has no
// holder (no runner may still claim from it) and is out of the open list.
struct SlotBase {
  SlotBase() = default;
  SlotBase(const SlotBase&) = delete;  // runners and queues hold batches by address
  SlotBase& operator=(const SlotBase&) = delete;
  virtual ~SlotBase() = default;

  std::size_t first_index = 0;  // input index of task 0
  std::size_t size = 0;         // tasks
  std::size_t grain = 1;        // tasks per chunk
  std::size_t chunks = 0;       // ceil(size / grain)
  std::size_t block = 1;        // tasks one claim takes (1 unless nothing awaits single results)

  std::unique_ptr<ChunkState[]> chunk_state;
  std::size_t chunk_capacity = 0;
  std::unique_ptr<std::uint8_t[]> task_state;
  std::size_t task_capacity = 0;

  // The three groups below are written by different threads (runners, the consumer, holders
  // of the run's mutex): each starts a cache line of its own, so that the consumer's
  // per-result writes do not evict the shape every runner reads per task.
  alignas(64) std::atomic<std::size_t> next_chunk{0};

  alignas(64) std::vector<std::uint32_t> taken;  // results taken per chunk
  std::vector<std::uint32_t> cursor;             // per chunk: every task before it is taken
  std::size_t taken_total = 0;
  std::size_t first_open_chunk = 0;  // every chunk before it is fully taken
  std::size_t scan_from = 0;         // where the unordered consumer looks first

  alignas(64) int holders = 0;  // runners attached (they may still claim tasks)
  bool released = false;        // the consumer has taken every result
  bool in_open = false;         // listed in RunCore::open_
  bool in_use = false;          // claimed and not yet back on the free list

  // Gives the batch its shape for a new use; resets every counter. Owner only (the reader).
  void shape(std::size_t first, std::size_t n, std::size_t chunk_grain, std::size_t claim = 1) {
    first_index = first;
    size = n;
    grain = chunk_grain < 1 ? 1 : chunk_grain;
    block = std::clamp<std::size_t>(claim, 1, grain);
    chunks = (n + grain - 1) / grain;
    if (chunks > chunk_capacity) {
      chunk_state = std::make_unique<ChunkState[]>(chunks);
      chunk_capacity = chunks;
    } else {
      for (std::size_t c = 0; c < chunks; ++c)
        chunk_state[c].next.store(0, std::memory_order_relaxed);
    }
    if (n > task_capacity) {
      task_state = std::make_unique<std::uint8_t[]>(n);  // zeroed: task_pending
      task_capacity = n;
    } else {
      std::memset(task_state.get(), task_pending, n);
    }
    next_chunk.store(0, std::memory_order_relaxed);
    taken.assign(chunks, 0);
    cursor.assign(chunks, 0);
    taken_total = 0;
    first_open_chunk = 0;
    scan_from = 0;
  }

  [[nodiscard]] std::size_t chunk_begin(std::size_t c) const noexcept { return c * grain; }
  [[nodiscard]] std::size_t chunk_end(std::size_t c) const noexcept {
    return std::min(size, (c + 1) * grain);
  }
  [[nodiscard]] std::size_t chunk_size(std::size_t c) const noexcept {
    return chunk_end(c) - chunk_begin(c);
  }
  // Chunks claimed so far (next_chunk may run past the end: each runner overshoots once).
  [[nodiscard]] std::size_t claimed_chunks() const noexcept {
    return std::min(chunks, next_chunk.load(std::memory_order_relaxed));
  }
  // Tasks of chunk c claimed so far.
  [[nodiscard]] std::size_t claimed_tasks(std::size_t c) const noexcept {
    return std::min<std::size_t>(chunk_size(c),
                                 chunk_state[c].next.load(std::memory_order_relaxed) & claim_mask);
  }
  [[nodiscard]] std::atomic_ref<std::uint8_t> state(std::size_t k) const noexcept {
    return std::atomic_ref<std::uint8_t>(task_state[k]);
  }
  // Whether task k's result is ready and not taken; acquires it.
  [[nodiscard]] bool ready(std::size_t k) const noexcept {
    return state(k).load(std::memory_order_acquire) == task_published;
  }
};

// Uninitialised storage for up to `capacity` objects of type T, which its owner constructs
// and destroys in place one by one; this class only owns the memory. Not thread-safe.
template <class T>
class RawArray {
 public:
  RawArray() = default;
  RawArray(const RawArray&) = delete;  // runners hold pointers into it
  RawArray& operator=(const RawArray&) = delete;
  ~RawArray() {
    if (data_ != nullptr) std::allocator<T>().deallocate(data_, capacity_);
  }

  // Makes room for n objects; only when none is alive.
  void reserve(std::size_t n) {
    if (n <= capacity_) return;
    T* bigger = std::allocator<T>().allocate(n);
    if (data_ != nullptr) std::allocator<T>().deallocate(data_, capacity_);
    data_ = bigger;
    capacity_ = n;
  }

  [[nodiscard]] T* data() const noexcept { return data_; }

 private:
  T* data_ = nullptr;
  std::size_t capacity_ = 0;
};

// A batch's results, in storage the run constructs into in place (one result per task, in
// any order within the batch) and destroys one by one as the consumer takes them.
template <class R>
struct ResultSlot : SlotBase {
  // Result i of the batch, once published and until taken.
  R& result(std::size_t i) noexcept { return results.data()[i]; }

  RawArray<R> results;  // storage for size results
};

// Pauses the CPU briefly inside a spin loop (lets the sibling hyper-thread run and saves
// power); a no-op where there is no such instruction.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace parmap::detail
