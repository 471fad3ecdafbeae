#pragma once

#include <stop_token>  // std::stop_token

#include "detail/task_context.hpp"

namespace parmap::this_task {

// The stop token of the task running on the calling thread. Stop is requested when its
// results are no longer wanted: the result range was destroyed early, or another task
// failed. A task that polls it can return early; its result is then dropped. Outside a task
// it returns a token that never stops. Non-blocking.
[[nodiscard]] inline std::stop_token get_stop_token() noexcept {
  const std::stop_token* token = detail::this_thread_context.stop;
  return token != nullptr ? *token : std::stop_token{};
}

// Shorthand for get_stop_token().stop_requested(). Non-blocking.
[[nodiscard]] inline bool stop_requested() noexcept {
  const std::stop_token* token = detail::this_thread_context.stop;
  return token != nullptr && token->stop_requested();
}

}  // namespace parmap::this_task
