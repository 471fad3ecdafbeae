#pragma once

#include <atomic>  // std::atomic: the one-run-at-a-time flag
#include <memory>  // std::unique_ptr: the pool, made on first use
#include <mutex>   // std::mutex: the last run's report

#include "../outcome.hpp"  // RunReport
#include "process.hpp"
#include "thread_pool.hpp"

namespace parmap::detail {

// The state a Parallel keeps between calls: its worker threads (made on first use) and the
// flag that allows one run at a time. Runs hold it by shared_ptr, so a result range may
// outlive the Parallel that made it.
// Thread safety: `pool` is touched only by the holder of `busy` (one run at a time);
// `last_report` only under `report_mutex`. Destruction: with the last shared_ptr, when no
// run is under way (each run holds one); the pool joins its threads then.
struct Engine {
  std::unique_ptr<ThreadPool> pool;  // touched only by the holder of `busy`
  // Set by the call that starts a run (exchange, acq_rel) and cleared by that run's
  // destructor (store, release): the next call's exchange sees everything the last run did.
  std::atomic<bool> busy{false};
  const long owner_pid = current_pid();  // the process whose threads the pool holds

  std::mutex report_mutex;
  RunReport last_report;  // guarded by report_mutex: the last run that ended
};

}  // namespace parmap::detail
