#pragma once

#include <atomic>      // std::atomic: the running flag and its reference count
#include <stop_token>  // std::stop_token: what a running task may poll

namespace parmap::detail {

// Whether one task is still running, shared between the thread running it and the nested
// runs it made. A nested run follows its enclosing task's stop token only while that task
// runs: once the task has returned (its nested range handed over as its result, say), the
// nested run's results belong to whoever holds them, and the enclosing run ending or being
// cancelled must not cancel them.
// Thread safety: `running` and `refs` are atomics; the flag is freed by its last reference.
struct RunningFlag {
  std::atomic<bool> running{true};
  std::atomic<int> refs{1};
};

// A counted reference to a RunningFlag. Movable, not copyable.
class RunningRef {
 public:
  RunningRef() = default;
  explicit RunningRef(RunningFlag* flag) noexcept : flag_(flag) {
    if (flag_ != nullptr) flag_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  RunningRef(RunningRef&& other) noexcept : flag_(other.flag_) { other.flag_ = nullptr; }
  RunningRef& operator=(RunningRef&&) = delete;
  RunningRef(const RunningRef&) = delete;
  RunningRef& operator=(const RunningRef&) = delete;
  ~RunningRef() { drop(flag_); }

  // True while the task runs. Pairs with the release store in task_returned().
  [[nodiscard]] bool running() const noexcept {
    return flag_ != nullptr && flag_->running.load(std::memory_order_acquire);
  }

  static void drop(RunningFlag* flag) noexcept {
    // acq_rel: the last owner's delete comes after every other owner's use.
    if (flag != nullptr && flag->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete flag;
  }

 private:
  RunningFlag* flag_ = nullptr;
};

// What the thread knows about the task it is running. Each field is touched by its own
// thread only (thread_local), so nothing here needs a lock. Trivially destructible, so
// reaching it costs no guard check.
struct TaskContext {
  int depth = 0;                          // > 0 while this thread runs a parmap task
  const std::stop_token* stop = nullptr;  // the running task's token, or null
  RunningFlag* running = nullptr;         // made by a nested run; one reference held here

  // A reference to the running task's flag, made on first use.
  RunningRef running_ref() {
    if (running == nullptr) running = new RunningFlag;
    return RunningRef(running);
  }
};

inline thread_local TaskContext this_thread_context;

// Ends the current task's running flag, if a nested run asked for one. Called by the run
// after each task returns (cheap: one thread-local load when there is no flag).
inline void task_returned() noexcept {
  RunningFlag*& flag = this_thread_context.running;
  if (flag == nullptr) return;
  flag->running.store(false, std::memory_order_release);
  RunningRef::drop(flag);
  flag = nullptr;
}

// Marks the calling thread as running tasks of one run for the scope's lifetime. Nests:
// a task that runs a nested Parallel inline restores the outer task's token on exit.
class TaskScope {
 public:
  explicit TaskScope(const std::stop_token& stop) noexcept
      : previous_(this_thread_context.stop), previous_running_(this_thread_context.running) {
    ++this_thread_context.depth;
    this_thread_context.stop = &stop;
    this_thread_context.running = nullptr;
  }
  TaskScope(const TaskScope&) = delete;
  TaskScope& operator=(const TaskScope&) = delete;
  ~TaskScope() {
    task_returned();
    --this_thread_context.depth;
    this_thread_context.stop = previous_;
    this_thread_context.running = previous_running_;
  }

 private:
  const std::stop_token* previous_;
  RunningFlag* previous_running_;
};

// True when the calling thread is inside a parmap task: a Parallel called here runs inline.
[[nodiscard]] inline bool inside_task() noexcept { return this_thread_context.depth > 0; }

}  // namespace parmap::detail
