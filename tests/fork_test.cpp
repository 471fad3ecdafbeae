// fork(): a child forked after the parent used timeouts makes Parallels of its own, its
// timeouts fire, and it exits normally (the process-wide timeout monitor starts afresh in the
// child instead of believing the parent's monitor thread is there), also when the fork comes
// while other threads are in the middle of calls (a [stress] case of random rounds, skipped
// under the sanitizers: see under_tsan and under_asan).

#include "support/catch.hpp"
#include "support/stress_support.hpp"
#include "support/test_support.hpp"

#include <parmap/parmap.hpp>

#include <algorithm>   // std::max: the round count
#include <atomic>      // std::atomic: the background threads' stop flag and error count
#include <chrono>      // std::chrono: timeouts, the child's time limit
#include <csignal>     // std::signal, SIG_DFL, SIGSEGV, ...: the child's crash handling
#include <cstddef>     // std::size_t
#include <cstdint>     // std::uint64_t: seeds
#include <cstdio>      // std::fprintf, std::fflush: the child's failure message
#include <cstdlib>     // std::exit: the child's normal exit
#include <exception>   // std::rethrow_exception, std::exception
#include <functional>  // std::function: the tasks
#include <optional>    // std::optional: a child that had to be killed
#include <random>      // std::random_device: a fresh base seed
#include <ranges>      // std::views::iota, transform
#include <string>      // std::string, std::to_string: describing how the child ended
#include <thread>      // std::thread: calls running while the test forks; sleep_for: a slow task
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

// AddressSanitizer's allocator (GCC 12's runtime) does not hold its locks across fork, as
// glibc's malloc does: a child forked while another thread was inside malloc or free inherits
// the lock taken and deadlocks at its first allocation (seen: every thread of the child waiting
// in SizeClassAllocator64::GetFromAllocator). The case that forks while other threads run calls
// is skipped under it; the cases that fork with no other thread in a call run.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool under_asan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool under_asan = true;
#else
constexpr bool under_asan = false;
#endif
#else
constexpr bool under_asan = false;
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

TEST_CASE("forking while other threads run calls: random rounds in which the child's calls and "
          "timeouts work and it exits, and the parent's calls lose nothing",
          "[stress][fork]") {
  if (under_tsan) {
    WARN("skipped under ThreadSanitizer, which kills a forked child that starts threads");
    return;
  }
  if (under_asan) {
    WARN("skipped under AddressSanitizer, whose allocator deadlocks a child forked while "
         "another thread allocates");
    return;
  }
  parmap_test::Watchdog watchdog("fork while calls run", 240s);
  // Rounds: 8, or PARMAP_SOAK_SCENARIOS / 500 (the soak legs); PARMAP_STRESS_REPLAY=<seed> runs
  // one, PARMAP_STRESS_SEED sets the base.
  std::vector<std::uint64_t> seeds;
  if (const auto replay = parmap_test::env_number("PARMAP_STRESS_REPLAY")) {
    seeds.push_back(*replay);
  } else {
    const std::uint64_t rounds = std::max<std::uint64_t>(
        8, parmap_test::env_number("PARMAP_SOAK_SCENARIOS").value_or(0) / 500);
    const std::uint64_t base =
        parmap_test::env_number("PARMAP_STRESS_SEED").value_or(std::random_device{}());
    for (std::uint64_t i = 0; i < rounds; ++i) seeds.push_back(parmap_test::splitmix64(base + i));
  }
  for (const std::uint64_t seed : seeds) {
    parmap_test::Dice dice(seed);
    const int threads = dice.pick(1, 3);
    const int calls_before_fork = dice.pick(0, 12);
    INFO("seed=" << seed << " (PARMAP_STRESS_REPLAY=" << seed << ") threads=" << threads
                 << " calls_before_fork=" << calls_before_fork);
    // Each thread runs calls (some with a timeout, so the process-wide monitor is busy too)
    // until told to stop, and checks every result. None of its tasks throws: the fork may
    // come at any moment of a call.
    std::atomic<bool> stop{false};
    std::atomic<int> wrong{0};
    parmap_test::Counter calls;
    std::vector<std::thread> background;
    for (int t = 0; t < threads; ++t) {
      const int mode = dice.pick(0, 2);
      const int n_jobs = dice.pick(1, 3);
      const bool timed = dice.chance(0.5);
      background.emplace_back([&, mode, n_jobs, timed] {
        parmap::Options options{.n_jobs = n_jobs, .pre_dispatch = 2};
        if (timed) options.timeout = 20s;
        auto tasks = std::views::iota(0, 64) | std::views::transform([](int i) {
                       return parmap::delayed([](int k) { return k * k; })(i);
                     });
        while (!stop.load()) {
          long sum = 0;
          if (mode == 0) {
            for (const int r : parmap::Parallel(options)(tasks)) sum += r;
          } else if (mode == 1) {
            int i = 0;
            for (const int r : parmap::Parallel(options, parmap::return_as::generator)(tasks)) {
              if (r != i * i) ++wrong;
              ++i;
              sum += r;
            }
          } else {
            for (const int r :
                 parmap::Parallel(options, parmap::return_as::generator_unordered)(tasks)) {
              sum += r;
            }
          }
          if (sum != 85344) ++wrong;  // 0^2 + 1^2 + ... + 63^2
          calls.add();
        }
      });
    }
    REQUIRE(calls.wait_for_at_least(calls_before_fork));
    const pid_t pid = fork_clean();
    if (pid == 0) child_main();
    const std::optional<int> status = pid < 0 ? std::nullopt : wait_for_child(pid, 30s);
    stop = true;
    for (std::thread& t : background) t.join();
    REQUIRE(pid >= 0);
    REQUIRE(status.has_value());  // else the child hung, in a call or at exit, and was killed
    INFO("the child's stderr says why it failed");
    CHECK(describe(*status) == "exited with 0");
    CHECK(wrong.load() == 0);
  }
}
