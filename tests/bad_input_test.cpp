// Bad input, once more with a list: every invalid option value is refused with
// std::invalid_argument naming the option; delayed() refuses a null function; a busy Parallel
// refuses a second call with std::logic_error and loses nothing; an input consumed from two
// Parallel calls at once.
//
// (Tasks that are not invocable, wrong delayed() arguments and bad mode tags are compile-time
// errors: see tests/compile_fail/.)
//
// The same single-pass input given to two Parallel objects at once cannot be detected by the
// library: each call keeps a reference to the view and reads it under its own lock, so two
// calls reading one non-thread-safe input (an istream_view, say) race on it. What the library
// does guarantee, and what is tested here: a forward range is read independently by each call
// (each yields every result), and an input whose iteration is itself thread-safe is shared
// between the calls with every task run exactly once.

#include "support/catch.hpp"
#include "support/stress_support.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <algorithm>   // std::sort
#include <atomic>      // std::atomic: per-task run counts
#include <chrono>      // std::chrono: limits
#include <cstddef>     // std::size_t, std::ptrdiff_t
#include <cstdint>     // std::int64_t, std::uint64_t
#include <functional>  // std::function: an empty one
#include <iterator>    // std::default_sentinel_t
#include <limits>      // std::numeric_limits: extreme option values
#include <mutex>       // std::mutex: the shared cursor
#include <numeric>     // std::iota: expected results
#include <optional>    // std::optional: the shared iterator's current task
#include <ranges>      // std::views::iota, transform
#include <stdexcept>   // std::invalid_argument, std::logic_error
#include <string>      // std::string
#include <thread>      // std::thread: two consumers at once
#include <vector>      // std::vector

using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;
using parmap_test::thrown_message;

namespace {

auto identity_tasks(int n) {
  return std::views::iota(0, n) |
         std::views::transform([](int i) { return parmap::delayed([](int k) { return k; })(i); });
}

std::vector<int> iota_vector(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

int twice(int x) { return 2 * x; }

struct Widget {
  int scaled(int x) const { return x * factor; }
  int factor = 3;
};

}  // namespace

TEST_CASE("every invalid option value is refused with std::invalid_argument naming the option",
          "[bad_input]") {
  struct Case {
    const char* what;
    parmap::Options options;
    const char* names;
  };
  const std::int64_t most_negative = std::numeric_limits<std::int64_t>::min();
  const Case cases[] = {
      {"n_jobs = 0", {.n_jobs = 0}, "n_jobs"},
      {"pre_dispatch = 0", {.n_jobs = 2, .pre_dispatch = 0}, "pre_dispatch"},
      {"pre_dispatch = -1", {.n_jobs = 2, .pre_dispatch = -1}, "pre_dispatch"},
      {"pre_dispatch = INT64_MIN", {.n_jobs = 2, .pre_dispatch = most_negative}, "pre_dispatch"},
      {"batch_size = 0", {.n_jobs = 2, .batch_size = 0}, "batch_size"},
      {"batch_size = -3", {.n_jobs = 2, .batch_size = -3}, "batch_size"},
      {"batch_size = INT64_MIN", {.n_jobs = 2, .batch_size = most_negative}, "batch_size"},
      {"timeout = 0", {.n_jobs = 2, .timeout = 0ns}, "timeout"},
      {"timeout = -1 ms", {.n_jobs = 2, .timeout = std::chrono::nanoseconds(-1ms)}, "timeout"},
      // Each check names the first bad option, whichever others are fine.
      {"n_jobs = 0 with good others", {.n_jobs = 0, .pre_dispatch = 4, .batch_size = 2}, "n_jobs"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    const std::string message = thrown_message<std::invalid_argument>(
        [&] { parmap::Parallel parallel(c.options, parmap::return_as::generator); });
    CHECK_THAT(message, ContainsSubstring(c.names));
    CHECK_THAT(message, ContainsSubstring("parmap"));
  }
  // The int shorthand validates too.
  CHECK_THAT(thrown_message<std::invalid_argument>([] { parmap::Parallel parallel(0); }),
             ContainsSubstring("n_jobs"));
  // The values printed are the ones given.
  CHECK_THAT(thrown_message<std::invalid_argument>(
                 [] { parmap::Parallel parallel({.n_jobs = 1, .pre_dispatch = -7}); }),
             ContainsSubstring("-7"));
}

TEST_CASE("extreme but valid option values are accepted and work", "[bad_input]") {
  parmap_test::Watchdog watchdog("bad input: extreme values", 60s);
  auto tasks = identity_tasks(25);
  const std::vector<int> expected = iota_vector(25);
  // A very negative n_jobs means "all CPUs but many", at least 1.
  CHECK(parmap::Parallel(-100000).n_jobs() == 1);
  CHECK(parmap::Parallel(-100000)(tasks) == expected);
  // Huge counts (unsigned ones clamp) behave as "no limit" in practice.
  const auto huge = std::numeric_limits<std::uint64_t>::max();
  CHECK(parmap::Parallel({.n_jobs = 2, .pre_dispatch = huge})(tasks) == expected);
  CHECK(parmap::Parallel({.n_jobs = 2, .batch_size = huge})(tasks) == expected);
  CHECK(parmap::Parallel({.n_jobs = 2, .pre_dispatch = 1, .batch_size = 1})(tasks) == expected);
  CHECK(parmap::Parallel({.n_jobs = 2, .pre_dispatch = parmap::all, .batch_size = parmap::automatic})(
            tasks) == expected);
  CHECK(parmap::Parallel({.n_jobs = 2, .timeout = std::chrono::nanoseconds::max()})(tasks) ==
        expected);
}

TEST_CASE("delayed refuses a null function pointer or an empty std::function", "[bad_input]") {
  int (*null_function)(int) = nullptr;
  CHECK_THAT(thrown_message<std::invalid_argument>([&] { static_cast<void>(parmap::delayed(null_function)); }),
             ContainsSubstring("null"));
  const std::function<int(int)> empty;
  CHECK_THAT(thrown_message<std::invalid_argument>([&] { static_cast<void>(parmap::delayed(empty)); }),
             ContainsSubstring("null"));
  CHECK_THROWS_AS(parmap::delayed(std::function<void()>{}), std::invalid_argument);
  int (Widget::*null_member)(int) const = nullptr;
  CHECK_THROWS_AS(parmap::delayed(null_member), std::invalid_argument);

  // The refusal happens when the task is made, before any Parallel sees it; valid ones work.
  CHECK(parmap::delayed(&twice)(21)() == 42);
  CHECK(parmap::delayed(std::function<int(int)>(twice))(4)() == 8);
  CHECK(parmap::delayed(&Widget::scaled)(Widget{}, 5)() == 15);
}

TEST_CASE("a second call on a busy Parallel throws std::logic_error and loses nothing",
          "[bad_input]") {
  parmap_test::Watchdog watchdog("bad input: busy Parallel", 60s);
  constexpr int n = 40;
  auto tasks = identity_tasks(n);
  parmap::Parallel parallel({.n_jobs = 2, .pre_dispatch = 2}, parmap::return_as::generator);

  {
    auto first = parallel(tasks);
    std::vector<int> got;
    auto it = first.begin();
    for (int i = 0; i < 5; ++i, ++it) got.push_back(*it);  // the first run is well under way

    // Every mode of refusal: the same input, another input, an rvalue input.
    const std::string message = thrown_message<std::logic_error>([&] { static_cast<void>(parallel(tasks)); });
    CHECK_THAT(message, ContainsSubstring("already running"));
    CHECK_THROWS_AS(parallel(identity_tasks(3)), std::logic_error);
    CHECK_THROWS_AS(parallel(std::vector<std::function<int()>>{[] { return 1; }}), std::logic_error);

    // The first range still yields all its results.
    for (; it != first.end(); ++it) got.push_back(*it);
    CHECK(got == iota_vector(n));
  }
  // Once it is gone, the Parallel takes calls again.
  std::vector<int> again;
  for (const int v : parallel(tasks)) again.push_back(v);
  CHECK(again == iota_vector(n));
}

TEST_CASE("a call refused because the Parallel is busy leaves an rvalue input untouched",
          "[bad_input]") {
  // "Each gets a clear error; nothing is lost": a refused call must not have consumed the
  // tasks the caller handed over with std::move.
  parmap_test::Watchdog watchdog("bad input: busy Parallel, rvalue input", 60s);
  parmap::Parallel parallel(2, parmap::return_as::generator);
  auto first = parallel(identity_tasks(4));
  std::vector<std::function<int()>> more;
  for (int i = 0; i < 3; ++i) more.emplace_back([i] { return i; });
  CHECK_THROWS_AS(parallel(std::move(more)), std::logic_error);
  CHECK(more.size() == 3);  // NOLINT(bugprone-use-after-move): the point of the test
  int got = 0;
  for (const int v : first) got += v >= 0 ? 1 : 0;
  CHECK(got == 4);
}

namespace {

// An input range whose iteration is thread-safe: every iterator draws the next task from one
// shared cursor under a mutex. Two calls reading it at once split the tasks between them.
class SharedCursor {
 public:
  explicit SharedCursor(int n) : n_(n), runs_(static_cast<std::size_t>(n)) {}
  std::optional<int> draw() {
    std::lock_guard lock(mutex_);
    if (next_ == n_) return std::nullopt;
    return next_++;
  }
  void ran(int k) { ++runs_[static_cast<std::size_t>(k)]; }
  [[nodiscard]] int runs(int k) const { return runs_[static_cast<std::size_t>(k)].load(); }

 private:
  std::mutex mutex_;
  const int n_;
  int next_ = 0;  // guarded by mutex_
  std::vector<std::atomic<int>> runs_;
};

struct CursorTask {
  SharedCursor* cursor;
  int k;
  int operator()() const {
    cursor->ran(k);
    return k;
  }
};

class SharedInput : public std::ranges::view_base {
 public:
  class iterator {
   public:
    using value_type = CursorTask;
    using difference_type = std::ptrdiff_t;
    using iterator_concept = std::input_iterator_tag;
    iterator() = default;
    explicit iterator(SharedCursor* c) : cursor_(c), current_(c->draw()) {}
    CursorTask operator*() const { return CursorTask{cursor_, *current_}; }
    iterator& operator++() {
      current_ = cursor_->draw();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return !it.current_; }

   private:
    SharedCursor* cursor_ = nullptr;
    std::optional<int> current_;
  };

  SharedInput() = default;
  explicit SharedInput(SharedCursor& c) : cursor_(&c) {}
  iterator begin() const { return iterator(cursor_); }
  std::default_sentinel_t end() const { return {}; }

 private:
  SharedCursor* cursor_ = nullptr;
};
static_assert(std::ranges::input_range<SharedInput>);

}  // namespace

TEST_CASE("an input consumed by two Parallel calls at once: nothing is lost or run twice",
          "[bad_input]") {
  parmap_test::Watchdog watchdog("bad input: one input, two calls", 60s);
  constexpr int n = 500;

  SECTION("a thread-safe single-pass input is split between the calls") {
    SharedCursor cursor(n);
    SharedInput input(cursor);  // one lvalue view, given to both calls
    std::vector<int> a;
    std::vector<int> b;
    {
      parmap::Parallel pa({.n_jobs = 2, .pre_dispatch = 3, .batch_size = 2},
                          parmap::return_as::generator);
      parmap::Parallel pb({.n_jobs = 3}, parmap::return_as::generator_unordered);
      auto ra = pa(input);
      auto rb = pb(input);
      std::thread other([&] {
        for (const int v : rb) b.push_back(v);
      });
      for (const int v : ra) a.push_back(v);
      other.join();
    }
    std::vector<int> all = a;
    all.insert(all.end(), b.begin(), b.end());
    std::sort(all.begin(), all.end());
    CHECK(all == iota_vector(n));
    for (int k = 0; k < n; ++k) {
      INFO("task " << k);
      CHECK(cursor.runs(k) == 1);
    }
    CHECK(std::is_sorted(a.begin(), a.end()));  // the ordered call keeps its own order
  }

  SECTION("a forward range is read independently by each call: both yield every result") {
    const std::vector<int> expected = iota_vector(n);
    std::vector<std::function<int()>> tasks;
    for (int i = 0; i < n; ++i) tasks.emplace_back([i] { return i; });
    parmap::Parallel pa(2, parmap::return_as::generator);
    parmap::Parallel pb(3, parmap::return_as::list);
    auto ra = pa(tasks);
    std::vector<int> from_b;
    std::thread other([&] { from_b = pb(tasks); });
    std::vector<int> from_a;
    for (const int v : ra) from_a.push_back(v);
    other.join();
    CHECK(from_a == expected);
    CHECK(from_b == expected);
  }
}
