#pragma once

#include <chrono>      // std::chrono: the timeout, elapsed time in progress reports
#include <concepts>    // std::integral, std::same_as
#include <cstddef>     // std::size_t
#include <cstdint>     // std::int64_t
#include <functional>  // std::function: the progress callback
#include <limits>      // std::numeric_limits: clamping huge unsigned values
#include <optional>    // std::optional: the timeout, a progress report's total

namespace parmap {

// `.pre_dispatch = parmap::all`: no window, read the input as fast as workers take it.
struct all_t {
  explicit constexpr all_t() = default;
};
inline constexpr all_t all{};

// `.batch_size = parmap::automatic`: batches adapt to the measured task duration.
struct automatic_t {
  explicit constexpr automatic_t() = default;
};
inline constexpr automatic_t automatic{};

namespace detail {

// A count option that also has a default and a named special value. Stores what the user
// wrote; Parallel validates it and names the option in the error.
template <class Special>
class CountOption {
 public:
  constexpr CountOption() noexcept = default;
  template <std::integral I>
  requires(!std::same_as<I, bool>) constexpr CountOption(
      I n) noexcept  // NOLINT(google-explicit-constructor): `.x = 4`
      : kind_(Kind::count), count_(clamp(n)) {}
  constexpr CountOption(Special /*unused*/) noexcept  // NOLINT(google-explicit-constructor)
      : kind_(Kind::special) {}

  [[nodiscard]] constexpr bool is_default() const noexcept { return kind_ == Kind::unset; }
  [[nodiscard]] constexpr bool is_special() const noexcept { return kind_ == Kind::special; }
  // The count written by the user (meaningful when neither default nor special).
  [[nodiscard]] constexpr std::int64_t count() const noexcept { return count_; }

 private:
  template <class I>
  static constexpr std::int64_t clamp(I n) noexcept {
    if constexpr (std::numeric_limits<I>::max() > std::numeric_limits<std::int64_t>::max()) {
      if (n > static_cast<I>(std::numeric_limits<std::int64_t>::max())) {
        return std::numeric_limits<std::int64_t>::max();
      }
    }
    return static_cast<std::int64_t>(n);
  }

  enum class Kind { unset, count, special };
  Kind kind_ = Kind::unset;
  std::int64_t count_ = 0;
};

}  // namespace detail

// How far ahead of the consumer work may run: a positive count of batches, or parmap::all.
// Default: 2 * n_jobs.
using PreDispatch = detail::CountOption<all_t>;

// Tasks per batch: a positive count, or parmap::automatic (the default).
using BatchSize = detail::CountOption<automatic_t>;

// What a progress callback receives.
struct Progress {
  std::size_t completed = 0;                      // tasks finished so far
  std::optional<std::size_t> total;               // the input's size, when it is a sized range
  std::chrono::steady_clock::duration elapsed{};  // since the call started
  bool done = false;                              // the last report: every task has finished
};

// Options of a Parallel, written with designated initializers:
//   parmap::Parallel({.n_jobs = 2, .pre_dispatch = 4})
struct Options {
  // Worker threads. Negative n means hardware_concurrency + 1 + n (at least 1): -1 is all
  // CPUs (the default), -2 all but one. 1 runs every task in the calling thread. 0 is an
  // error.
  int n_jobs = -1;
  // The window of the generator modes: at most this many batches are running or hold results
  // the consumer has not taken. Default 2 * n_jobs. return_as::list keeps every result
  // anyway, so it is validated there but bounds nothing.
  PreDispatch pre_dispatch{};
  // Tasks per batch; the window counts batches, so batch_size = 1 makes it a bound on tasks.
  BatchSize batch_size{};
  // Progress lines on stderr, joblib style: "[Parallel(n_jobs=2)]: Done   16 out of  150 |
  // elapsed:     1.6s". 0 (the default) prints nothing. 1-9 print a line when the count of
  // finished tasks reaches or passes 1, 2, 4, 8, ..., showing the count reached (tasks are
  // counted a run of them at a time, so 1, 3, 7, ... is typical; one line per progress report
  // at most, however many of those numbers it passes); 10 and more print a line at every
  // report. A run that reaches its end then prints one last line, marked " finished", which
  // says the total; a report that reaches the total prints no line of its own, so the total
  // shows once. (With an input of unknown size a line cannot know it is the last, and the
  // finished line may repeat its count.)
  int verbose = 0;
  // Called as threads finish runs of tasks, on the thread that ran them (a worker, or the
  // consumer's thread when it ran tasks itself while waiting), and once more with done = true
  // on the consumer's thread when the run reaches its end. Calls never overlap and
  // `completed` never goes down: a report that would arrive after a newer count is skipped
  // (so is one that would come after the final done report). A callback that throws fails the
  // run like a task's exception; a slow callback slows the thread that calls it.
  std::function<void(const Progress&)> progress{};
  // Per-task time limit, counted from the moment each task starts. A task that exceeds it
  // is asked to stop through its stop token and fails with parmap::TimeoutError (failing the
  // run, or becoming an error outcome with on_error::collect). Threads cannot be killed:
  // a task that ignores the request runs on, and the range's destruction waits for it.
  std::optional<std::chrono::nanoseconds> timeout{};
};

// What a Parallel call returns: a std::vector, a range in input order, or a range in
// completion order. Pass the tag as the second argument: Parallel(options, return_as::generator).
namespace return_as {
struct list_t {
  explicit constexpr list_t() = default;
};
struct generator_t {
  explicit constexpr generator_t() = default;
};
struct generator_unordered_t {
  explicit constexpr generator_unordered_t() = default;
};
inline constexpr list_t list{};
inline constexpr generator_t generator{};
inline constexpr generator_unordered_t generator_unordered{};
}  // namespace return_as

// What a task's exception does: end the run and reach the consumer (raise, the default), or
// arrive as an error item while the run goes on (collect: results become
// parmap::Outcome<R>). Pass the tag as the third argument:
// Parallel(options, return_as::generator, on_error::collect).
namespace on_error {
struct raise_t {
  explicit constexpr raise_t() = default;
};
struct collect_t {
  explicit constexpr collect_t() = default;
};
inline constexpr raise_t raise{};
inline constexpr collect_t collect{};
}  // namespace on_error

}  // namespace parmap
