// fork(): a child forked after the parent used timeouts makes Parallels of its own, its
// timeouts fire, and it exits normally (the process-wide timeout monitor starts afresh in the
// child instead of believing the parent's monitor thread is there).

#include "support/catch.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <chrono>      // std::chrono: timeouts, the child's time limit
#include <csignal>     // std::signal, SIG_DFL, SIGSEGV, ...: the child's crash handling
#include <cstddef>     // std::size_t
#include <cstdio>      // std::fprintf, std::fflush: the child's failure message
#include <cstdlib>     // std::exit: the child's normal exit
#include <exception>   // std::rethrow_exception, std::exception
#include <functional>  // std::function: the tasks
#include <optional>    // std::optional: a child that had to be killed
#include <ranges>      // std::views::iota, transform
#include <string>      // std::string, std::to_string: describing how the child ended
#include <thread>      // std::this_thread::sleep_for: a slow task
#include <vector>      // std::vector

#include <signal.h>    // kill, SIGKILL: ending a hung child
#include <sys/wait.h>  // waitpid, WNOHANG, WIFEXITED, WEXITSTATUS, WIFSIGNALED, WTERMSIG
#include <unistd.h>    // fork, pid_t

using namespace std::chrono_literals;

namespace {

// ThreadSanitizer does not support threads started in a child forked from a multi-threaded
// process: by default it kills such a child ("starting new threads after multi-threaded fork
// is not supported", exit code 66). These tests are skipped under it; the other builds run
// them.
#if defined(__SANITIZE_THREAD__)
constexpr bool under_tsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool under_tsan = true;
#else
constexpr bool under_tsan = false;
#endif
#else
constexpr bool under_tsan = false;
#endif

// Waits up to `limit` for the child to end; a child still running then (hung in a call, or
// at exit) is killed. Returns waitpid's status, or nothing when the child had to be killed.
std::optional<int> wait_for_child(pid_t pid, std::chrono::seconds limit) {
  int status = 0;
  const auto give_up = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const pid_t waited = ::waitpid(pid, &status, WNOHANG);
    if (waited == pid) return status;
    if (waited < 0 || std::chrono::steady_clock::now() >= give_up) break;
    std::this_thread::sleep_for(10ms);  // polling the child's state: no way to wait with a limit
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return std::nullopt;
}

// "exited with 0", "killed by signal 11": a waitpid status, readable in a failed check.
std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// A call with a 20 ms timeout on a 300 ms task that ignores its stop token; true when the
// task's outcome is a parmap::TimeoutError.
bool timeout_fires() {
  std::vector<std::function<int()>> slow{[] {
    std::this_thread::sleep_for(300ms);
    return 1;
  }};
  const auto outcomes = parmap::Parallel({.n_jobs = 2, .timeout = 20ms}, parmap::return_as::list,
                                         parmap::on_error::collect)(slow);
  if (outcomes.size() != 1 || outcomes[0].has_value()) return false;
  try {
    std::rethrow_exception(outcomes[0].error());
  } catch (const parmap::TimeoutError&) {
    return true;
  } catch (...) {
    return false;
  }
}

// Forks with nothing buffered (it would be written twice, once by each process). In the child,
// crashes get their default action again: the parent then sees the signal, rather than a
// Catch2 report printed by the child as if it were the test binary.
pid_t fork_clean() {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (const int signal : {SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGSEGV})
      std::signal(signal, SIG_DFL);
  }
  return pid;
}

// Says why the child failed, and exits with `code` (std::exit, so exiting is tested too).
[[noreturn]] void child_fails(int code, const char* why) {
  std::fprintf(stderr, "fork_test child: %s\n", why);
  std::exit(code);
}

// The child's checks: a timeout fires, then a normal call works; std::exit(0) at the end.
[[noreturn]] void child_main() {
  try {
    if (!timeout_fires()) child_fails(3, "the late task was not reported as a TimeoutError");

    auto tasks = std::views::iota(0, 20) | std::views::transform([](int i) {
                   return parmap::delayed([](int k) { return k * k; })(i);
                 });
    const std::vector<int> squares = parmap::Parallel({.n_jobs = 2})(tasks);
    for (int i = 0; i < 20; ++i) {
      if (squares.size() != 20 || squares[static_cast<std::size_t>(i)] != i * i) {
        child_fails(5, "a normal call returned wrong results");
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fork_test child: %s\n", e.what());
    std::exit(6);
  }
  std::exit(0);
}

}  // namespace

TEST_CASE("a child forked after a call with a timeout can use timeouts and exits normally",
          "[fork][timeout]") {
  if (under_tsan) {
    WARN("skipped under ThreadSanitizer, which kills a forked child that starts threads");
    return;
  }
  parmap_test::Watchdog watchdog("fork: timeouts in the child", 60s);
  {
    // Starts the process-wide timeout monitor thread in the parent.
    std::vector<std::function<int()>> quick{[] { return 7; }};
    const auto results = parmap::Parallel({.n_jobs = 2, .timeout = 5s})(quick);
    REQUIRE(results == std::vector<int>{7});
  }
  const pid_t pid = fork_clean();
  REQUIRE(pid >= 0);
  if (pid == 0) child_main();

  const std::optional<int> status = wait_for_child(pid, 20s);
  REQUIRE(status.has_value());  // else the child hung, in a call or at exit, and was killed
  INFO("the child's stderr says why it failed");
  CHECK(describe(*status) == "exited with 0");  // not a failed check, nor a crash at exit
}

TEST_CASE("after a fork, timeouts fire in the parent and in the child", "[fork][timeout]") {
  if (under_tsan) {
    WARN("skipped under ThreadSanitizer, which kills a forked child that starts threads");
    return;
  }
  parmap_test::Watchdog watchdog("fork: timeouts on both sides", 60s);
  REQUIRE(timeout_fires());
  const pid_t pid = fork_clean();
  REQUIRE(pid >= 0);
  if (pid == 0) std::exit(timeout_fires() ? 0 : 3);
  CHECK(timeout_fires());  // the fork left the parent's monitor as it was
  const std::optional<int> status = wait_for_child(pid, 20s);
  REQUIRE(status.has_value());
  CHECK(describe(*status) == "exited with 0");
}
