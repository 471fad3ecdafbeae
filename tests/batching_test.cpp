// Batching (batch_size): a batch is a run of consecutive tasks handed to one worker and back as
// one unit. Fixed sizes cut the input exactly; automatic sizing starts at one task and at most
// doubles per batch; the window (pre_dispatch) counts batches. Inside a batch a task's
// exception stops the tasks after it, an early stop stops them too, and the run report counts
// them; under on_error::collect an exception stops nothing. Results, order and void tasks are
// the same as without batches.
//
// Batch boundaries are seen from outside in two ways. With pre_dispatch = 1 the next batch
// starts only once the consumer has released the last one, so every task of a batch starts
// with the same count of consumed results: runs of equal counts are the batches. The progress
// callback reports after finished batches, so a fixed size shows in the counts it reports.

#include "support/catch.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <algorithm>   // std::sort, std::min, std::max_element, std::adjacent_find
#include <atomic>      // std::atomic: per-task run counts, the consumer's count
#include <chrono>      // std::chrono::seconds: a longer watchdog limit
#include <cstddef>     // std::size_t
#include <exception>   // std::exception_ptr, std::rethrow_exception: collected errors
#include <functional>  // std::function: the progress callback
#include <memory>      // std::shared_ptr, std::make_shared: the exception's identity token
#include <mutex>       // std::mutex, std::lock_guard: the progress log
#include <numeric>     // std::iota
#include <ranges>      // std::views::iota, transform
#include <string>      // std::string: labels
#include <thread>      // std::this_thread::sleep_for: tasks longer than the helping limit
#include <type_traits> // std::is_same_v: which mode a section runs
#include <utility>     // std::move
#include <vector>      // std::vector: results, logs

namespace {

int encode(int i) { return i * 3 + 2; }

// 0 stands for parmap::automatic in GENERATE lists.
parmap::BatchSize batch_option(int batch) {
  return batch == 0 ? parmap::BatchSize(parmap::automatic) : parmap::BatchSize(batch);
}

// How many times each task ran, written by the tasks and read by the test once the run has
// ended (the call returned or the range was destroyed: both wait for every task).
class RunCounts {
 public:
  explicit RunCounts(int n) : counts_(static_cast<std::size_t>(n)) {}
  void ran(int i) { counts_[static_cast<std::size_t>(i)].fetch_add(1); }
  // True when tasks [0, last] ran once each and the others never.
  [[nodiscard]] bool exactly_up_to(int last) const {
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      if (counts_[i].load() != (static_cast<int>(i) <= last ? 1 : 0)) return false;
    }
    return true;
  }
  [[nodiscard]] int runs(int i) const { return counts_[static_cast<std::size_t>(i)].load(); }

 private:
  std::vector<std::atomic<int>> counts_;
};

// Tasks 0..n-1 returning encode(i), each counted in `counts`.
auto counted_tasks(int n, RunCounts& counts) {
  return std::views::iota(0, n) | std::views::transform([&counts](int i) {
           return parmap::delayed([&counts](int k) {
             counts.ran(k);
             return encode(k);
           })(i);
         });
}

// The `completed` counts the progress callback reports after batches, in order.
class ProgressLog {
 public:
  std::function<void(const parmap::Progress&)> callback() {
    return [this](const parmap::Progress& p) {
      std::lock_guard lock(mutex_);
      if (!p.done) batch_reports_.push_back(p.completed);
    };
  }
  // The counts reported after batches (not the final `done` call).
  [[nodiscard]] std::vector<std::size_t> batch_reports() {
    std::lock_guard lock(mutex_);
    return batch_reports_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::size_t> batch_reports_;  // guarded by mutex_
};

// Not derived from std::exception, so only the original type catches it. `token` gives the
// object an identity: the task records its address before throwing, and the consumer checks
// that what it caught carries that very token.
struct BatchFailure {
  int index;
  std::shared_ptr<const int> token;
};

// The token each failing task threw, by task index.
class ThrownTokens {
 public:
  explicit ThrownTokens(int n) : tokens_(static_cast<std::size_t>(n)) {}
  [[noreturn]] void fail(int i) {
    auto token = std::make_shared<const int>(i);
    tokens_[static_cast<std::size_t>(i)].store(token.get());
    throw BatchFailure{i, std::move(token)};
  }
  [[nodiscard]] bool is_original(const BatchFailure& e) const {
    return e.token != nullptr && e.token.get() == tokens_[static_cast<std::size_t>(e.index)].load();
  }

 private:
  std::vector<std::atomic<const int*>> tokens_;
};

// Checks that `e` holds task `index`'s BatchFailure, the object the task threw.
void check_original_failure(const std::exception_ptr& e, int index, const ThrownTokens& tokens) {
  REQUIRE(e != nullptr);
  try {
    std::rethrow_exception(e);
  } catch (const BatchFailure& failure) {
    CHECK(failure.index == index);
    CHECK(tokens.is_original(failure));
  } catch (...) {
    FAIL("the exception is not the task's BatchFailure");
  }
}

}  // namespace

TEST_CASE(
    "fixed batch sizes 1, 3 and 1000 give every result once, in order where ordered, "
    "in every mode",
    "[batching]") {
  parmap_test::Watchdog watchdog("fixed batch sizes 1, 3 and 1000 in every mode");
  const int batch = GENERATE(1, 3, 1000);
  const int n = GENERATE(10, 2500);  // a batch larger than the input; a partial last batch
  const int n_jobs = GENERATE(2, 3);
  INFO("batch_size " << batch << ", " << n << " tasks, n_jobs " << n_jobs);
  RunCounts counts(n);
  ProgressLog progress;
  const parmap::Options options{
      .n_jobs = n_jobs, .batch_size = batch, .progress = progress.callback()};
  std::vector<int> expected(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) expected[static_cast<std::size_t>(i)] = encode(i);

  SECTION("list") { CHECK(parmap::Parallel(options)(counted_tasks(n, counts)) == expected); }
  SECTION("generator") {
    std::vector<int> got;
    for (int r :
         parmap::Parallel(options, parmap::return_as::generator)(counted_tasks(n, counts))) {
      got.push_back(r);
    }
    CHECK(got == expected);
  }
  SECTION("generator_unordered") {
    std::vector<int> got(static_cast<std::size_t>(n), -1);
    int yielded = 0;
    for (auto r :
         parmap::Parallel(options, parmap::return_as::generator_unordered)(counted_tasks(n, counts))
             .indexed()) {
      REQUIRE(r.index < static_cast<std::size_t>(n));
      CHECK(got[r.index] == -1);  // each index once
      got[r.index] = r.value;
      ++yielded;
    }
    CHECK(yielded == n);
    CHECK(got == expected);
  }

  CHECK(counts.exactly_up_to(n - 1));
  // Progress is reported as threads finish runs of tasks (a report that an overtaking one, or
  // the final `done` call, has already covered is dropped), with the tasks completed so far:
  // never more than the input, never going down.
  const std::vector<std::size_t> reports = progress.batch_reports();
  CHECK(reports.size() <= static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < reports.size(); ++i) {
    CHECK(reports[i] <= static_cast<std::size_t>(n));
    if (i > 0) CHECK(reports[i] > reports[i - 1]);
  }
}

TEST_CASE(
    "a batch starts only once every result of the batches before the window was consumed",
    "[batching]") {
  parmap_test::Watchdog watchdog("batch boundaries and the window");
  const int batch = GENERATE(3, 1000);
  const int n = 20'000;
  INFO("batch_size " << batch);
  // pre_dispatch = 1: batch k + 1 is claimed only after the consumer took every result of
  // batch k, so a task of batch k + 1 starts having seen at least (k + 1) * batch_size results
  // consumed; in input order it cannot have seen its own result consumed.
  const parmap::Options options{.n_jobs = 2, .pre_dispatch = 1, .batch_size = batch};
  std::atomic<int> consumed{0};
  std::vector<int> consumed_at_start(static_cast<std::size_t>(n), -1);  // one writer per element
  auto tasks = std::views::iota(0, n) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   consumed_at_start[static_cast<std::size_t>(k)] = consumed.load();
                   return encode(k);
                 })(i);
               });

  auto consume = [&](auto mode) {
    std::vector<int> got;
    for (auto r : parmap::Parallel(options, mode)(tasks).indexed()) {
      got.push_back(r.value);
      CHECK(r.value == encode(static_cast<int>(r.index)));
      consumed.store(static_cast<int>(got.size()));
    }
    return got;
  };
  bool ordered = false;
  SECTION("generator") {
    ordered = true;
    const std::vector<int> got = consume(parmap::return_as::generator);
    REQUIRE(got.size() == static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) CHECK(got[static_cast<std::size_t>(i)] == encode(i));
  }
  SECTION("generator_unordered") {
    CHECK(consume(parmap::return_as::generator_unordered).size() == static_cast<std::size_t>(n));
  }
  for (int k = 0; k < n; ++k) {
    const int seen = consumed_at_start[static_cast<std::size_t>(k)];
    const int batch_first = k / batch * batch;
    INFO("task " << k << " started after " << seen << " results were consumed");
    REQUIRE(seen >= batch_first);
    if (ordered) REQUIRE(seen <= k);
  }
}

TEST_CASE("a result leaves its batch when its task returns, not when the batch ends",
          "[batching]") {
  parmap_test::Watchdog watchdog("results leave a batch one by one");
  // One batch of 10 holds the only window place. Task 5 waits until the consumer has taken
  // five results: with results handed over a batch at a time it would wait in vain. The
  // other tasks take 2 ms, more than the consumer's helping limit, so task 5 runs on a
  // worker, never on the consumer's thread.
  const int n = 10;
  parmap_test::TimedGate gate;
  std::atomic<bool> opened_in_time{true};
  auto tasks = std::views::iota(0, n) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   if (k == 5) {
                     if (!gate.wait()) opened_in_time = false;
                   } else {
                     std::this_thread::sleep_for(parmap_test::beyond_helping_limit);
                   }
                   return k;
                 })(i);
               });
  const parmap::Options options{.n_jobs = 2, .pre_dispatch = 1, .batch_size = n};
  auto consume = [&](auto mode) {
    int taken = 0;
    {
      parmap_test::OpenOnUnwind open_on_failure(gate);
      for (const int r : parmap::Parallel(options, mode)(tasks)) {
        CHECK(r < n);
        if (++taken == 5) gate.open();
      }
    }
    CHECK(taken == n);
  };
  SECTION("generator") { consume(parmap::return_as::generator); }
  SECTION("generator_unordered") { consume(parmap::return_as::generator_unordered); }
  CHECK(opened_in_time.load());
}

TEST_CASE("automatic batch sizes start at one task and at most double; chunks follow the task time",
          "[batching]") {
  using parmap::detail::BatchSizer;
  BatchSizer sizer(0);
  CHECK(sizer.adaptive());
  CHECK(sizer.next_batch() == 1);  // nothing measured yet
  CHECK(sizer.grain(1) == 1);
  sizer.record(10, std::chrono::nanoseconds(10 * 20));  // 20 ns tasks
  std::size_t last = 1;
  for (int i = 0; i < 30; ++i) {
    const std::size_t next = sizer.next_batch();
    CHECK(next <= 2 * last);
    CHECK(next <= BatchSizer::max_batch);
    last = next;
  }
  // 1 ms of 20 ns tasks is 50,000; chunks aim at 16 us, 800 tasks.
  CHECK(last == 50'000);
  CHECK(sizer.grain(last) == 800);
  // A slow phase shrinks batches at once, and tasks of a chunk's length or more get chunks of 1.
  sizer.record(2, std::chrono::milliseconds(4));
  CHECK(sizer.next_batch() == 1);
  CHECK(sizer.grain(1) == 1);
  BatchSizer fixed(7);
  CHECK_FALSE(fixed.adaptive());
  CHECK(fixed.next_batch() == 7);
}

TEST_CASE("automatic batching runs many tiny tasks in far fewer batches with correct results",
          "[batching]") {
  parmap_test::Watchdog watchdog("automatic batching on many tiny tasks", std::chrono::seconds(60));
  const int n = 200'000;
  RunCounts counts(n);
  ProgressLog progress;
  const parmap::Options options{.n_jobs = 2, .progress = progress.callback()};  // automatic

  SECTION("list") {
    const std::vector<int> got = parmap::Parallel(options)(counted_tasks(n, counts));
    REQUIRE(got.size() == static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      if (got[static_cast<std::size_t>(i)] != encode(i)) FAIL("result " << i << " is wrong");
    }
  }
  SECTION("generator") {
    int expected = 0;
    for (int r :
         parmap::Parallel(options, parmap::return_as::generator)(counted_tasks(n, counts))) {
      if (r != encode(expected)) FAIL("result " << expected << " is wrong or out of order");
      ++expected;
    }
    CHECK(expected == n);
  }
  SECTION("generator_unordered") {
    std::vector<char> seen(static_cast<std::size_t>(n), 0);
    int yielded = 0;
    for (auto r :
         parmap::Parallel(options, parmap::return_as::generator_unordered)(counted_tasks(n, counts))
             .indexed()) {
      REQUIRE(r.index < static_cast<std::size_t>(n));
      if (seen[r.index] != 0 || r.value != encode(static_cast<int>(r.index))) {
        FAIL("result " << r.index << " is wrong or repeated");
      }
      seen[r.index] = 1;
      ++yielded;
    }
    CHECK(yielded == n);
  }

  CHECK(counts.exactly_up_to(n - 1));
  // One progress report per batch at most: batching was really on.
  const auto reports = progress.batch_reports().size();
  INFO(reports << " progress reports for " << n << " tasks");
  CHECK(reports < static_cast<std::size_t>(n / 10));
}

TEST_CASE("the window counts batches: at most pre_dispatch x batch_size results are alive",
          "[batching]") {
  parmap_test::Watchdog watchdog("the window counts batches");
  const int window = GENERATE(1, 2);
  const int batch = GENERATE(3, 7);
  const int n = 42;  // whole batches, so each release frees exactly `batch` places' worth
  const int bound = window * batch;
  INFO("pre_dispatch " << window << ", batch_size " << batch);
  parmap_test::LiveCounter live;
  parmap_test::Counter started;
  parmap_test::Counter finished;
  auto tasks = std::views::iota(0, n) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   started.add();
                   parmap_test::Tracked result(live, k);
                   finished.add();
                   return result;
                 })(i);
               });

  // A slow consumer, slow on state: before taking each result it waits until the workers
  // have done everything the window allows (three workers, so threads are never the limit).
  // A batch's place is free once every one of its results was taken; results leave a batch
  // one by one (and, unordered, batches interleave), so count whole batches taken.
  auto consume = [&](auto mode) {
    int consumed = 0;
    int whole_batches = 0;
    std::vector<int> taken(static_cast<std::size_t>(n / batch), 0);
    for (parmap_test::Tracked r : parmap::Parallel(
             {.n_jobs = 3, .pre_dispatch = window, .batch_size = batch}, mode)(tasks)) {
      const int allowed = std::min(n, (whole_batches + window) * batch);
      REQUIRE(finished.wait_for_at_least(allowed));
      CHECK(started.value() <= allowed);
      CHECK(live.live.load() <= bound);
      REQUIRE(r.value() >= 0);
      if (++taken[static_cast<std::size_t>(r.value() / batch)] == batch) ++whole_batches;
      ++consumed;
    }
    CHECK(consumed == n);
  };
  SECTION("generator") { consume(parmap::return_as::generator); }
  SECTION("generator_unordered") { consume(parmap::return_as::generator_unordered); }

  // A window counted in tasks would have stopped at `window` live results.
  CHECK(live.peak.load() == bound);
  CHECK(live.live.load() == 0);
  CHECK(live.constructed.load() == n);
}

TEST_CASE(
    "an exception inside a batch reaches the consumer as the original object after the "
    "results before it, and no later batch starts",
    "[batching]") {
  parmap_test::Watchdog watchdog("an exception inside a batch");
  const int n = 30;
  const int batch = 5;
  // The first, a middle and the last task of batch 1 (tasks 5..9).
  const int fail_at = GENERATE(5, 7, 9);
  INFO("task " << fail_at << " throws");
  RunCounts counts(n);
  ThrownTokens tokens(n);
  auto tasks = std::views::iota(0, n) | std::views::transform([&](int i) {
                 return parmap::delayed([&, fail_at](int k) {
                   counts.ran(k);
                   if (k == fail_at) tokens.fail(k);
                   return encode(k);
                 })(i);
               });
  // pre_dispatch = 1: batch 0 is consumed and released before batch 1 starts, and nothing
  // after batch 1 starts while it holds the only window place.
  const parmap::Options options{.n_jobs = 2, .pre_dispatch = 1, .batch_size = batch};
  const int batch_start = fail_at / batch * batch;
  parmap::RunReport report;
  bool windowed = true;  // the generator modes; list has no window (it keeps every result)

  auto consume_until_failure = [&](auto mode) {
    parmap::Parallel parallel(options, mode);
    std::vector<int> got;
    bool thrown = false;
    {
      auto results = parallel(tasks);
      try {
        for (int r : results) got.push_back(r);
      } catch (const BatchFailure& e) {
        thrown = true;
        CHECK(e.index == fail_at);
        CHECK(tokens.is_original(e));
      }
      CHECK(results.begin() == results.end());  // at its end afterwards
    }
    CHECK(thrown);
    report = parallel.last_report();
    return got;
  };

  SECTION("list: thrown from the call") {
    windowed = false;
    parmap::Parallel parallel(options);
    bool thrown = false;
    try {
      (void)parallel(tasks);
    } catch (const BatchFailure& e) {
      thrown = true;
      CHECK(e.index == fail_at);
      CHECK(tokens.is_original(e));
    }
    CHECK(thrown);
    report = parallel.last_report();
  }
  SECTION("generator: after the results of the tasks before it, in order") {
    const std::vector<int> got = consume_until_failure(parmap::return_as::generator);
    // Everything before the failing batch, and nothing from the failing task on.
    CHECK(got.size() >= static_cast<std::size_t>(batch_start));
    CHECK(got.size() <= static_cast<std::size_t>(fail_at));
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == encode(static_cast<int>(i)));
  }
  SECTION("generator_unordered: after the batches finished before it") {
    std::vector<int> got = consume_until_failure(parmap::return_as::generator_unordered);
    std::sort(got.begin(), got.end());
    CHECK(std::adjacent_find(got.begin(), got.end()) == got.end());  // each result once
    // Every result of the batch before, then any results of the failing batch that were
    // published before the failure (its tasks may run on other threads, in any order), never
    // the failing task's and nothing from a later batch.
    CHECK(got.size() >= static_cast<std::size_t>(batch_start));
    for (int k = 0; k < batch_start; ++k)
      CHECK(std::binary_search(got.begin(), got.end(), encode(k)));
    for (int r : got) {
      INFO("result " << r);
      CHECK(r != encode(fail_at));
      CHECK(r < encode(batch_start + batch));
    }
  }

  CHECK(report.failed);
  CHECK_FALSE(report.finished);
  CHECK(counts.runs(fail_at) == 1);
  int ran = 0;
  for (int k = 0; k < n; ++k) {
    INFO("task " << k);
    CHECK(counts.runs(k) <= 1);
    ran += counts.runs(k);
  }
  CHECK(report.completed == static_cast<std::size_t>(ran - 1));  // the failing task returned nothing
  if (windowed) {
    // With the only window place held by the failing batch, no later batch ran. Tasks after
    // the failing one in its batch may have run on another thread before the failure (a
    // batch is split among idle threads); the others were read and cancelled.
    for (int k = batch_start + batch; k < n; ++k) CHECK(counts.runs(k) == 0);
    CHECK(report.cancelled == static_cast<std::size_t>(batch_start + batch - ran));
  }
}

TEST_CASE(
    "with a full window an exception in any batch still arrives as the original object "
    "and never after a later result",
    "[batching]") {
  parmap_test::Watchdog watchdog("an exception in a batch, full window");
  const int n = 2500;
  const int batch = GENERATE(0, 3, 1000);
  const int fail_at = GENERATE(0, 1001, 2499);
  INFO("batch_size " << batch << ", task " << fail_at << " throws");
  ThrownTokens tokens(n);
  auto tasks = std::views::iota(0, n) | std::views::transform([&](int i) {
                 return parmap::delayed([&, fail_at](int k) {
                   if (k == fail_at) tokens.fail(k);
                   return encode(k);
                 })(i);
               });
  const parmap::Options options{.n_jobs = 2, .batch_size = batch_option(batch)};
  std::vector<int> got;
  bool thrown = false;
  try {
    for (int r : parmap::Parallel(options, parmap::return_as::generator)(tasks)) got.push_back(r);
  } catch (const BatchFailure& e) {
    thrown = true;
    CHECK(e.index == fail_at);
    CHECK(tokens.is_original(e));
  }
  CHECK(thrown);
  CHECK(got.size() <= static_cast<std::size_t>(fail_at));
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == encode(static_cast<int>(i)));
}

TEST_CASE(
    "a task blocked in the middle of a batch does not hold the rest of its batch, and "
    "stopping frees every result and reports what never ran",
    "[batching]") {
  parmap_test::Watchdog watchdog("a blocked task in the middle of a batch");
  const int n = 30;
  const int batch = 10;
  const int blocker = 13;  // batch 1's fourth task: it waits until the run is stopped
  // Break after taking result 4 (the middle of batch 0), or never iterate at all.
  const int break_after = GENERATE(4, -1);
  INFO((break_after < 0 ? std::string("range destroyed unread") : "break after result 4"));
  parmap_test::LiveCounter live;
  RunCounts counts(n);
  parmap_test::Counter blocked;
  parmap_test::Counter returned;  // tasks other than the blocker that have returned
  std::atomic<bool> stop_seen{false};
  // The other tasks take 2 ms, more than the consumer's helping limit, so only the workers
  // run tasks here and the blocker cannot land on the consumer's thread.
  auto tasks = std::views::iota(0, n) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   counts.ran(k);
                   if (k == blocker) {
                     blocked.add();
                     stop_seen = parmap_test::wait_for_stop(parmap::this_task::get_stop_token());
                   } else {
                     std::this_thread::sleep_for(parmap_test::beyond_helping_limit);
                     returned.add();
                   }
                   return parmap_test::Tracked(live, k);
                 })(i);
               });
  // Two window places: batch 0 (finished, being consumed) and batch 1 (one worker stuck at
  // the blocker, the other running the rest of it); batch 2 cannot be claimed before batch 0
  // is released.
  const parmap::Options options{.n_jobs = 2, .pre_dispatch = 2, .batch_size = batch};

  auto stop_early = [&](auto mode) {
    parmap::Parallel parallel(options, mode);
    {
      auto results = parallel(tasks);
      if (break_after < 0) {
        // Batches 0 and 1 run to their end, but for the blocker, without the consumer.
        REQUIRE(returned.wait_for_at_least(2 * batch - 1));
        REQUIRE(blocked.wait_for_at_least(1));
      } else {
        constexpr bool ordered =
            std::is_same_v<decltype(mode), parmap::return_as::generator_t>;
        int taken = 0;
        for (parmap_test::Tracked r : results) {
          if (ordered) {
            CHECK(r.value() == taken);  // batch 0 in input order
          } else {
            // Completion order: batch 1's first results may come before the consumer has
            // taken five of batch 0's, but never the blocker, nor batch 2.
            CHECK(r.value() < 2 * batch);
            CHECK(r.value() != blocker);
          }
          if (++taken == break_after + 1) {
            REQUIRE(blocked.wait_for_at_least(1));
            // The tasks behind the blocker in its batch run on the other worker.
            REQUIRE(returned.wait_for_at_least(2 * batch - 1));
            break;
          }
        }
        CHECK(taken == break_after + 1);
      }
    }  // destroyed: stops the run, waits for the blocker, frees the unconsumed results
    return parallel.last_report();
  };

  parmap::RunReport report;
  SECTION("generator") { report = stop_early(parmap::return_as::generator); }
  SECTION("generator_unordered") { report = stop_early(parmap::return_as::generator_unordered); }

  CHECK(stop_seen.load());
  CHECK(counts.exactly_up_to(2 * batch - 1));  // batches 0 and 1 ran, batch 2 never
  CHECK(live.live.load() == 0);
  CHECK(live.constructed.load() == 2 * batch);
  const std::size_t consumed = break_after < 0 ? 0 : static_cast<std::size_t>(break_after + 1);
  CHECK_FALSE(report.finished);
  CHECK_FALSE(report.failed);
  CHECK(report.completed == static_cast<std::size_t>(2 * batch));
  CHECK(report.consumed == consumed);
  CHECK(report.unused == static_cast<std::size_t>(2 * batch) - consumed);
  CHECK(report.cancelled == 0);
}

TEST_CASE("void tasks in batches run once each, and the generators yield their indices",
          "[batching]") {
  parmap_test::Watchdog watchdog("void tasks in batches");
  const int batch = GENERATE(0, 3, 1000);
  const int n = 2500;
  INFO("batch_size " << batch);
  RunCounts counts(n);
  auto tasks = std::views::iota(0, n) | std::views::transform([&counts](int i) {
                 return parmap::delayed([&counts](int k) { counts.ran(k); })(i);
               });
  const parmap::Options options{.n_jobs = 2, .batch_size = batch_option(batch)};
  std::vector<std::size_t> all(static_cast<std::size_t>(n));
  std::iota(all.begin(), all.end(), std::size_t{0});

  SECTION("list") {
    parmap::Parallel parallel(options);
    parallel(tasks);  // returns void
  }
  SECTION("generator: indices in input order") {
    std::vector<std::size_t> got;
    for (std::size_t index : parmap::Parallel(options, parmap::return_as::generator)(tasks)) {
      got.push_back(index);
    }
    CHECK(got == all);
  }
  SECTION("generator_unordered: each index once") {
    std::vector<std::size_t> got;
    for (std::size_t index :
         parmap::Parallel(options, parmap::return_as::generator_unordered)(tasks)) {
      got.push_back(index);
    }
    std::sort(got.begin(), got.end());
    CHECK(got == all);
  }
  CHECK(counts.exactly_up_to(n - 1));
}

TEST_CASE(
    "under on_error::collect an exception stops nothing in its batch: every task gives "
    "an outcome, errors hold the original object",
    "[batching]") {
  parmap_test::Watchdog watchdog("on_error::collect with batches");
  const int batch = GENERATE(0, 3, 1000);
  const int n = 2500;
  INFO("batch_size " << batch);
  auto fails = [](int i) { return i % 7 == 3; };
  RunCounts counts(n);
  ThrownTokens tokens(n);
  auto tasks = std::views::iota(0, n) | std::views::transform([&](int i) {
                 return parmap::delayed([&](int k) {
                   counts.ran(k);
                   if (fails(k)) tokens.fail(k);
                   return encode(k);
                 })(i);
               });
  const parmap::Options options{.n_jobs = 2, .batch_size = batch_option(batch)};
  std::vector<int> seen(static_cast<std::size_t>(n), 0);
  auto check_outcome = [&](parmap::Outcome<int>& o) {
    REQUIRE(o.index() < static_cast<std::size_t>(n));
    const int i = static_cast<int>(o.index());
    ++seen[o.index()];
    CHECK(o.has_value() == !fails(i));
    if (o.has_value()) {
      CHECK(o.value() == encode(i));
    } else {
      check_original_failure(o.error(), i, tokens);
    }
  };
  parmap::RunReport report;

  SECTION("list, in input order") {
    parmap::Parallel parallel(options, parmap::return_as::list, parmap::on_error::collect);
    std::vector<parmap::Outcome<int>> got = parallel(tasks);
    REQUIRE(got.size() == static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].index() == i);
      check_outcome(got[i]);
    }
    report = parallel.last_report();
  }
  SECTION("generator, in input order") {
    parmap::Parallel parallel(options, parmap::return_as::generator, parmap::on_error::collect);
    std::size_t position = 0;
    for (parmap::Outcome<int> o : parallel(tasks)) {
      CHECK(o.index() == position++);
      check_outcome(o);
    }
    report = parallel.last_report();
  }
  SECTION("generator_unordered") {
    parmap::Parallel parallel(options, parmap::return_as::generator_unordered,
                              parmap::on_error::collect);
    for (parmap::Outcome<int> o : parallel(tasks)) check_outcome(o);
    report = parallel.last_report();
  }

  for (int i = 0; i < n; ++i) {
    if (seen[static_cast<std::size_t>(i)] != 1)
      FAIL("task " << i << " gave " << seen[static_cast<std::size_t>(i)] << " outcomes");
  }
  CHECK(counts.exactly_up_to(n - 1));
  CHECK(report.finished);
  CHECK_FALSE(report.failed);
  CHECK(report.completed == static_cast<std::size_t>(n));
  CHECK(report.cancelled == 0);
}
