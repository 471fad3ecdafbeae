#pragma once

// The memory demo's Console: the progress bar or lines, and the accumulator's dots, shown
// while a run goes. tests/demo_console_test.cpp checks what it prints.

#include <unistd.h>  // isatty, fileno: progress bar or plain lines

#include <algorithm>           // std::max
#include <chrono>              // std::chrono::steady_clock: elapsed time, redraw rate
#include <cstddef>             // std::size_t
#include <cstdio>              // std::FILE, std::fprintf, std::fflush: lines, bar and dots
#include <functional>          // std::function: the progress callback, the memory probe
#include <mutex>               // std::mutex: shared by the consumer and parmap's workers
#include <parmap/options.hpp>  // parmap::Progress: what the callback receives
#include <string>              // std::string: the run's tag, a status line
#include <utility>             // std::move

namespace demo_console {

using Clock = std::chrono::steady_clock;

// What the user sees while a run goes: the accumulator's "." per result (joblib's), and
// progress from parmap's Options::progress callback: a bar redrawn in place when stderr is a
// terminal, a plain line at each quarter otherwise. When the bar and the dots would share one
// terminal, the bar's "summed" count stands in for the dots.
//
// "done" counts the tasks the callback reported or the accumulator summed, whichever is more:
// parmap hands a batch's results to the consumer before it reports the batch done, so the
// consumer can sum a result before its report arrives ("3/12 done, 4 summed" otherwise).
//
// Thread safety: every member may be called from any thread (the progress callback runs on
// parmap's workers, dot() on the consumer); one mutex serialises them.
class Console {
 public:
  // A bar when stderr is a terminal, else lines; dots unless they would share the terminal
  // with the bar.
  Console() : Console(isatty(fileno(stderr)) != 0, stdout, stderr) {}
  // Bar or lines on `status`; dots on `dots`, if not null.
  Console(bool bar, std::FILE* dots, std::FILE* status)
      : bar_(bar),
        dots_(dots != nullptr && !(bar && isatty(fileno(dots)) != 0) ? dots : nullptr),
        status_(status) {}

  // `growth_mb`: the process's memory growth since the run started, in MB, for the status.
  void set_memory_probe(std::function<double()> growth_mb) { probe_ = std::move(growth_mb); }

  void begin_run(std::string tag, std::size_t total) {
    std::lock_guard lock(mutex_);
    tag_ = std::move(tag);
    total_ = total;
    reported_ = 0;
    done_ = 0;
    summed_ = 0;
    next_quarter_ = 1;
    start_ = Clock::now();
    last_draw_ = {};
    row_open_ = false;
  }

  // joblib's "Accumulate results:" line, then the dots.
  void begin_accumulating() {
    std::lock_guard lock(mutex_);
    if (bar_) clear_bar_locked();
    std::fputs("Accumulate results:", stdout);
    if (dots_ != nullptr) {
      row_open_ = true;
    } else {
      std::fputc('\n', stdout);
    }
    std::fflush(stdout);
    if (bar_) draw_bar_locked(true);
  }

  // The callback given to parmap::Options::progress.
  std::function<void(const parmap::Progress&)> progress_callback() {
    return [this](const parmap::Progress& p) { tasks_done(p.completed, p.done); };
  }

  // `completed` tasks have finished (the callback's count).
  void tasks_done(std::size_t completed, bool final) {
    std::lock_guard lock(mutex_);
    reported_ = std::max(reported_, completed);
    show_locked(final);
  }

  // The accumulator summed one result.
  void dot() {
    std::lock_guard lock(mutex_);
    ++summed_;
    if (dots_ != nullptr) {
      if (!row_open_) {
        std::fputs("                   ", dots_);  // under the "Accumulate results:" dots
        row_open_ = true;
      }
      std::fputc('.', dots_);
      std::fflush(dots_);
    }
    show_locked(false);
  }

  // Ends the dot row and the bar: what follows is the run's report.
  void end_run() {
    std::lock_guard lock(mutex_);
    if (bar_) {
      draw_bar_locked(true);
      std::fputc('\n', status_);
      std::fflush(status_);
    }
    close_row_locked();
    std::fflush(stdout);
  }

 private:
  // Shows the new counts: redraws the bar, or prints a line when `done` reaches the next
  // quarter of the total (one line, however many quarters it passed).
  void show_locked(bool final) {
    done_ = std::max(reported_, summed_);
    if (bar_) {
      draw_bar_locked(final);
      return;
    }
    bool due = false;
    while (total_ > 0 && next_quarter_ <= 4 && done_ * 4 >= next_quarter_ * total_) {
      ++next_quarter_;
      due = true;
    }
    if (due) print_line_locked();
  }

  // At most about 50 columns, so that the bar fits an 80-column terminal (a wrapped line
  // cannot be redrawn with \r).
  std::string status_locked() const {
    const double s = std::chrono::duration<double>(Clock::now() - start_).count();
    const double mb = probe_ ? probe_() : 0.0;
    char buf[160];
    std::snprintf(buf, sizeof buf, "%3zu/%zu done, %3zu summed, %5.1f s, RSS %+5.0f MB", done_,
                  total_, summed_, s, mb);
    return buf;
  }

  void print_line_locked() {
    close_row_locked();  // a line of its own (the dots and the lines may go to one file)
    std::fprintf(status_, "  [%s] %s\n", tag_.c_str(), status_locked().c_str());
    std::fflush(status_);
  }

  // Ends the open row of dots, if any.
  void close_row_locked() {
    if (!row_open_) return;
    std::fputc('\n', dots_ != nullptr ? dots_ : stdout);
    std::fflush(dots_ != nullptr ? dots_ : stdout);
    row_open_ = false;
  }

  void clear_bar_locked() {
    std::fputs("\r\x1b[K", status_);
    std::fflush(status_);
  }

  void draw_bar_locked(bool force) {
    const auto now = Clock::now();
    // At most 20 redraws a second.
    if (!force && now - last_draw_ < std::chrono::milliseconds(50)) return;
    last_draw_ = now;
    constexpr int width = 20;
    const int filled = total_ == 0 ? 0 : static_cast<int>(width * done_ / total_);
    std::string bar(static_cast<std::size_t>(width), ' ');
    for (int i = 0; i < filled; ++i) bar[static_cast<std::size_t>(i)] = '#';
    std::fprintf(status_, "\r  [%s] %s\x1b[K", bar.c_str(), status_locked().c_str());
    std::fflush(status_);
  }

  const bool bar_;                 // a bar redrawn in place, not lines
  std::FILE* const dots_;          // where the dots go; null: no dots
  std::FILE* const status_;        // where the bar or the lines go
  std::function<double()> probe_;  // set before the first run; read-only afterwards

  std::mutex mutex_;
  std::string tag_;               // guarded by mutex_
  std::size_t total_ = 0;         // guarded by mutex_
  std::size_t reported_ = 0;      // the callback's highest count; guarded by mutex_
  std::size_t done_ = 0;          // max(reported_, summed_), as shown; guarded by mutex_
  std::size_t summed_ = 0;        // guarded by mutex_
  std::size_t next_quarter_ = 1;  // guarded by mutex_
  bool row_open_ = false;         // a row of dots is open; guarded by mutex_
  Clock::time_point start_;       // guarded by mutex_
  Clock::time_point last_draw_;   // guarded by mutex_
};

}  // namespace demo_console
