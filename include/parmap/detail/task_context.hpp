#pragma once

#include <stop_token>  // std::stop_token: what a running task may poll

namespace parmap::detail {

// What the thread knows about the task it is running. Each field is touched by its own
// thread only (thread_local), so nothing here needs a lock.
struct TaskContext {
  int depth = 0;                          // > 0 while this thread runs a parmap task
  const std::stop_token* stop = nullptr;  // the running task's token, or null
};

inline thread_local TaskContext this_thread_context;

// Marks the calling thread as running tasks of one run for the scope's lifetime. Nests:
// a task that runs a nested Parallel inline restores the outer task's token on exit.
class TaskScope {
 public:
  explicit TaskScope(const std::stop_token& stop) noexcept : previous_(this_thread_context.stop) {
    ++this_thread_context.depth;
    this_thread_context.stop = &stop;
  }
  TaskScope(const TaskScope&) = delete;
  TaskScope& operator=(const TaskScope&) = delete;
  ~TaskScope() {
    --this_thread_context.depth;
    this_thread_context.stop = previous_;
  }

 private:
  const std::stop_token* previous_;
};

// True when the calling thread is inside a parmap task: a Parallel called here runs inline.
[[nodiscard]] inline bool inside_task() noexcept { return this_thread_context.depth > 0; }

}  // namespace parmap::detail
