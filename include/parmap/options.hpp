#pragma once

#include <concepts>   // std::integral, std::same_as
#include <cstdint>    // std::int64_t
#include <limits>     // std::numeric_limits: clamping huge unsigned values

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
    requires(!std::same_as<I, bool>)
  constexpr CountOption(I n) noexcept  // NOLINT(google-explicit-constructor): `.x = 4`
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

// Options of a Parallel, written with designated initializers:
//   parmap::Parallel({.n_jobs = 2, .pre_dispatch = 4})
struct Options {
  // Worker threads. Negative n means hardware_concurrency + 1 + n (at least 1): -1 is all
  // CPUs (the default), -2 all but one. 1 runs every task in the calling thread. 0 is an
  // error.
  int n_jobs = -1;
  // The window: at most this many batches are running or finished-but-not-yet-consumed.
  PreDispatch pre_dispatch{};
  // Tasks per batch; the window counts batches, so batch_size = 1 makes it a bound on tasks.
  BatchSize batch_size{};
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

}  // namespace parmap
