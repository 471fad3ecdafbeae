// The input: read lazily by one thread at a time, never further ahead than the window
// allows; single-pass inputs work; lvalue containers of tasks are read, not consumed.

#include "support/catch.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <algorithm>  // std::min, std::sort
#include <atomic>     // std::atomic: the probe's flags and counts
#include <cstddef>    // std::ptrdiff_t, std::size_t
#include <functional> // std::function: a container of tasks
#include <iterator>   // std::default_sentinel_t, std::input_iterator_tag
#include <memory>     // std::shared_ptr: counts the copies of a task's capture
#include <ranges>     // std::views::istream, transform; std::ranges::view_interface
#include <sstream>    // std::istringstream: a single-pass input
#include <string>     // std::string: the stream's text
#include <thread>     // std::this_thread::yield: widens the window for overlapping reads
#include <vector>     // std::vector: results

namespace {

int encode(int i) { return i * 5 - 1; }

struct EncodeTask {
  int i;
  int operator()() const { return encode(i); }
};

// What the guarded input records.
struct InputProbe {
  std::atomic<bool> inside{false};
  std::atomic<int> overlaps{0};     // two threads inside the input at once
  std::atomic<long> consumed{0};    // results the consumer has finished with
  std::atomic<int> too_far{0};      // elements read beyond consumed + allowed_ahead
  long allowed_ahead = 0;           // window * batch_size; set before the call
  parmap_test::Counter reads;

  // Marks one access to the input; counts an overlap if another is in progress.
  class Access {
   public:
    explicit Access(InputProbe& probe) : probe_(probe) {
      if (probe_.inside.exchange(true)) ++probe_.overlaps;
      std::this_thread::yield();  // give a concurrent reader the chance to show up
    }
    Access(const Access&) = delete;
    Access& operator=(const Access&) = delete;
    ~Access() { probe_.inside.store(false); }

   private:
    InputProbe& probe_;
  };
};

// An input view of n EncodeTasks whose every operation checks it is alone in the input and
// whose reads check they are within the window of the consumer's progress.
class GuardedInput : public std::ranges::view_interface<GuardedInput> {
 public:
  class iterator {
   public:
    using value_type = EncodeTask;
    using difference_type = std::ptrdiff_t;
    using iterator_concept = std::input_iterator_tag;

    iterator() = default;
    iterator(int pos, int n, InputProbe* probe) : pos_(pos), n_(n), probe_(probe) {}

    EncodeTask operator*() const {
      const InputProbe::Access access(*probe_);
      if (pos_ >= probe_->consumed.load() + probe_->allowed_ahead) ++probe_->too_far;
      probe_->reads.add();
      return EncodeTask{pos_};
    }
    iterator& operator++() {
      const InputProbe::Access access(*probe_);
      ++pos_;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t /*end*/) {
      const InputProbe::Access access(*it.probe_);
      return it.pos_ >= it.n_;
    }

   private:
    int pos_ = 0;
    int n_ = 0;
    InputProbe* probe_ = nullptr;
  };

  GuardedInput() = default;
  GuardedInput(int n, InputProbe& probe) : n_(n), probe_(&probe) {}

  iterator begin() const {
    const InputProbe::Access access(*probe_);
    return iterator(0, n_, probe_);
  }
  std::default_sentinel_t end() const { return {}; }

 private:
  int n_ = 0;
  InputProbe* probe_ = nullptr;
};
static_assert(std::ranges::input_range<GuardedInput>);

}  // namespace

TEST_CASE("the input is read by one thread at a time and never beyond the window", "[input]") {
  parmap_test::Watchdog watchdog("the input is read by one thread at a time and never beyond the window");
  const int n = 300;
  const int n_jobs = 3;
  const int window = GENERATE(1, 4);
  const int batch = GENERATE(1, 2);
  INFO("pre_dispatch " << window << ", batch_size " << batch);
  InputProbe probe;
  probe.allowed_ahead = static_cast<long>(window) * batch;
  const parmap::Options options{.n_jobs = n_jobs, .pre_dispatch = window, .batch_size = batch};

  SECTION("ordered, with a consumer that lets the readers go as far as they may") {
    int c = 0;
    for (int r : parmap::Parallel(options, parmap::return_as::generator)(GuardedInput(n, probe))) {
      CHECK(r == encode(c));
      // Batches before c's are released, and `window` more may be read.
      CHECK(probe.reads.wait_for_at_least(std::min(n, (c / batch + window) * batch)));
      probe.consumed.store(++c);
    }
    CHECK(c == n);
  }
  SECTION("unordered") {
    int c = 0;
    for ([[maybe_unused]] int r :
         parmap::Parallel(options, parmap::return_as::generator_unordered)(GuardedInput(n, probe))) {
      probe.consumed.store(++c);
    }
    CHECK(c == n);
  }
  SECTION("list") {
    probe.allowed_ahead = n;  // list consumes as results come; only concurrency is checked
    CHECK(parmap::Parallel(options)(GuardedInput(n, probe)).size() == static_cast<std::size_t>(n));
  }
  CHECK(probe.overlaps.load() == 0);
  CHECK(probe.too_far.load() == 0);
  CHECK(probe.reads.value() == n);
}

TEST_CASE("the input is never read concurrently under automatic batching", "[input]") {
  parmap_test::Watchdog watchdog("the input is never read concurrently under automatic batching");
  InputProbe probe;
  probe.allowed_ahead = 1L << 30;  // automatic batches may be large; only concurrency matters
  const int n = 3000;
  std::vector<int> got =
      parmap::Parallel({.n_jobs = 4, .pre_dispatch = parmap::all})(GuardedInput(n, probe));
  REQUIRE(got.size() == static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) CHECK(got[static_cast<std::size_t>(i)] == encode(i));
  CHECK(probe.overlaps.load() == 0);
}

TEST_CASE("a single-pass input such as std::views::istream works in every mode", "[input]") {
  parmap_test::Watchdog watchdog("a single-pass input such as std::views::istream works in every mode");
  const int n = 64;
  std::string text;
  std::vector<int> expected;
  for (int i = 0; i < n; ++i) {
    text += std::to_string(i * 3) + " ";
    expected.push_back(encode(i * 3));
  }
  std::istringstream stream(text);
  auto tasks = std::views::istream<int>(stream) |
               std::views::transform([](int x) { return parmap::delayed(encode)(x); });
  static_assert(std::ranges::input_range<decltype(tasks)>);
  static_assert(!std::ranges::forward_range<decltype(tasks)>);
  const int n_jobs = GENERATE(1, 2, 3);
  INFO("n_jobs " << n_jobs);

  SECTION("list") { CHECK(parmap::Parallel({.n_jobs = n_jobs})(tasks) == expected); }
  SECTION("ordered") {
    std::vector<int> got;
    for (int r : parmap::Parallel({.n_jobs = n_jobs}, parmap::return_as::generator)(tasks)) {
      got.push_back(r);
    }
    CHECK(got == expected);
  }
  SECTION("unordered") {
    std::vector<int> got;
    for (int r :
         parmap::Parallel({.n_jobs = n_jobs}, parmap::return_as::generator_unordered)(tasks)) {
      got.push_back(r);
    }
    std::sort(got.begin(), got.end());
    CHECK(got == expected);
  }
  SECTION("an rvalue single-pass view") {
    std::istringstream own(text);
    CHECK(parmap::Parallel({.n_jobs = n_jobs})(
              std::views::istream<int>(own) |
              std::views::transform([](int x) { return parmap::delayed(encode)(x); })) ==
          expected);
  }
}

TEST_CASE("an lvalue container of tasks is read and not consumed", "[input]") {
  parmap_test::Watchdog watchdog("an lvalue container of tasks is read and not consumed");
  const int n = 40;
  auto shared = std::make_shared<int>(1000);
  std::vector<std::function<int()>> tasks;
  for (int i = 0; i < n; ++i) tasks.emplace_back([shared, i] { return *shared + i; });
  std::vector<int> expected;
  for (int i = 0; i < n; ++i) expected.push_back(1000 + i);
  const long copies_before = shared.use_count();

  const int n_jobs = GENERATE(1, 2);
  SECTION("list, twice") {
    parmap::Parallel parallel({.n_jobs = n_jobs});
    CHECK(parallel(tasks) == expected);
    CHECK(parallel(tasks) == expected);
  }
  SECTION("ordered") {
    std::vector<int> got;
    for (int r : parmap::Parallel({.n_jobs = n_jobs}, parmap::return_as::generator)(tasks)) {
      got.push_back(r);
    }
    CHECK(got == expected);
  }
  SECTION("unordered, const container") {
    const auto& const_tasks = tasks;
    std::vector<int> got;
    for (int r : parmap::Parallel({.n_jobs = n_jobs}, parmap::return_as::generator_unordered)(
             const_tasks)) {
      got.push_back(r);
    }
    std::sort(got.begin(), got.end());
    CHECK(got == expected);
  }
  // Every task is still there and still works; the run's copies are gone.
  REQUIRE(tasks.size() == static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    REQUIRE(tasks[static_cast<std::size_t>(i)]);
    CHECK(tasks[static_cast<std::size_t>(i)]() == 1000 + i);
  }
  CHECK(shared.use_count() == copies_before);
}
