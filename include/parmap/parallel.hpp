#pragma once

#include <algorithm>    // std::max, std::min
#include <chrono>       // std::chrono::nanoseconds: the timeout
#include <concepts>     // std::invocable, std::same_as, std::move_constructible
#include <cstddef>      // std::size_t
#include <cstdio>       // std::snprintf: error messages
#include <functional>   // std::function: the progress callback
#include <memory>       // std::shared_ptr, std::make_shared, std::make_unique
#include <optional>     // std::optional: the timeout, the input's size
#include <ranges>       // std::ranges::input_range, std::views::all, std::ranges::ref_view
#include <stdexcept>    // std::invalid_argument, std::logic_error
#include <thread>       // std::thread::hardware_concurrency
#include <type_traits>  // std::is_lvalue_reference_v, std::is_void_v
#include <utility>      // std::forward, std::move
#include <vector>       // std::vector: what return_as::list returns

#include "delayed.hpp"  // detail::is_delayed_call_v: the diagnostics for a bare callable
#include "detail/run.hpp"
#include "options.hpp"
#include "outcome.hpp"
#include "result_range.hpp"

namespace parmap {
namespace detail {

// The view a call reads: a reference to an lvalue range (which must outlive the results),
// or the rvalue range itself, moved in.
template <class In>
using input_view_t =
    std::conditional_t<std::is_lvalue_reference_v<In>,
                       std::ranges::ref_view<std::remove_reference_t<In>>, std::views::all_t<In>>;

inline std::size_t hardware_threads() noexcept {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;  // 0 means "unknown"
}

inline std::size_t resolve_n_jobs(int n_jobs) {
  if (n_jobs == 0) {
    throw std::invalid_argument(
        "parmap: n_jobs == 0 has no meaning; use a positive number of workers, or -1 for all "
        "CPUs");
  }
  if (n_jobs > 0) return static_cast<std::size_t>(n_jobs);
  const auto cpus = static_cast<long long>(hardware_threads());
  return static_cast<std::size_t>(std::max(1LL, cpus + 1 + n_jobs));
}

template <class Special>
std::size_t resolve_count(const CountOption<Special>& option, const char* name,
                          const char* special_name, std::size_t default_value) {
  if (option.is_default()) return default_value;
  if (option.is_special()) return 0;
  if (option.count() <= 0) {
    char message[128];
    std::snprintf(message, sizeof message, "parmap: %s must be positive or parmap::%s (got %lld)",
                  name, special_name, static_cast<long long>(option.count()));
    throw std::invalid_argument(message);
  }
  return static_cast<std::size_t>(option.count());
}

// A Parallel's options, validated and resolved for `n_jobs` runners (threads here, message
// lanes in the MPI backend). Throws std::invalid_argument naming a bad one.
struct CallSettings {
  CallSettings(Options options, std::size_t n_jobs)
      : n_jobs(n_jobs),
        window(resolve_count(options.pre_dispatch, "pre_dispatch", "all", 2 * n_jobs)),
        batch_size(resolve_count(options.batch_size, "batch_size", "automatic", 0)),
        verbose(options.verbose),
        progress(std::move(options.progress)),
        timeout(options.timeout) {
    if (window == 0) window = unbounded_window;  // parmap::all
    if (timeout && timeout->count() <= 0) {
      char message[80];
      std::snprintf(message, sizeof message, "parmap: timeout must be positive (got %lld ns)",
                    static_cast<long long>(timeout->count()));
      throw std::invalid_argument(message);
    }
  }

  // The run's settings for one call in `Mode`, before the caller picks who runs the tasks.
  template <class Mode, bool Collect>
  [[nodiscard]] RunConfig config(std::optional<std::size_t> total) const {
    RunConfig c;
    c.order = std::same_as<Mode, return_as::generator_unordered_t> ? Order::completion
                                                                   : Order::input;
    // list keeps every result until the call returns, so a window would bound nothing; it
    // would only make workers wait for the collecting thread.
    c.window = std::same_as<Mode, return_as::list_t> ? unbounded_window : window;
    c.claim_blocks = std::same_as<Mode, return_as::list_t>;
    c.collect_errors = Collect;
    c.timeout = timeout;
    c.n_jobs = n_jobs;
    c.total = total;
    c.verbose = verbose;
    c.progress = progress;
    return c;
  }

  std::size_t n_jobs;
  std::size_t window;
  std::size_t batch_size;  // 0: automatic
  int verbose;
  std::function<void(const Progress&)> progress;
  std::optional<std::chrono::nanoseconds> timeout;
};

// Checks that `engine` may start a call here and now, and marks it busy; throws
// std::logic_error if it was moved from, made in another process, or already running a call.
inline void claim_engine(Engine* engine) {
  if (engine == nullptr) {
    throw std::logic_error("parmap: this Parallel was moved from; call the one it was moved to");
  }
  if (engine->owner_pid != current_pid()) {
    throw std::logic_error(
        "parmap: this Parallel was made before fork() in another process; its worker threads "
        "do not exist here. Make a new Parallel in this process");
  }
  // Pairs with the release store in the last run's destructor. Checked before the input is
  // touched: a refused call leaves an rvalue input where it was.
  if (engine->busy.exchange(true, std::memory_order_acq_rel)) {
    throw std::logic_error(
        "parmap: this Parallel is already running a call (a result range it returned is "
        "still alive); finish or destroy that range first, or use another Parallel");
  }
}

// The list mode's access to a range: every result, or to the end for void tasks.
struct RangeDrain {
  template <class Range>
  static void skip_all(Range& range) {
    while (!range.at_end()) range.advance();
  }
  template <class Range, class Vector>
  static void into(Range& range, Vector& out) {
    range.drain_into(out);
  }
};

// What a call in `Mode` returns, from its started run: the range itself (generators), or
// every result collected in input order (list; nothing for void tasks that raise).
template <class Mode, bool Collect, class Result, class R>
auto deliver(ResultRange<R> results, std::optional<std::size_t> total) {
  if constexpr (std::same_as<Mode, return_as::list_t>) {
    if constexpr (std::is_void_v<Result> && !Collect) {
      RangeDrain::skip_all(results);
    } else {
      std::vector<R> out;
      if (total) out.reserve(*total);
      RangeDrain::into(results, out);
      return out;
    }
  } else {
    return results;
  }
}

}  // namespace detail

// Runs tasks from an input range on a pool of worker threads, joblib style:
//   std::vector<R> rs = parmap::Parallel({.n_jobs = 2})(tasks);
// Mode (return_as::list_t, generator_t or generator_unordered_t) picks what a call returns;
// OnError (on_error::raise_t or collect_t) what a task's exception does.
//
// A Parallel keeps its worker threads (made on the first call that needs them) until it is
// destroyed, and survives failed calls. It runs one call at a time: calling it while a
// result range it returned is alive throws std::logic_error. It is not thread-safe (use one
// Parallel per thread, or your own lock); result ranges may outlive it.
// Calls made from inside a parmap task run inline, in that task's thread: nesting never
// starts threads and never waits on another thread, so it cannot deadlock. A moved-from
// Parallel, or one made before fork() and called in the child, throws std::logic_error.
template <class Mode = return_as::list_t, class OnError = on_error::raise_t>
class Parallel {
  static_assert(std::same_as<Mode, return_as::list_t> ||
                    std::same_as<Mode, return_as::generator_t> ||
                    std::same_as<Mode, return_as::generator_unordered_t>,
                "parmap::Parallel: the mode must be one of parmap::return_as::list, "
                "generator or generator_unordered");
  static_assert(std::same_as<OnError, on_error::raise_t> ||
                    std::same_as<OnError, on_error::collect_t>,
                "parmap::Parallel: the error policy must be parmap::on_error::raise or collect");
  static constexpr bool collect = std::same_as<OnError, on_error::collect_t>;

 public:
  // Validates the options; throws std::invalid_argument naming a bad one. Starts no thread.
  explicit Parallel(Options options = {}, Mode /*mode*/ = Mode{}, OnError /*policy*/ = OnError{})
      : settings_(std::move(options), detail::resolve_n_jobs(options.n_jobs)) {}
  // Shorthand for Parallel({.n_jobs = n_jobs}, mode, policy).
  explicit Parallel(int n_jobs, Mode mode = Mode{}, OnError policy = OnError{})
      : Parallel(Options{.n_jobs = n_jobs}, mode, policy) {}

  Parallel(Parallel&&) noexcept = default;
  Parallel& operator=(Parallel&&) noexcept = default;
  Parallel(const Parallel&) = delete;  // a copy sharing the threads would surprise
  Parallel& operator=(const Parallel&) = delete;
  ~Parallel() = default;  // joins the workers once no result range uses them

  // Runs every task of `input`, a range of nullary invocables such as
  // parmap::delayed(f)(x). The input is read lazily, never further ahead than the window: a
  // single-pass input by one thread at a time; a sized random-access one in place, each task
  // by the thread that runs it (so reading it must be thread-safe). An lvalue input must
  // outlive the returned range. While the caller waits for a result it may run tasks measured
  // under 50 us itself (under 1 ms when n_jobs fills the hardware threads), so a task must not
  // wait for the caller's progress.
  // Returns (R is what a task returns; Outcome<R> instead of R with on_error::collect):
  //   list:                std::vector<R>, in input order; blocks until all tasks ran.
  //                        void tasks: returns void (collecting: std::vector<Outcome<void>>).
  //   generator:           ResultRange<R>, in input order; returns once tasks have started.
  //   generator_unordered: ResultRange<R>, in completion order.
  //                        void tasks: a range of the finished tasks' input indices.
  // Throws the first exception of a task or of the input (list), or yields it from the range
  // (generators); std::logic_error if this Parallel is already running a call.
  template <class In>
  auto operator()(In&& input) {
    static_assert(std::ranges::input_range<In>,
                  "parmap::Parallel: the argument must be an input range of tasks");
    using Task = detail::task_t<In>;
    // A delayed(f)(args...) that f cannot run has said so where it was written; say nothing
    // more, and stop here rather than add pages of errors from the engine below.
    static_assert(std::invocable<Task&&> || detail::is_delayed_call_v<Task>,
                  "parmap::Parallel: each element of the input range must be a task callable "
                  "with no arguments, such as parmap::delayed(f)(x)");
    if constexpr (!std::invocable<Task&&>) {
      return;
    } else {
      static_assert(std::move_constructible<Task>,
                    "parmap::Parallel: tasks must be move-constructible");
      using Result = detail::task_result_t<Task>;
      static_assert(std::is_void_v<Result> || std::move_constructible<std::remove_cvref_t<Result>>,
                    "parmap::Parallel: a task's result must be move-constructible (results are "
                    "made where they are stored and moved to you once)");

      std::optional<std::size_t> total;
      if constexpr (std::ranges::sized_range<In>)
        total = static_cast<std::size_t>(std::ranges::size(input));
      return detail::deliver<Mode, collect, Result>(start(std::forward<In>(input), total), total);
    }
  }

  // The number of worker threads this Parallel uses (n_jobs resolved). Non-blocking.
  [[nodiscard]] std::size_t n_jobs() const noexcept { return settings_.n_jobs; }
  // The window in batches; SIZE_MAX for parmap::all. Non-blocking.
  [[nodiscard]] std::size_t pre_dispatch() const noexcept { return settings_.window; }

  // How the last call that has ended went: results computed, consumed, dropped unused, tasks
  // cancelled before they started. Blocks briefly on a lock; not thread-safe against calls.
  [[nodiscard]] RunReport last_report() const {
    if (!engine_) return {};
    std::lock_guard lock(engine_->report_mutex);
    return engine_->last_report;
  }

 private:
  template <class In>
  auto start(In&& input, std::optional<std::size_t> total) {
    using View = detail::input_view_t<In>;
    using Run = detail::Run<View, collect>;
    using R = detail::stored_result_t<detail::task_t<View>, collect>;

    detail::claim_engine(engine_.get());
    detail::RunConfig config = settings_.config<Mode, collect>(total);
    // Inline (no workers) at n_jobs = 1 and inside a task: tasks then run lazily, one at a
    // time, when the consumer asks for them.
    const std::size_t n_jobs = settings_.n_jobs;
    const bool inline_run = n_jobs == 1 || detail::inside_task();
    config.workers = inline_run ? 0 : n_jobs;
    config.batch = inline_run ? 1 : settings_.batch_size;
    config.lend_seats = !inline_run && n_jobs >= detail::hardware_threads();
    std::unique_ptr<Run> run;
    try {
      if (!inline_run && !engine_->pool)
        engine_->pool = std::make_unique<detail::ThreadPool>(n_jobs);
      run = std::make_unique<Run>(View(std::forward<In>(input)), config, engine_);
    } catch (...) {
      engine_->busy.store(false, std::memory_order_release);
      throw;
    }
    run->start();
    return ResultRange<R>(std::move(run));
  }

  std::shared_ptr<detail::Engine> engine_ = std::make_shared<detail::Engine>();
  detail::CallSettings settings_;
};

}  // namespace parmap
