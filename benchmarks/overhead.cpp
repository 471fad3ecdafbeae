// overhead: what parmap costs per task, next to what a user would otherwise reach for.
//
//   build-release/benchmarks/overhead                 # everything; markdown on stdout (~3 min)
//   build-release/benchmarks/overhead --quick         # smoke test: small sizes, one run
//   build-release/benchmarks/overhead --runs 9 --only tiny --json tiny.json
//
// Sections (--only NAME, repeatable or comma-separated):
//   tiny         1,000,000 tasks of `i * i` on an int64
//   1us, 50us    tasks of about 1 us and 50 us of arithmetic (a calibrated spin loop)
//   allocations  heap allocations per task, counted by replacing the global operator new
//   latency      task finished -> consumer has its result, 50 us tasks, batch_size = 1
//   streaming    peak RSS while 10,000,000 tiny tasks stream through a generator
//   scaling      1 ms tasks, parallel efficiency for n_jobs = 1..hardware threads
//
// How to read it: within a section every contestant runs in the same process, interleaved
// round by round (round k runs each contestant once), so noise on a shared machine hits them
// alike; a row is the median of --runs rounds. Every run's checksum is compared with a
// sequential loop's, so a contestant that skips or loses work fails the program instead of
// looking fast. "parmap vs this" is this row's time divided by the matching parmap row's: the
// factor by which parmap's throughput exceeds (>1) or trails (<1) this contestant's.
// The peers (oneTBB, OpenMP) are compiled in only when the build found them
// (PARMAP_HAVE_TBB, PARMAP_HAVE_OPENMP); the header says which were present.

#include <algorithm>           // std::max, std::ranges::minmax
#include <array>               // std::array: the section names
#include <atomic>              // std::atomic: the allocation counter and its switch
#include <chrono>              // std::chrono::steady_clock: every timing, the latency stamps
#include <condition_variable>  // std::condition_variable: the textbook pool's wait
#include <cstdint>             // std::int64_t, std::uint64_t: task inputs, results, checksums
#include <cstdio>              // std::printf, std::fprintf: the report
#include <cstdlib>             // std::malloc, std::aligned_alloc, std::free
#include <deque>               // std::deque: the textbook pool's queue
#include <exception>           // std::exception: reported by main
#include <fstream>             // std::ifstream: /proc/self/status
#include <functional>          // std::function: contestants' bodies, the textbook pool's jobs
#include <future>              // std::future, std::packaged_task: the textbook pool
#include <limits>              // std::numeric_limits: "no value" in the report
#include <memory>              // std::make_shared: the textbook pool, latency's Parallel objects
#include <mutex>               // std::mutex: the textbook pool
#include <new>                 // std::bad_alloc, std::align_val_t, std::nothrow_t
#include <optional>            // std::optional: results of sections that did not run
#include <parmap/parmap.hpp>
#include <sstream>      // std::istringstream: parsing /proc/self/status
#include <stdexcept>    // std::runtime_error: checksum mismatches
#include <string>       // std::string
#include <string_view>  // std::string_view: section names, /proc/self/status keys
#include <thread>       // std::thread: the textbook pool; hardware_concurrency
#include <utility>      // std::move, std::pair
#include <vector>       // std::vector

#include "support/harness.hpp"      // parmap_bench: the harness shared with benchmarks/handoff
#include "support/proc_memory.hpp"  // reset_peak_rss

#ifdef PARMAP_HAVE_TBB
#include <oneapi/tbb/global_control.h>     // tbb::global_control: TBB's thread count = n_jobs
#include <oneapi/tbb/parallel_pipeline.h>  // tbb::filter_mode
#include <oneapi/tbb/version.h>            // TBB_VERSION_STRING
#endif
#ifdef PARMAP_HAVE_OPENMP
#include <omp.h>  // _OPENMP; the pragmas need no function from it
#endif

// --- Counting allocations ---------------------------------------------------------------------
// Every form of the global operator new is replaced by one that counts, so the allocations
// section sees what parmap (and the standard library under it) allocates per task. Counting
// is switched on only inside that section: elsewhere the cost is one relaxed load of a cache
// line nobody writes, not a contended increment per allocation that would slow the
// allocation-heavy contestants (the textbook pool) in the timed sections.
namespace counting {
std::atomic<bool> enabled{false};
std::atomic<std::uint64_t> allocations{0};

// Relaxed: the counter is read by the thread that switched counting off after the run it
// measured has ended, and every Parallel call, TBB and OpenMP construct returns only after
// its threads' work happened-before the return (mutexes / joins); no other ordering is needed.
inline void count() noexcept {
  if (enabled.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
}

inline void* allocate(std::size_t size) noexcept {
  count();
  return std::malloc(size == 0 ? 1 : size);
}

inline void* allocate(std::size_t size, std::align_val_t align) noexcept {
  count();
  const auto alignment = static_cast<std::size_t>(align);
  // aligned_alloc wants a size that is a multiple of the alignment.
  const std::size_t rounded = (size + alignment - 1) / alignment * alignment;
  return std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded);
}

template <class... A>
void* allocate_or_throw(A... args) {
  if (void* p = allocate(args...)) return p;
  throw std::bad_alloc();
}

// Allocations counted while the scope lives.
class Scope {
 public:
  Scope() noexcept {
    allocations.store(0, std::memory_order_relaxed);
    enabled.store(true, std::memory_order_relaxed);
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  ~Scope() { enabled.store(false, std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t count() const noexcept {
    return allocations.load(std::memory_order_relaxed);
  }
};
}  // namespace counting

void* operator new(std::size_t size) { return counting::allocate_or_throw(size); }
void* operator new[](std::size_t size) { return counting::allocate_or_throw(size); }
void* operator new(std::size_t size, std::align_val_t align) {
  return counting::allocate_or_throw(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return counting::allocate_or_throw(size, align);
}
void* operator new(std::size_t size, const std::nothrow_t& /*tag*/) noexcept {
  return counting::allocate(size);
}
void* operator new[](std::size_t size, const std::nothrow_t& /*tag*/) noexcept {
  return counting::allocate(size);
}
void* operator new(std::size_t size, std::align_val_t align,
                   const std::nothrow_t& /*tag*/) noexcept {
  return counting::allocate(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align,
                     const std::nothrow_t& /*tag*/) noexcept {
  return counting::allocate(size, align);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t /*size*/) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t /*size*/) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t /*align*/) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t /*align*/) noexcept { std::free(p); }
void operator delete(void* p, std::size_t /*size*/, std::align_val_t /*align*/) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t /*size*/, std::align_val_t /*align*/) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t& /*tag*/) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t& /*tag*/) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t /*align*/, const std::nothrow_t& /*tag*/) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t /*align*/,
                       const std::nothrow_t& /*tag*/) noexcept {
  std::free(p);
}

namespace {

using namespace parmap_bench;  // support/harness.hpp: workloads, checksums, statistics, text

// --- The textbook pool ------------------------------------------------------------------------
// What many projects write by hand: one mutex, one condition variable, a queue of
// std::function, and a std::packaged_task + std::future per task. It is the baseline a user
// switching to parmap comes from.
class TextbookPool {
 public:
  explicit TextbookPool(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) threads_.emplace_back([this] { work(); });
  }
  TextbookPool(const TextbookPool&) = delete;
  TextbookPool& operator=(const TextbookPool&) = delete;
  ~TextbookPool() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

  template <class F>
  auto submit(F f) -> std::future<decltype(f())> {
    auto task = std::make_shared<std::packaged_task<decltype(f())()>>(std::move(f));
    auto result = task->get_future();
    {
      std::lock_guard lock(mutex_);
      jobs_.emplace_back([task] { (*task)(); });
    }
    wake_.notify_one();
    return result;
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stop_ and nothing left
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;            // predicate: stop_ || !jobs_.empty()
  std::deque<std::function<void()>> jobs_;  // guarded by mutex_
  bool stop_ = false;                       // guarded by mutex_
  std::vector<std::thread> threads_;        // constructor and destructor only
};

// --- Memory -----------------------------------------------------------------------------------

// A "VmRSS:"-style field of /proc/self/status in KiB; -1 where there is no such file.
long proc_status_kib(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::string_view key(field);
  while (std::getline(status, line)) {
    if (line.compare(0, key.size(), key) == 0) {
      std::istringstream rest(line.substr(key.size()));
      long kib = -1;
      rest >> kib;
      return kib;
    }
  }
  return -1;
}

// --- Configuration ----------------------------------------------------------------------------

constexpr std::array<std::string_view, 7> section_names = {
    "tiny", "1us", "50us", "allocations", "latency", "streaming", "scaling"};

using Config = CommandLine;

// Task counts; --quick divides them so the whole program runs in seconds.
struct Sizes {
  std::size_t tiny = 1'000'000;
  std::size_t tiny_slow = 50'000;  // rows that pay microseconds per task (batch_size = 1, futures)
  std::size_t us1 = 300'000;
  std::size_t us1_slow = 30'000;
  std::size_t us50 = 10'000;
  std::size_t latency = 5'000;
  std::size_t streaming = 10'000'000;
  std::size_t scaling_per_core = 200;  // 1 ms tasks per hardware thread
  // The allocations section runs each mode at two sizes; the difference is the steady state.
  std::size_t alloc_tiny = 1'000'000, alloc_us1 = 200'000, alloc_us50 = 4'000;

  static Sizes quick() {
    Sizes s;
    s.tiny = 100'000;
    s.tiny_slow = 5'000;
    s.us1 = 20'000;
    s.us1_slow = 3'000;
    s.us50 = 400;
    s.latency = 400;
    s.streaming = 1'000'000;
    s.scaling_per_core = 20;
    s.alloc_tiny = 100'000;
    s.alloc_us1 = 20'000;
    s.alloc_us50 = 400;
    return s;
  }
};

// What usage() prints after "usage: overhead".
constexpr const char* help =
    "[--quick] [--runs K] [--only SECTION[,SECTION...]] [--json FILE]\n"
    "  --quick       small sizes and one run: a smoke test that takes seconds\n"
    "  --runs K      rounds per measurement, K >= 1 (default 5); rows are medians\n"
    "  --only NAMES  run only these sections: tiny, 1us, 50us, allocations, latency,\n"
    "                streaming, scaling (repeatable)\n"
    "  --json FILE   also write the results as JSON to FILE\n";

// --- Throughput sections ----------------------------------------------------------------------

// One way of running n tasks; returns the checksum of the results it produced.
struct Contestant {
  std::string name;
  std::string compared_with;  // the parmap row it is measured against; empty for parmap rows
  std::size_t tasks;
  bool ordered;  // yields results in input order (see Checksum)
  std::function<std::uint64_t(std::size_t)> run;
};

struct Row {
  std::string name;
  std::string compared_with;
  std::size_t tasks = 0;
  std::vector<double> ns_per_task;  // one per round
  double median_ns = 0;
};

struct ThroughputSection {
  std::string key;
  std::string title;
  double task_ns = 0;       // what one task costs alone (0 for the tiny tasks)
  bool efficiency = false;  // show parallel efficiency (1us, 50us)
  std::vector<Row> rows;

  [[nodiscard]] const Row* find(std::string_view name) const {
    for (const Row& r : rows) {
      if (r.name == name) return &r;
    }
    return nullptr;
  }
};

template <class Mode, class F>
Contestant parmap_contestant(std::string name, Mode mode, parmap::Options options, F f,
                             std::size_t n) {
  return {std::move(name), "", n, ordered_mode<Mode>, parmap_run(mode, std::move(options), f)};
}

// Every contestant of a throughput section. `slow_n` is the task count for the rows that
// pay microseconds per task (parmap batch_size = 1, the textbook pool), so that they take
// seconds rather than minutes; rows report time per task, so counts need not match.
template <class F>
std::vector<Contestant> make_contestants(F f, std::size_t n, std::size_t slow_n, std::size_t jobs) {
  namespace ra = parmap::return_as;
  const int n_jobs = static_cast<int>(jobs);
  std::vector<Contestant> all;
  all.push_back({"sequential loop", "parmap list", n, true, [f](std::size_t count) {
                   std::vector<std::int64_t> out(count);
                   for (std::size_t i = 0; i < count; ++i) out[i] = f(static_cast<std::int64_t>(i));
                   return checksum(out, true);
                 }});
  all.push_back(parmap_contestant("parmap list", ra::list, {.n_jobs = n_jobs}, f, n));
  all.push_back(parmap_contestant("parmap generator", ra::generator, {.n_jobs = n_jobs}, f, n));
  all.push_back(parmap_contestant("parmap generator_unordered", ra::generator_unordered,
                                  {.n_jobs = n_jobs}, f, n));
  all.push_back(parmap_contestant("parmap list, batch_size=1", ra::list,
                                  {.n_jobs = n_jobs, .batch_size = 1}, f, slow_n));
  all.push_back(parmap_contestant("parmap generator, batch_size=1", ra::generator,
                                  {.n_jobs = n_jobs, .batch_size = 1}, f, slow_n));
  all.push_back(parmap_contestant("parmap generator_unordered, batch_size=1",
                                  ra::generator_unordered, {.n_jobs = n_jobs, .batch_size = 1}, f,
                                  slow_n));
#ifdef PARMAP_HAVE_TBB
  all.push_back({"oneTBB parallel_for", "parmap list", n, true,
                 [f](std::size_t count) { return tbb_parallel_for(f, count); }});
  for (const std::size_t tokens : {std::size_t{4}, std::size_t{64}}) {
    const std::string suffix = ", " + std::to_string(tokens) + " tokens";
    all.push_back({"oneTBB pipeline, in-order sink" + suffix, "parmap generator", n, true,
                   [f, tokens](std::size_t count) {
                     return tbb_pipeline(f, count, tokens, tbb::filter_mode::serial_in_order);
                   }});
    all.push_back({"oneTBB pipeline, out-of-order sink" + suffix, "parmap generator_unordered", n,
                   false, [f, tokens](std::size_t count) {
                     return tbb_pipeline(f, count, tokens, tbb::filter_mode::serial_out_of_order);
                   }});
  }
#endif
#ifdef PARMAP_HAVE_OPENMP
  all.push_back({"OpenMP parallel for", "parmap list", n, true, [f, n_jobs](std::size_t count) {
                   std::vector<std::int64_t> out(count);
                   const auto end = static_cast<std::int64_t>(count);
#pragma omp parallel for num_threads(n_jobs) schedule(static)
                   for (std::int64_t i = 0; i < end; ++i) out[static_cast<std::size_t>(i)] = f(i);
                   return checksum(out, true);
                 }});
  // schedule(static, 1): threads take turns, the usual pairing with `ordered`; the default
  // (static, one block per thread) would make the second thread wait for the whole first
  // block before its first ordered step.
  all.push_back(
      {"OpenMP parallel for ordered", "parmap generator", n, true, [f, n_jobs](std::size_t count) {
         Checksum sum(true);
         const auto end = static_cast<std::int64_t>(count);
#pragma omp parallel for ordered num_threads(n_jobs) schedule(static, 1)
         for (std::int64_t i = 0; i < end; ++i) {
           const std::int64_t r = f(i);
#pragma omp ordered
           sum.add(r);
         }
         return sum.value();
       }});
#endif
  auto pool = std::make_shared<TextbookPool>(jobs);
  all.push_back(
      {"textbook pool, future per task", "parmap list", slow_n, true, [f, pool](std::size_t count) {
         std::vector<std::future<std::int64_t>> futures;
         futures.reserve(count);
         for (std::size_t i = 0; i < count; ++i) {
           futures.push_back(pool->submit([f, i] { return f(static_cast<std::int64_t>(i)); }));
         }
         Checksum sum(true);
         for (auto& result : futures) sum.add(result.get());
         return sum.value();
       }});
  return all;
}

template <class F>
ThroughputSection run_throughput(std::string key, std::string title, F f, double task_ns,
                                 std::size_t n, std::size_t slow_n, std::size_t jobs,
                                 const Config& config) {
  std::fprintf(stderr, "[overhead] %s...\n", key.c_str());
  ThroughputSection section{std::move(key), std::move(title), task_ns, task_ns > 0, {}};
  std::vector<Contestant> contestants = make_contestants(f, n, slow_n, jobs);
  Expected<F> expected(f);
  auto check = [&](const Contestant& c, std::size_t count, std::uint64_t got) {
    if (got != expected(count, c.ordered)) {
      throw std::runtime_error(c.name + ": wrong checksum on " + std::to_string(count) +
                               " tasks (" + section.key + ")");
    }
  };
  // Warm-up: threads started, pools created, caches and the allocator's arenas primed.
  for (const Contestant& c : contestants) {
    const std::size_t count = std::max<std::size_t>(c.tasks / 10, 1);
    check(c, count, c.run(count));
    settle();
  }
  for (const Contestant& c : contestants)
    section.rows.push_back({c.name, c.compared_with, c.tasks, {}, 0});
  for (int round = 0; round < config.runs; ++round) {
    for (std::size_t k = 0; k < contestants.size(); ++k) {
      const Contestant& c = contestants[k];
      const auto start = Clock::now();
      const std::uint64_t sum = c.run(c.tasks);
      const double seconds = seconds_since(start);
      check(c, c.tasks, sum);
      section.rows[k].ns_per_task.push_back(seconds * 1e9 / static_cast<double>(c.tasks));
      settle();
    }
  }
  for (Row& r : section.rows) r.median_ns = median(r.ns_per_task);
  return section;
}

// --- Allocations ------------------------------------------------------------------------------

struct AllocationRow {
  std::string workload;
  std::string mode;
  std::size_t small_n = 0, large_n = 0;
  std::uint64_t small_allocs = 0, large_allocs = 0;
  // (large - small) / (large_n - small_n): what each extra task costs once a run is going.
  [[nodiscard]] double steady_per_task() const {
    return (static_cast<double>(large_allocs) - static_cast<double>(small_allocs)) /
           static_cast<double>(large_n - small_n);
  }
  [[nodiscard]] double per_task_overall() const {
    return static_cast<double>(large_allocs) / static_cast<double>(large_n);
  }
};

template <class F>
void count_allocations(std::vector<AllocationRow>& rows, const std::string& workload, F f,
                       std::size_t large_n, std::size_t jobs) {
  const int n_jobs = static_cast<int>(jobs);
  const std::size_t small_n = large_n / 10;
  auto add = [&](const Contestant& c) {
    // Counting covers the call and the consumption of its results, nothing else: the
    // Parallel and its threads exist before (warm-up), the check runs after.
    auto counted = [&](std::size_t count) {
      std::uint64_t sum = 0;
      std::uint64_t allocations = 0;
      {
        const counting::Scope scope;
        sum = c.run(count);
        allocations = scope.count();
      }
      if (sum != expected_checksum(f, count, c.ordered)) {
        throw std::runtime_error(c.name + ": wrong checksum (allocations, " + workload + ")");
      }
      return allocations;
    };
    c.run(small_n);  // warm-up
    const std::uint64_t small_allocs = counted(small_n);
    const std::uint64_t large_allocs = counted(large_n);
    rows.push_back({workload, c.name, small_n, large_n, small_allocs, large_allocs});
  };
  namespace ra = parmap::return_as;
  for (const bool automatic : {true, false}) {
    const parmap::Options options = automatic ? parmap::Options{.n_jobs = n_jobs}
                                              : parmap::Options{.n_jobs = n_jobs, .batch_size = 1};
    const std::string suffix = automatic ? "" : ", batch_size=1";
    add(parmap_contestant("parmap list" + suffix, ra::list, options, f, large_n));
    add(parmap_contestant("parmap generator" + suffix, ra::generator, options, f, large_n));
    add(parmap_contestant("parmap generator_unordered" + suffix, ra::generator_unordered, options,
                          f, large_n));
  }
}

// --- Latency ----------------------------------------------------------------------------------

struct LatencyRow {
  std::string name;
  std::size_t samples = 0;
  double median_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
};

std::vector<LatencyRow> run_latency(std::uint64_t steps_50us, std::size_t n, std::size_t jobs,
                                    const Config& config) {
  std::fprintf(stderr, "[overhead] latency...\n");
  namespace ra = parmap::return_as;
  auto task = [steps_50us](std::int64_t i) {
    const std::int64_t value = spin(i, steps_50us);
    return Stamped{value, Clock::now()};
  };
  // Each contestant runs n tasks and appends one latency (us) per result.
  using Body = std::function<void(std::size_t, std::vector<double>&)>;
  auto record = [](std::vector<double>& out, const Stamped& s) {
    const auto now = Clock::now();
    out.push_back(micros(now - s.done));
    consume(static_cast<std::uint64_t>(s.value));
  };
  auto parmap_body = [&](auto mode, parmap::Options options) -> Body {
    auto parallel = std::make_shared<parmap::Parallel<decltype(mode)>>(std::move(options), mode);
    return [parallel, task, record](std::size_t count, std::vector<double>& out) {
      for (auto&& s : (*parallel)(delayed_tasks(task, count))) record(out, s);
    };
  };
  const int n_jobs = static_cast<int>(jobs);
  std::vector<std::pair<std::string, Body>> bodies;
  bodies.emplace_back("parmap generator_unordered, batch_size=1",
                      parmap_body(ra::generator_unordered, {.n_jobs = n_jobs, .batch_size = 1}));
  bodies.emplace_back("parmap generator, batch_size=1",
                      parmap_body(ra::generator, {.n_jobs = n_jobs, .batch_size = 1}));
  bodies.emplace_back("parmap generator_unordered (automatic batches)",
                      parmap_body(ra::generator_unordered, {.n_jobs = n_jobs}));
  bodies.emplace_back("parmap generator (automatic batches)",
                      parmap_body(ra::generator, {.n_jobs = n_jobs}));
  if (jobs >= 3) {
    // A core left free for the consumer: how much of the latency is the scheduler's.
    bodies.emplace_back(
        "parmap generator_unordered, batch_size=1, n_jobs=" + std::to_string(jobs - 1),
        parmap_body(ra::generator_unordered, {.n_jobs = n_jobs - 1, .batch_size = 1}));
  }
  auto pool = std::make_shared<TextbookPool>(jobs);
  bodies.emplace_back(
      "textbook pool, future per task (get in order)",
      [pool, task, record](std::size_t count, std::vector<double>& out) {
        std::vector<std::future<Stamped>> futures;
        futures.reserve(count);
        for (std::size_t i = 0; i < count; ++i) {
          futures.push_back(pool->submit([task, i] { return task(static_cast<std::int64_t>(i)); }));
        }
        for (auto& f : futures) record(out, f.get());
      });

  std::vector<std::vector<double>> samples(bodies.size());
  for (auto& s : samples) s.reserve(n * static_cast<std::size_t>(config.runs));
  std::vector<double> scratch;
  scratch.reserve(n);
  for (auto& [name, body] : bodies) {
    body(std::max<std::size_t>(n / 10, 1), scratch);  // warm-up
    scratch.clear();
    settle();
  }
  for (int round = 0; round < config.runs; ++round) {
    for (std::size_t k = 0; k < bodies.size(); ++k) {
      bodies[k].second(n, samples[k]);
      settle();
    }
  }
  std::vector<LatencyRow> rows;
  for (std::size_t k = 0; k < bodies.size(); ++k) {
    const auto& s = samples[k];
    rows.push_back({bodies[k].first, s.size(), percentile(s, 0.5), percentile(s, 0.9),
                    percentile(s, 0.99), percentile(s, 1.0)});
  }
  return rows;
}

// --- Streaming --------------------------------------------------------------------------------

struct StreamingResult {
  std::size_t tasks = 0;
  double seconds = 0;
  bool peak_reset = false;  // VmHWM was reset before the stream (else: peak since start)
  long rss_start_kib = 0, peak_kib = 0;
  std::vector<long> rss_kib;  // VmRSS after each tenth of the stream
  [[nodiscard]] long growth_kib() const { return peak_kib - rss_start_kib; }
};

StreamingResult run_streaming(std::size_t n, std::size_t jobs) {
  std::fprintf(stderr, "[overhead] streaming...\n");
  parmap::Parallel<parmap::return_as::generator_t> parallel({.n_jobs = static_cast<int>(jobs)},
                                                            parmap::return_as::generator);
  for (std::int64_t r : parallel(delayed_tasks(Square{}, 10'000)))
    consume(static_cast<std::uint64_t>(r));
  StreamingResult result;
  result.tasks = n;
  result.peak_reset = proc_memory::reset_peak_rss();
  result.rss_start_kib = proc_status_kib("VmRSS:");
  const std::size_t tenth = std::max<std::size_t>(n / 10, 1);
  Checksum sum(true);
  std::size_t seen = 0;
  const auto start = Clock::now();
  for (std::int64_t r : parallel(delayed_tasks(Square{}, n))) {
    sum.add(r);
    if (++seen % tenth == 0) result.rss_kib.push_back(proc_status_kib("VmRSS:"));
  }
  result.seconds = seconds_since(start);
  result.peak_kib = proc_status_kib("VmHWM:");
  if (sum.value() != expected_checksum(Square{}, n, true) || seen != n) {
    throw std::runtime_error("streaming: wrong results");
  }
  return result;
}

// --- Scaling ----------------------------------------------------------------------------------

struct ScalingRow {
  std::size_t n_jobs = 0;
  double seconds = 0;     // median
  double efficiency = 0;  // sequential / (n_jobs * seconds)
};

struct ScalingResult {
  std::size_t tasks = 0;
  double task_ms = 0;
  double sequential_seconds = 0;
  std::vector<ScalingRow> rows;
};

ScalingResult run_scaling(std::uint64_t steps_1ms, double task_ms, std::size_t per_core,
                          std::size_t hardware, const Config& config) {
  std::fprintf(stderr, "[overhead] scaling...\n");
  const Spin f{steps_1ms};
  ScalingResult result;
  result.tasks = per_core * hardware;
  result.task_ms = task_ms;
  const std::uint64_t expected = expected_checksum(f, result.tasks, true);
  std::vector<parmap::Parallel<>> parallels;
  for (std::size_t j = 1; j <= hardware; ++j) parallels.emplace_back(static_cast<int>(j));
  for (auto& p : parallels) consume(checksum(p(delayed_tasks(f, hardware)), true));  // warm-up
  std::vector<double> sequential;
  std::vector<std::vector<double>> times(hardware);
  for (int round = 0; round < config.runs; ++round) {
    auto start = Clock::now();
    if (expected_checksum(f, result.tasks, true) != expected)
      throw std::runtime_error("scaling: seq");
    sequential.push_back(seconds_since(start));
    for (std::size_t j = 0; j < hardware; ++j) {
      start = Clock::now();
      const std::uint64_t sum = checksum(parallels[j](delayed_tasks(f, result.tasks)), true);
      times[j].push_back(seconds_since(start));
      if (sum != expected) throw std::runtime_error("scaling: wrong checksum");
      settle();
    }
  }
  result.sequential_seconds = median(sequential);
  for (std::size_t j = 0; j < hardware; ++j) {
    const double t = median(times[j]);
    result.rows.push_back({j + 1, t, result.sequential_seconds / (static_cast<double>(j + 1) * t)});
  }
  return result;
}

// --- Targets (issue 4) ------------------------------------------------------------------------

struct Target {
  std::string what;
  double value;
  double goal;
  bool at_least;  // value >= goal; else value < goal
  std::string unit;
  std::string context = "";  // what the peers reached in the same conditions, where it helps
  [[nodiscard]] bool met() const { return at_least ? value >= goal : value < goal; }
};

// --- Report -----------------------------------------------------------------------------------

struct Machine {
  std::size_t hardware = 0;
  std::size_t n_jobs = 0;
  std::string tbb = "absent";
  std::string openmp = "absent";
  bool asserts = false;
  double load_before = 0, load_after = 0;  // 1-minute load average at start and end
  double ns_per_step = 0;
  std::uint64_t steps_1us = 0, steps_50us = 0, steps_1ms = 0;
  double measured_1us = 0, measured_50us = 0, measured_1ms = 0;  // ns
};

void print_throughput(const ThroughputSection& s, std::size_t n_jobs) {
  std::printf("\n## %s\n\n", s.title.c_str());
  const Row* sequential = s.find("sequential loop");
  std::printf(
      "| contestant | tasks | ns/task (median) | min-max | time vs sequential |%s parmap vs this "
      "|\n",
      s.efficiency ? " efficiency |" : "");
  std::printf("|---|---:|---:|---:|---:|%s---|\n", s.efficiency ? "---:|" : "");
  for (const Row& r : s.rows) {
    const auto [lo, hi] = std::ranges::minmax(r.ns_per_task);
    std::string versus = "";
    if (const Row* p = s.find(r.compared_with)) {
      versus = fmt("%.2fx", r.median_ns / p->median_ns) + " (" + r.compared_with.substr(7) + ")";
    }
    std::string eff;
    if (s.efficiency) {
      eff = r.name == "sequential loop" || sequential == nullptr
                ? " |"
                : " " +
                      fmt("%.1f%%", 100.0 * sequential->median_ns /
                                        (static_cast<double>(n_jobs) * r.median_ns)) +
                      " |";
    }
    std::printf("| %s | %zu | %s | %s-%s | %s |%s %s |\n", r.name.c_str(), r.tasks,
                ns_text(r.median_ns).c_str(), ns_text(lo).c_str(), ns_text(hi).c_str(),
                sequential ? fmt("%.2fx", r.median_ns / sequential->median_ns).c_str() : "",
                eff.c_str(), versus.c_str());
  }
}

std::string throughput_json(const ThroughputSection& s, std::size_t n_jobs) {
  const Row* sequential = s.find("sequential loop");
  std::vector<std::string> rows;
  for (const Row& r : s.rows) {
    std::vector<std::string> runs;
    for (double v : r.ns_per_task) runs.push_back(json_number(v));
    const Row* p = s.find(r.compared_with);
    rows.push_back(json_object({
        {"name", json_string(r.name)},
        {"tasks", std::to_string(r.tasks)},
        {"ns_per_task_median", json_number(r.median_ns)},
        {"ns_per_task_runs", json_array(runs)},
        {"time_vs_sequential",
         sequential ? json_number(r.median_ns / sequential->median_ns) : "null"},
        {"efficiency",
         sequential && r.name != "sequential loop"
             ? json_number(sequential->median_ns / (static_cast<double>(n_jobs) * r.median_ns))
             : "null"},
        {"compared_with", p ? json_string(r.compared_with) : "null"},
        {"parmap_speedup_vs_this", p ? json_number(r.median_ns / p->median_ns) : "null"},
    }));
  }
  return json_object({{"title", json_string(s.title)},
                      {"task_ns", json_number(s.task_ns)},
                      {"rows", json_array(rows)}});
}

}  // namespace

int main(int argc, char** argv) try {
  const Config config = parse_command_line(argc, argv, section_names, help);
  const Sizes sizes = config.quick ? Sizes::quick() : Sizes{};

  Machine machine;
  machine.hardware = std::max(1U, std::thread::hardware_concurrency());
  machine.n_jobs = machine.hardware;
#ifdef PARMAP_HAVE_TBB
  machine.tbb = std::string("oneTBB ") + TBB_VERSION_STRING;
  // oneTBB's workers, like parmap's and OpenMP's, number n_jobs (it counts the calling thread).
  const tbb::global_control tbb_threads(tbb::global_control::max_allowed_parallelism,
                                        machine.n_jobs);
#endif
#ifdef PARMAP_HAVE_OPENMP
  machine.openmp = "OpenMP " + std::to_string(_OPENMP);
#endif
#ifndef NDEBUG
  machine.asserts = true;
#endif

  machine.load_before = load_average();
  std::fprintf(stderr, "[overhead] calibrating...\n");
  machine.ns_per_step = calibrate_ns_per_step();
  machine.steps_1us = steps_for(1'000, machine.ns_per_step);
  machine.steps_50us = steps_for(50'000, machine.ns_per_step);
  machine.steps_1ms = steps_for(1'000'000, machine.ns_per_step);
  machine.measured_1us = measure_task_ns(Spin{machine.steps_1us}, 2'000);
  machine.measured_50us = measure_task_ns(Spin{machine.steps_50us}, 200);
  machine.measured_1ms = measure_task_ns(Spin{machine.steps_1ms}, 20);

  std::optional<ThroughputSection> tiny, us1, us50;
  if (config.wants("tiny")) {
    tiny = run_throughput("tiny", "Tiny tasks: i * i on an int64", Square{}, 0, sizes.tiny,
                          sizes.tiny_slow, machine.n_jobs, config);
  }
  if (config.wants("1us")) {
    us1 = run_throughput(
        "1us", "1 us tasks (" + fmt("%.2f", machine.measured_1us / 1000) + " us measured)",
        Spin{machine.steps_1us}, machine.measured_1us, sizes.us1, sizes.us1_slow, machine.n_jobs,
        config);
  }
  if (config.wants("50us")) {
    us50 = run_throughput(
        "50us", "50 us tasks (" + fmt("%.1f", machine.measured_50us / 1000) + " us measured)",
        Spin{machine.steps_50us}, machine.measured_50us, sizes.us50, sizes.us50, machine.n_jobs,
        config);
  }
  std::vector<AllocationRow> allocations;
  if (config.wants("allocations")) {
    std::fprintf(stderr, "[overhead] allocations...\n");
    count_allocations(allocations, "tiny", Square{}, sizes.alloc_tiny, machine.n_jobs);
    count_allocations(allocations, "1us", Spin{machine.steps_1us}, sizes.alloc_us1, machine.n_jobs);
    count_allocations(allocations, "50us", Spin{machine.steps_50us}, sizes.alloc_us50,
                      machine.n_jobs);
  }
  std::vector<LatencyRow> latency;
  if (config.wants("latency"))
    latency = run_latency(machine.steps_50us, sizes.latency, machine.n_jobs, config);
  std::optional<StreamingResult> streaming;
  if (config.wants("streaming")) streaming = run_streaming(sizes.streaming, machine.n_jobs);
  std::optional<ScalingResult> scaling;
  if (config.wants("scaling")) {
    scaling = run_scaling(machine.steps_1ms, machine.measured_1ms / 1e6, sizes.scaling_per_core,
                          machine.hardware, config);
  }

  machine.load_after = load_average();

  // Targets of issue 4, for the sections that ran.
  std::vector<Target> targets;
#ifdef PARMAP_HAVE_TBB
  if (tiny) {
    // parmap's throughput relative to the peer's: the peer's time over parmap's.
    auto ratio = [&](const char* parmap_row, const char* peer) {
      const Row* p = tiny->find(parmap_row);
      const Row* q = tiny->find(peer);
      return p && q ? q->median_ns / p->median_ns : std::numeric_limits<double>::quiet_NaN();
    };
    targets.push_back({"tiny: parmap list throughput / oneTBB parallel_for",
                       ratio("parmap list", "oneTBB parallel_for"), 0.8, true, "x"});
    targets.push_back({"tiny: parmap generator / oneTBB pipeline in-order, 4 tokens",
                       ratio("parmap generator", "oneTBB pipeline, in-order sink, 4 tokens"), 1.0,
                       true, "x"});
    targets.push_back(
        {"tiny: parmap generator_unordered / oneTBB pipeline out-of-order, 4 tokens",
         ratio("parmap generator_unordered", "oneTBB pipeline, out-of-order sink, 4 tokens"), 1.0,
         true, "x"});
  }
#endif
  for (const auto* s : {&us1, &us50}) {
    if (!*s) continue;
    const Row* seq = (*s)->find("sequential loop");
    auto efficiency = [&](const Row& r) {
      return seq->median_ns / (static_cast<double>(machine.n_jobs) * r.median_ns);
    };
    // A loaded machine caps every contestant alike; the best peer shows where that cap was.
    const Row* best_peer = nullptr;
    for (const Row& r : (*s)->rows) {
      if (r.compared_with.empty() || &r == seq) continue;  // parmap rows, the sequential loop
      if (best_peer == nullptr || r.median_ns < best_peer->median_ns) best_peer = &r;
    }
    const std::string context = best_peer
                                    ? "best peer: " + fmt("%.1f%%", 100 * efficiency(*best_peer)) +
                                          " (" + best_peer->name + ")"
                                    : "";
    const double goal = s == &us1 ? 0.90 : 0.97;
    for (const char* mode : {"parmap list", "parmap generator", "parmap generator_unordered"}) {
      targets.push_back({(*s)->key + ": " + mode + " parallel efficiency",
                         efficiency(*(*s)->find(mode)), goal, true, "", context});
    }
  }
  for (const LatencyRow& r : latency) {
    if (r.name.find("batch_size=1") != std::string::npos &&
        r.name.find("n_jobs=") == std::string::npos) {
      targets.push_back(
          {"wake-up latency median, " + r.name.substr(7), r.median_us, 20, false, "us"});
    }
  }
  for (const AllocationRow& r : allocations) {
    if (r.mode.find("batch_size") == std::string::npos) {
      targets.push_back(
          {"allocations per task, steady state, " + r.workload + ", " + r.mode.substr(7),
           r.steady_per_task(), 0.1, false, ""});
    }
  }

  // --- Markdown ---
  std::printf("# parmap overhead benchmark%s\n\n",
              config.quick ? " (--quick: sizes too small for conclusions)" : "");
  std::printf(
      "- machine: %zu hardware threads; every parallel contestant uses n_jobs = %zu threads\n",
      machine.hardware, machine.n_jobs);
  std::printf("- peers: %s; %s; textbook mutex+condvar pool (built in)\n",
              machine.tbb == "absent" ? "oneTBB absent (rows omitted)" : machine.tbb.c_str(),
              machine.openmp == "absent" ? "OpenMP absent (rows omitted)" : machine.openmp.c_str());
  std::printf(
      "- load average (1 min) at start / end: %s / %s (a busy machine inflates every row)\n",
      fmt("%.2f", machine.load_before).c_str(), fmt("%.2f", machine.load_after).c_str());
  std::printf("- build: %s\n", machine.asserts
                                   ? "asserts ON (not a Release build: numbers not representative)"
                                   : "NDEBUG (Release)");
  std::printf("- rows: median of %d run(s), interleaved; ns per task = run time / tasks\n",
              config.runs);
  std::printf(
      "- calibration: %.3f ns per spin step; 1 us = %llu steps (%.2f us measured), 50 us = %llu "
      "(%.1f us), 1 ms = %llu (%.3f ms)\n",
      machine.ns_per_step, static_cast<unsigned long long>(machine.steps_1us),
      machine.measured_1us / 1e3, static_cast<unsigned long long>(machine.steps_50us),
      machine.measured_50us / 1e3, static_cast<unsigned long long>(machine.steps_1ms),
      machine.measured_1ms / 1e6);
  std::printf(
      "- \"parmap vs this\": this row's time / the named parmap row's time (>1: parmap is "
      "faster)\n");

  for (const auto* s : {&tiny, &us1, &us50}) {
    if (*s) print_throughput(**s, machine.n_jobs);
  }
  if (!allocations.empty()) {
    std::printf("\n## Heap allocations per task (global operator new, all forms)\n\n");
    std::printf(
        "steady state = (allocations(N) - allocations(N/10)) / (N - N/10): per-call costs "
        "cancel.\n\n");
    std::printf(
        "| workload | mode | N | allocations at N | per task overall | per task, steady state |\n");
    std::printf("|---|---|---:|---:|---:|---:|\n");
    for (const AllocationRow& r : allocations) {
      std::printf("| %s | %s | %zu | %llu | %.4f | %.4f |\n", r.workload.c_str(), r.mode.c_str(),
                  r.large_n, static_cast<unsigned long long>(r.large_allocs), r.per_task_overall(),
                  r.steady_per_task());
    }
  }
  if (!latency.empty()) {
    std::printf(
        "\n## Consumer wake-up latency (task stamped done -> consumer has the result), %.0f us "
        "tasks\n\n",
        machine.measured_50us / 1e3);
    std::printf(
        "Ordered rows include waiting for an earlier task (head of line); unordered rows are the "
        "pure hand-off.\n\n");
    std::printf(
        "| contestant | samples | median us | p90 us | p99 us | max us "
        "|\n|---|---:|---:|---:|---:|---:|\n");
    for (const LatencyRow& r : latency) {
      std::printf("| %s | %zu | %.1f | %.1f | %.1f | %.0f |\n", r.name.c_str(), r.samples,
                  r.median_us, r.p90_us, r.p99_us, r.max_us);
    }
  }
  if (streaming) {
    const auto [lo, hi] = std::ranges::minmax(streaming->rss_kib);
    std::printf("\n## Streaming: %zu tiny tasks through parmap generator\n\n", streaming->tasks);
    std::printf(
        "| RSS at start | peak RSS (VmHWM%s) | growth | RSS min-max during the stream | time | "
        "ns/task |\n",
        streaming->peak_reset ? ", reset at start" : ", since process start");
    std::printf("|---:|---:|---:|---:|---:|---:|\n");
    std::printf("| %.1f MiB | %.1f MiB | %ld KiB | %.1f-%.1f MiB | %.2f s | %.1f |\n",
                static_cast<double>(streaming->rss_start_kib) / 1024.0,
                static_cast<double>(streaming->peak_kib) / 1024.0, streaming->growth_kib(),
                static_cast<double>(lo) / 1024.0, static_cast<double>(hi) / 1024.0,
                streaming->seconds,
                streaming->seconds * 1e9 / static_cast<double>(streaming->tasks));
    std::printf("\n(The same results held in a std::vector would take %.1f MiB.)\n",
                static_cast<double>(streaming->tasks) * sizeof(std::int64_t) / (1024.0 * 1024.0));
  }
  if (scaling) {
    std::printf("\n## Scaling: %zu CPU-bound tasks of %.2f ms, parmap list\n\n", scaling->tasks,
                scaling->task_ms);
    std::printf("sequential: %.3f s\n\n| n_jobs | time s | efficiency |\n|---:|---:|---:|\n",
                scaling->sequential_seconds);
    for (const ScalingRow& r : scaling->rows) {
      std::printf("| %zu | %.3f | %.1f%% |\n", r.n_jobs, r.seconds, 100 * r.efficiency);
    }
  }
  if (!targets.empty()) {
    std::printf(
        "\n## Targets (issue 4)\n\n| target | measured | goal | met | context "
        "|\n|---|---:|---:|---|---|\n");
    for (const Target& t : targets) {
      std::printf("| %s | %s%s | %s %s%s | %s | %s |\n", t.what.c_str(),
                  fmt("%.3g", t.value).c_str(), t.unit.c_str(), t.at_least ? ">=" : "<",
                  fmt("%.3g", t.goal).c_str(), t.unit.c_str(), t.met() ? "yes" : "**no**",
                  t.context.c_str());
    }
  }
  std::fflush(stdout);

  // --- JSON ---
  if (!config.json_path.empty()) {
    std::vector<std::pair<std::string, std::string>> doc;
    doc.emplace_back(
        "machine",
        json_object({
            {"hardware_threads", std::to_string(machine.hardware)},
            {"n_jobs", std::to_string(machine.n_jobs)},
            {"tbb", machine.tbb == "absent" ? "null" : json_string(machine.tbb)},
            {"openmp", machine.openmp == "absent" ? "null" : json_string(machine.openmp)},
            {"asserts", machine.asserts ? "true" : "false"},
            {"load_average_start", json_number(machine.load_before)},
            {"load_average_end", json_number(machine.load_after)},
            {"quick", config.quick ? "true" : "false"},
            {"runs", std::to_string(config.runs)},
            {"ns_per_spin_step", json_number(machine.ns_per_step)},
            {"task_1us_ns", json_number(machine.measured_1us)},
            {"task_50us_ns", json_number(machine.measured_50us)},
            {"task_1ms_ns", json_number(machine.measured_1ms)},
        }));
    for (const auto* s : {&tiny, &us1, &us50}) {
      if (*s) doc.emplace_back((*s)->key, throughput_json(**s, machine.n_jobs));
    }
    if (!allocations.empty()) {
      std::vector<std::string> rows;
      for (const AllocationRow& r : allocations) {
        rows.push_back(json_object({{"workload", json_string(r.workload)},
                                    {"mode", json_string(r.mode)},
                                    {"small_n", std::to_string(r.small_n)},
                                    {"large_n", std::to_string(r.large_n)},
                                    {"small_allocations", std::to_string(r.small_allocs)},
                                    {"large_allocations", std::to_string(r.large_allocs)},
                                    {"per_task_overall", json_number(r.per_task_overall())},
                                    {"per_task_steady", json_number(r.steady_per_task())}}));
      }
      doc.emplace_back("allocations", json_array(rows));
    }
    if (!latency.empty()) {
      std::vector<std::string> rows;
      for (const LatencyRow& r : latency) {
        rows.push_back(json_object({{"name", json_string(r.name)},
                                    {"samples", std::to_string(r.samples)},
                                    {"median_us", json_number(r.median_us)},
                                    {"p90_us", json_number(r.p90_us)},
                                    {"p99_us", json_number(r.p99_us)},
                                    {"max_us", json_number(r.max_us)}}));
      }
      doc.emplace_back("latency", json_array(rows));
    }
    if (streaming) {
      std::vector<std::string> samples;
      for (long v : streaming->rss_kib) samples.push_back(std::to_string(v));
      doc.emplace_back("streaming",
                       json_object({{"tasks", std::to_string(streaming->tasks)},
                                    {"seconds", json_number(streaming->seconds)},
                                    {"peak_reset", streaming->peak_reset ? "true" : "false"},
                                    {"rss_start_kib", std::to_string(streaming->rss_start_kib)},
                                    {"peak_kib", std::to_string(streaming->peak_kib)},
                                    {"growth_kib", std::to_string(streaming->growth_kib())},
                                    {"rss_kib_each_tenth", json_array(samples)}}));
    }
    if (scaling) {
      std::vector<std::string> rows;
      for (const ScalingRow& r : scaling->rows) {
        rows.push_back(json_object({{"n_jobs", std::to_string(r.n_jobs)},
                                    {"seconds", json_number(r.seconds)},
                                    {"efficiency", json_number(r.efficiency)}}));
      }
      doc.emplace_back(
          "scaling", json_object({{"tasks", std::to_string(scaling->tasks)},
                                  {"task_ms", json_number(scaling->task_ms)},
                                  {"sequential_seconds", json_number(scaling->sequential_seconds)},
                                  {"rows", json_array(rows)}}));
    }
    if (!targets.empty()) {
      std::vector<std::string> rows;
      for (const Target& t : targets) {
        rows.push_back(json_object({{"target", json_string(t.what)},
                                    {"value", json_number(t.value)},
                                    {"goal", json_number(t.goal)},
                                    {"at_least", json_bool(t.at_least)},
                                    {"met", json_bool(t.met())},
                                    {"context", json_string(t.context)}}));
      }
      doc.emplace_back("targets", json_array(rows));
    }
    if (!write_json("overhead", config.json_path, doc)) return 1;
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "overhead: %s\n", e.what());
  return 1;
}
