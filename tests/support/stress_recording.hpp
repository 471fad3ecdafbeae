#pragma once

// What a stress scenario's tasks, input and results record while it runs (RunState), and the
// pieces that record it: the results (Item, and FragileItem whose moves throw), the task, and
// the input (a single-pass view that may throw). support/stress_scenario.cpp runs them.

#include <atomic>    // std::atomic: counters shared with tasks
#include <chrono>    // std::chrono: sleeps and spins
#include <cstddef>   // std::size_t, std::ptrdiff_t
#include <cstdint>   // std::uint64_t: values
#include <iterator>  // std::default_sentinel_t, std::input_iterator_tag
#include <memory>    // std::unique_ptr: large payloads
#include <mutex>     // std::mutex: the moves that threw
#include <parmap/parmap.hpp>
#include <ranges>   // std::ranges::view_base
#include <thread>   // std::this_thread::sleep_for
#include <utility>  // std::exchange, std::move
#include <vector>   // std::vector

#include "stress_scenario.hpp"
#include "stress_support.hpp"
#include "test_support.hpp"

namespace parmap_test::stress {

// Exceptions, none derived from std::exception, so only the original type catches them.
struct TaskError {
  std::size_t index;
};
struct InputError {
  std::size_t position;
};
struct MoveError {
  std::size_t index;
};
struct ConsumerStop {};

// The value task `index` of the scenario of `seed` returns.
inline std::uint64_t value_of(std::uint64_t seed, std::size_t index) {
  return splitmix64(seed ^ (static_cast<std::uint64_t>(index) * 0x2545F4914F6CDD1DULL));
}

// A move that threw: whose result, and on which side (a worker, or the consumer).
struct MoveThrow {
  std::size_t index;
  bool consumer_side;
};

// Everything one scenario run shares between the test thread, the input and the tasks.
struct RunState {
  explicit RunState(const Scenario& s) : scenario(s), starts(s.length) {}

  const Scenario& scenario;
  parmap_test::LiveCounter live;         // results holding a payload
  std::vector<std::atomic<int>> starts;  // per task
  std::atomic<int> started_total{0};
  std::atomic<std::size_t> reads{0};     // tasks the input produced
  std::atomic<int> readers{0};           // threads inside the input right now
  std::atomic<int> concurrent_reads{0};  // times two threads were inside at once

  std::mutex mutex;
  std::vector<MoveThrow> move_throws;  // guarded by mutex

  void record_move_throw(std::size_t index, bool consumer_side) {
    std::lock_guard lock(mutex);
    move_throws.push_back({index, consumer_side});
  }
  [[nodiscard]] std::vector<MoveThrow> moves_thrown() {
    std::lock_guard lock(mutex);
    return move_throws;
  }
};

// Marks a thread inside the input; notices two at once.
class ReadGuard {
 public:
  explicit ReadGuard(RunState& s) : s_(s) {
    if (s_.readers.fetch_add(1) != 0) ++s_.concurrent_reads;
  }
  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;
  ~ReadGuard() { s_.readers.fetch_sub(1); }

 private:
  RunState& s_;
};

inline constexpr std::size_t large_bytes = std::size_t{64} * 1024;

// A move-only result that counts itself live while it holds a payload (moved-from shells do
// not count), optionally with a 64 KiB buffer. Its moves never throw.
class Item {
 public:
  Item(RunState& s, std::size_t index, bool large)
      : state_(&s), index_(index), value_(value_of(s.scenario.seed, index)) {
    if (large) {
      big_ = std::make_unique<unsigned char[]>(large_bytes);
      big_[0] = static_cast<unsigned char>(value_);
      big_[large_bytes - 1] = static_cast<unsigned char>(value_ >> 8);
    }
    s.live.add();
  }
  Item(Item&& other) noexcept
      : state_(std::exchange(other.state_, nullptr)),
        index_(other.index_),
        value_(other.value_),
        big_(std::move(other.big_)) {}
  Item& operator=(Item&& other) noexcept {
    if (this != &other) {
      release();
      state_ = std::exchange(other.state_, nullptr);
      index_ = other.index_;
      value_ = other.value_;
      big_ = std::move(other.big_);
    }
    return *this;
  }
  Item(const Item&) = delete;
  Item& operator=(const Item&) = delete;
  ~Item() { release(); }

  [[nodiscard]] std::size_t index() const { return index_; }
  [[nodiscard]] std::uint64_t value() const { return value_; }
  // Holds its payload, and the large buffer (if any) is the one it was made with.
  [[nodiscard]] bool intact(bool large) const {
    if (state_ == nullptr) return false;
    if (!large) return big_ == nullptr;
    return big_ != nullptr && big_[0] == static_cast<unsigned char>(value_) &&
           big_[large_bytes - 1] == static_cast<unsigned char>(value_ >> 8);
  }

 protected:
  void release() noexcept {
    if (state_ != nullptr) state_->live.remove();
    state_ = nullptr;
  }

  RunState* state_;
  std::size_t index_;
  std::uint64_t value_;
  std::unique_ptr<unsigned char[]> big_;
};

// A result whose move constructor throws MoveError now and then: deterministically per
// (scenario, index, how many times this value has been moved). It throws before taking the
// payload, so the source keeps it.
class FragileItem : public Item {
 public:
  FragileItem(RunState& s, std::size_t index, bool large) : Item(s, index, large) {}
  FragileItem(FragileItem&& other) noexcept(false)
      : Item(take(std::move(other))), moves_(other.moves_ + 1) {}
  FragileItem& operator=(FragileItem&& other) noexcept {
    Item::operator=(std::move(other));
    // NOLINTNEXTLINE(bugprone-use-after-move): only the Item base was moved from.
    moves_ = other.moves_;
    return *this;
  }
  FragileItem(const FragileItem&) = delete;
  FragileItem& operator=(const FragileItem&) = delete;
  ~FragileItem() = default;

 private:
  static Item&& take(FragileItem&& other) {
    if (other.state_ != nullptr) {
      const Scenario& s = other.state_->scenario;
      const std::uint64_t roll = splitmix64(s.seed ^ splitmix64(other.index_ * 131 + other.moves_));
      if (static_cast<int>(roll % 1000) < s.move_throw_permille) {
        // Consumer side: outside any task (the consumer's thread, or list mode's collector).
        const bool consumer_side = !parmap::this_task::get_stop_token().stop_possible();
        other.state_->record_move_throw(other.index_, consumer_side);
        throw MoveError{other.index_};
      }
    }
    return static_cast<Item&&>(other);
  }

  int moves_ = 0;
};

// Sleeps (micros > 0) or spins (micros < 0) that many microseconds.
inline void spend(int micros) {
  if (micros > 0) {
    std::this_thread::sleep_for(std::chrono::microseconds(micros));
  } else if (micros < 0) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(-micros);
    while (std::chrono::steady_clock::now() < until) {
    }
  }
}

// Task `index` of the scenario: counts its start, spends its time, throws or makes an R.
template <class R>
struct Task {
  RunState* state;
  std::size_t index;

  R operator()() const {
    state->starts[index].fetch_add(1);
    state->started_total.fetch_add(1);
    const Scenario& s = state->scenario;
    spend(s.micros[index]);
    if (s.task_throws[index] != 0) throw TaskError{index};
    return R(*state, index, s.kind == Kind::large);
  }
};

// The scenario's input: a single-pass view of Task<R>, unsized (like a generator), that
// throws InputError when asked for element input_throw_at.
template <class R>
class Input : public std::ranges::view_base {
 public:
  class iterator {
   public:
    using value_type = Task<R>;
    using difference_type = std::ptrdiff_t;
    using iterator_concept = std::input_iterator_tag;

    iterator() = default;
    explicit iterator(RunState* s) : state_(s) {}

    Task<R> operator*() const {
      const ReadGuard guard(*state_);
      state_->reads.fetch_add(1);
      return Task<R>{state_, pos_};
    }
    iterator& operator++() {
      const ReadGuard guard(*state_);
      ++pos_;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t /*end*/) {
      const ReadGuard guard(*it.state_);
      if (it.state_->scenario.input_throw_at == it.pos_) throw InputError{it.pos_};
      return it.pos_ >= it.state_->scenario.length;
    }

   private:
    RunState* state_ = nullptr;
    std::size_t pos_ = 0;
  };

  Input() = default;
  explicit Input(RunState& s) : state_(&s) {}
  iterator begin() const { return iterator(state_); }
  std::default_sentinel_t end() const { return {}; }

 private:
  RunState* state_ = nullptr;
};

}  // namespace parmap_test::stress
