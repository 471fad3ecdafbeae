#pragma once

#include <chrono>     // std::chrono::nanoseconds: the limit a TimeoutError reports
#include <cstddef>    // std::size_t
#include <cstdio>     // std::snprintf: TimeoutError's message
#include <exception>  // std::exception_ptr, std::rethrow_exception
#include <stdexcept>  // std::runtime_error, std::logic_error
#include <utility>    // std::move
#include <variant>    // std::variant: a result or an error

namespace parmap {

// Thrown (or stored in an Outcome) when a task ran longer than Options::timeout.
class TimeoutError : public std::runtime_error {
 public:
  TimeoutError(std::size_t index, std::chrono::nanoseconds limit)
      : std::runtime_error(Message(index, limit).text), index_(index), limit_(limit) {}
  [[nodiscard]] std::size_t index() const noexcept { return index_; }
  [[nodiscard]] std::chrono::nanoseconds limit() const noexcept { return limit_; }

 private:
  // "parmap: task 7 exceeded its timeout of 250 ms": the limit in the largest unit that
  // shows it exactly ("250 ms", "1500 us"). Formatted into a buffer, not built from
  // std::strings, to keep the code every translation unit compiles small.
  struct Message {
    Message(std::size_t index, std::chrono::nanoseconds limit) {
      long long n = limit.count();
      const char* unit = "ns";
      if (n % 1'000'000 == 0) {
        n /= 1'000'000;
        unit = "ms";
      } else if (n % 1'000 == 0) {
        n /= 1'000;
        unit = "us";
      }
      std::snprintf(text, sizeof text, "parmap: task %zu exceeded its timeout of %lld %s", index, n,
                    unit);
    }
    char text[96];
  };

  std::size_t index_;
  std::chrono::nanoseconds limit_;
};

// One task's result or exception, with the task's input index: what a range yields under
// on_error::collect.
template <class T>
class Outcome {
 public:
  Outcome(std::size_t index, T value) : index_(index), state_(std::move(value)) {}
  Outcome(std::size_t index, std::exception_ptr error) : index_(index), state_(std::move(error)) {}

  [[nodiscard]] std::size_t index() const noexcept { return index_; }
  [[nodiscard]] bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  // The result; rethrows the task's exception when there is none.
  T& value() & {
    check();
    return std::get<0>(state_);
  }
  T&& value() && {
    check();
    return std::get<0>(std::move(state_));
  }
  const T& value() const& {
    check();
    return std::get<0>(state_);
  }
  // The task's exception; null when it returned.
  [[nodiscard]] std::exception_ptr error() const noexcept {
    return has_value() ? nullptr : std::get<1>(state_);
  }

 private:
  void check() const {
    if (!has_value()) std::rethrow_exception(std::get<1>(state_));
  }

  std::size_t index_;
  std::variant<T, std::exception_ptr> state_;
};

// A void task's outcome: its index and, if it threw, the exception.
template <>
class Outcome<void> {
 public:
  explicit Outcome(std::size_t index, std::exception_ptr error = nullptr)
      : index_(index), error_(std::move(error)) {}
  [[nodiscard]] std::size_t index() const noexcept { return index_; }
  [[nodiscard]] bool has_value() const noexcept { return !error_; }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const {
    if (error_) std::rethrow_exception(error_);
  }
  [[nodiscard]] std::exception_ptr error() const noexcept { return error_; }

 private:
  std::size_t index_;
  std::exception_ptr error_;
};

// How the last call of a Parallel ended: Parallel::last_report().
struct RunReport {
  std::size_t completed = 0;  // tasks that returned (with a result or, collected, an error)
  std::size_t consumed = 0;   // results handed to the consumer
  std::size_t unused = 0;     // results computed but never consumed, dropped at the end
  std::size_t cancelled = 0;  // tasks read from the input but never started
  bool finished = false;      // the consumer reached the end of the results
  bool failed = false;        // a task or the input threw and ended the run
};

}  // namespace parmap
