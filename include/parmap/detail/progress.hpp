#pragma once

#include <chrono>      // std::chrono::steady_clock: elapsed time in reports
#include <cstddef>     // std::size_t
#include <cstdio>      // std::fprintf, stderr: verbose lines
#include <functional>  // std::function: the user's callback
#include <mutex>       // std::mutex: reports never overlap
#include <optional>    // std::optional: the total, when known

#include "../options.hpp"

namespace parmap::detail {

// Turns "this many tasks have completed" into calls of the user's progress callback and,
// with verbose, joblib-style lines on stderr.
//
// Thread safety: report() and finish() may be called from any thread; calls never overlap
// and the counts they pass on never go down (a report older than one already made is
// dropped). Callers guarantee: `completed` is a count taken under the run's mutex.
class ProgressReporter {
 public:
  ProgressReporter(std::function<void(const Progress&)> callback, int verbose, std::size_t n_jobs,
                   std::optional<std::size_t> total)
      : callback_(std::move(callback)), verbose_(verbose), n_jobs_(n_jobs), total_(total) {}

  [[nodiscard]] bool enabled() const noexcept { return callback_ || verbose_ > 0; }

  // Reports progress after a batch; `completed` counts every task finished so far.
  void report(std::size_t completed) {
    if (!enabled()) return;
    std::lock_guard lock(mutex_);
    if (completed <= last_) return;
    last_ = completed;
    emit(completed, false);
  }

  // The last report of a run that reached the end of its input.
  void finish(std::size_t completed) {
    if (!enabled()) return;
    std::lock_guard lock(mutex_);
    last_ = completed;
    emit(completed, true);
  }

  // Prints joblib's early-exit note (verbose only): results computed but never consumed,
  // and tasks read from the input but never run.
  void early_exit(std::size_t unused, std::size_t cancelled) {
    if (verbose_ <= 0) return;
    std::lock_guard lock(mutex_);
    std::fprintf(
        stderr,
        "[Parallel(n_jobs=%zu)]: Stopped early: %zu finished results were never used, %zu tasks "
        "were cancelled\n",
        n_jobs_, unused, cancelled);
  }

 private:
  // Verbose lines: one when the count reaches or passes the next power of two (1, 2, 4,
  // 8, ...), showing the count reached (a report may count several tasks: 1, 3, 7 is
  // typical), at most one per report however many powers it passes; with verbose >= 10, one
  // per report. The final line always prints, marked " finished". A periodic line that would
  // show the known total is left out: the final line says the same, so it would print twice.
  // (Without a total, a periodic line cannot know it is the last; the final line may repeat
  // its count.)
  void emit(std::size_t completed, bool done) {
    const Progress progress{completed, total_, std::chrono::steady_clock::now() - start_, done};
    if (callback_) callback_(progress);
    if (verbose_ <= 0) return;
    const bool due = completed >= next_line_;
    while (next_line_ <= completed) next_line_ *= 2;
    const bool says_total = total_ && completed == *total_;
    if (done || ((due || verbose_ >= 10) && !says_total)) print(progress);
  }

  void print(const Progress& p) const {
    const double seconds = std::chrono::duration<double>(p.elapsed).count();
    if (p.total) {
      std::fprintf(stderr, "[Parallel(n_jobs=%zu)]: Done %4zu out of %4zu | elapsed: %7.1fs%s\n",
                   n_jobs_, p.completed, *p.total, seconds, p.done ? " finished" : "");
    } else {
      std::fprintf(stderr, "[Parallel(n_jobs=%zu)]: Done %4zu tasks      | elapsed: %7.1fs%s\n",
                   n_jobs_, p.completed, seconds, p.done ? " finished" : "");
    }
  }

  const std::function<void(const Progress&)> callback_;
  const int verbose_;
  const std::size_t n_jobs_;  // for the verbose label, "[Parallel(n_jobs=2)]"
  const std::optional<std::size_t> total_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();

  std::mutex mutex_;           // serialises the reports
  std::size_t last_ = 0;       // guarded by mutex_
  std::size_t next_line_ = 1;  // the next power of two to print a line at; guarded by mutex_
};

}  // namespace parmap::detail
