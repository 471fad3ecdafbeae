#pragma once

#include <cassert>      // assert: misuse of a finished iterator
#include <cstddef>      // std::size_t, std::ptrdiff_t
#include <iterator>     // std::default_sentinel_t, std::input_iterator_tag
#include <memory>       // std::unique_ptr
#include <optional>     // std::optional: an indexed range's current pair
#include <type_traits>  // std::conditional_t
#include <utility>      // std::exchange, std::move

#include "detail/run.hpp"
#include "outcome.hpp"

namespace parmap {
namespace detail {
struct RangeDrain;  // the list mode's collector (parallel.hpp)
}  // namespace detail

// One result with the input index of the task that produced it: what .indexed() yields.
template <class T>
struct Indexed {
  std::size_t index;
  T value;
};

// The results of one Parallel call, as a single-pass std::ranges::input_range.
//
// Yields T&& (like std::generator): `for (auto r : range)` moves each result out, so
// move-only results work; `auto&&` binds without a move. Order is the call's: input order
// for return_as::generator, completion order for return_as::generator_unordered.
// .indexed() turns it into a range of Indexed<T> (yielded as Indexed<T>&&) that also carries
// each input index. Dereferencing twice without ++ (as std::views::filter does) yields the
// same object both times, in both forms.
//
// Waiting happens when the iterator is compared with end() or dereferenced, never in ++:
// `| std::views::take(n)` stops after n results without waiting for one more. While it waits,
// the calling thread may run short tasks of the call itself (see Parallel).
// ++ frees the result just consumed; when the range is destroyed (end of loop, break,
// exception) tasks not yet started are cancelled, running ones are asked to stop through
// their stop token and waited for, and results not consumed are freed.
//
// Thread safety: one thread at a time may use a range; it may be moved to another thread
// between uses. Tasks' exceptions are rethrown from the comparison or dereference that
// reaches them; afterwards the range is at its end. Destroying it blocks until running
// tasks return.
template <class T, bool WithIndex = false>
class ResultRange {
  using Source = detail::ResultSource<T>;

 public:
  using value_type = std::conditional_t<WithIndex, Indexed<T>, T>;
  using reference = value_type&&;

  class iterator {
   public:
    using value_type = ResultRange::value_type;
    using difference_type = std::ptrdiff_t;
    using iterator_concept = std::input_iterator_tag;

    iterator() = default;
    explicit iterator(ResultRange* owner) noexcept : owner_(owner) {}

    // Blocks until the result is ready. Not thread-safe (one consumer).
    reference operator*() const { return owner_->current(); }
    // Frees the current result; never blocks on tasks.
    iterator& operator++() {
      owner_->advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    // Blocks until the next result is ready or the run is over.
    friend bool operator==(const iterator& it, std::default_sentinel_t /*end*/) {
      return it.at_end();
    }

   private:
    [[nodiscard]] bool at_end() const { return owner_->at_end(); }

    ResultRange* owner_ = nullptr;
  };

  explicit ResultRange(std::unique_ptr<Source> run) noexcept : run_(std::move(run)) {}

  ResultRange(ResultRange&& other) noexcept
      : run_(std::move(other.run_)),
        item_(other.item_),
        have_(std::exchange(other.have_, false)),
        done_(std::exchange(other.done_, true)),
        taken_(std::exchange(other.taken_, false)),
        exhausted_(other.exhausted_),
        current_(std::move(other.current_)) {}
  ResultRange& operator=(ResultRange&& other) noexcept {
    if (this != &other) {
      ResultRange old(std::move(*this));  // the old run, if any, is cancelled here
      run_ = std::move(other.run_);
      item_ = other.item_;
      have_ = std::exchange(other.have_, false);
      done_ = std::exchange(other.done_, true);
      taken_ = std::exchange(other.taken_, false);
      exhausted_ = other.exhausted_;
      current_ = std::move(other.current_);
    }
    return *this;
  }
  ResultRange(const ResultRange&) = delete;
  ResultRange& operator=(const ResultRange&) = delete;
  ~ResultRange() {
    // A result dereferenced but not stepped past (a `break` after using it) was consumed.
    if (run_ && have_ && taken_) run_->consumed(1);
    // Then the run's destructor cancels and waits, and frees the results not taken.
  }

  // The range is single-pass: a later loop continues where the last one stopped. A loop
  // over a range that already yielded its last result would silently yield nothing, so debug
  // builds stop there.
  iterator begin() noexcept {
    assert(!exhausted_ &&
           "parmap::ResultRange is single-pass: this range already yielded all its results");
    return iterator(this);
  }
  std::default_sentinel_t end() const noexcept { return {}; }

  // The same results with their input indices. Consumes this range.
  ResultRange<T, true> indexed() && {
    static_assert(!WithIndex, "the range is already indexed");
    ResultRange<T, true> out(std::move(run_));
    out.item_ = item_;
    out.have_ = std::exchange(have_, false);
    out.done_ = std::exchange(done_, true);
    out.taken_ = std::exchange(taken_, false);
    return out;
  }

 private:
  friend class iterator;
  template <class, bool>
  friend class ResultRange;
  friend struct detail::RangeDrain;

  // Makes sure item_ names the next result unless the run is over.
  void fetch() {
    if (have_ || done_) return;
    try {
      have_ = run_->next(item_);
    } catch (...) {
      done_ = true;
      throw;
    }
    if (!have_) done_ = exhausted_ = true;
  }

  bool at_end() {
    fetch();
    return done_;
  }

  reference current() {
    fetch();
    assert(!done_ && "dereferencing the end of a parmap::ResultRange");
    taken_ = true;
    if constexpr (WithIndex) {
      // Made once per position, so a second dereference sees the same pair.
      if (!current_) {
        current_.emplace(
            Indexed<T>{item_.slot->first_index + item_.pos, std::move(Source::result(item_))});
      }
      return std::move(*current_);
    } else {
      return std::move(Source::result(item_));
    }
  }

  void advance() {
    fetch();
    if (done_) return;
    run_->consumed(1);
    taken_ = false;
    if constexpr (WithIndex) current_.reset();
    have_ = false;
    run_->pop(item_);
  }

  // Moves every remaining result into `out`, one move each, taking every result that is
  // ready at once (the list mode's collector; input order only).
  template <class Vector>
  void drain_into(Vector& out) {
    while (!at_end()) {
      const std::size_t n = run_->ready_run(item_);
      T* first = &Source::result(item_);
      if constexpr (std::is_trivially_copyable_v<T> && std::is_copy_assignable_v<T> &&
                    !std::is_same_v<T, bool>) {
        out.insert(out.end(), first, first + n);  // one copy of the block
      } else {
        // Not insert(): it needs move assignment, which a result need not have.
        for (std::size_t i = 0; i < n; ++i) out.push_back(std::move(first[i]));
      }
      std::destroy_n(first, n);
      run_->consumed(n);
      have_ = false;
      run_->taken_run(item_, n);
    }
  }

  std::unique_ptr<Source> run_;
  typename Source::Item item_{};  // the result being yielded, when have_
  bool have_ = false;
  bool done_ = false;
  bool taken_ = false;      // the current result was dereferenced
  bool exhausted_ = false;  // every result was yielded (not set by a failure)
  struct NoCurrent {};
  // Indexed ranges: the pair yielded at the current position, made by the first dereference.
  [[no_unique_address]] std::conditional_t<WithIndex, std::optional<Indexed<T>>, NoCurrent>
      current_;
};

}  // namespace parmap
