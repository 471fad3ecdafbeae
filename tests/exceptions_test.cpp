// Fail fast: the first exception of a task or of the input range reaches the consumer with
// its original type and contents (ordered: no later than the failing task's position; list:
// from the call), dispatch stops, the range is at its end afterwards, and the Parallel runs
// the next call normally.

#include "support/catch.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <atomic>    // std::atomic: start counters
#include <cstddef>   // std::ptrdiff_t, std::size_t
#include <iterator>  // std::default_sentinel_t, std::input_iterator_tag
#include <ranges>    // std::views::iota, transform; std::ranges::view_interface
#include <string>    // std::string: the exception's payload
#include <utility>   // std::move
#include <vector>    // std::vector: collected results

namespace {

// Not derived from std::exception: only the original type can catch it.
struct TaskFailure {
  int index;
  std::string note;
  std::vector<int> payload;
};

struct InputFailure {
  int position;
  std::string where;
};

int encode(int i) { return i * 3 + 2; }

// Tasks 0..n-1 returning encode(i), except task `fail_at`, which throws TaskFailure.
auto failing_tasks(int n, int fail_at) {
  return std::views::iota(0, n) | std::views::transform([fail_at](int i) {
           return parmap::delayed([fail_at](int k) {
             if (k == fail_at) throw TaskFailure{k, "task " + std::to_string(k), {k, k * 2, 42}};
             return encode(k);
           })(i);
         });
}

void check_task_failure(const TaskFailure& e, int fail_at) {
  CHECK(e.index == fail_at);
  CHECK(e.note == "task " + std::to_string(fail_at));
  CHECK(e.payload == std::vector<int>{fail_at, fail_at * 2, 42});
}

// A task for the custom input below.
struct EncodeTask {
  int i;
  int operator()() const { return encode(i); }
};

// An input view of n EncodeTasks that throws InputFailure from operator* at `throw_at`, or
// from begin() when throw_in_begin is set.
class ThrowingInput : public std::ranges::view_interface<ThrowingInput> {
 public:
  class iterator {
   public:
    using value_type = EncodeTask;
    using difference_type = std::ptrdiff_t;
    using iterator_concept = std::input_iterator_tag;

    iterator() = default;
    iterator(int n, int throw_at) : n_(n), throw_at_(throw_at) {}

    EncodeTask operator*() const {
      if (pos_ == throw_at_) throw InputFailure{pos_, "operator*"};
      return EncodeTask{pos_};
    }
    iterator& operator++() {
      ++pos_;
      return *this;
    }
    void operator++(int) { ++pos_; }
    friend bool operator==(const iterator& it, std::default_sentinel_t /*end*/) {
      return it.pos_ >= it.n_;
    }

   private:
    int pos_ = 0;
    int n_ = 0;
    int throw_at_ = -1;
  };

  ThrowingInput() = default;
  ThrowingInput(int n, int throw_at, bool throw_in_begin)
      : n_(n), throw_at_(throw_at), throw_in_begin_(throw_in_begin) {}

  iterator begin() const {
    if (throw_in_begin_) throw InputFailure{-1, "begin"};
    return iterator(n_, throw_at_);
  }
  std::default_sentinel_t end() const { return {}; }

 private:
  int n_ = 0;
  int throw_at_ = -1;
  bool throw_in_begin_ = false;
};
static_assert(std::ranges::input_range<ThrowingInput>);
static_assert(std::ranges::view<ThrowingInput>);

// Iterates a generator-mode result range until it throws E; returns what came before. The
// range is left alive (the caller checks it is at its end).
template <class E, class Range, class Check>
std::vector<int> consume_until(Range& results, Check check) {
  std::vector<int> got;
  bool thrown = false;
  try {
    for (int r : results) got.push_back(r);
  } catch (const E& e) {
    thrown = true;
    check(e);
  }
  CHECK(thrown);
  return got;
}

// Checks that `got` is a prefix of the encoded input order, shorter than `limit`.
void check_ordered_prefix(const std::vector<int>& got, int limit) {
  CHECK(got.size() <= static_cast<std::size_t>(limit));
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == encode(static_cast<int>(i)));
}

}  // namespace

TEST_CASE("a task's exception reaches the consumer with its type and payload in every mode",
          "[exceptions]") {
  parmap_test::Watchdog watchdog(
      "a task's exception reaches the consumer with its type and payload in every mode");
  const int n = 40;
  const int fail_at = GENERATE(0, 7, 39);
  const int n_jobs = GENERATE(1, 2, 3);
  const int batch = GENERATE(1, 3);
  INFO("task " << fail_at << " fails; n_jobs " << n_jobs << ", batch_size " << batch);
  const parmap::Options options{.n_jobs = n_jobs, .pre_dispatch = 4, .batch_size = batch};

  SECTION("list throws from the call, and the Parallel runs the next call") {
    parmap::Parallel parallel(options);
    bool thrown = false;
    try {
      (void)parallel(failing_tasks(n, fail_at));
    } catch (const TaskFailure& e) {
      thrown = true;
      check_task_failure(e, fail_at);
    }
    CHECK(thrown);
    CHECK(parallel(failing_tasks(n, -1)).size() == static_cast<std::size_t>(n));
  }

  SECTION("ordered yields it no later than the failing task's position") {
    parmap::Parallel parallel(options, parmap::return_as::generator);
    {
      auto results = parallel(failing_tasks(n, fail_at));
      const auto got = consume_until<TaskFailure>(
          results, [&](const TaskFailure& e) { check_task_failure(e, fail_at); });
      check_ordered_prefix(got, fail_at);
      // Afterwards the range is at its end, and stays there.
      CHECK(results.begin() == results.end());
      int more = 0;
      for ([[maybe_unused]] int r : results) ++more;
      CHECK(more == 0);
    }
    std::vector<int> again;
    for (int r : parallel(failing_tasks(n, -1))) again.push_back(r);
    CHECK(again.size() == static_cast<std::size_t>(n));
  }

  SECTION("unordered yields it instead of the failing task's result") {
    parmap::Parallel parallel(options, parmap::return_as::generator_unordered);
    {
      auto results = parallel(failing_tasks(n, fail_at));
      const auto got = consume_until<TaskFailure>(
          results, [&](const TaskFailure& e) { check_task_failure(e, fail_at); });
      CHECK(got.size() < static_cast<std::size_t>(n));
      for (int r : got) CHECK(r != encode(fail_at));
      CHECK(results.begin() == results.end());
    }
    std::vector<int> again;
    for (int r : parallel(failing_tasks(n, -1))) again.push_back(r);
    CHECK(again.size() == static_cast<std::size_t>(n));
  }
}

TEST_CASE("a failure stops dispatch: no task starts once the failure is known", "[exceptions]") {
  parmap_test::Watchdog watchdog("a failure stops dispatch: no task starts once the failure is known");
  // With an unbounded window only fail-fast keeps tasks 2.. from starting. Task 1 runs until
  // it is told to stop; task 0 throws once task 1 is running. Both workers then come back to
  // a failed run, and must not start anything else.
  const int n = 200;
  std::atomic<int> started{0};
  std::atomic<bool> task1_saw_stop{false};
  std::atomic<bool> task0_waited{false};  // Catch2's assertions are not thread-safe
  parmap_test::Counter task1_running;
  auto tasks = std::views::iota(0, n) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   ++started;
                   if (k == 0) {
                     task0_waited = task1_running.wait_for_at_least(1);
                     throw TaskFailure{0, "task 0", {}};
                   }
                   if (k == 1) {
                     task1_running.add();
                     task1_saw_stop = parmap_test::wait_for_stop(parmap::this_task::get_stop_token());
                   }
                   return encode(k);
                 })(i);
               });
  const parmap::Options options{.n_jobs = 2, .pre_dispatch = parmap::all, .batch_size = 1};

  SECTION("list") {
    CHECK_THROWS_AS(parmap::Parallel(options)(tasks), TaskFailure);
  }
  SECTION("ordered") {
    auto results = parmap::Parallel(options, parmap::return_as::generator)(tasks);
    consume_until<TaskFailure>(results, [](const TaskFailure& e) { CHECK(e.index == 0); });
  }
  SECTION("unordered") {
    auto results = parmap::Parallel(options, parmap::return_as::generator_unordered)(tasks);
    consume_until<TaskFailure>(results, [](const TaskFailure& e) { CHECK(e.index == 0); });
  }
  CHECK(task0_waited.load());
  CHECK(task1_saw_stop.load());
  CHECK(started.load() == 2);
}

TEST_CASE("an exception from the input range reaches the consumer in every mode", "[exceptions]") {
  parmap_test::Watchdog watchdog("an exception from the input range reaches the consumer in every mode");
  const int n = 30;
  const int n_jobs = GENERATE(1, 2);
  const int batch = GENERATE(1, 4);
  const bool in_begin = GENERATE(false, true);
  const int position = GENERATE(0, 9);
  const int throw_at = in_begin ? -1 : position;
  INFO("n_jobs " << n_jobs << ", batch_size " << batch << (in_begin ? ", begin() throws" : "")
                 << ", operator* throws at " << throw_at);
  const parmap::Options options{.n_jobs = n_jobs, .pre_dispatch = 3, .batch_size = batch};
  auto check_failure = [&](const InputFailure& e) {
    CHECK(e.position == throw_at);
    CHECK(e.where == (in_begin ? "begin" : "operator*"));
  };
  const int limit = in_begin ? 0 : throw_at;

  SECTION("list") {
    parmap::Parallel parallel(options);
    bool thrown = false;
    try {
      (void)parallel(ThrowingInput(n, throw_at, in_begin));
    } catch (const InputFailure& e) {
      thrown = true;
      check_failure(e);
    }
    CHECK(thrown);
    CHECK(parallel(ThrowingInput(n, -1, false)).size() == static_cast<std::size_t>(n));
  }
  SECTION("ordered") {
    parmap::Parallel parallel(options, parmap::return_as::generator);
    {
      auto results = parallel(ThrowingInput(n, throw_at, in_begin));
      check_ordered_prefix(consume_until<InputFailure>(results, check_failure), limit);
      CHECK(results.begin() == results.end());
    }
    int count = 0;
    for (int r : parallel(ThrowingInput(n, -1, false))) CHECK(r == encode(count++));
    CHECK(count == n);
  }
  SECTION("unordered") {
    parmap::Parallel parallel(options, parmap::return_as::generator_unordered);
    {
      auto results = parallel(ThrowingInput(n, throw_at, in_begin));
      const auto got = consume_until<InputFailure>(results, check_failure);
      CHECK(got.size() <= static_cast<std::size_t>(limit));
      CHECK(results.begin() == results.end());
    }
    int count = 0;
    for (int r : parallel(ThrowingInput(n, -1, false))) {
      CHECK(r >= encode(0));
      ++count;
    }
    CHECK(count == n);
  }
}

TEST_CASE("an exception from a lazy input view's transform reaches the consumer", "[exceptions]") {
  parmap_test::Watchdog watchdog("an exception from a lazy input view's transform reaches the consumer");
  auto tasks = std::views::iota(0) | std::views::transform([](int i) {
                 if (i == 12) throw InputFailure{i, "transform"};
                 return parmap::delayed(encode)(i);
               });
  std::vector<int> got;
  bool thrown = false;
  try {
    for (int r : parmap::Parallel({.n_jobs = 2, .pre_dispatch = 4}, parmap::return_as::generator)(
             tasks)) {
      got.push_back(r);
    }
  } catch (const InputFailure& e) {
    thrown = true;
    CHECK(e.position == 12);
  }
  CHECK(thrown);
  check_ordered_prefix(got, 12);
}
