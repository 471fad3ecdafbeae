#pragma once

#include <cstddef>     // std::size_t
#include <exception>   // std::exception_ptr, std::rethrow_exception
#include <stop_token>  // std::stop_source, std::stop_callback: a watched task's own stop

#include "../outcome.hpp"
#include "run_core.hpp"
#include "task_context.hpp"
#include "timeout_monitor.hpp"

namespace parmap::detail {

// How RunCore runs claimed tasks: cancellation checked before each, the task's stop token and
// thread context set, the result published, or the task watched by the timeout monitor.
// Thread safety and guards are RunCore's (run_core.hpp).

inline void RunCore::run_tasks(Runner& me, std::size_t begin, std::size_t end) noexcept {
  SlotBase& slot = *me.slot;
  std::size_t k = begin;  // the first task not started
  std::exception_ptr error;
  {
    TaskScope scope(tasks_token_);
    if (!timeouts_) {
      const std::size_t published = run_tasks_published(slot, begin, end, run_token_, error, me.work);
      k += published + (error ? 1 : 0);
      me.completed += published;
    } else {
      for (; k < end && !error && !run_token_.stop_requested(); ++k) {
        try {
          run_watched(slot, k);
          publish(slot, k);
          ++me.completed;
        } catch (...) {
          error = std::current_exception();
        }
      }
    }
  }
  me.started += k - begin;
  if (error) fail(error);
  drop_tasks(slot, k, end);
}

inline void RunCore::run_watched(SlotBase& slot, std::size_t k) {
  std::stop_source task_stop;
  const std::stop_callback follow_run(tasks_token_, RequestStop{&task_stop});
  const std::stop_token task_token = task_stop.get_token();
  TaskScope scope(task_token);
  const std::size_t index = slot.first_index + k;
  TimeoutMonitor::Watch watch(*timeouts_, index, task_stop);
  std::exception_ptr error;
  try {
    run_task(slot, k);
  } catch (...) {
    error = std::current_exception();
  }
  if (watch.finish()) {
    auto late = std::make_exception_ptr(TimeoutError(index, *config_.timeout));
    if (!config_.collect_errors) {
      if (!error) destroy_result(slot, k);
      std::rethrow_exception(late);
    }
    // Collecting, an error here came from reading the task in place (a task's own exception
    // is its outcome): no result was made, and the read error fails the run below.
    if (!error) replace_with_error(slot, k, std::move(late));
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace parmap::detail
