#pragma once

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>  // getpid: telling a forked child from its parent
#endif

namespace parmap::detail {

// The calling process's id where there is one (POSIX), else 0. A Parallel and its runs
// remember the process that made them: after fork() the child has none of their threads, so
// using them there must fail instead of waiting for threads that do not exist.
[[nodiscard]] inline long current_pid() noexcept {
#if defined(__unix__) || defined(__APPLE__)
  return static_cast<long>(::getpid());
#else
  return 0;
#endif
}

}  // namespace parmap::detail
