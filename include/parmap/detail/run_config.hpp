#pragma once

#include <chrono>      // std::chrono::nanoseconds: the timeout, the consumer's help limit
#include <cstddef>     // std::size_t
#include <functional>  // std::function: the progress callback
#include <limits>      // std::numeric_limits: an unbounded window
#include <optional>    // std::optional: the timeout, the input's size

#include "../options.hpp"  // Progress
#include "batch_sizer.hpp"  // BatchTargets

namespace parmap::detail {

// What one call asks of its run, resolved from the Parallel's options and the input: plain
// values, copied into the run when it starts and read-only after, so any thread may read them.
enum class Order { input, completion };

struct RunConfig {
  std::size_t workers = 0;  // 0: the consumer runs each task itself, when it asks for it
  std::size_t window = 1;   // batches claimed and not yet released; max() means no bound
  std::size_t batch = 0;    // fixed batch size, or 0 for automatic
  Order order = Order::input;
  bool collect_errors = false;  // on_error::collect: a task's exception is its outcome
  std::optional<std::chrono::nanoseconds> timeout;  // per task
  std::size_t n_jobs = 1;                           // for verbose lines
  std::optional<std::size_t> total;                 // the input's size, when known
  int verbose = 0;
  std::function<void(const Progress&)> progress;
  bool claim_blocks = false;  // claim several tasks at once (list mode: no result is awaited)
  // The workers fill the machine's hardware threads: the consumer runs tasks only in a seat a
  // worker lends it (RunCore::lend_seat), so that no more threads run tasks than workers.
  bool lend_seats = false;
  // Batches run in another process (the MPI backend): a claim takes a whole chunk (one
  // message), sized by `targets`, and the consumer never runs tasks itself.
  bool remote = false;
  BatchTargets targets{};
};

inline constexpr std::size_t unbounded_window = std::numeric_limits<std::size_t>::max();

// The consumer may run a task itself while the result it waits for is not ready, but only
// when tasks are measured to be shorter than this: its own result then waits at most about
// this long, and more than n_jobs tasks run at once only for that long. Longer tasks run on
// the workers only, and the consumer sleeps (a wake-up costs little next to such a task).
inline constexpr std::chrono::nanoseconds consumer_help_limit{std::chrono::microseconds(50)};

// When the workers fill the hardware threads (RunConfig::lend_seats), a woken consumer waits
// for a core as long as the kernel's time slice (1-2 ms measured on 2 cores), so there it
// runs tasks up to this long instead, in a seat a worker lends it: no more threads run than
// cores, and the consumer needs no wake-up for the results it makes itself.
inline constexpr std::chrono::nanoseconds consumer_lend_limit{std::chrono::milliseconds(1)};

// How often a worker that lent its seat checks whether the consumer still uses it: a seat
// the consumer ran no task in for a whole interval goes back to its worker.
inline constexpr std::chrono::nanoseconds seat_reclaim_interval{std::chrono::microseconds(500)};

// How long a thread with nothing to do polls before it sleeps: about 2 us (a pause is
// 20-40 ns). Long enough to catch the next hand-off in a steady stream, short enough not to
// take a core from a thread that has work when there are more threads than cores.
inline constexpr int spin_before_sleep = 100;

}  // namespace parmap::detail
